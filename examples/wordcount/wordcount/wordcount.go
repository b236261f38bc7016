package wordcount

import (
	"unicode"
	"unicode/utf8"

	"github.com/gregorhq/gregor/streams"
)

// Default topic and application names, as in Kafka Streams' WordCountDemo.
const (
	InputTopic    = "streams-plaintext-input"
	OutputTopic   = "streams-wordcount-output"
	ApplicationID = "streams-wordcount"
	// StoreName names the count store, so its changelog is
	// "<application.id>-counts-changelog".
	StoreName = "counts"
)

// Topology builds the word count from input to output: lines are split into lowercase
// words (Words), grouped by word (through a repartition topic) and counted into the
// store StoreName; every count update goes to output as a string key and an int64 value
// (8 bytes big-endian, Kafka's LongSerializer).
func Topology(input, output string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	lines := streams.StreamFrom[string, string](b, input, nil, nil)
	words := streams.FlatMapValues(lines, func(_ string, line string) []string { return Words(line) })
	counts := streams.GroupBy(words, func(_ string, w string) string { return w }, nil).Count(streams.As(StoreName))
	counts.ToStream().To(output)
	return b.Build()
}

// Words returns the words of line as Java's line.toLowerCase().split("\\W+") does,
// without the empty strings: a word is a maximal run of [a-z0-9_] after lowercasing
// (a non-ASCII letter whose lowercase is ASCII, such as the Kelvin sign, counts as that
// letter; every other rune, and invalid UTF-8, separates words). Words share line's
// memory unless they had to be lowercased.
func Words(line string) []string {
	var out []string
	start := -1    // start of the current word in line, -1 outside one
	var buf []byte // the current word lowercased, when it differs from line[start:i]
	end := func(i int) {
		if start < 0 {
			return
		}
		if buf != nil {
			out = append(out, string(buf))
			buf = nil
		} else {
			out = append(out, line[start:i])
		}
		start = -1
	}
	for i := 0; i < len(line); {
		c := line[i]
		size := 1
		var lc byte // the lowercase word byte of this rune, 0 for a separator
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			lc = c
		case c >= 'A' && c <= 'Z':
			lc = c + 'a' - 'A'
		case c >= utf8.RuneSelf:
			var r rune
			r, size = utf8.DecodeRuneInString(line[i:])
			if r != utf8.RuneError {
				if l := unicode.ToLower(r); l < utf8.RuneSelf && isWordByte(byte(l)) {
					lc = byte(l)
				}
			}
		}
		switch {
		case lc == 0:
			end(i)
		case start < 0:
			start = i
			if lc != c || size != 1 {
				buf = append(make([]byte, 0, 16), lc)
			}
		case buf != nil:
			buf = append(buf, lc)
		case lc != c || size != 1:
			buf = append(append(make([]byte, 0, i-start+16), line[start:i]...), lc)
		}
		i += size
	}
	end(len(line))
	return out
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}
