package datagen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/converters"
)

// Configuration names (those of Confluent's datagen connector where one
// exists).
const (
	TopicConfig       = "kafka.topic"
	QuickstartConfig  = "quickstart"
	SchemaConfig      = "schema.string"
	KeyFieldConfig    = "schema.keyfield"
	MaxIntervalConfig = "max.interval"
	IterationsConfig  = "iterations"
	SeedConfig        = "random.seed"
	RateConfig        = "records.per.second"
	BatchConfig       = "batch.size"
	taskIDConfig      = "task.id"
	// Offset keys: source partition {"task.id": n}, offset {"current.iteration": n}.
	TaskField      = "task.id"
	IterationField = "current.iteration"
)

// Class is the datagen connector's class name (alias DatagenConnector,
// Datagen).
const Class = "io.confluent.kafka.connect.datagen.DatagenConnector"

// Connector generates random records for demos and benchmarks: one of the
// quickstart data sets or a struct schema of your own, at a given rate,
// for a given count per task.
type Connector struct {
	props map[string]string
}

var def = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: TopicConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "Topic to write to."}).
	Define(connect.ConfigKey{Name: QuickstartConfig, Type: connect.ConfigString, Importance: connect.High, Validator: quickstartValidator, Recommended: quickstartNames(), Doc: "A built-in data set: " + strings.Join(quickstartNames(), ", ") + ". Either this or schema.string."}).
	Define(connect.ConfigKey{Name: SchemaConfig, Type: connect.ConfigString, Importance: connect.High, Validator: schemaValidator, Doc: "A struct schema in Kafka Connect's JSON schema form; fields get random values."}).
	Define(connect.ConfigKey{Name: KeyFieldConfig, Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field whose value becomes the record key (default: the quickstart's key; none for schema.string)."}).
	Define(connect.ConfigKey{Name: MaxIntervalConfig, Type: connect.ConfigLong, Default: "0", Importance: connect.Medium, Validator: connect.AtLeast(0), Doc: "Maximum random wait between records, in ms (0: no wait)."}).
	Define(connect.ConfigKey{Name: RateConfig, Type: connect.ConfigDouble, Default: "0", Importance: connect.Medium, Validator: connect.AtLeast(0), Doc: "Records per second per task (0: as fast as possible)."}).
	Define(connect.ConfigKey{Name: IterationsConfig, Type: connect.ConfigLong, Default: "-1", Importance: connect.Medium, Doc: "Records to generate per task (-1 or 0: no limit)."}).
	Define(connect.ConfigKey{Name: SeedConfig, Type: connect.ConfigLong, Importance: connect.Low, Doc: "Random seed (default: random)."}).
	Define(connect.ConfigKey{Name: BatchConfig, Type: connect.ConfigInt, Default: "1000", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "Maximum records returned per poll."})

func quickstartValidator(v string) error {
	if v = strings.TrimSpace(v); v == "" {
		return nil
	}
	if _, ok := quickstarts[strings.ToLower(v)]; !ok {
		return fmt.Errorf("unknown quickstart; use one of %s", strings.Join(quickstartNames(), ", "))
	}
	return nil
}

func schemaValidator(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	s, err := converters.UnmarshalSchema([]byte(v))
	if err != nil {
		return err
	}
	if s.Type != connect.TypeStruct {
		return errors.New("schema.string must be a struct schema")
	}
	return nil
}

// Version implements connect.Connector.
func (*Connector) Version() string { return connect.Version }

// Config implements connect.Connector.
func (*Connector) Config() *connect.ConfigDef { return def }

// ValidateConfig implements connect.ConfigValidator: exactly one of
// quickstart and schema.string, and a key field that exists.
func (*Connector) ValidateConfig(props map[string]string, vals []connect.ConfigValue) []connect.ConfigValue {
	q, s := strings.TrimSpace(props[QuickstartConfig]), strings.TrimSpace(props[SchemaConfig])
	add := func(name, msg string) {
		for i := range vals {
			if vals[i].Name == name {
				vals[i].Errors = append(vals[i].Errors, msg)
			}
		}
	}
	switch {
	case q == "" && s == "":
		add(QuickstartConfig, "Set one of quickstart or schema.string")
	case q != "" && s != "":
		add(SchemaConfig, "quickstart and schema.string are mutually exclusive")
	}
	if kf := strings.TrimSpace(props[KeyFieldConfig]); kf != "" {
		if g, err := newGenerator(props); err == nil {
			if _, ok := g.schema.Field(kf); !ok {
				add(KeyFieldConfig, fmt.Sprintf("schema has no field %q", kf))
			}
		}
	}
	return vals
}

// Start implements connect.Connector.
func (c *Connector) Start(props map[string]string) error {
	if _, err := def.Parse(props); err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	if _, err := newGenerator(props); err != nil {
		return err
	}
	c.props = props
	return nil
}

// TaskConfigs implements connect.Connector: maxTasks identical tasks, each
// generating its own records.
func (c *Connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, maxTasks)
	for i := range out {
		m := map[string]string{}
		for _, k := range def.Keys() {
			if v, ok := c.props[k.Name]; ok {
				m[k.Name] = v
			}
		}
		m[taskIDConfig] = strconv.Itoa(i)
		out[i] = m
	}
	return out, nil
}

// Stop implements connect.Connector.
func (*Connector) Stop() error { return nil }

// NewTask implements connect.SourceConnector.
func (*Connector) NewTask() connect.SourceTask { return &Task{} }

// Task generates records.
type Task struct {
	ctx        connect.SourceTaskContext
	gen        *generator
	topic      string
	taskID     int64
	iterations int64
	count      int64
	batch      int
	interval   time.Duration
	maxWait    time.Duration
	next       time.Time
	bufs       pollBufferPool
}

// Version implements connect.Task.
func (*Task) Version() string { return connect.Version }

// Initialize implements connect.SourceTask.
func (t *Task) Initialize(ctx connect.SourceTaskContext) { t.ctx = ctx }

// Start implements connect.Task: it resumes the count from the stored
// offset.
func (t *Task) Start(props map[string]string) error {
	c, err := def.Parse(props)
	if err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	if t.gen, err = newGenerator(props); err != nil {
		return err
	}
	t.topic = c.String(TopicConfig)
	t.taskID, _ = strconv.ParseInt(props[taskIDConfig], 10, 64)
	t.iterations = c.Int(IterationsConfig)
	t.batch = int(c.Int(BatchConfig))
	if r := c.Float(RateConfig); r > 0 {
		t.interval = time.Duration(float64(time.Second) / r)
	}
	t.maxWait = time.Duration(c.Int(MaxIntervalConfig)) * time.Millisecond
	if t.ctx != nil {
		off, err := t.ctx.OffsetReader().Offset(map[string]any{TaskField: t.taskID})
		if err != nil {
			return fmt.Errorf("datagen: %w", err)
		}
		if n, ok := off[IterationField].(int64); ok {
			t.count = n
		}
	}
	t.next = time.Now()
	return nil
}

// Poll implements connect.SourceTask.
func (t *Task) Poll(ctx context.Context) ([]*connect.SourceRecord, error) {
	if t.iterations > 0 && t.count >= t.iterations {
		<-ctx.Done()
		return nil, nil
	}
	n := t.batch
	if t.iterations > 0 {
		n = int(min(int64(n), t.iterations-t.count))
	}
	if t.interval > 0 || t.maxWait > 0 {
		if !wait(ctx, time.Until(t.next)) {
			return nil, nil
		}
		n = 1
		if t.interval > 0 {
			// Catch up in one batch if we fell behind.
			behind := int(time.Since(t.next)/t.interval) + 1
			n = max(1, min(n, behind, t.batch))
			t.next = t.next.Add(time.Duration(n) * t.interval)
		}
		if t.maxWait > 0 {
			t.next = time.Now().Add(time.Duration(t.gen.rng.Int64N(int64(t.maxWait))))
		}
	}
	// The batch's records, structs and field values come from buffers
	// the worker released, or from one allocation each.
	pb := t.bufs.get(t.gen.schema, n)
	recs, vals, nf := pb.recs, pb.vals, len(t.gen.schema.Fields)
	for i, r := range recs {
		key := t.gen.record(vals[i*nf : (i+1)*nf : (i+1)*nf])
		t.count++
		*r = connect.SourceRecord{Topic: t.topic, KeySchema: t.gen.keySchema, Key: key, ValueSchema: t.gen.schema, Value: &pb.structs[i]}
	}
	// Only the last record carries the source offset (the count so far):
	// the worker stores offsets per poll, once all of its records are
	// acknowledged, so per-record offsets (a map each) would only be
	// overwritten. After a crash the count resumes from the last stored
	// poll, as it would with them.
	last := recs[n-1]
	last.SourcePartition, last.SourceOffset = map[string]any{TaskField: t.taskID}, map[string]any{IterationField: t.count}
	return recs, nil
}

// Release implements connect.SourceTaskReleaser: the batch's memory
// is filled again by a later Poll.
func (t *Task) Release(records []*connect.SourceRecord) { t.bufs.put(records) }

// Stop implements connect.Task.
func (*Task) Stop() error { return nil }

func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newRand returns a seeded generator (random seed unless random.seed is
// set).
func newRand(props map[string]string) *rand.Rand {
	if s, err := strconv.ParseInt(strings.TrimSpace(props[SeedConfig]), 10, 64); err == nil {
		return rand.New(rand.NewPCG(uint64(s), uint64(s)^0x9e3779b97f4a7c15))
	}
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}

func init() {
	connect.RegisterConnector(Class, func() connect.Connector { return &Connector{} })
}
