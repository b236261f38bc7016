package memory

import (
	"bytes"
	"math/rand/v2"
)

const maxLevel = 24

type node struct {
	key, value []byte
	prev       *node // level-0 predecessor; nil for the first node
	next       []*node
	inline     [2]*node // next's storage for the 15 in 16 nodes of level 1 or 2: one allocation
}

// skiplist is an ordered map of byte keys; it is not safe for concurrent use.
type skiplist struct {
	head  node
	tail  *node
	level int
	n     int64
	rnd   *rand.PCG
}

func newSkiplist() *skiplist {
	s := &skiplist{level: 1, rnd: rand.NewPCG(rand.Uint64(), rand.Uint64())}
	s.head.next = make([]*node, maxLevel)
	return s
}

func (s *skiplist) randomLevel() int {
	l, r := 1, s.rnd.Uint64()
	for l < maxLevel && r&3 == 0 {
		l++
		r >>= 2
	}
	return l
}

// findGE fills update (when non-nil) with the rightmost node before key on every level
// and returns the first node with a key >= key.
func (s *skiplist) findGE(key []byte, update []*node) *node {
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) < 0 {
			x = x.next[i]
		}
		if update != nil {
			update[i] = x
		}
	}
	return x.next[0]
}

// findGT returns the first node with a key > key.
func (s *skiplist) findGT(key []byte) *node {
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) <= 0 {
			x = x.next[i]
		}
	}
	return x.next[0]
}

// findLE returns the last node with a key <= key.
func (s *skiplist) findLE(key []byte) *node {
	if n := s.findGT(key); n != nil {
		return n.prev
	}
	return s.tail
}

// findLT returns the last node with a key < key.
func (s *skiplist) findLT(key []byte) *node {
	if n := s.findGE(key, nil); n != nil {
		return n.prev
	}
	return s.tail
}

func (s *skiplist) first() *node { return s.head.next[0] }

func (s *skiplist) get(key []byte) (*node, bool) {
	n := s.findGE(key, nil)
	if n != nil && bytes.Equal(n.key, key) {
		return n, true
	}
	return nil, false
}

// set stores value (owned by the list from now on) under key, copying a new key.
func (s *skiplist) set(key, value []byte) {
	var update [maxLevel]*node
	s.setAt(key, value, update[:], s.findGE(key, update[:]))
}

// setAt is set with update and n as findGE(key, update) left them. update stays a valid
// set of predecessors for keys >= key.
func (s *skiplist) setAt(key, value []byte, update []*node, n *node) {
	if n != nil && bytes.Equal(n.key, key) {
		n.value = value
		return
	}
	lvl := s.randomLevel()
	if lvl > s.level {
		for i := s.level; i < lvl; i++ {
			update[i] = &s.head
		}
		s.level = lvl
	}
	x := &node{key: bytes.Clone(key), value: value}
	if lvl <= len(x.inline) {
		x.next = x.inline[:lvl]
	} else {
		x.next = make([]*node, lvl)
	}
	for i := 0; i < lvl; i++ {
		x.next[i] = update[i].next[i]
		update[i].next[i] = x
	}
	if update[0] != &s.head {
		x.prev = update[0]
	}
	if x.next[0] != nil {
		x.next[0].prev = x
	} else {
		s.tail = x
	}
	s.n++
}

// finger speeds up a run of ascending keys (a sorted batch): it keeps the predecessors
// found for the previous key, and the next search starts from them instead of the head,
// so it touches only the nodes between the two keys rather than a path from the top.
type finger struct {
	update [maxLevel]*node
	last   []byte
	valid  bool
}

// findGEFrom is findGE(key, f.update) starting from the finger when key is not below
// the previous key.
func (s *skiplist) findGEFrom(key []byte, f *finger) *node {
	if !f.valid || bytes.Compare(key, f.last) < 0 {
		f.last, f.valid = key, true
		return s.findGE(key, f.update[:])
	}
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		// Both the node reached on the level above and the previous key's predecessor on
		// this level lie before key: start from whichever is further.
		if u := f.update[i]; u != nil && u != &s.head && (x == &s.head || bytes.Compare(u.key, x.key) > 0) {
			x = u
		}
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) < 0 {
			x = x.next[i]
		}
		f.update[i] = x
	}
	f.last = key
	return x.next[0]
}

func (s *skiplist) delete(key []byte) bool {
	var update [maxLevel]*node
	return s.deleteAt(key, update[:], s.findGE(key, update[:]))
}

// deleteAt is delete with update and n as findGE(key, update) left them. update stays a
// valid set of predecessors for keys >= key.
func (s *skiplist) deleteAt(key []byte, update []*node, n *node) bool {
	if n == nil || !bytes.Equal(n.key, key) {
		return false
	}
	for i := 0; i < len(n.next); i++ {
		update[i].next[i] = n.next[i]
	}
	if n.next[0] != nil {
		n.next[0].prev = n.prev
	} else {
		s.tail = n.prev
	}
	for s.level > 1 && s.head.next[s.level-1] == nil {
		s.level--
	}
	s.n--
	return true
}
