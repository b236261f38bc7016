package statebench

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/lovoo/goka/storage"
	ldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// Keys are 16 bytes, values 100 bytes.

const benchKeys = 100_000

func benchKey(i int) []byte {
	k := make([]byte, 16)
	copy(k, "key-")
	binary.BigEndian.PutUint64(k[8:], uint64(i)*0x9E3779B97F4A7C15) // scattered order
	return k
}

var benchValue = make([]byte, 100)

type benchStore struct {
	name string
	open func(b *testing.B) (put func(k, v []byte) error, get func(k []byte) error, scan func(n int) error, done func())
}

func ourStore(name string, mk func(b *testing.B) state.KeyValueStore) benchStore {
	return benchStore{name, func(b *testing.B) (func(k, v []byte) error, func(k []byte) error, func(int) error, func()) {
		s := mk(b)
		scan := func(n int) error {
			it, err := s.Range(benchKey(0)[:4], nil)
			if err != nil {
				return err
			}
			defer it.Close()
			for i := 0; i < n && it.Next(); i++ {
			}
			return it.Err()
		}
		get := func(k []byte) error { _, err := s.Get(k); return err }
		return s.Put, get, scan, func() { _ = s.Close() }
	}}
}

var benchStores = []benchStore{
	ourStore("memory", func(*testing.B) state.KeyValueStore { return memory.NewKeyValueStore("bench") }),
	ourStore("leveldb", func(b *testing.B) state.KeyValueStore {
		s, err := leveldb.Open("bench", filepath.Join(b.TempDir(), "db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}),
	{"goka-leveldb", func(b *testing.B) (func(k, v []byte) error, func(k []byte) error, func(int) error, func()) {
		db, err := ldb.OpenFile(filepath.Join(b.TempDir(), "goka"), &opt.Options{WriteBuffer: 16 << 20, Compression: opt.NoCompression})
		if err != nil {
			b.Fatal(err)
		}
		s, err := storage.New(db)
		if err != nil {
			b.Fatal(err)
		}
		put := func(k, v []byte) error { return s.Set(string(k), v) }
		get := func(k []byte) error { _, err := s.Get(string(k)); return err }
		scan := func(n int) error {
			it, err := s.IteratorWithRange(benchKey(0)[:4], nil)
			if err != nil {
				return err
			}
			defer it.Release()
			for i := 0; i < n && it.Next(); i++ {
				_, _ = it.Value()
			}
			return it.Err()
		}
		return put, get, scan, func() { _ = s.Close() }
	}},
}

func BenchmarkPut(b *testing.B) {
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			put, _, _, done := s.open(b)
			defer done()
			b.SetBytes(int64(16 + len(benchValue)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := put(benchKey(i%benchKeys), benchValue); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			put, get, _, done := s.open(b)
			defer done()
			for i := 0; i < benchKeys; i++ {
				if err := put(benchKey(i), benchValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := get(benchKey(i % benchKeys)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRange reads 1000 consecutive entries per operation.
func BenchmarkRange(b *testing.B) {
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			put, _, scan, done := s.open(b)
			defer done()
			for i := 0; i < benchKeys; i++ {
				if err := put(benchKey(i), benchValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := scan(1000); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkRestoreApply applies 10,000-record changelog batches the way restoration does
// (RestoreBatch) next to goka's recovery path (one Set per record, then SetOffset).
func BenchmarkRestoreApply(b *testing.B) {
	const batch = 10_000
	recs := make([]state.KeyValue, batch)
	for i := range recs {
		recs[i] = state.KeyValue{Key: benchKey(i), Value: benchValue}
	}
	for _, be := range []struct {
		name string
		open func(b *testing.B) (func([]state.KeyValue) error, func())
	}{
		{"memory", func(*testing.B) (func([]state.KeyValue) error, func()) {
			s := memory.NewKeyValueStore("r")
			return s.RestoreBatch, func() { _ = s.Close() }
		}},
		{"leveldb", func(b *testing.B) (func([]state.KeyValue) error, func()) {
			s, err := leveldb.Open("r", filepath.Join(b.TempDir(), "db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s.RestoreBatch, func() { _ = s.Close() }
		}},
		{"goka-leveldb", func(b *testing.B) (func([]state.KeyValue) error, func()) {
			db, err := ldb.OpenFile(filepath.Join(b.TempDir(), "goka"), &opt.Options{WriteBuffer: 16 << 20, Compression: opt.NoCompression})
			if err != nil {
				b.Fatal(err)
			}
			s, err := storage.New(db)
			if err != nil {
				b.Fatal(err)
			}
			var off int64
			apply := func(kvs []state.KeyValue) error {
				for _, kv := range kvs {
					if err := s.Set(string(kv.Key), kv.Value); err != nil {
						return err
					}
					off++
				}
				return s.SetOffset(off)
			}
			return apply, func() { _ = s.Close() }
		}},
	} {
		b.Run(be.name, func(b *testing.B) {
			apply, done := be.open(b)
			defer done()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := apply(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "records/s")
		})
	}
}
