package console

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The filter language's lexer (filter.go has the grammar).

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp // == != < <= > >= && || ! contains matches
	tLParen
	tRParen
	tDot
)

type token struct {
	kind tokKind
	text string // identifier, operator, or the unquoted string
	num  float64
	col  int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return strconv.Quote(t.text)
	default:
		return "'" + t.text + "'"
	}
}

type lexer struct {
	src string
	pos int // byte offset
}

// col is the 1-based character column of byte offset pos.
func (l *lexer) col(pos int) int { return utf8.RuneCountInString(l.src[:pos]) + 1 }

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c == '-' || (c >= '0' && c <= '9')
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && (l.src[l.pos] == ' ' || l.src[l.pos] == '\t' || l.src[l.pos] == '\n' || l.src[l.pos] == '\r') {
		l.pos++
	}
	start := l.pos
	col := l.col(start)
	if l.pos >= len(l.src) {
		return token{kind: tEOF, col: col}, nil
	}
	c := l.src[l.pos]
	two := ""
	if l.pos+1 < len(l.src) {
		two = l.src[l.pos : l.pos+2]
	}
	switch {
	case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "&&" || two == "||":
		l.pos += 2
		return token{kind: tOp, text: two, col: col}, nil
	case c == '<' || c == '>' || c == '!':
		l.pos++
		return token{kind: tOp, text: string(c), col: col}, nil
	case c == '=':
		return token{}, &FilterError{Col: col, Msg: "'=' is not an operator: use '=='"}
	case c == '&' || c == '|':
		return token{}, &FilterError{Col: col, Msg: fmt.Sprintf("'%c' is not an operator: use '%c%c'", c, c, c)}
	case c == '(':
		l.pos++
		return token{kind: tLParen, text: "(", col: col}, nil
	case c == ')':
		l.pos++
		return token{kind: tRParen, text: ")", col: col}, nil
	case c == '.':
		l.pos++
		return token{kind: tDot, text: ".", col: col}, nil
	case c == '"' || c == '\'':
		return l.str(c, col)
	case c == '-' || (c >= '0' && c <= '9'):
		l.pos++
		for l.pos < len(l.src) && (l.src[l.pos] >= '0' && l.src[l.pos] <= '9' || l.src[l.pos] == 'e' || l.src[l.pos] == 'E' ||
			(l.src[l.pos] == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9') ||
			((l.src[l.pos] == '-' || l.src[l.pos] == '+') && (l.src[l.pos-1] == 'e' || l.src[l.pos-1] == 'E'))) {
			l.pos++
		}
		text := l.src[start:l.pos]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, &FilterError{Col: col, Msg: fmt.Sprintf("bad number %q", text)}
		}
		return token{kind: tNumber, text: text, num: f, col: col}, nil
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		text := l.src[start:l.pos]
		if text == "contains" || text == "matches" {
			return token{kind: tOp, text: text, col: col}, nil
		}
		return token{kind: tIdent, text: text, col: col}, nil
	default:
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
		return token{}, &FilterError{Col: col, Msg: fmt.Sprintf("unexpected character %q", r)}
	}
}

// str lexes a string literal quoted with q; backslash escapes the next
// character (\n and \t mean newline and tab).
func (l *lexer) str(q byte, col int) (token, error) {
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == q:
			l.pos++
			return token{kind: tString, text: b.String(), col: col}, nil
		case c == '\\' && l.pos+1 < len(l.src):
			l.pos++
			switch e := l.src[l.pos]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
			l.pos++
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return token{}, &FilterError{Col: col, Msg: "string not closed"}
}
