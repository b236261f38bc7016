package converters

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gregorhq/gregor/connect"
)

type decimalFormat int

const (
	decimalBase64 decimalFormat = iota
	decimalNumeric
)

// appendValue appends the JSON form of v (described by s, or schemaless
// when s is nil).
func appendValue(b []byte, s *connect.Schema, v any, df decimalFormat, replaceNull bool) ([]byte, error) {
	if v == nil {
		if s == nil {
			return append(b, "null"...), nil
		}
		if s.Default != nil && replaceNull {
			return appendValue(b, s, s.Default, df, replaceNull)
		}
		if s.Optional {
			return append(b, "null"...), nil
		}
		return nil, fmt.Errorf("%w: null value for a required %s", ErrConversion, s)
	}
	if s == nil {
		return appendSchemaless(b, v, df)
	}
	switch s.Name {
	case connect.DecimalName:
		d, ok := v.(connect.Decimal)
		if !ok {
			return nil, mismatch(s, v)
		}
		if df == decimalNumeric {
			return append(b, d.String()...), nil
		}
		return appendBase64(b, twosComplement(d.Unscaled)), nil
	case connect.DateName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, mismatch(s, v)
		}
		days, err := connect.DateToDays(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConversion, err)
		}
		return strconv.AppendInt(b, int64(days), 10), nil
	case connect.TimeName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, mismatch(s, v)
		}
		ms, err := connect.TimeToMillis(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConversion, err)
		}
		return strconv.AppendInt(b, int64(ms), 10), nil
	case connect.TimestampName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, mismatch(s, v)
		}
		return strconv.AppendInt(b, t.UnixMilli(), 10), nil
	}
	switch s.Type {
	case connect.TypeInt8, connect.TypeInt16, connect.TypeInt32, connect.TypeInt64:
		n, ok := intValue(s.Type, v)
		if !ok {
			return nil, mismatch(s, v)
		}
		return strconv.AppendInt(b, n, 10), nil
	case connect.TypeFloat32:
		f, ok := v.(float32)
		if !ok {
			return nil, mismatch(s, v)
		}
		return appendFloat(b, float64(f), 32)
	case connect.TypeFloat64:
		f, ok := v.(float64)
		if !ok {
			return nil, mismatch(s, v)
		}
		return appendFloat(b, f, 64)
	case connect.TypeBoolean:
		x, ok := v.(bool)
		if !ok {
			return nil, mismatch(s, v)
		}
		return strconv.AppendBool(b, x), nil
	case connect.TypeString:
		x, ok := v.(string)
		if !ok {
			return nil, mismatch(s, v)
		}
		return appendString(b, x), nil
	case connect.TypeBytes:
		x, ok := v.([]byte)
		if !ok {
			return nil, mismatch(s, v)
		}
		return appendBase64(b, x), nil
	case connect.TypeArray:
		arr, ok := v.([]any)
		if !ok {
			return nil, mismatch(s, v)
		}
		b = append(b, '[')
		for i, e := range arr {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, s.Value, e, df, replaceNull); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case connect.TypeMap:
		m, ok := v.(map[any]any)
		if !ok {
			return nil, mismatch(s, v)
		}
		return appendMap(b, s, m, df, replaceNull)
	case connect.TypeStruct:
		st, ok := v.(*connect.Struct)
		if !ok {
			return nil, mismatch(s, v)
		}
		b = append(b, '{')
		same := st.Schema() == s // then fields are read by index
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.Name)
			b = append(b, ':')
			var fv any
			if same {
				fv = st.GetAt(i)
			} else {
				fv = st.Get(f.Name)
			}
			var err error
			if b, err = appendValue(b, f.Schema, fv, df, replaceNull); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		return append(b, '}'), nil
	}
	return nil, mismatch(s, v)
}

// appendMap writes maps with string keys as JSON objects and others as
// arrays of [key, value] pairs, as Kafka's JsonConverter does.
func appendMap(b []byte, s *connect.Schema, m map[any]any, df decimalFormat, replaceNull bool) ([]byte, error) {
	keys := make([]any, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	objectKeys := s.Key.Type == connect.TypeString && s.Key.Name == ""
	if objectKeys {
		b = append(b, '{')
	} else {
		b = append(b, '[')
	}
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		if objectKeys {
			ks, ok := k.(string)
			if !ok {
				return nil, mismatch(s.Key, k)
			}
			b = appendString(b, ks)
			b = append(b, ':')
		} else {
			b = append(b, '[')
			if b, err = appendValue(b, s.Key, k, df, replaceNull); err != nil {
				return nil, err
			}
			b = append(b, ',')
		}
		if b, err = appendValue(b, s.Value, m[k], df, replaceNull); err != nil {
			return nil, err
		}
		if !objectKeys {
			b = append(b, ']')
		}
	}
	if objectKeys {
		return append(b, '}'), nil
	}
	return append(b, ']'), nil
}

func appendSchemaless(b []byte, v any, df decimalFormat) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int8, int16, int32, int64, int:
		n, _ := intValue("", x)
		return strconv.AppendInt(b, n, 10), nil
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case []byte:
		return appendBase64(b, x), nil
	case connect.Decimal:
		return append(b, x.String()...), nil
	case time.Time:
		return strconv.AppendInt(b, x.UnixMilli(), 10), nil
	case *connect.Struct:
		return appendValue(b, x.Schema(), x, df, true)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendSchemaless(b, e, df); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendSchemaless(b, x[k], df); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case map[any]any:
		allStrings := true
		sm := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				allStrings = false
				break
			}
			sm[ks] = e
		}
		if allStrings {
			return appendSchemaless(b, sm, df)
		}
		pairs := make([]any, 0, len(x))
		for k, e := range x {
			pairs = append(pairs, []any{k, e})
		}
		sort.Slice(pairs, func(i, j int) bool { return fmt.Sprint(pairs[i]) < fmt.Sprint(pairs[j]) })
		return appendSchemaless(b, pairs, df)
	}
	return nil, fmt.Errorf("%w: schemaless value of type %T cannot be converted to JSON", ErrConversion, v)
}

func intValue(t connect.Type, v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), t == "" || t == connect.TypeInt8
	case int16:
		return int64(x), t == "" || t == connect.TypeInt16
	case int32:
		return int64(x), t == "" || t == connect.TypeInt32
	case int64:
		return x, t == "" || t == connect.TypeInt64
	case int:
		return int64(x), t == ""
	}
	return 0, false
}

func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v cannot be represented in JSON", ErrConversion, f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}

func appendBase64(b []byte, x []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, x)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// plainJSON marks the bytes a JSON string holds as they are: printable
// ASCII other than the quote and the backslash.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	// Most strings need no escaping: find the first byte that might
	// with one table lookup per byte, and copy the rest as it is.
	i := 0
	for i < len(s) && plainJSON[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func mismatch(s *connect.Schema, v any) error {
	return fmt.Errorf("%w: %T is not a valid value for schema %s", ErrConversion, v, s)
}

// twosComplement encodes x as Java's BigInteger.toByteArray does: minimal
// big-endian two's complement.
func twosComplement(x *big.Int) []byte {
	if x == nil {
		return []byte{0}
	}
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	n := new(big.Int).Not(x).BitLen()/8 + 1
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	m.Add(m, x)
	b := m.Bytes()
	for len(b) < n {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func fromTwosComplement(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}
