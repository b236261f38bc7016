package quota

// Config is one entity's configured quotas.
type Config struct {
	Entity Entity             `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// Group names the clients that share one rate: Kafka's quota metric tags.
// A quota set for a user alone (or the default user) is shared by all of
// that user's client IDs, so Group.ClientID is empty; a quota set for a
// client ID alone is shared by that client ID across users.
type Group struct {
	User     string
	ClientID string
	// IP is set instead for connection_creation_rate.
	IP string
}

// Resolved is the quota that applies to a client for one key.
type Resolved struct {
	Value float64
	Group Group
	// Entity is the entity the value was configured for.
	Entity Entity `json:"entity"`
}

// Set is an immutable index of configured quotas for lookups.
type Set struct {
	byKey map[string]map[string]float64 // entity key -> quota key -> value
	empty map[string]bool               // quota key -> no entity sets it
}

// NewSet indexes configs.
func NewSet(configs []Config) *Set {
	s := &Set{byKey: map[string]map[string]float64{}, empty: map[string]bool{}}
	used := map[string]bool{}
	for _, c := range configs {
		s.byKey[c.Entity.Key()] = c.Values
		for k := range c.Values {
			used[k] = true
		}
	}
	for k := range keyKinds {
		s.empty[k] = !used[k]
	}
	return s
}

// Has reports whether any entity sets a quota for key; a broker with none
// skips measuring it.
func (s *Set) Has(key string) bool { return s != nil && !s.empty[key] }

func (s *Set) lookup(key string, e Entity) (float64, bool) {
	v, ok := s.byKey[e.Key()][key]
	return v, ok
}

func named(t, name string) Part { return Part{Type: t, Name: name} }
func dflt(t string) Part        { return Part{Type: t, Default: true} }

// Resolve finds the quota for key of a client authenticated as user
// (the principal's name) with clientID, in Kafka's order of precedence:
//
//  1. /config/users/<user>/clients/<client-id>
//  2. /config/users/<user>/clients/<default>
//  3. /config/users/<user>
//  4. /config/users/<default>/clients/<client-id>
//  5. /config/users/<default>/clients/<default>
//  6. /config/users/<default>
//  7. /config/clients/<client-id>
//  8. /config/clients/<default>
//
// The first entity that sets key wins; each key is resolved on its own.
func (s *Set) Resolve(key, user, clientID string) (Resolved, bool) {
	if !s.Has(key) {
		return Resolved{}, false
	}
	u, du := named(EntityUser, user), dflt(EntityUser)
	c, dc := named(EntityClientID, clientID), dflt(EntityClientID)
	both := Group{User: user, ClientID: clientID}
	order := []struct {
		e Entity
		g Group
	}{
		{Entity{c, u}, both},
		{Entity{dc, u}, both},
		{Entity{u}, Group{User: user}},
		{Entity{c, du}, both},
		{Entity{dc, du}, both},
		{Entity{du}, Group{User: user}},
		{Entity{c}, Group{ClientID: clientID}},
		{Entity{dc}, Group{ClientID: clientID}},
	}
	for _, o := range order {
		if v, ok := s.lookup(key, o.e); ok {
			return Resolved{Value: v, Group: o.g, Entity: o.e}, true
		}
	}
	return Resolved{}, false
}

// ResolveIP finds the connection_creation_rate of an IP address: its own
// (/config/ips/<ip>), else the default IP quota (/config/ips/<default>).
func (s *Set) ResolveIP(ip string) (float64, bool) {
	if !s.Has(ConnectionCreationRate) {
		return 0, false
	}
	if v, ok := s.lookup(ConnectionCreationRate, Entity{named(EntityIP, ip)}); ok {
		return v, true
	}
	return s.lookup(ConnectionCreationRate, Entity{dflt(EntityIP)})
}
