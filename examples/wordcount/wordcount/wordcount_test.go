package wordcount

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var nonWord = regexp.MustCompile(`\W+`)

// reference is the regexp version Words replaces.
func reference(line string) []string {
	var out []string
	for _, w := range nonWord.Split(strings.ToLower(line), -1) {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

func TestWords(t *testing.T) {
	for _, line := range []string{
		"", " ", "hello", "Hello World", "  leading and trailing  ", "a,b;;c--d",
		"snake_case and CamelCase 42x", "tabs\tand\nnewlines\r\n", "ÄÖÜ über straße",
		"\u212Aelvin", "İstanbul", "caf\u00e9 na\u00efve", "bad\xffutf8\xc3", "日本語 text",
		"MiXeD123_Under", "x", "X", "é", "a\u00a0b",
	} {
		if got, want := Words(line), reference(line); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", line, got, want)
		}
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{"Hello, World!", "\u212Aelvin İ", "a\xffb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if got, want := Words(line), reference(line); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", line, got, want)
		}
	})
}

func BenchmarkWords(b *testing.B) {
	line := "The quick brown fox jumps over the lazy dog, again and AGAIN: 42 times_over"
	for b.Loop() {
		_ = Words(line)
	}
}

func BenchmarkRegexp(b *testing.B) {
	line := "The quick brown fox jumps over the lazy dog, again and AGAIN: 42 times_over"
	for b.Loop() {
		_ = reference(line)
	}
}
