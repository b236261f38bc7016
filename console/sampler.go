package console

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// snapshot is one sample: the high watermarks of all topics summed, and
// each group's lag per partition.
type snapshot struct {
	t    time.Time
	hw   int64
	lags map[string]map[topicPartition]int64
}

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

// ring is a fixed-size ring buffer of snapshots, oldest first.
type ring struct {
	buf  []snapshot
	next int
	n    int
}

func (r *ring) add(s snapshot) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// all returns the snapshots, oldest first.
func (r *ring) all() []snapshot {
	out := make([]snapshot, 0, r.n)
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := range r.n {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}

// sampler keeps the last hour of snapshots per user (the user a session
// acts as; "" without login), so each user's history holds only what that
// user may see. The console's sample loop is the only writer; mu guards
// byUser for the readers (a leaf lock).
type sampler struct {
	size int

	mu     sync.Mutex
	byUser map[string]*ring
}

func newSampler(every time.Duration) *sampler {
	size := max(int(sampleWindow/every), 2)
	return &sampler{size: size, byUser: map[string]*ring{}}
}

func (s *sampler) add(user string, snap snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byUser[user]
	if r == nil {
		r = &ring{buf: make([]snapshot, s.size)}
		s.byUser[user] = r
	}
	r.add(snap)
}

// history returns user's snapshots, oldest first. Snapshots are never
// changed once added, so callers may read them without the lock.
func (s *sampler) history(user string) []snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byUser[user]; r != nil {
		return r.all()
	}
	return nil
}

// ratePoint is one point of the overview's throughput series.
type ratePoint struct {
	T          int64   `json:"t"`
	MessagesIn float64 `json:"messagesIn"`
}

// rates turns snapshots into messages per second between consecutive
// samples (0 when the sum fell, as when a topic was deleted).
func rates(h []snapshot) []ratePoint {
	out := []ratePoint{}
	for i := 1; i < len(h); i++ {
		dt := h[i].t.Sub(h[i-1].t).Seconds()
		rate := 0.0
		if d := h[i].hw - h[i-1].hw; d > 0 && dt > 0 {
			rate = float64(d) / dt
		}
		out = append(out, ratePoint{T: h[i].t.UnixMilli(), MessagesIn: rate})
	}
	return out
}

// lagPoint is one point of a partition's lag history.
type lagPoint struct {
	T   int64 `json:"t"`
	Lag int64 `json:"lag"`
}

// lagSeries is the history of group's lag on one partition.
func lagSeries(h []snapshot, group string, tp topicPartition) []lagPoint {
	out := []lagPoint{}
	for _, s := range h {
		if lag, ok := s.lags[group][tp]; ok {
			out = append(out, lagPoint{T: s.t.UnixMilli(), Lag: lag})
		}
	}
	return out
}

// sampleLoop samples every SampleEvery until Close, and expires idle
// sessions. It is the sampler's one goroutine.
func (c *Console) sampleLoop() {
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	for {
		now := time.Now()
		c.sessions.expire(now)
		for _, s := range c.sessions.principals() {
			if c.ctx.Err() != nil {
				return
			}
			if snap, ok := c.sample(s); ok {
				c.sampler.add(s.user, snap)
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes one snapshot as s's user; ok is false when the cluster
// could not be reached.
func (c *Console) sample(s *session) (snapshot, bool) {
	ctx, cancel := context.WithTimeout(c.ctx, max(c.cfg.SampleEvery, 5*time.Second))
	defer cancel()
	snap := snapshot{t: time.Now(), lags: map[string]map[topicPartition]int64{}}
	ends, err := s.adm.ListEndOffsets(ctx)
	if err != nil {
		c.log.Debug("console: sample end offsets", "err", err)
		return snap, false
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			snap.hw += o.Offset
		}
	})
	groups, err := s.adm.ListGroups(ctx)
	if err != nil || len(groups) == 0 {
		return snap, true
	}
	lags, err := s.adm.Lag(ctx, groups.Groups()...)
	if err != nil {
		c.log.Debug("console: sample lag", "err", err)
		return snap, true
	}
	for g, l := range lags {
		if l.Error() != nil {
			continue
		}
		m := map[topicPartition]int64{}
		for t, ps := range l.Lag {
			for p, ml := range ps {
				if ml.Err == nil && ml.Commit.At >= 0 {
					m[topicPartition{t, p}] = ml.Lag
				}
			}
		}
		snap.lags[g] = m
	}
	return snap, true
}
