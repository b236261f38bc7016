package log

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestOffsetForTimestampAndMax(t *testing.T) {
	codecs := []int{CompressionNone, CompressionGzip, CompressionSnappy, 100 + CompressionSnappy, CompressionLZ4, CompressionZstd}
	for _, codec := range codecs {
		t.Run(fmt.Sprint("codec ", codec), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 1500
			cfg.IndexIntervalBytes = 100
			l := mustOpen(t, "/d/t-0", cfg, Options{FS: NewMemFS()})
			defer l.Close()
			if o, ts := l.MaxTimestamp(); o != -1 || ts != -1 {
				t.Fatalf("empty max %d %d", o, ts)
			}
			// 40 batches of 5 records; record k of batch i has ts 10000+50i+10k.
			for i := 0; i < 40; i++ {
				mustAppend(t, l, makeBatch(t, testBatch{records: 5, valueSize: 30, baseTs: 10000 + int64(50*i), tsStep: 10, codec: codec}))
			}
			// One batch whose timestamps go backwards, with an earlier max at record 1.
			mustAppend(t, l, makeBatch(t, testBatch{records: 3, baseTs: 90000, tsStep: 0, codec: codec}))
			cases := []struct {
				ts, off, got int64
				found        bool
			}{
				{0, 0, 10000, true},
				{10000, 0, 10000, true},
				{10001, 1, 10010, true},
				{10045, 5, 10050, true},
				{11234, 124, 11240, true},
				{11990, 199, 11990, true},
				{12000, 200, 90000, true},
				{90001, -1, -1, false},
			}
			for _, c := range cases {
				off, got, found, err := l.OffsetForTimestamp(c.ts)
				if err != nil || off != c.off || got != c.got || found != c.found {
					t.Fatalf("ts %d: got (%d, %d, %v, %v), want (%d, %d, %v)", c.ts, off, got, found, err, c.off, c.got, c.found)
				}
			}
			if o, ts := l.MaxTimestamp(); o != 200 || ts != 90000 {
				t.Fatalf("max: %d %d", o, ts)
			}
		})
	}
}

func TestLogAppendTime(t *testing.T) {
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: NewMemFS()})
	defer l.Close()
	mustAppend(t, l, makeBatch(t, testBatch{records: 3, baseTs: 5, tsStep: 1}))
	res, err := l.Append(makeBatch(t, testBatch{records: 4, baseTs: 5}), AppendOptions{LogAppendTime: 7777})
	if err != nil || res.MaxTimestamp != 7777 {
		t.Fatalf("%+v %v", res, err)
	}
	b, _ := l.Read(3, 1000, 10, true)
	hs := batchesIn(t, b)
	if hs[0].Attributes&AttrLogAppendTime == 0 || hs[0].MaxTimestamp != 7777 {
		t.Fatalf("header %+v", hs[0])
	}
	if o, ts, ok, _ := l.OffsetForTimestamp(100); !ok || o != 3 || ts != 7777 {
		t.Fatalf("by time: %d %d", o, ts)
	}
	if o, ts := l.MaxTimestamp(); o != 3 || ts != 7777 {
		t.Fatalf("max: %d %d", o, ts)
	}
}

// TestConcurrentAppendReadRetention runs appenders, syncers, readers and
// retention together (run with -race): readers must see only valid,
// contiguous batches or an out-of-range error.
func TestConcurrentAppendReadRetention(t *testing.T) {
	fs := NewMemFS()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	cfg.RetentionBytes = 8000
	l := mustOpen(t, "/d/t-0", cfg, Options{FS: fs, MaxOpenSegments: 3, Logger: quiet})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		appended.Add(1)
		go func(w int) {
			defer wg.Done()
			defer appended.Done()
			for i := 0; i < 300; i++ {
				res, err := l.Append(makeBatch(t, testBatch{records: 3, valueSize: 20, tag: byte(w)}), AppendOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				l.SetHighWatermark(l.LogEndOffset())
				if i%10 == 0 {
					if err := l.Sync(res.LastOffset + 1); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
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
			if _, err := l.ApplyRetention(time.Now()); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := l.LogStartOffset()
				b, err := l.Read(from, 3000, l.HighWatermark(), true)
				if err != nil {
					continue // out of range after retention moved on
				}
				next := int64(-1)
				for len(b) > 0 {
					h, err := ValidateBatch(b)
					if err != nil {
						t.Errorf("garbage served: %v", err)
						return
					}
					if next >= 0 && h.BaseOffset != next {
						t.Errorf("gap: %d after %d", h.BaseOffset, next)
						return
					}
					next = h.NextOffset()
					b = b[h.Size():]
				}
			}
		}()
	}
	appended.Wait()
	close(stop)
	wg.Wait()
	if l.LogEndOffset() != 2700 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	l.ApplyRetention(time.Now())
	if l.Size() > 8000+2000 {
		t.Fatalf("retention did not keep up: %d", l.Size())
	}
	l.Close()
}

func TestAppendSignal(t *testing.T) {
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: NewMemFS()})
	defer l.Close()
	sig := l.AppendSignal()
	select {
	case <-sig:
		t.Fatal("closed early")
	default:
	}
	mustAppend(t, l, makeBatch(t, testBatch{}))
	select {
	case <-sig:
	case <-time.After(time.Second):
		t.Fatal("not signalled")
	}
}
