package broker

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch session limits, Kafka's defaults.
const (
	fetchSessionSlots       = 1000            // max.incremental.fetch.session.cache.slots
	fetchSessionEvictionAge = 2 * time.Minute // min.incremental.fetch.session.eviction.ms
	finalEpoch              = int32(-1)       // closes a session
	initialEpoch            = int32(0)        // opens a session
)

// fetchItem is one partition a fetch reads: from the request, or from the
// fetch session it continues.
type fetchItem struct {
	topic       string
	topicID     [16]byte
	partition   int32
	offset      int64
	maxBytes    int32
	leaderEpoch int32

	// what the session last told the client, to send only changes
	lastHW, lastLSO, lastLogStart int64
}

type itemKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

func (it *fetchItem) key() itemKey { return itemKey{it.topic, it.topicID, it.partition} }

// fetchSession is the partitions an incremental fetch client reads (KIP-227).
type fetchSession struct {
	mu       sync.Mutex
	id       int32
	epoch    int32 // the epoch the next request must carry
	items    []*fetchItem
	index    map[itemKey]*fetchItem
	lastUsed time.Time
}

// fetchSessions is the broker's session cache. Its mutex guards the map;
// each session has its own lock (order: cache before session).
type fetchSessions struct {
	mu       sync.Mutex
	sessions map[int32]*fetchSession
}

func (c *fetchSessions) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
}

// create makes a session, evicting the least recently used idle one when
// the cache is full; nil when no slot can be had.
func (c *fetchSessions) create(now time.Time) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[int32]*fetchSession{}
	}
	if len(c.sessions) >= fetchSessionSlots {
		var victim *fetchSession
		for _, s := range c.sessions {
			if now.Sub(s.lastUsed) >= fetchSessionEvictionAge && (victim == nil || s.lastUsed.Before(victim.lastUsed)) {
				victim = s
			}
		}
		if victim == nil {
			return nil
		}
		delete(c.sessions, victim.id)
	}
	for {
		id := rand.Int32()
		if id == 0 {
			continue
		}
		if _, taken := c.sessions[id]; taken {
			continue
		}
		s := &fetchSession{id: id, epoch: 1, index: map[itemKey]*fetchItem{}, lastUsed: now}
		c.sessions[id] = s
		return s
	}
}

func copyItems(items []*fetchItem) []fetchItem {
	out := make([]fetchItem, len(items))
	for i, it := range items {
		out[i] = *it
	}
	return out
}

// remember records what the session's client was last told of a partition.
func (s *fetchSession) remember(it fetchItem, hw, lso, logStart int64) {
	s.mu.Lock()
	if cur, ok := s.index[it.key()]; ok {
		cur.lastHW, cur.lastLSO, cur.lastLogStart = hw, lso, logStart
	}
	s.mu.Unlock()
}

// requestItems lists the partitions named in a request.
func requestItems(req *kmsg.FetchRequest) []*fetchItem {
	var out []*fetchItem
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, &fetchItem{
				topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition,
				offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch,
				lastHW: -1, lastLSO: -1, lastLogStart: -1,
			})
		}
	}
	return out
}

// fetchPlan is what one fetch reads and how it answers.
type fetchPlan struct {
	items       []fetchItem   // copies: the session may change under a later request
	session     *fetchSession // nil for sessionless fetches
	incremental bool          // answer only partitions with changes
	errCode     int16         // a session error answers at once
}

// planFetch applies the request's session semantics: sessionless (id 0,
// epoch -1), new session (epoch 0), close (epoch -1), or an incremental
// continuation that adds, updates and forgets partitions.
func (b *Broker) planFetch(req *kmsg.FetchRequest, version int16) fetchPlan {
	now := time.Now()
	switch {
	case version < 7 || (req.SessionID == 0 && req.SessionEpoch == finalEpoch):
		return fetchPlan{items: copyItems(requestItems(req))}
	case req.SessionEpoch == finalEpoch:
		b.fetchSessions.remove(req.SessionID)
		return fetchPlan{items: copyItems(requestItems(req))}
	case req.SessionEpoch == initialEpoch:
		if req.SessionID != 0 {
			b.fetchSessions.remove(req.SessionID)
		}
		items := requestItems(req)
		s := b.fetchSessions.create(now)
		if s == nil {
			return fetchPlan{items: copyItems(items)}
		}
		s.mu.Lock()
		for _, it := range items {
			if _, dup := s.index[it.key()]; !dup {
				s.items = append(s.items, it)
				s.index[it.key()] = it
			}
		}
		plan := fetchPlan{items: copyItems(s.items), session: s}
		s.mu.Unlock()
		return plan
	case req.SessionID == 0:
		return fetchPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	s := b.fetchSessions.get(req.SessionID)
	if s == nil {
		return fetchPlan{errCode: kerr.FetchSessionIDNotFound.Code}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.SessionEpoch != s.epoch {
		return fetchPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	s.epoch++
	if s.epoch < 0 {
		s.epoch = 1
	}
	s.lastUsed = now
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := itemKey{ft.Topic, ft.TopicID, p}
			if _, ok := s.index[k]; ok {
				delete(s.index, k)
				for i, it := range s.items {
					if it.key() == k {
						s.items = append(s.items[:i], s.items[i+1:]...)
						break
					}
				}
			}
		}
	}
	for _, it := range requestItems(req) {
		if cur, ok := s.index[it.key()]; ok {
			cur.offset, cur.maxBytes, cur.leaderEpoch = it.offset, it.maxBytes, it.leaderEpoch
			cur.lastHW = -1 // the client asked: always answer it
			continue
		}
		s.items = append(s.items, it)
		s.index[it.key()] = it
	}
	return fetchPlan{items: copyItems(s.items), session: s, incremental: true}
}
