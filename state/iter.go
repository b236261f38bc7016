package state

import "bytes"

// SliceIterator returns an iterator over entries in the given order. It is used by
// backends and tests; the slice must not change while the iterator is used.
func SliceIterator(entries []KeyValue) KeyValueIterator {
	return &sliceIter{entries: entries, i: -1}
}

type sliceIter struct {
	entries []KeyValue
	i       int
}

func (it *sliceIter) Next() bool {
	if it.i+1 >= len(it.entries) {
		it.i = len(it.entries)
		return false
	}
	it.i++
	return true
}
func (it *sliceIter) Key() []byte   { return it.entries[it.i].Key }
func (it *sliceIter) Value() []byte { return it.entries[it.i].Value }
func (it *sliceIter) Err() error    { return nil }
func (it *sliceIter) Close() error  { it.entries = nil; return nil }

// EmptyIterator returns an iterator with no entries.
func EmptyIterator[K any]() Iterator[K] { return emptyIter[K]{} }

type emptyIter[K any] struct{}

func (emptyIter[K]) Next() bool    { return false }
func (emptyIter[K]) Key() K        { var k K; return k }
func (emptyIter[K]) Value() []byte { return nil }
func (emptyIter[K]) Err() error    { return nil }
func (emptyIter[K]) Close() error  { return nil }

// InRange reports whether key lies in [from, to], nil bounds being open.
func InRange(key, from, to []byte) bool {
	return (from == nil || bytes.Compare(key, from) >= 0) && (to == nil || bytes.Compare(key, to) <= 0)
}

// EmptyRange reports whether [from, to] contains no key (both bounds set and from > to).
func EmptyRange(from, to []byte) bool {
	return from != nil && to != nil && bytes.Compare(from, to) > 0
}

// windowedIter walks the raw entries of several segment stores one after another, decoding
// and filtering them into windowed entries.
type windowedIter struct {
	open   []func() (KeyValueIterator, error) // one per segment, in order
	cur    KeyValueIterator
	decode func(raw []byte) (Windowed, bool, error) // ok=false skips the entry
	key    Windowed
	val    []byte
	err    error
	closed bool
}

func (it *windowedIter) Next() bool {
	for !it.closed && it.err == nil {
		if it.cur == nil {
			if len(it.open) == 0 {
				return false
			}
			it.cur, it.err = it.open[0]()
			it.open = it.open[1:]
			continue
		}
		if !it.cur.Next() {
			it.err = it.cur.Err()
			if cerr := it.cur.Close(); it.err == nil {
				it.err = cerr
			}
			it.cur = nil
			continue
		}
		w, ok, err := it.decode(it.cur.Key())
		if err != nil {
			it.err = err
			return false
		}
		if ok {
			it.key, it.val = w, it.cur.Value()
			return true
		}
	}
	return false
}

func (it *windowedIter) Key() Windowed { return it.key }
func (it *windowedIter) Value() []byte { return it.val }
func (it *windowedIter) Err() error    { return it.err }
func (it *windowedIter) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.open = nil
	if it.cur != nil {
		return it.cur.Close()
	}
	return nil
}
