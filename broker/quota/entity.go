package quota

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
)

// Entity types of client quotas, as Kafka names them.
const (
	EntityUser     = "user"
	EntityClientID = "client-id"
	EntityIP       = "ip"
)

// Quota keys, as Kafka names them.
const (
	// ProducerByteRate bounds the bytes per second of produce requests.
	ProducerByteRate = "producer_byte_rate"
	// ConsumerByteRate bounds the bytes per second of fetch responses.
	ConsumerByteRate = "consumer_byte_rate"
	// RequestPercentage bounds the time spent handling a client's
	// requests, as a percentage of one request thread (KIP-124).
	RequestPercentage = "request_percentage"
	// ControllerMutationRate bounds the partitions created or deleted
	// per second by CreateTopics, CreatePartitions and DeleteTopics
	// (KIP-599).
	ControllerMutationRate = "controller_mutation_rate"
	// ConnectionCreationRate bounds the connections accepted per second
	// from one IP address (KIP-612).
	ConnectionCreationRate = "connection_creation_rate"
)

// ErrInvalid is returned for an entity or a quota value Kafka refuses
// (INVALID_REQUEST).
var ErrInvalid = errors.New("invalid client quota")

// Part is one component of an entity: a type and a name, or the type's
// default entity.
type Part struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// String renders the part as kafka-configs.sh does: type 'name', or
// type <default>.
func (p Part) String() string {
	if p.Default {
		return p.Type + " <default>"
	}
	return fmt.Sprintf("%s '%s'", p.Type, p.Name)
}

// Entity names what a quota applies to: a user, a client ID, a user and
// a client ID, or an IP address. Its parts are sorted by type.
type Entity []Part

// NewEntity returns the entity of parts, sorted, after checking it is one
// Kafka accepts: known types, each at most once, and ip never combined
// with user or client-id; an IP name must be an address.
func NewEntity(parts ...Part) (Entity, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: the entity is empty", ErrInvalid)
	}
	e := append(Entity(nil), parts...)
	sort.Slice(e, func(i, j int) bool { return e[i].Type < e[j].Type })
	seen := map[string]bool{}
	for _, p := range e {
		switch p.Type {
		case EntityUser, EntityClientID, EntityIP:
		default:
			return nil, fmt.Errorf("%w: unknown entity type %q", ErrInvalid, p.Type)
		}
		if seen[p.Type] {
			return nil, fmt.Errorf("%w: duplicate %s entity", ErrInvalid, p.Type)
		}
		seen[p.Type] = true
		if p.Type == EntityIP && !p.Default && net.ParseIP(p.Name) == nil {
			return nil, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, p.Name)
		}
	}
	if seen[EntityIP] && len(e) > 1 {
		return nil, fmt.Errorf("%w: an ip entity cannot be combined with user or client-id", ErrInvalid)
	}
	return e, nil
}

// Get returns the part of type t.
func (e Entity) Get(t string) (Part, bool) {
	for _, p := range e {
		if p.Type == t {
			return p, true
		}
	}
	return Part{}, false
}

// IsIP reports whether the entity is an ip entity.
func (e Entity) IsIP() bool { _, ok := e.Get(EntityIP); return ok }

// Key is a canonical string for the entity, usable as a map key.
func (e Entity) Key() string {
	var sb strings.Builder
	for _, p := range e {
		sb.WriteString(p.Type)
		if p.Default {
			sb.WriteString("\x00")
		} else {
			sb.WriteString("=")
			sb.WriteString(p.Name)
		}
		sb.WriteString("\x01")
	}
	return sb.String()
}

// String renders the entity as kafka-configs.sh describes it.
func (e Entity) String() string {
	s := make([]string, len(e))
	for i, p := range e {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// keyKinds lists the quota keys and what they accept: byte rates are
// Kafka LONGs, connection_creation_rate an INT, the rest DOUBLEs.
var keyKinds = map[string]struct {
	ip    bool // for ip entities (else user/client-id)
	whole bool // the value must be a whole number
	max   float64
}{
	ProducerByteRate:       {whole: true, max: math.MaxInt64},
	ConsumerByteRate:       {whole: true, max: math.MaxInt64},
	RequestPercentage:      {max: math.MaxFloat64},
	ControllerMutationRate: {max: math.MaxFloat64},
	ConnectionCreationRate: {ip: true, whole: true, max: math.MaxInt32},
}

// Keys returns the quota keys an entity accepts.
func Keys(ip bool) []string {
	var out []string
	for k, kind := range keyKinds {
		if kind.ip == ip {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// ValidateValue checks that key is a quota of the entity's kind and that
// value fits it: byte rates and connection_creation_rate are whole
// numbers, and every quota is positive (a quota of zero would stop the
// client for good; remove the quota instead).
func ValidateValue(e Entity, key string, value float64) error {
	kind, ok := keyKinds[key]
	if !ok {
		return fmt.Errorf("%w: unknown quota key %q", ErrInvalid, key)
	}
	if kind.ip != e.IsIP() {
		if kind.ip {
			return fmt.Errorf("%w: %s applies to ip entities only", ErrInvalid, key)
		}
		return fmt.Errorf("%w: %s does not apply to ip entities", ErrInvalid, key)
	}
	return validateNumber(key, value, kind.whole, kind.max)
}

// ValidateKey checks that key is a quota of the entity's kind (for a
// removal, which has no value).
func ValidateKey(e Entity, key string) error {
	kind, ok := keyKinds[key]
	if !ok {
		return fmt.Errorf("%w: unknown quota key %q", ErrInvalid, key)
	}
	if kind.ip != e.IsIP() {
		return fmt.Errorf("%w: %s does not apply to this entity", ErrInvalid, key)
	}
	return nil
}

func validateNumber(key string, v float64, whole bool, max float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%w: %s must be a number", ErrInvalid, key)
	case v <= 0:
		return fmt.Errorf("%w: %s must be positive", ErrInvalid, key)
	case whole && v != math.Trunc(v):
		return fmt.Errorf("%w: %s must be a whole number", ErrInvalid, key)
	case v > max:
		return fmt.Errorf("%w: %s is too large", ErrInvalid, key)
	}
	return nil
}
