package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The message browser's filter language. A filter with none of the
// characters = ! < > & | ( ) " ' and neither of the words contains and
// matches is plain text, matched case-insensitively against the key, the
// value and every header value. Anything else is an expression:
//
//	expr       = or
//	or         = and { "||" and }
//	and        = unary { "&&" unary }
//	unary      = "!" unary | "(" expr ")" | comparison
//	comparison = operand [ op operand ]
//	op         = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "matches"
//	operand    = field | string | number | "true" | "false" | "null"
//	field      = name { "." (name | string) }
//
// Fields: key, value, value.a.b (a path into the value parsed as JSON;
// array elements by index, value.items.0.id), headers.NAME (the first
// header of that name), partition, offset, timestamp (Unix milliseconds).
// An operand alone is true when it exists and is not empty, 0, false or
// null. Comparisons are numeric when both sides are numbers (or strings
// that parse as numbers), textual otherwise; a missing field equals
// nothing (so != is true). contains is case-sensitive; matches takes a
// regular expression (Go's RE2 syntax) given as a string literal.

// FilterError is a filter that does not parse, with the 1-based column
// (in characters) where the problem is.
type FilterError struct {
	Col int
	Msg string
}

func (e *FilterError) Error() string { return fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg) }

// filterRecord is what a filter sees of a record.
type filterRecord struct {
	key, value []byte
	keyNull    bool
	headers    []headerJSON
	partition  int32
	offset     int64
	timestamp  int64

	parsed   bool
	jsonVal  any
	jsonOK   bool
	lowerTxt [][]byte
}

// filter is a compiled filter.
type filter struct {
	text string // plain-text filter, lower case
	expr node   // expression filter
}

// compileFilter parses src; an empty src matches everything.
func compileFilter(src string) (*filter, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return &filter{}, nil
	}
	if isPlain(src) {
		return &filter{text: strings.ToLower(src)}, nil
	}
	p := &parser{lx: lexer{src: src}}
	p.next()
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf("unexpected %s", p.tok.describe())
	}
	return &filter{expr: n}, nil
}

// isPlain says whether src is a plain-text filter.
func isPlain(src string) bool {
	if strings.ContainsAny(src, "=!<>&|()\"'") {
		return false
	}
	for _, w := range strings.Fields(src) {
		if w == "contains" || w == "matches" {
			return false
		}
	}
	return true
}

// match reports whether r passes the filter.
func (f *filter) match(r *filterRecord) bool {
	switch {
	case f.expr != nil:
		return truthy(f.expr.eval(r))
	case f.text != "":
		if bytes.Contains(bytes.ToLower(r.key), []byte(f.text)) || bytes.Contains(bytes.ToLower(r.value), []byte(f.text)) {
			return true
		}
		for _, h := range r.headers {
			if strings.Contains(strings.ToLower(h.Value), f.text) {
				return true
			}
		}
		return false
	default:
		return true
	}
}

// ---- lexer ----

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

// ---- parser ----

type parser struct {
	lx  lexer
	tok token
	err error
}

func (p *parser) next() {
	if p.err != nil {
		return
	}
	t, err := p.lx.next()
	if err != nil {
		p.err = err
		p.tok = token{kind: tEOF, col: len(p.lx.src) + 1}
		return
	}
	p.tok = t
}

func (p *parser) errf(format string, args ...any) error {
	if p.err != nil {
		return p.err
	}
	return &FilterError{Col: p.tok.col, Msg: fmt.Sprintf(format, args...)}
}

// maxDepth bounds nesting, so a hostile filter cannot exhaust the stack.
const maxDepth = 100

func (p *parser) parseOr() (node, error) { return p.parseOrDepth(0) }

func (p *parser) parseOrDepth(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errf("filter nested too deeply")
	}
	left, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOp && p.tok.text == "||" {
		p.next()
		right, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, p.err
}

