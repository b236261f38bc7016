package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/compression"
)

// parseAcks parses --acks: all (or -1), 1 (leader) or 0 (none).
func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, usagef("--acks %q: want all, 1 or 0", s)
}

// parseCompression parses --compression.
func parseCompression(s string) (kgo.CompressionCodec, error) {
	codec, err := compression.Codec(strings.TrimSpace(s))
	if err != nil {
		return kgo.CompressionCodec{}, usagef("--compression %q: want %s", s, compression.Names)
	}
	return codec, nil
}

// parseHeaders parses repeated --header key=value flags.
func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, err := parseKV("--header", h)
		if err != nil {
			return nil, err
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

// lineRecord turns one input line into a record: with a key separator the
// line is split at its first occurrence into key and value.
func lineRecord(line []byte, sep string) (*kgo.Record, error) {
	if sep == "" {
		return &kgo.Record{Value: bytes.Clone(line)}, nil
	}
	k, v, ok := bytes.Cut(line, []byte(sep))
	if !ok {
		return nil, fmt.Errorf("no key separator %q in the line", sep)
	}
	return &kgo.Record{Key: bytes.Clone(k), Value: bytes.Clone(v)}, nil
}

// readLines sends each line of r (without its line ending) to the returned
// channel, then closes it; a read error is sent to errc.
func readLines(r io.Reader, errc chan<- error) <-chan []byte {
	lines := make(chan []byte, 256)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				line = bytes.TrimSuffix(line, []byte("\n"))
				line = bytes.TrimSuffix(line, []byte("\r"))
				lines <- line
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					errc <- fmt.Errorf("read stdin: %w", err)
				}
				return
			}
		}
	}()
	return lines
}

// produceOptions are the flags of `gregor produce`.
type produceOptions struct {
	keySeparator  string
	headers       []string
	partition     int32
	acks          string
	compression   string
	idempotent    bool
	transactional string
}

