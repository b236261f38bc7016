package converters

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// decodeAny parses JSON keeping numbers as json.Number.
func decodeAny(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConversion, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after JSON value", ErrConversion)
	}
	return v, nil
}

func decodeValue(data []byte, s *connect.Schema, depth int) (any, error) {
	v, err := decodeAny(data)
	if err != nil {
		return nil, err
	}
	return fromJSON(v, s, depth)
}

// fromJSON converts a decoded JSON value to Connect data of schema s (or
// schemaless data when s is nil).
func fromJSON(v any, s *connect.Schema, depth int) (any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("%w: value nested too deeply", ErrConversion)
	}
	if s == nil {
		return schemaless(v)
	}
	if v == nil {
		if s.Default != nil {
			return s.Default, nil
		}
		if s.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: invalid null value for required %s field", ErrConversion, s.Type)
	}
	bad := func() error {
		return fmt.Errorf("%w: JSON value %s is not a valid %s", ErrConversion, describe(v), s)
	}
	switch s.Name {
	case connect.DecimalName:
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConversion, err)
		}
		switch x := v.(type) {
		case string:
			raw, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("%w: Decimal: %w", ErrConversion, err)
			}
			return connect.Decimal{Unscaled: fromTwosComplement(raw), Scale: scale}, nil
		case json.Number:
			r, ok := new(big.Rat).SetString(string(x))
			if !ok {
				return nil, bad()
			}
			r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(scale, 0))), nil)))
			if !r.IsInt() {
				return nil, fmt.Errorf("%w: %s has more than %d decimal places", ErrConversion, x, scale)
			}
			return connect.Decimal{Unscaled: new(big.Int).Set(r.Num()), Scale: scale}, nil
		}
		return nil, bad()
	case connect.DateName, connect.TimeName, connect.TimestampName:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		i, err := n.Int64()
		if err != nil {
			return nil, bad()
		}
		switch s.Name {
		case connect.DateName:
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, bad()
			}
			return connect.DaysToDate(int32(i)), nil
		case connect.TimeName:
			if i < 0 || i >= 24*3600*1000 {
				return nil, bad()
			}
			return connect.MillisToTime(int32(i)), nil
		}
		return time.UnixMilli(i).UTC(), nil
	}
	switch s.Type {
	case connect.TypeInt8, connect.TypeInt16, connect.TypeInt32, connect.TypeInt64:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		i, err := strconv.ParseInt(string(n), 10, bitSize(s.Type))
		if err != nil {
			return nil, bad()
		}
		switch s.Type {
		case connect.TypeInt8:
			return int8(i), nil
		case connect.TypeInt16:
			return int16(i), nil
		case connect.TypeInt32:
			return int32(i), nil
		}
		return i, nil
	case connect.TypeFloat32, connect.TypeFloat64:
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad()
		}
		f, err := strconv.ParseFloat(string(n), bitSize(s.Type))
		if err != nil {
			return nil, bad()
		}
		if s.Type == connect.TypeFloat32 {
			return float32(f), nil
		}
		return f, nil
	case connect.TypeBoolean:
		x, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		return x, nil
	case connect.TypeString:
		x, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		return x, nil
	case connect.TypeBytes:
		x, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		raw, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			return nil, fmt.Errorf("%w: bytes: %w", ErrConversion, err)
		}
		return raw, nil
	case connect.TypeArray:
		arr, ok := v.([]any)
		if !ok {
			return nil, bad()
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			c, err := fromJSON(e, s.Value, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case connect.TypeMap:
		out := map[any]any{}
		if obj, ok := v.(map[string]any); ok && s.Key.Type == connect.TypeString {
			for k, e := range obj {
				c, err := fromJSON(e, s.Value, depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = c
			}
			return out, nil
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, bad()
		}
		for _, p := range arr {
			pair, ok := p.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("%w: map entries must be [key, value] arrays", ErrConversion)
			}
			k, err := fromJSON(pair[0], s.Key, depth+1)
			if err != nil {
				return nil, err
			}
			if !hashable(k) {
				return nil, fmt.Errorf("%w: map key of type %T is not supported", ErrConversion, k)
			}
			e, err := fromJSON(pair[1], s.Value, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case connect.TypeStruct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		st := connect.NewStruct(s)
		for _, f := range s.Fields {
			c, err := fromJSON(obj[f.Name], f.Schema, depth+1)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			if err := st.Put(f.Name, c); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConversion, err)
			}
		}
		return st, nil
	}
	return nil, bad()
}

func hashable(v any) bool {
	switch v.(type) {
	case []byte, []any, map[any]any, map[string]any:
		return false
	}
	return true
}

func bitSize(t connect.Type) int {
	switch t {
	case connect.TypeInt8:
		return 8
	case connect.TypeInt16:
		return 16
	case connect.TypeInt32, connect.TypeFloat32:
		return 32
	}
	return 64
}

// schemaless converts decoded JSON to schemaless Connect data: integers
// become int64, other numbers float64, objects map[string]any. Numbers
// beyond float64's range are an error.
func schemaless(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: number %s is out of range", ErrConversion, x)
		}
		return f, nil
	case []any:
		for i, e := range x {
			if x[i], err = schemaless(e); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			if x[k], err = schemaless(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 64 {
		return fmt.Sprintf("of type %T", v)
	}
	return string(b)
}