func (p *parser) parseAnd(depth int) (node, error) {
	left, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOp && p.tok.text == "&&" {
		p.next()
		right, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
	return left, p.err
}

func (p *parser) parseUnary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errf("filter nested too deeply")
	}
	switch {
	case p.tok.kind == tOp && p.tok.text == "!":
		p.next()
		n, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case p.tok.kind == tLParen:
		p.next()
		n, err := p.parseOrDepth(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errf("expected ')', found %s", p.tok.describe())
		}
		p.next()
		return n, p.err
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() (node, error) {
	left, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tOp || p.tok.text == "&&" || p.tok.text == "||" || p.tok.text == "!" {
		return left, p.err
	}
	op := p.tok
	p.next()
	right, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	cmp := cmpNode{op: op.text, left: left, right: right}
	if op.text == "matches" {
		lit, ok := right.(litNode)
		s, isStr := lit.v.(string)
		if !ok || !isStr {
			return nil, &FilterError{Col: op.col, Msg: "matches needs a string literal on its right, e.g. value matches \"^a.*z$\""}
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, &FilterError{Col: op.col, Msg: "bad regular expression: " + err.Error()}
		}
		cmp.re = re
	}
	return cmp, p.err
}

// fields are the names a field path may start with.
var fields = map[string]bool{"key": true, "value": true, "headers": true, "partition": true, "offset": true, "timestamp": true}

func (p *parser) parseOperand() (node, error) {
	if p.err != nil {
		return nil, p.err
	}
	t := p.tok
	switch t.kind {
	case tString:
		p.next()
		return litNode{t.text}, p.err
	case tNumber:
		p.next()
		return litNode{t.num}, p.err
	case tIdent:
		switch t.text {
		case "true", "false":
			p.next()
			return litNode{t.text == "true"}, p.err
		case "null":
			p.next()
			return litNode{nil}, p.err
		}
		if !fields[t.text] {
			return nil, p.errf("unknown field %q: use key, value, value.PATH, headers.NAME, partition, offset or timestamp (quote text: \"%s\")", t.text, t.text)
		}
		p.next()
		f := fieldNode{name: t.text}
		for p.tok.kind == tDot {
			p.next()
			switch p.tok.kind {
			case tIdent, tString:
				f.path = append(f.path, p.tok.text)
			case tNumber: // value.items.0, or value.m.0.1 lexed as the number 0.1
				f.path = append(f.path, strings.Split(p.tok.text, ".")...)
			default:
				return nil, p.errf("expected a name after '.', found %s", p.tok.describe())
			}
			p.next()
		}
		switch f.name {
		case "headers":
			if len(f.path) != 1 {
				return nil, &FilterError{Col: t.col, Msg: "headers needs one header name: headers.NAME"}
			}
		case "value":
		default:
			if len(f.path) > 0 {
				return nil, &FilterError{Col: t.col, Msg: f.name + " has no sub-fields"}
			}
		}
		return f, p.err
	default:
		return nil, p.errf("expected a field, string or number, found %s", t.describe())
	}
}

// ---- evaluator ----

// missing is the value of a field that does not exist.
type missingT struct{}

var missing = missingT{}

type node interface{ eval(r *filterRecord) any }

type orNode struct{ l, r node }

func (n orNode) eval(r *filterRecord) any { return truthy(n.l.eval(r)) || truthy(n.r.eval(r)) }

type andNode struct{ l, r node }

func (n andNode) eval(r *filterRecord) any { return truthy(n.l.eval(r)) && truthy(n.r.eval(r)) }

type notNode struct{ n node }

func (n notNode) eval(r *filterRecord) any { return !truthy(n.n.eval(r)) }

type litNode struct{ v any }

func (n litNode) eval(*filterRecord) any { return n.v }

type fieldNode struct {
	name string
	path []string
}

func (n fieldNode) eval(r *filterRecord) any {
	switch n.name {
	case "key":
		if r.keyNull {
			return nil
		}
		return string(r.key)
	case "value":
		if len(n.path) == 0 {
			if r.value == nil {
				return nil
			}
			return string(r.value)
		}
		if !r.parsed {
			r.parsed = true
			dec := json.NewDecoder(bytes.NewReader(r.value))
			dec.UseNumber()
			r.jsonOK = dec.Decode(&r.jsonVal) == nil
		}
		if !r.jsonOK {
			return missing
		}
		v := r.jsonVal
		for _, seg := range n.path {
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[seg]; !ok {
					return missing
				}
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(x) {
					return missing
				}
				v = x[i]
			default:
				return missing
			}
		}
		switch x := v.(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f
			}
			return x.String()
		case map[string]any, []any:
			b, _ := json.Marshal(x)
			return string(b)
		}
		return v
	case "headers":
		for _, h := range r.headers {
			if h.Key == n.path[0] {
				return h.Value
			}
		}
		return missing
	case "partition":
		return float64(r.partition)
	case "offset":
		return float64(r.offset)
	case "timestamp":
		return float64(r.timestamp)
	}
	return missing
}

type cmpNode struct {
	op          string
	left, right node
	re          *regexp.Regexp
}

func (n cmpNode) eval(r *filterRecord) any {
	a, b := n.left.eval(r), n.right.eval(r)
	if a == missing || b == missing {
		return n.op == "!="
	}
	switch n.op {
	case "contains":
		as, aok := asString(a)
		bs, bok := asString(b)
		return aok && bok && strings.Contains(as, bs)
	case "matches":
		as, ok := asString(a)
		return ok && n.re.MatchString(as)
	}
	if a == nil || b == nil {
		switch n.op {
		case "==":
			return a == nil && b == nil
		case "!=":
			return (a == nil) != (b == nil)
		}
		return false
	}
	var c int
	af, aNum := asNumber(a)
	bf, bNum := asNumber(b)
	switch {
	case aNum && bNum:
		c = compareFloat(af, bf)
	default:
		as, _ := asString(a)
		bs, _ := asString(b)
		c = strings.Compare(as, bs)
	}
	switch n.op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && strings.TrimSpace(x) != ""
	}
	return 0, false
}

func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// truthy is an operand's value as a condition.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case nil, missingT:
		return false
	}
	return true
}
