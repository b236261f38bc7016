package log

import "hash/maphash"

// offsetMap maps record keys to the latest offset seen for them, as Kafka's
// SkimpyOffsetMap does: keys are kept as 128-bit hashes (two independently
// seeded 64-bit hashes), so an entry costs 24 bytes whatever the key size,
// in an open-addressing table that never grows past its byte budget.
type offsetMap struct {
	slots      []mapSlot // power-of-two length
	used       int
	maxSlots   int // the budget, in slots
	seed1      maphash.Seed
	seed2      maphash.Seed
	latest     int64 // largest offset put, -1 if none
	loadFactor float64
}

type mapSlot struct {
	h1, h2 uint64
	off    int64 // offset + 1; 0 = empty slot
}

const mapSlotSize = 24

// newOffsetMap returns a map that uses at most budget bytes.
func newOffsetMap(budget int64) *offsetMap {
	m := &offsetMap{
		maxSlots:   int(max(budget/mapSlotSize, 64)),
		seed1:      maphash.MakeSeed(),
		seed2:      maphash.MakeSeed(),
		loadFactor: 0.9,
	}
	m.reset()
	return m
}

// reset empties the map, keeping its table.
func (m *offsetMap) reset() {
	if m.slots == nil {
		m.slots = make([]mapSlot, min(1024, floorPow2(m.maxSlots)))
	} else {
		clear(m.slots)
	}
	m.used = 0
	m.latest = -1
}

func floorPow2(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// capacity is how many keys the map can take within its budget.
func (m *offsetMap) capacity() int { return int(float64(floorPow2(m.maxSlots)) * m.loadFactor) }

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	h1, h2 := maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
	if h1 == 0 && h2 == 0 {
		h2 = 1
	}
	return h1, h2
}

// put records offset as the latest for key. It returns false, changing
// nothing, when the key is new and the map is full.
func (m *offsetMap) put(key []byte, offset int64) bool {
	h1, h2 := m.hash(key)
	i := m.find(h1, h2)
	if m.slots[i].off == 0 {
		if float64(m.used+1) > float64(len(m.slots))*m.loadFactor {
			if len(m.slots)*2 > m.maxSlots {
				return false
			}
			m.grow()
			i = m.find(h1, h2)
		}
		m.slots[i].h1, m.slots[i].h2 = h1, h2
		m.used++
	}
	m.slots[i].off = offset + 1
	m.latest = max(m.latest, offset)
	return true
}

// get returns the latest offset of key, -1 if the map has none.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	return m.slots[m.find(h1, h2)].off - 1
}

// find returns the slot holding the hash or the empty slot where it goes.
func (m *offsetMap) find(h1, h2 uint64) int {
	mask := len(m.slots) - 1
	for i := int(h1) & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off == 0 || (s.h1 == h1 && s.h2 == h2) {
			return i
		}
	}
}

func (m *offsetMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, len(old)*2)
	for _, s := range old {
		if s.off != 0 {
			m.slots[m.find(s.h1, s.h2)] = s
		}
	}
}
