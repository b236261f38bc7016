package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
)

// maxSegmentGoneRetries bounds how often a read starts over because a
// segment it had picked was swapped out (by the cleaner or retention)
// before it could open it. Each retry sees a newer segment list, so only a
// cleaner swapping continuously could exhaust it.
const maxSegmentGoneRetries = 100

// Read returns whole batches in offset order, starting with the batch that
// contains offset (a fetch from the middle of a batch gets that batch),
// never a batch whose base offset is >= maxOffset (the high watermark), and
// at most maxBytes in total — except that with minOneBatch the first batch
// is returned whole even when it is bigger (KIP-74). It reads with one
// ReadAt per segment into one buffer and may span segments.
//
// offset == log end gives (nil, nil); offset below the log start or past the
// log end gives ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	return l.ReadAppend(nil, offset, maxBytes, maxOffset, minOneBatch)
}

// ReadAppend is Read that appends the batches to dst (which it may grow)
// and returns the extended slice; the batches are the part after len(dst).
// A caller that reuses dst across reads avoids an allocation per read. On
// an error or when there is nothing to read it returns dst unchanged.
func (l *Log) ReadAppend(dst []byte, offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		b, err := l.read(dst, offset, maxBytes, maxOffset, minOneBatch)
		if errors.Is(err, errSegmentGone) {
			if l.isClosed.Load() {
				return nil, ErrClosed
			}
			if offset < l.logStart.Load() {
				return nil, fmt.Errorf("%w: %d below log start %d", ErrOffsetOutOfRange, offset, l.logStart.Load())
			}
			if attempt < maxSegmentGoneRetries {
				// A cleaner swap or retention replaced the segment after
				// this read took its snapshot of the list: wait for the
				// swap to finish and read again from the new list.
				l.mu.Lock()
				//lint:ignore SA2001 taking mu waits for a swap under way to finish
				l.mu.Unlock()
				runtime.Gosched()
				continue
			}
		}
		return b, err
	}
}

func (l *Log) read(dst []byte, offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	if l.isClosed.Load() {
		return dst, ErrClosed
	}
	leo := l.leo.Load()
	segs := *l.segs.Load()
	start := l.logStart.Load()
	if offset < start || offset > leo {
		return dst, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, leo)
	}
	if offset == leo {
		return dst, nil
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		return dst, fmt.Errorf("%w: %d below the first segment", ErrOffsetOutOfRange, offset)
	}
	for ; i < len(segs); i++ {
		s := segs[i]
		f, err := l.cache.acquire(s, l)
		if err != nil {
			return dst, err
		}
		pos, size, err := l.locate(s, f, offset)
		if err != nil {
			l.cache.release(s)
			return dst, goneOr(s, err)
		}
		if pos < 0 {
			l.cache.release(s)
			continue // offset is past this segment's batches
		}
		b, err := l.collect(dst, segs[i:], f, pos, size, maxBytes, maxOffset, minOneBatch)
		l.cache.release(s)
		if err != nil {
			return b, goneOr(s, err)
		}
		return b, nil
	}
	return dst, nil
}

// locate finds the position of the batch containing offset in s, using the
// offset index and then the batch headers; pos = -1 if every batch of s is
// below offset. It also returns the size of the batch found.
func (l *Log) locate(s *segment, f File, offset int64) (pos int64, size int64, err error) {
	end := s.size.Load()
	pos = s.idx.lookup(offset - s.base)
	var hdr [27]byte
	var chunk []byte
	chunkAt := int64(-1)
	defer func() {
		if chunk != nil {
			chunkPool.Put(&chunk)
		}
	}()
	for pos < end {
		var hb []byte
		if chunkAt >= 0 && pos >= chunkAt && pos+27 <= chunkAt+int64(len(chunk)) {
			hb = chunk[pos-chunkAt:]
		} else {
			n := min(end-pos, 4096)
			if n < 27 {
				return 0, 0, corruptAt(s, pos)
			}
			if chunk == nil {
				chunk = *chunkPool.Get().(*[]byte)
			}
			chunk = chunk[:4096]
			m, rerr := f.ReadAt(chunk[:n], pos)
			if int64(m) < n {
				if rerr == nil || rerr == io.EOF {
					rerr = io.ErrUnexpectedEOF
				}
				return 0, 0, storageErr("read segment", rerr)
			}
			chunk, chunkAt = chunk[:n], pos
			hb = chunk
		}
		copy(hdr[:], hb)
		base := int64(binary.BigEndian.Uint64(hdr[offBaseOffset:]))
		length := int64(int32(binary.BigEndian.Uint32(hdr[offBatchLength:])))
		delta := int64(int32(binary.BigEndian.Uint32(hdr[offLastOffsetDelta:])))
		if length < BatchHeaderSize-BatchOverhead || pos+BatchOverhead+length > end {
			return 0, 0, corruptAt(s, pos)
		}
		if base+delta >= offset {
			return pos, BatchOverhead + length, nil
		}
		pos += BatchOverhead + length
	}
	return -1, 0, nil
}

// goneOr returns errSegmentGone instead of err when s was retired while it
// was read (a truncation cut its file under the reader), so that the read
// starts over on the current segment list.
func goneOr(s *segment, err error) error {
	s.hmu.Lock()
	gone := s.deleted
	s.hmu.Unlock()
	if gone {
		return errSegmentGone
	}
	return err
}

// chunkPool recycles locate's 4 KiB header-scan buffers.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

func corruptAt(s *segment, pos int64) error {
	return fmt.Errorf("%w: segment %d has no valid batch at position %d", ErrStorage, s.base, pos)
}

// collect reads whole batches from segs[0] at pos (the first of size
// first bytes) onwards, appending them to dst.
func (l *Log) collect(dst []byte, segs []*segment, f File, pos, first int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	budget := int64(maxBytes)
	if first > budget {
		if !minOneBatch {
			return dst, nil
		}
		budget = first
	}
	avail := segs[0].size.Load() - pos
	for _, s := range segs[1:] {
		if avail >= budget {
			break
		}
		avail += s.size.Load()
	}
	want := int(min(budget, avail))
	base := len(dst)
	if cap(dst)-base < want {
		grown := make([]byte, base, base+want)
		copy(grown, dst)
		dst = grown
	}
	buf := dst[base : base+want]
	n, err := readFull(f, buf[:min(int64(len(buf)), segs[0].size.Load()-pos)], pos)
	if err != nil {
		return dst, err
	}
	for _, s := range segs[1:] {
		if n >= len(buf) {
			break
		}
		sf, err := l.cache.acquire(s, l)
		if err != nil {
			break // deleted or unreadable: return what we have
		}
		m, err := readFull(sf, buf[n:min(int64(len(buf)), int64(n)+s.size.Load())], 0)
		l.cache.release(s)
		if err != nil {
			break
		}
		n += m
	}
	return dst[:base+len(cutBatches(buf[:n], maxOffset))], nil
}

func readFull(f File, b []byte, off int64) (int, error) {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, storageErr("read segment", err)
}

// cutBatches returns the prefix of b made of whole batches whose base
// offsets are below maxOffset.
func cutBatches(b []byte, maxOffset int64) []byte {
	cut := 0
	for cut+BatchOverhead <= len(b) {
		base := int64(binary.BigEndian.Uint64(b[cut:]))
		size := int(int32(binary.BigEndian.Uint32(b[cut+offBatchLength:]))) + BatchOverhead
		if base >= maxOffset || size < BatchHeaderSize || cut+size > len(b) {
			break
		}
		cut += size
	}
	if cut == 0 {
		return nil
	}
	return b[:cut]
}
