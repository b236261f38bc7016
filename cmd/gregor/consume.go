package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// parseOffset parses --offset: earliest, latest, an absolute offset N, -N
// (N before the end), +N (N after the start) or @TIME (the first record at or
// after TIME; see parseDatetime).
func parseOffset(s string) (kgo.Offset, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "earliest", "beginning", "start", "oldest":
		return kgo.NewOffset().AtStart(), nil
	case "latest", "end", "newest":
		return kgo.NewOffset().AtEnd(), nil
	}
	if t, ok := strings.CutPrefix(s, "@"); ok {
		ts, err := parseDatetime(t, time.Local)
		if err != nil {
			return kgo.Offset{}, usagef("--offset %q: %w", s, err)
		}
		return kgo.NewOffset().AfterMilli(ts.UnixMilli()), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return kgo.Offset{}, usagef("--offset %q: want earliest, latest, N, -N, +N or @TIME", s)
	}
	switch {
	case strings.HasPrefix(s, "-"):
		return kgo.NewOffset().AtEnd().Relative(n), nil
	case strings.HasPrefix(s, "+"):
		return kgo.NewOffset().AtStart().Relative(n), nil
	}
	return kgo.NewOffset().At(n), nil
}

// unescape interprets \n, \t, \r and \\ in a --format string, so that a
// format written in single quotes works as expected.
func unescape(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\t`, "\t", `\r`, "\r").Replace(s)
}

// stamp is a record timestamp; it prints as RFC 3339 with milliseconds, and
// has time.Time's methods ({{.timestamp.UnixMilli}}).
type stamp struct{ time.Time }

// String formats the timestamp as RFC 3339 in UTC with milliseconds.
func (s stamp) String() string { return s.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// MarshalJSON encodes the timestamp as its String form.
func (s stamp) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// header is one record header.
type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// headerList is a record's headers; it prints as k1=v1,k2=v2.
type headerList []header

// String formats the headers as k1=v1,k2=v2.
func (h headerList) String() string {
	parts := make([]string, len(h))
	for i, x := range h {
		parts[i] = x.Key + "=" + x.Value
	}
	return strings.Join(parts, ",")
}

// Get returns the value of the first header named key ({{.headers.Get "k"}}).
func (h headerList) Get(key string) string {
	for _, x := range h {
		if x.Key == key {
			return x.Value
		}
	}
	return ""
}

// consumedRecord is a record as --output json and --format see it. In JSON,
// a key or value that is not valid UTF-8 is base64 encoded and marked so
// with key_encoding / value_encoding.
type consumedRecord struct {
	Topic         string     `json:"topic"`
	Partition     int32      `json:"partition"`
	Offset        int64      `json:"offset"`
	Timestamp     stamp      `json:"timestamp"`
	Key           *string    `json:"key"`
	KeyEncoding   string     `json:"key_encoding,omitempty"`
	Value         *string    `json:"value"`
	ValueEncoding string     `json:"value_encoding,omitempty"`
	Headers       headerList `json:"headers"`
}

func viewRecord(r *kgo.Record) consumedRecord {
	c := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: stamp{r.Timestamp}, Headers: headerList{}}
	c.Key, c.KeyEncoding = textOrBase64(r.Key)
	c.Value, c.ValueEncoding = textOrBase64(r.Value)
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, header{Key: h.Key, Value: string(h.Value)})
	}
	return c
}

// textOrBase64 returns b as a string for JSON, base64 encoded (and the
// encoding named) if it is not valid UTF-8; nil stays nil (JSON null).
func textOrBase64(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}

// templateData is what a --format template sees: the JSON field names, with
// the key and value as raw bytes.
func templateData(r *kgo.Record) map[string]any {
	c := viewRecord(r)
	return map[string]any{
		"topic": c.Topic, "partition": c.Partition, "offset": c.Offset, "timestamp": c.Timestamp,
		"key": string(r.Key), "value": string(r.Value), "headers": c.Headers,
	}
}

// recordFormatter writes consumed records.
type recordFormatter func(w io.Writer, r *kgo.Record) error

// newFormatter builds the record writer for --format / --output. Each
// record ends with a newline unless the format already does.
func newFormatter(format string, asJSON bool) (recordFormatter, error) {
	if asJSON {
		if format != "" {
			return nil, usagef("--format and --output json do not mix")
		}
		return func(w io.Writer, r *kgo.Record) error {
			b, err := json.Marshal(viewRecord(r))
			if err != nil {
				return fmt.Errorf("encode record: %w", err)
			}
			_, err = w.Write(append(b, '\n'))
			return err
		}, nil
	}
	if format == "" {
		return func(w io.Writer, r *kgo.Record) error {
			_, err := w.Write(append(bytes.Clone(r.Value), '\n'))
			return err
		}, nil
	}
	format = unescape(format)
	if !strings.HasSuffix(format, "\n") {
		format += "\n"
	}
	tmpl, err := template.New("format").Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, usagef("--format: %w", err)
	}
	// Catch unknown fields now rather than on the first record.
	sample := &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	if err := tmpl.Execute(io.Discard, templateData(sample)); err != nil {
		return nil, usagef("--format: %w (fields: key, value, topic, partition, offset, timestamp, headers)", err)
	}
	return func(w io.Writer, r *kgo.Record) error {
		return tmpl.Execute(w, templateData(r))
	}, nil
}

// consumeOptions are the flags of `gregor consume`.
type consumeOptions struct {
	fromBeginning bool
	offset        string
	partitions    string
	group         string
	maxMessages   int
	isolation     string
	format        string
	idleTimeout   time.Duration
}

// startOffset works out where to start (or, in a group, where to start
// when the group has no committed offset): latest unless told otherwise.
func (o consumeOptions) startOffset() (kgo.Offset, error) {
	if o.fromBeginning && o.offset != "" {
		return kgo.Offset{}, usagef("give --from-beginning or --offset, not both")
	}
	if o.fromBeginning {
		return kgo.NewOffset().AtStart(), nil
	}
	if o.offset == "" {
		return kgo.NewOffset().AtEnd(), nil
	}
	off, err := parseOffset(o.offset)
	if err != nil {
		return off, err
	}
	if o.group != "" {
		if s := strings.ToLower(o.offset); s != "earliest" && s != "latest" && s != "beginning" && s != "end" {
			return off, usagef("with --group, --offset can only be earliest or latest (used when the group has no committed offset); use 'gregor groups reset-offsets' to move a group")
		}
	}
	return off, nil
}

func parseIsolation(s string) (kgo.IsolationLevel, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "_")) {
	case "read_uncommitted", "":
		return kgo.ReadUncommitted(), nil
	case "read_committed":
		return kgo.ReadCommitted(), nil
	}
	return kgo.IsolationLevel{}, usagef("--isolation-level %q: want read_uncommitted or read_committed", s)
}

func newConsumeCommand(g *globals) *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Consume records and print them, one per line",
		Long: `Consume records from one or more topics and print them, like
kafka-console-consumer.sh. By default each record's value is printed on its own
line, starting at the end of each partition (only new records); --from-beginning
starts at the oldest record.

--format is a Go template over the fields key, value, topic, partition, offset,
timestamp and headers, e.g. '{{.key}}={{.value}}'; \t and \n are understood, and a
newline is added unless the format ends with one. {{.timestamp.UnixMilli}} gives
milliseconds and {{.headers.Get "name"}} one header. With --output json each record
is one JSON object per line with the same field names.

--offset takes earliest, latest, an offset N, -N (N before the end), +N (N after
the start) or @TIME (RFC 3339 or 2006-01-02T15:04:05, local time).

With --group the partitions are shared with the group's other members and the
offsets of printed records are committed; without it nothing is committed.
Ctrl-C stops cleanly (committing first in a group), as do --max-messages and
--idle-timeout.`,
		Example: `  # everything in the topic, then wait for more (Ctrl-C to stop)
  gregor consume demo --from-beginning

  # the first 10 records, with keys, partitions and offsets
  gregor consume demo --from-beginning --max-messages 10 --format '{{.partition}}/{{.offset}}\t{{.key}}\t{{.value}}'

  # as JSON lines, only committed transactional data
  gregor consume demo --from-beginning --output json --isolation-level read_committed

  # the last 5 records of partition 0
  gregor consume demo --partition 0 --offset -5 --idle-timeout 2s

  # as a member of a consumer group
  gregor consume demo --group billing --from-beginning`,
		Args:              minArgs(1, "at least one topic name"),
		ValidArgsFunction: completeTopics(g),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return runConsume(cmd, g, o, topics)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the oldest record (same as --offset earliest)")
	f.StringVar(&o.offset, "offset", "", "where to start: earliest, latest, N, -N, +N or @TIME (default latest)")
	f.StringVarP(&o.partitions, "partition", "p", "", "consume only these partitions, e.g. 0 or 0,2,4-6 (not with --group)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	f.IntVarP(&o.maxMessages, "max-messages", "n", 0, "exit after this many records (0: no limit)")
	f.StringVar(&o.isolation, "isolation-level", "read_uncommitted", "read_uncommitted or read_committed (skip aborted transactions)")
	f.StringVarP(&o.format, "format", "f", "", "Go template for each record over key, value, topic, partition, offset, timestamp, headers")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 0, "exit when no record arrives for this long (0: wait forever)")
	_ = cmd.RegisterFlagCompletionFunc("isolation-level", cobra.FixedCompletions([]string{"read_uncommitted", "read_committed"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("group", completeGroups(g))
	return cmd
}

// checkTopics fails clearly when a topic or partition does not exist.
func checkTopics(cmd *cobra.Command, g *globals, cl *kgo.Client, topics []string, partitions []int32) error {
	ctx, cancel := g.opCtx(cmd)
	defer cancel()
	adm := newAdminFrom(cl, g)
	td, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return fmt.Errorf("look up topics: %w", err)
	}
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil {
			e := d.Err
			if e == nil {
				e = kerr.UnknownTopicOrPartition
			}
			return fmt.Errorf("topic %s: %w", t, e)
		}
		for _, p := range partitions {
			if _, ok := d.Partitions[p]; !ok {
				return fmt.Errorf("topic %s has no partition %d (it has %d): %w", t, p, len(d.Partitions), kerr.UnknownTopicOrPartition)
			}
		}
	}
	return nil
}

func runConsume(cmd *cobra.Command, g *globals, o consumeOptions, topics []string) error {
	start, err := o.startOffset()
	if err != nil {
		return err
	}
	iso, err := parseIsolation(o.isolation)
	if err != nil {
		return err
	}
	if o.maxMessages < 0 {
		return usagef("--max-messages %d: want >= 0", o.maxMessages)
	}
	write, err := newFormatter(o.format, g.json())
	if err != nil {
		return err
	}
	var parts []int32
	if o.partitions != "" {
		if o.group != "" {
			return usagef("--partition and --group do not mix: a group assigns partitions itself")
		}
		if parts, err = parsePartitions(o.partitions); err != nil {
			return err
		}
	}
	opts := []kgo.Opt{kgo.FetchIsolationLevel(iso)}
	switch {
	case o.group != "":
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumerGroup(o.group),
			kgo.ConsumeResetOffset(start), kgo.AutoCommitMarks())
	case parts != nil:
		m := map[string]map[int32]kgo.Offset{}
		for _, t := range topics {
			m[t] = map[int32]kgo.Offset{}
			for _, p := range parts {
				m[t][p] = start
			}
		}
		opts = append(opts, kgo.ConsumePartitions(m))
	default:
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(start))
	}
	cl, err := g.client(cmd, opts...)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cl.Close()
		}
	}()
	if err := checkTopics(cmd, g, cl, topics, parts); err != nil {
		return err
	}
	ctx := cmdContext(cmd)
	out := cmd.OutOrStdout()
	count, err := consumeLoop(ctx, cl, o, write, out)
	if o.group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), g.timeout)
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("commit offsets for group %s: %w", o.group, cerr)
		}
	}
	cl.Close()
	closed = true
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", count)
	return err
}

// consumeLoop polls and prints records until ctx ends, max is reached or the
// idle timeout passes. It returns how many records it printed.
func consumeLoop(ctx context.Context, cl *kgo.Client, o consumeOptions, write recordFormatter, out io.Writer) (int, error) {
	count := 0
	for o.maxMessages == 0 || count < o.maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.idleTimeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, o.idleTimeout)
		}
		fetches := cl.PollRecords(pctx, o.maxMessages-count)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return count, nil
		}
		if o.idleTimeout > 0 && pctx.Err() != nil && fetches.NumRecords() == 0 {
			return count, nil
		}
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if fatal == nil {
				fatal = fmt.Errorf("consume %s/%d: %w", t, p, err)
			}
		})
		if fatal != nil {
			return count, fatal
		}
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if werr != nil || (o.maxMessages > 0 && count >= o.maxMessages) {
				return
			}
			if werr = write(out, r); werr == nil {
				count++
				if o.group != "" {
					cl.MarkCommitRecords(r)
				}
			}
		})
		if werr != nil {
			return count, fmt.Errorf("write record: %w", werr)
		}
	}
	return count, nil
}
