package log

import (
	"bytes"
	"errors"
	"math/rand"
	"sync"
	"testing"
)

// TestFollowerConcurrentReads: while a follower appends and truncates over
// and over (refetching the same leader log), readers, flushes and time
// lookups run against it. A read returns the leader's bytes at its offset
// or ErrOffsetOutOfRange, never garbage or a storage error.
func TestFollowerConcurrentReads(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		leader := mustOpen(t, fc.dir("L/t-0"), replCfg(), fc.other().opts(c))
		defer leader.Close()
		for e := int32(0); e < 3; e++ {
			fillVaried(t, leader, 25, func(int) int32 { return e })
		}
		end := leader.LogEndOffset()
		want := map[int64][]byte{} // batch bytes by base offset
		var starts []int64
		for _, h := range readAll(t, leader, 0) {
			want[h.BaseOffset] = rawRange(t, leader, h.BaseOffset, h.BaseOffset+1)
			starts = append(starts, h.BaseOffset)
		}
		f := mustOpen(t, fc.dir("F/t-0"), replCfg(), fc.opts(c))
		defer f.Close()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		fail := func(format string, args ...any) {
			t.Errorf(format, args...)
		}
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				rnd := rand.New(rand.NewSource(seed))
				for {
					select {
					case <-stop:
						return
					default:
					}
					leo := f.LogEndOffset()
					o := rnd.Int63n(leo + 1)
					b, err := f.Read(o, int32(200+rnd.Intn(2000)), end, true)
					if err != nil {
						if !errors.Is(err, ErrOffsetOutOfRange) {
							fail("read %d: %v", o, err)
							return
						}
						continue
					}
					for len(b) > 0 {
						h, err := ValidateBatch(b)
						if err != nil {
							fail("read %d: garbage: %v", o, err)
							return
						}
						if !bytes.Equal(b[:h.Size()], want[h.BaseOffset]) {
							fail("read %d: batch %d differs from the leader's", o, h.BaseOffset)
							return
						}
						b = b[h.Size():]
					}
					if rnd.Intn(20) == 0 {
						if _, _, _, err := f.OffsetForTimestamp(10_000 + rnd.Int63n(3000)); err != nil {
							fail("time lookup: %v", err)
							return
						}
					}
				}
			}(int64(r))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f.Flush(); err != nil {
					fail("flush: %v", err)
					return
				}
			}
		}()
		rnd := rand.New(rand.NewSource(99))
		for round := 0; round < 25; round++ {
			upto := starts[rnd.Intn(len(starts))] + 1
			if upto > f.LogEndOffset() {
				fetchFrom(t, leader, f, int32(300+rnd.Intn(3000)), upto)
			}
			if err := f.TruncateTo(starts[rnd.Intn(len(starts))]); err != nil {
				t.Fatal(err)
			}
		}
		fetchFrom(t, leader, f, 1<<20, end)
		close(stop)
		wg.Wait()
		sameBytes(t, leader, f, 0, end)
	})
}
