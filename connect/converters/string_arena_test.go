package converters

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestStringConverterCopies: strings read by NewString's converter are
// copies: they keep their text when the input bytes change afterwards,
// across chunk boundaries, for empty, short and long inputs, and when
// several goroutines share the converter.
func TestStringConverterCopies(t *testing.T) {
	c := NewString()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", []byte{}},
		{"short", []byte("User_7")},
		{"longest in a chunk", bytes.Repeat([]byte("x"), maxArenaStringN)},
		{"own allocation", bytes.Repeat([]byte("y"), maxArenaStringN+1)},
	} {
		want := string(tc.in)
		_, v, err := c.ToConnectData("t", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.in {
			tc.in[i] = '!'
		}
		if v != want {
			t.Errorf("%s: got %.20q after the input changed, want %.20q", tc.name, v, want)
		}
	}
	if _, v, _ := c.ToConnectData("t", nil); v != nil {
		t.Errorf("nil data gives %v, want null", v)
	}

	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []any
			buf := make([]byte, 0, 64)
			for i := range 20000 { // several chunks' worth per goroutine
				buf = fmt.Appendf(buf[:0], "goroutine %d line %d %s", g, i, strings.Repeat("z", i%40))
				_, v, _ := c.ToConnectData("t", buf)
				got = append(got, v)
			}
			for i, v := range got {
				if want := fmt.Sprintf("goroutine %d line %d %s", g, i, strings.Repeat("z", i%40)); v != want {
					errs <- fmt.Sprintf("got %q, want %q", v, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