// clientOpts validates the options and returns the producer options.
func (o produceOptions) clientOpts(g *globals, topic string) ([]kgo.Opt, error) {
	acks, err := parseAcks(o.acks)
	if err != nil {
		return nil, err
	}
	codec, err := parseCompression(o.compression)
	if err != nil {
		return nil, err
	}
	if o.partition < -1 {
		return nil, usagef("--partition %d: want a partition number >= 0", o.partition)
	}
	all := strings.TrimSpace(o.acks) == "all" || strings.TrimSpace(o.acks) == "-1"
	if (o.idempotent || o.transactional != "") && !all {
		return nil, usagef("--idempotent and --transactional-id need --acks all")
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(g.timeout),
		kgo.AllowAutoTopicCreation(),
	}
	if !o.idempotent && o.transactional == "" {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if o.transactional != "" {
		opts = append(opts, kgo.TransactionalID(o.transactional))
	}
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts, nil
}

// produceResult is what `gregor produce` reports.
type produceResult struct {
	Topic           string   `json:"topic"`
	Sent            int64    `json:"sent"`
	Acknowledged    int64    `json:"acknowledged"`
	Failed          int64    `json:"failed"`
	TransactionalID string   `json:"transactional_id,omitempty"`
	Committed       *bool    `json:"committed,omitempty"`
	Errors          []string `json:"errors,omitempty"`
}

// failures counts failed records and keeps the first few distinct errors.
type failures struct {
	mu     sync.Mutex
	n      int64
	errors []string
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	msg := err.Error()
	if len(f.errors) < 5 && !contains(f.errors, msg) {
		f.errors = append(f.errors, msg)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func newProduceCommand(g *globals) *cobra.Command {
	var o produceOptions
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records from stdin, one per line",
		Long: `Read stdin and produce one record per line (without its line ending) to TOPIC,
like kafka-console-producer.sh. When stdin ends (Ctrl-D on a terminal) gregor waits
for every record to be acknowledged, prints how many were, and exits non-zero if any
failed. A topic that does not exist is created if the broker allows it
(auto.create.topics.enable).

With --transactional-id all lines are produced in one transaction that commits at
the end, or aborts if any record failed.`,
		Example: `  # values only
  printf 'one\ntwo\nthree\n' | gregor produce demo

  # key:value lines, a header on every record, gzip
  printf 'user1:{"n":1}\nuser2:{"n":2}\n' | gregor produce demo --key-separator : --header source=cli --compression gzip

  # to partition 2, idempotently
  gregor produce demo --partition 2 --idempotent < events.txt

  # all or nothing
  gregor produce demo --transactional-id loader-1 < batch.txt`,
		Args:              exactArgs(1, "one topic name"),
		ValidArgsFunction: completeTopics(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.keySeparator, "key-separator", "k", "", "split each line at the first SEP into key and value (lines without it fail)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "produce to this partition (-1: the default partitioner, by key hash)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVarP(&o.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&o.idempotent, "idempotent", false, "enable the idempotent producer (no duplicates on retry)")
	f.StringVar(&o.transactional, "transactional-id", "", "produce all records in one transaction with this transactional.id")
	_ = cmd.RegisterFlagCompletionFunc("acks", cobra.FixedCompletions([]string{"all", "1", "0"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("compression", cobra.FixedCompletions([]string{"none", "gzip", "snappy", "lz4", "zstd"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runProduce(cmd *cobra.Command, g *globals, o produceOptions, topic string) error {
	opts, err := o.clientOpts(g, topic)
	if err != nil {
		return err
	}
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	cl, err := g.client(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	res := produceResult{Topic: topic, TransactionalID: o.transactional}
	if o.transactional != "" {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	run := produceLines(cmdContext(cmd), cmd.InOrStdin(), cl, o, headers, &res)
	fctx, cancel := context.WithTimeout(context.Background(), g.timeout+5*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	res.Acknowledged, res.Failed, res.Errors = run.acked.Load(), run.fails.n, run.fails.errors
	if o.transactional != "" {
		endProduceTransaction(fctx, cl, &res, run.fails.n > 0 || run.interrupted || run.readErr != nil)
	}
	if err := writeProduceResult(cmd, g, res); err != nil {
		return err
	}
	switch {
	case run.readErr != nil:
		return run.readErr
	case res.Failed > 0:
		first := ""
		if len(res.Errors) > 0 {
			first = ": " + res.Errors[0]
		}
		return fmt.Errorf("%d of %d records failed%s", res.Failed, run.lines, first)
	case res.Committed != nil && !*res.Committed:
		return errors.New("transaction aborted")
	}
	return nil
}

// produceRun is what producing the input's lines came to: the lines read,
// the records acknowledged, the failures, and why reading stopped early.
type produceRun struct {
	lines       int
	acked       atomic.Int64
	fails       failures
	interrupted bool  // the context ended (Ctrl-C) before the input did
	readErr     error // reading the input failed
}

// produceLines sends one record per input line until the input ends or ctx
// does, counting each line in res.Sent; acknowledgements and failures arrive
// in the returned run as the client's callbacks fire (flush before reading
// them).
func produceLines(ctx context.Context, in io.Reader, cl *kgo.Client, o produceOptions, headers []kgo.RecordHeader, res *produceResult) *produceRun {
	run := &produceRun{}
	errc := make(chan error, 1)
	lines := readLines(in, errc)
read:
	for {
		select {
		case <-ctx.Done():
			run.interrupted = true
			break read
		case line, ok := <-lines:
			if !ok {
				break read
			}
			run.lines++
			r, err := lineRecord(line, o.keySeparator)
			if err != nil {
				run.fails.add(fmt.Errorf("line %d: %w", run.lines, err))
				continue
			}
			r.Headers = headers
			if o.partition >= 0 {
				r.Partition = o.partition
			}
			res.Sent++
			cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				if err != nil {
					run.fails.add(kafkaErr("Produce", err))
					return
				}
				run.acked.Add(1)
			})
		}
	}
	select {
	case run.readErr = <-errc:
	default:
	}
	return run
}

// endProduceTransaction commits the transaction, or aborts it when abort
// is set, and records the outcome in res: nothing counts as acknowledged
// unless it committed.
func endProduceTransaction(ctx context.Context, cl *kgo.Client, res *produceResult, abort bool) {
	commit := kgo.TryCommit
	if abort {
		commit = kgo.TryAbort
	}
	err := cl.EndTransaction(ctx, commit)
	committed := err == nil && commit == kgo.TryCommit
	res.Committed = &committed
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("end transaction: %v", err))
		res.Failed = res.Sent
	}
	if !committed {
		res.Acknowledged = 0
	}
}

func writeProduceResult(cmd *cobra.Command, g *globals, r produceResult) error {
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, r)
	}
	if len(r.Errors) > 1 { // the first is in the final error message
		for _, e := range r.Errors {
			fmt.Fprintln(cmd.ErrOrStderr(), "error:", e)
		}
	}
	msg := fmt.Sprintf("%d records acknowledged by %s", r.Acknowledged, r.Topic)
	if r.Failed > 0 {
		msg += fmt.Sprintf(", %d failed", r.Failed)
	}
	if r.Committed != nil {
		if *r.Committed {
			msg += fmt.Sprintf(" (transaction %s committed)", r.TransactionalID)
		} else {
			msg += fmt.Sprintf(" (transaction %s aborted)", r.TransactionalID)
		}
	}
	_, err := fmt.Fprintln(w, msg)
	return err
}
