package runtime

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type (
	kmsgOffsetCommitRequest  = kmsg.OffsetCommitRequest
	kmsgOffsetCommitResponse = kmsg.OffsetCommitResponse
)

// kerrFor maps a Kafka error code to its error (nil for 0).
func kerrFor(code int16) error { return kerr.ErrorForCode(code) }
