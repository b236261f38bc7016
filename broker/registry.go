package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc answers one decoded request. A nil response means none is sent
// (acks=0 produce); an error closes the connection.
type handlerFunc func(b *Broker, r *request) (kmsg.Response, error)

// apiHandler is one Kafka API the broker implements, with the versions its
// handler honours. Every handler file registers itself in an init function;
// ApiVersions is built from this registry, never from a hand-kept list.
type apiHandler struct {
	key        int16
	minVersion int16
	maxVersion int16
	handle     handlerFunc
}

var handlers = map[int16]*apiHandler{}

// register adds the handler for an API key. It panics on a duplicate, which
// can only be a programming error caught by any test.
func register(key, minVersion, maxVersion int16, fn handlerFunc) {
	if _, dup := handlers[key]; dup {
		panic("broker: duplicate handler for API key " + kmsg.NameForKey(key))
	}
	handlers[key] = &apiHandler{key: key, minVersion: minVersion, maxVersion: maxVersion, handle: fn}
}

// supportedAPIs returns the registry sorted by key.
func supportedAPIs() []*apiHandler {
	out := make([]*apiHandler, 0, len(handlers))
	for _, h := range handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// SupportedVersions reports the version range the broker serves for an API
// key, and whether it serves the key at all.
func SupportedVersions(key int16) (minVersion, maxVersion int16, ok bool) {
	h, ok := handlers[key]
	if !ok {
		return 0, 0, false
	}
	return h.minVersion, h.maxVersion, true
}
