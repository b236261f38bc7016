// Package file holds Kafka's FileStreamSource and FileStreamSink
// connectors, with Kafka's configuration names. Importing the package
// registers them in connect.DefaultRegistry as
// org.apache.kafka.connect.file.FileStreamSourceConnector (aliases
// FileStreamSourceConnector, FileStreamSource) and
// org.apache.kafka.connect.file.FileStreamSinkConnector (FileStreamSink).
//
// A source connector configuration, in standalone properties:
//
//	name=local-file-source
//	connector.class=FileStreamSource
//	tasks.max=1
//	file=/tmp/test.txt
//	topic=connect-test
//
// and a sink:
//
//	name=local-file-sink
//	connector.class=FileStreamSink
//	tasks.max=1
//	file=/tmp/test.sink.txt
//	topics=connect-test
package file
