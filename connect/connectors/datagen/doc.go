// Package datagen is a source connector that generates random records for
// demos and benchmarks: a quickstart data set (users, pageviews, orders) or
// a struct schema of your own (schema.string, in Kafka Connect's JSON schema
// form), at a given rate (records.per.second, or a random wait up to
// max.interval ms) and count (iterations per task). The count resumes from
// the stored source offset after a restart. Importing the package registers
// it as io.confluent.kafka.connect.datagen.DatagenConnector (aliases
// DatagenConnector, Datagen).
//
//	{"name": "users", "config": {
//	  "connector.class": "Datagen",
//	  "kafka.topic": "users",
//	  "quickstart": "users",
//	  "records.per.second": "10",
//	  "iterations": "1000"}}
package datagen
