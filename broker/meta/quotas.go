package meta

import (
	"fmt"
	"sort"

	"github.com/gregorhq/gregor/broker/quota"
)

// RecordClientQuotas sets and removes client quotas (AlterClientQuotas);
// all of the record's changes apply together.
const RecordClientQuotas RecordType = "client-quotas"

// QuotaChange is one change of a client-quotas record: set Key of Entity
// to Value, or remove it.
type QuotaChange struct {
	Entity quota.Entity `json:"entity"`
	Key    string       `json:"key"`
	Value  float64      `json:"value,omitempty"`
	Remove bool         `json:"remove,omitempty"`
}

// applyQuotas applies a client-quotas record. Removing a quota that is
// not set is not an error (Kafka ignores it too).
func (s *State) applyQuotas(r Record) error {
	if len(r.Quotas) == 0 {
		return fmt.Errorf("%w: %s without changes", ErrBadRecord, r.Type)
	}
	for _, c := range r.Quotas {
		if _, err := quota.NewEntity(c.Entity...); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRecord, err)
		}
		if !c.Remove {
			if err := quota.ValidateValue(c.Entity, c.Key, c.Value); err != nil {
				return fmt.Errorf("%w: %w", ErrBadRecord, err)
			}
		}
	}
	if s.quotas == nil {
		s.quotas = map[string]*quota.Config{}
	}
	for _, c := range r.Quotas {
		k := c.Entity.Key()
		cfg := s.quotas[k]
		if c.Remove {
			if cfg != nil {
				delete(cfg.Values, c.Key)
				if len(cfg.Values) == 0 {
					delete(s.quotas, k)
				}
			}
			continue
		}
		if cfg == nil {
			cfg = &quota.Config{Entity: append(quota.Entity(nil), c.Entity...), Values: map[string]float64{}}
			s.quotas[k] = cfg
		}
		cfg.Values[c.Key] = c.Value
	}
	return nil
}

// ClientQuotas returns copies of every entity's quotas, sorted by entity.
func (s *State) ClientQuotas() []quota.Config {
	out := make([]quota.Config, 0, len(s.quotas))
	for _, cfg := range s.quotas {
		c := quota.Config{Entity: append(quota.Entity(nil), cfg.Entity...), Values: make(map[string]float64, len(cfg.Values))}
		for k, v := range cfg.Values {
			c.Values[k] = v
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Entity.Key() < out[j].Entity.Key() })
	return out
}

func (s *State) restoreQuotas(configs []quota.Config) {
	s.quotas = nil
	for _, c := range configs {
		if len(c.Values) == 0 {
			continue
		}
		if s.quotas == nil {
			s.quotas = map[string]*quota.Config{}
		}
		cp := c
		cp.Values = make(map[string]float64, len(c.Values))
		for k, v := range c.Values {
			cp.Values[k] = v
		}
		s.quotas[c.Entity.Key()] = &cp
	}
}
