package datagen

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/converters"
)

// generator makes records of one struct schema.
type generator struct {
	schema    *connect.Schema
	keySchema *connect.Schema
	keyField  string
	keyIndex  int // of keyField in schema.Fields; -1 for none
	rng       *rand.Rand
	fields    []func(r *rand.Rand, seq int64) any
	seq       int64
}

// quickstart is a built-in data set: a schema, per-field generators and a
// key field.
type quickstart struct {
	schema   *connect.Schema
	keyField string
	fields   map[string]func(r *rand.Rand, seq int64) any
}

func pick(prefix string, n int) func(r *rand.Rand, _ int64) any {
	vals := make([]any, n)
	for i := range vals {
		vals[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return func(r *rand.Rand, _ int64) any { return vals[r.IntN(n)] }
}

func oneOf(vals ...string) func(r *rand.Rand, _ int64) any {
	return func(r *rand.Rand, _ int64) any { return vals[r.IntN(len(vals))] }
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

var quickstarts = map[string]quickstart{
	"users": {
		schema: connect.NewStructBuilder().Name("ksql.users").
			Field("registertime", connect.Int64Schema).Field("userid", connect.StringSchema).
			Field("regionid", connect.StringSchema).Field("gender", connect.StringSchema).Build(),
		keyField: "userid",
		fields: map[string]func(*rand.Rand, int64) any{
			"registertime": func(r *rand.Rand, _ int64) any { return epoch + r.Int64N(365*24*3600*1000) },
			"userid":       pick("User_", 9),
			"regionid":     pick("Region_", 9),
			"gender":       oneOf("MALE", "FEMALE", "OTHER"),
		},
	},
	"pageviews": {
		schema: connect.NewStructBuilder().Name("ksql.pageviews").
			Field("viewtime", connect.Int64Schema).Field("userid", connect.StringSchema).
			Field("pageid", connect.StringSchema).Build(),
		keyField: "viewtime",
		fields: map[string]func(*rand.Rand, int64) any{
			"viewtime": func(_ *rand.Rand, seq int64) any { return seq*10 + 1 },
			"userid":   pick("User_", 9),
			"pageid":   pick("Page_", 99),
		},
	},
	"orders": {
		schema: connect.NewStructBuilder().Name("ksql.orders").
			Field("ordertime", connect.TimestampSchema().Build()).Field("orderid", connect.Int32Schema).
			Field("itemid", connect.StringSchema).Field("orderunits", connect.Float64Schema).
			Field("price", connect.DecimalSchema(2).Build()).
			Field("address", connect.NewStructBuilder().Name("ksql.address").
				Field("city", connect.StringSchema).Field("state", connect.StringSchema).
				Field("zipcode", connect.Int64Schema).Build()).Build(),
		keyField: "orderid",
		fields: map[string]func(*rand.Rand, int64) any{
			"ordertime":  func(r *rand.Rand, _ int64) any { return time.UnixMilli(epoch + r.Int64N(365*24*3600*1000)).UTC() },
			"orderid":    func(_ *rand.Rand, seq int64) any { return int32(seq) },
			"itemid":     pick("Item_", 999),
			"orderunits": func(r *rand.Rand, _ int64) any { return float64(r.IntN(1000)) / 100 },
			"price":      func(r *rand.Rand, _ int64) any { return connect.NewDecimal(r.Int64N(100000), 2) },
			"address":    nil, // filled from the nested schema
		},
	},
}

func quickstartNames() []string {
	var out []string
	for k := range quickstarts {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newGenerator(props map[string]string) (*generator, error) {
	g := &generator{rng: newRand(props), keyIndex: -1}
	if q := strings.ToLower(strings.TrimSpace(props[QuickstartConfig])); q != "" {
		qs, ok := quickstarts[q]
		if !ok {
			return nil, fmt.Errorf("datagen: unknown quickstart %q", q)
		}
		g.schema, g.keyField = qs.schema, qs.keyField
		for _, f := range qs.schema.Fields {
			if fn := qs.fields[f.Name]; fn != nil {
				g.fields = append(g.fields, fn)
			} else {
				g.fields = append(g.fields, randomFor(f.Schema))
			}
		}
	} else {
		raw := strings.TrimSpace(props[SchemaConfig])
		if raw == "" {
			return nil, fmt.Errorf("datagen: set %s or %s", QuickstartConfig, SchemaConfig)
		}
		s, err := converters.UnmarshalSchema([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("datagen: %s: %w", SchemaConfig, err)
		}
		if s.Type != connect.TypeStruct {
			return nil, fmt.Errorf("datagen: %s must be a struct schema", SchemaConfig)
		}
		g.schema = s
		for _, f := range s.Fields {
			g.fields = append(g.fields, randomFor(f.Schema))
		}
	}
	if kf := strings.TrimSpace(props[KeyFieldConfig]); kf != "" {
		g.keyField = kf
	}
	if g.keyField != "" {
		f, ok := g.schema.Field(g.keyField)
		if !ok {
			return nil, fmt.Errorf("datagen: %s: no field %q", KeyFieldConfig, g.keyField)
		}
		g.keySchema, g.keyIndex = f.Schema, f.Index
	}
	return g, nil
}

// record fills vals, one element per field, with the next record's field
// values and returns its key. Every field generator makes values of its
// field's schema by construction (the tests check it), so they are not
// validated again per record.
func (g *generator) record(vals []any) (key any) {
	g.seq++
	for i, gen := range g.fields {
		vals[i] = gen(g.rng, g.seq)
	}
	if g.keyIndex >= 0 {
		key = vals[g.keyIndex]
	}
	return key
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomFor returns a generator of random values for any schema.
func randomFor(s *connect.Schema) func(*rand.Rand, int64) any {
	switch s.Name {
	case connect.DecimalName:
		scale, _ := connect.DecimalScale(s)
		return func(r *rand.Rand, _ int64) any {
			return connect.Decimal{Unscaled: big.NewInt(r.Int64N(1_000_000)), Scale: scale}
		}
	case connect.DateName:
		return func(r *rand.Rand, _ int64) any { return connect.DaysToDate(int32(19000 + r.IntN(2000))) }
	case connect.TimeName:
		return func(r *rand.Rand, _ int64) any { return connect.MillisToTime(int32(r.IntN(24 * 3600 * 1000))) }
	case connect.TimestampName:
		return func(r *rand.Rand, _ int64) any { return time.UnixMilli(epoch + r.Int64N(365*24*3600*1000)).UTC() }
	}
	switch s.Type {
	case connect.TypeInt8:
		return func(r *rand.Rand, _ int64) any { return int8(r.IntN(256) - 128) }
	case connect.TypeInt16:
		return func(r *rand.Rand, _ int64) any { return int16(r.IntN(65536) - 32768) }
	case connect.TypeInt32:
		return func(r *rand.Rand, _ int64) any { return r.Int32() }
	case connect.TypeInt64:
		return func(r *rand.Rand, _ int64) any { return r.Int64() }
	case connect.TypeFloat32:
		return func(r *rand.Rand, _ int64) any { return r.Float32() * 1000 }
	case connect.TypeFloat64:
		return func(r *rand.Rand, _ int64) any { return r.Float64() * 1000 }
	case connect.TypeBoolean:
		return func(r *rand.Rand, _ int64) any { return r.IntN(2) == 1 }
	case connect.TypeString:
		return func(r *rand.Rand, _ int64) any {
			b := make([]byte, 8)
			for i := range b {
				b[i] = letters[r.IntN(len(letters))]
			}
			return string(b)
		}
	case connect.TypeBytes:
		return func(r *rand.Rand, _ int64) any {
			b := make([]byte, 8)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}
	case connect.TypeArray:
		elem := randomFor(s.Value)
		return func(r *rand.Rand, seq int64) any {
			out := make([]any, r.IntN(4))
			for i := range out {
				out[i] = elem(r, seq)
			}
			return out
		}
	case connect.TypeMap:
		k, v := randomFor(s.Key), randomFor(s.Value)
		return func(r *rand.Rand, seq int64) any {
			out := map[any]any{}
			for range r.IntN(4) {
				kk := k(r, seq)
				if _, ok := kk.([]byte); ok {
					continue
				}
				out[kk] = v(r, seq)
			}
			return out
		}
	case connect.TypeStruct:
		fs := make([]func(*rand.Rand, int64) any, len(s.Fields))
		for i, f := range s.Fields {
			fs[i] = randomFor(f.Schema)
		}
		return func(r *rand.Rand, seq int64) any {
			st := connect.NewStruct(s)
			for i, f := range s.Fields {
				_ = st.Put(f.Name, fs[i](r, seq))
			}
			return st
		}
	}
	return func(*rand.Rand, int64) any { return nil }
}
