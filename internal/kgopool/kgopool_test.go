package kgopool

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordsReuse: a slice put back is handed out again when it is large
// enough, a smaller one is not, and the free list stays bounded under
// concurrent use.
func TestRecordsReuse(t *testing.T) {
	var p Records
	s := p.GetRecords(10)
	if cap(s) < 10 || len(s) != 0 {
		t.Fatalf("new slice: len %d cap %d", len(s), cap(s))
	}
	p.PutRecords(s[:cap(s)])
	if again := p.GetRecords(8); cap(again) != cap(s) || &again[:1][0] != &s[:1][0] {
		t.Fatal("a large enough released slice was not reused")
	}
	p.PutRecords(make([]kgo.Record, 4))
	if big := p.GetRecords(100); cap(big) < 100 {
		t.Fatalf("slice of cap %d for 100 records", cap(big))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				p.PutRecords(p.GetRecords(16)[:16])
				p.PutRecords(make([]kgo.Record, 16))
			}
		}()
	}
	wg.Wait()
	if n := len(p.free); n > maxFree {
		t.Fatalf("free list holds %d slices, bound %d", n, maxFree)
	}
}
