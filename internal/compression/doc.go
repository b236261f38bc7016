// Package compression turns a Kafka compression name, as
// compression.type and the CLI's --compression spell it, into franz-go's
// codec. The CLI's producers and Connect's worker both use it, so the two
// accept the same names:
//
//	codec, err := compression.Codec("zstd")
//	if err != nil {
//		return err // errors.Is(err, compression.ErrUnknown)
//	}
//	cl, err := kgo.NewClient(kgo.ProducerBatchCompression(codec))
package compression
