package streams

import (
	"fmt"
	"time"
)

// Processor is a user processor of the Processor API: it receives records of types
// KIn, VIn and may forward records of types KOut, VOut to its children. Add one to a
// stream with Process. A new Processor is made for each task, and its methods are called
// from that task's goroutine only.
type Processor[KIn, VIn, KOut, VOut any] interface {
	// Init is called once, after the task's stores are restored, before any record.
	Init(ctx *ProcessorContext[KOut, VOut]) error
	// Process handles one record.
	Process(r Record[KIn, VIn]) error
	// Close is called when the task closes.
	Close() error
}

// ProcessorFunc adapts a function to a stateless Processor. Forward with the context
// passed to it.
type ProcessorFunc[KIn, VIn, KOut, VOut any] func(ctx *ProcessorContext[KOut, VOut], r Record[KIn, VIn]) error

// NewProcessorFunc returns a supplier of processors that call f for each record.
func NewProcessorFunc[KIn, VIn, KOut, VOut any](f ProcessorFunc[KIn, VIn, KOut, VOut]) func() Processor[KIn, VIn, KOut, VOut] {
	return func() Processor[KIn, VIn, KOut, VOut] { return &funcProcessor[KIn, VIn, KOut, VOut]{f: f} }
}

type funcProcessor[KIn, VIn, KOut, VOut any] struct {
	f   ProcessorFunc[KIn, VIn, KOut, VOut]
	ctx *ProcessorContext[KOut, VOut]
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Init(ctx *ProcessorContext[KOut, VOut]) error {
	p.ctx = ctx
	return nil
}
func (p *funcProcessor[KIn, VIn, KOut, VOut]) Process(r Record[KIn, VIn]) error { return p.f(p.ctx, r) }
func (p *funcProcessor[KIn, VIn, KOut, VOut]) Close() error                     { return nil }

// PunctuationType says which clock drives a punctuation.
type PunctuationType int

const (
	// StreamTime punctuations fire as the task's stream time (the largest record
	// timestamp it has processed) advances; with no new records they do not fire.
	StreamTime PunctuationType = iota
	// WallClockTime punctuations fire as the system clock advances.
	WallClockTime
)

// Punctuator is called by a punctuation with the time it fires at (milliseconds).
type Punctuator func(ts int64) error

type schedule struct {
	typ      PunctuationType
	interval int64
	next     int64 // -1: not yet set (stream time: set by the first record)
	fn       Punctuator
	node     string
	canceled bool
}

// Cancellable cancels a scheduled punctuation.
type Cancellable struct{ s *schedule }

// Cancel stops the punctuation.
func (c Cancellable) Cancel() {
	if c.s != nil {
		c.s.canceled = true
	}
}

// punctuate runs the punctuations of type typ due at time now.
func (t *task) punctuate(typ PunctuationType, now int64) error {
	for _, s := range t.puncts {
		if s.canceled || s.typ != typ {
			continue
		}
		if s.next < 0 {
			s.next = now
		}
		if now < s.next {
			continue
		}
		s.next += s.interval * ((now-s.next)/s.interval + 1)
		saved := t.curTs
		t.curTs = now
		err := s.fn(now)
		t.curTs = saved
		if err != nil {
			return fmt.Errorf("streams: task %s: punctuator of %s: %w", t.id, s.node, err)
		}
	}
	return nil
}

// ProcessorContext is a processor's view of its task: forwarding, the current record's
// metadata, state stores and punctuation.
type ProcessorContext[K, V any] struct {
	t    *task
	node string
	fw   forwarder[K, V]
}

// Forward passes r to every child of the processor.
func (c *ProcessorContext[K, V]) Forward(r Record[K, V]) error { return c.fw.forward(r) }

// ForwardTo passes r to the child named child.
func (c *ProcessorContext[K, V]) ForwardTo(child string, r Record[K, V]) error {
	return c.fw.forwardTo(child, r)
}

// Schedule registers a punctuation that calls fn every interval of the given clock.
// Stream-time punctuations first fire with the first record processed after
// scheduling; wall-clock ones one interval from now.
func (c *ProcessorContext[K, V]) Schedule(interval time.Duration, typ PunctuationType, fn Punctuator) (Cancellable, error) {
	ms := interval.Milliseconds()
	if ms < 1 {
		return Cancellable{}, fmt.Errorf("%w: punctuation interval %v below 1ms", ErrTopology, interval)
	}
	s := &schedule{typ: typ, interval: ms, next: -1, fn: fn, node: c.node}
	if typ == WallClockTime {
		s.next = c.t.cfg.now() + ms
	}
	c.t.puncts = append(c.t.puncts, s)
	return Cancellable{s: s}, nil
}

func (c *ProcessorContext[K, V]) stateStore(name string) (any, error) {
	return c.t.stateStore(name)
}

// ApplicationID returns the application.id.
func (c *ProcessorContext[K, V]) ApplicationID() string { return c.t.cfg.app }

// TaskID returns the task the processor runs in.
func (c *ProcessorContext[K, V]) TaskID() TaskID { return c.t.id }

// Topic returns the topic of the record being processed ("" in a punctuation).
func (c *ProcessorContext[K, V]) Topic() string {
	if c.t.cur == nil {
		return ""
	}
	return c.t.cur.Topic
}

// Partition returns the partition of the record being processed (-1 in a punctuation).
func (c *ProcessorContext[K, V]) Partition() int32 {
	if c.t.cur == nil {
		return -1
	}
	return c.t.cur.Partition
}

// Offset returns the offset of the record being processed (-1 in a punctuation).
func (c *ProcessorContext[K, V]) Offset() int64 {
	if c.t.cur == nil {
		return -1
	}
	return c.t.cur.Offset
}

// StreamTime returns the task's stream time: the largest timestamp processed, -1 before
// the first record.
func (c *ProcessorContext[K, V]) StreamTime() int64 { return c.t.streamTime }

// CurrentSystemTime returns the wall-clock time in milliseconds (the test driver's
// mocked clock under streamstest).
func (c *ProcessorContext[K, V]) CurrentSystemTime() int64 { return c.t.cfg.now() }

// userProc runs a user Processor as a node.
type userProc[KIn, VIn, KOut, VOut any] struct {
	p Processor[KIn, VIn, KOut, VOut]
}

func (u *userProc[KIn, VIn, KOut, VOut]) process(r Record[KIn, VIn]) error { return u.p.Process(r) }

// Process adds a user processor to s, made by supplier for each task; connect it to
// stores with WithStores. Its output is considered re-keyed: grouping it repartitions.
func Process[K, V, K2, V2 any](s Stream[K, V], supplier func() Processor[K, V, K2, V2], opts ...Option) Stream[K2, V2] {
	o := collect(opts)
	n := s.b.addNode(kindProcessor, o.name, "KSTREAM-PROCESSOR-", s.n)
	for _, st := range o.stores {
		s.b.connect(n, st)
	}
	out := link(s.fans(), n, func(tc *task, fw forwarder[K2, V2]) (proc[K, V], error) {
		p := supplier()
		if err := p.Init(&ProcessorContext[K2, V2]{t: tc, node: n.name, fw: fw}); err != nil {
			return nil, err
		}
		tc.closers = append(tc.closers, p.Close)
		return &userProc[K, V, K2, V2]{p: p}, nil
	})
	return Stream[K2, V2]{b: s.b, n: n, out: out, keyChanged: true}
}
