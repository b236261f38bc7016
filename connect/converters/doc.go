// Package converters holds Kafka Connect's converters: JsonConverter (with
// and without the schema envelope), StringConverter, ByteArrayConverter and
// the number converters (Short, Integer, Long, Float, Double). Importing
// the package registers them in connect.DefaultRegistry under Kafka's
// class names and their aliases (JsonConverter, StringConverter, ...).
//
//	c := converters.NewJSON()
//	_ = c.Configure(map[string]string{"schemas.enable": "true"}, false)
//	b, _ := c.FromConnectData("topic", connect.Int32Schema, int32(42))
//	// b = {"schema":{"type":"int32","optional":false},"payload":42}
//	s, v, _ := c.ToConnectData("topic", b) // connect.Int32Schema-like, int32(42)
package converters
