// Package transforms holds Kafka Connect's single message transformations
// and predicates, registered in connect.DefaultRegistry under Kafka's class
// names (org.apache.kafka.connect.transforms.InsertField$Value, ...) and
// their simple names (InsertField$Value). Import it for its side effect:
//
//	import _ "github.com/gregorhq/gregor/connect/transforms"
//
// and configure a connector with Kafka's keys:
//
//	transforms=route,mask
//	transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
//	transforms.route.regex=(.*)-raw
//	transforms.route.replacement=$1-clean
//	transforms.mask.type=MaskField$Value
//	transforms.mask.fields=ssn
//	transforms.mask.predicate=isUsers
//	predicates=isUsers
//	predicates.isUsers.type=TopicNameMatches
//	predicates.isUsers.pattern=users.*
//
// Every transformation works on records with schemas (Struct values) and
// without (map[string]any values, as JsonConverter with
// schemas.enable=false produces). Transformations: InsertField,
// ReplaceField, MaskField, ValueToKey, ExtractField, HoistField, Cast,
// Flatten, TimestampConverter, RegexRouter, TimestampRouter, Filter,
// InsertHeader, DropHeaders and HeaderFrom ($Key/$Value variants where
// Kafka has them); predicates: TopicNameMatches, HasHeaderKey and
// RecordIsTombstone.
package transforms
