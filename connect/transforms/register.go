package transforms

import "github.com/gregorhq/gregor/connect"

func init() {
	both := func(name string, newT func(p part) connect.Transformation) {
		for _, p := range []part{keyPart, valuePart} {
			connect.RegisterTransformation(kafkaPkg+name+p.suffix(), func() connect.Transformation { return newT(p) })
		}
	}
	both("InsertField", func(p part) connect.Transformation { return &InsertField{part: p} })
	both("ReplaceField", func(p part) connect.Transformation { return &ReplaceField{part: p} })
	both("MaskField", func(p part) connect.Transformation { return &MaskField{part: p} })
	both("ExtractField", func(p part) connect.Transformation { return &ExtractField{part: p} })
	both("HoistField", func(p part) connect.Transformation { return &HoistField{part: p} })
	both("Cast", func(p part) connect.Transformation { return &Cast{part: p} })
	both("Flatten", func(p part) connect.Transformation { return &Flatten{part: p} })
	both("TimestampConverter", func(p part) connect.Transformation { return &TimestampConverter{part: p} })
	both("HeaderFrom", func(p part) connect.Transformation { return &HeaderFrom{part: p} })
	connect.RegisterTransformation(kafkaPkg+"ValueToKey", func() connect.Transformation { return &ValueToKey{} })
	connect.RegisterTransformation(kafkaPkg+"RegexRouter", func() connect.Transformation { return &RegexRouter{} })
	connect.RegisterTransformation(kafkaPkg+"TimestampRouter", func() connect.Transformation { return &TimestampRouter{} })
	connect.RegisterTransformation(kafkaPkg+"Filter", func() connect.Transformation { return Filter{} })
	connect.RegisterTransformation(kafkaPkg+"InsertHeader", func() connect.Transformation { return &InsertHeader{} })
	connect.RegisterTransformation(kafkaPkg+"DropHeaders", func() connect.Transformation { return &DropHeaders{} })
	connect.RegisterPredicate(predicatePkg+"TopicNameMatches", func() connect.Predicate { return &TopicNameMatches{} })
	connect.RegisterPredicate(predicatePkg+"HasHeaderKey", func() connect.Predicate { return &HasHeaderKey{} })
	connect.RegisterPredicate(predicatePkg+"RecordIsTombstone", func() connect.Predicate { return RecordIsTombstone{} })
}
