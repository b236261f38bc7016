package txn

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTranscripts drives a Txn through the scenarios in testdata/*.txt:
// each input with the decision it returned and the transaction after it.
// Every state is also encoded as its __transaction_state record and decoded
// back, so the transcripts check the record format too. Regenerate after a
// deliberate change with
//
//	go test ./broker/txn -run TestTranscripts -rewrite
//
// Commands (times relative to the start, "@1.5s"; epochs and producer IDs
// as the client sends them):
//
//	new-txn id=ID pid=N [timeout=60000] [epoch=N]
//	init [pid=N epoch=N] [timeout=60000]       InitProducerId (KIP-360 fields optional)
//	reset-producer-id pid=N                    after init says need-new-id
//	check pid=N epoch=N                        a request's producer fields
//	add partitions=(topic-p,...)               AddPartitionsToTxn
//	end commit|abort                           EndTxn
//	begin-abort | complete                     the coordinator's own steps
//	advance 10s | timed-out
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var tr txnTranscript
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return tr.run(t, d)
		})
	})
}

const txnStart = 1_000_000

type txnTranscript struct {
	tx  *Txn
	now int64
}

func (tr *txnTranscript) run(t *testing.T, d *datadriven.TestData) string {
	var out strings.Builder
	if d.Cmd != "new-txn" && tr.tx == nil {
		d.Fatalf(t, "a transcript starts with new-txn")
	}
	switch d.Cmd {
	case "new-txn":
		var id string
		d.ScanArgs(t, "id", &id)
		tr.now = txnStart
		tr.tx = NewTxn(id, int64Arg(t, d, "pid", -1), int32(int64Arg(t, d, "timeout", 60000)), tr.now)
		tr.tx.ProducerEpoch = int16(int64Arg(t, d, "epoch", 0))
	case "init":
		dec, err := tr.tx.Init(int64Arg(t, d, "pid", -1), int16(int64Arg(t, d, "epoch", -1)), int32(int64Arg(t, d, "timeout", 60000)), tr.now)
		switch {
		case err != nil:
			fmt.Fprintf(&out, "init: %s\n", err.Message)
		default:
			fmt.Fprintf(&out, "init: ok abort-first=%t need-new-id=%t\n", dec.AbortFirst, dec.NeedNewID)
		}
	case "reset-producer-id":
		tr.tx.ResetProducerID(int64Arg(t, d, "pid", -1))
	case "check":
		err := tr.tx.CheckProducer(int64Arg(t, d, "pid", -1), int16(int64Arg(t, d, "epoch", -1)), kerr.ProducerFenced)
		fmt.Fprintf(&out, "check: %s\n", errName(err))
	case "add":
		var parts []TopicPartition
		for _, a := range d.CmdArgs {
			if a.Key != "partitions" {
				continue
			}
			for _, v := range a.Vals {
				i := strings.LastIndex(v, "-")
				var p int32
				if _, err := fmt.Sscan(v[i+1:], &p); i < 0 || err != nil {
					d.Fatalf(t, "partitions wants topic-partition, got %q", v)
				}
				parts = append(parts, TopicPartition{Topic: v[:i], Partition: p})
			}
		}
		fmt.Fprintf(&out, "add: changed=%t\n", tr.tx.AddPartitions(parts, tr.now))
	case "end":
		if len(d.CmdArgs) != 1 || (d.CmdArgs[0].Key != "commit" && d.CmdArgs[0].Key != "abort") {
			d.Fatalf(t, "end commit|abort")
		}
		dec, err := tr.tx.End(d.CmdArgs[0].Key == "commit", tr.now)
		if err != nil {
			fmt.Fprintf(&out, "end: %s\n", err.Message)
		} else {
			fmt.Fprintf(&out, "end: ok write-markers=%t\n", dec.WriteMarkers)
		}
	case "begin-abort":
		tr.tx.BeginAbort(tr.now)
	case "complete":
		fmt.Fprintf(&out, "markers: %s\n", map[bool]string{true: "commit", false: "abort"}[tr.tx.Committing()])
		tr.tx.Complete(tr.now)
	case "advance":
		if len(d.CmdArgs) != 1 {
			d.Fatalf(t, "advance wants one duration")
		}
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		tr.now += dur.Milliseconds()
		fmt.Fprintf(&out, "now %s\n", at(tr.now))
	case "timed-out":
		fmt.Fprintf(&out, "timed-out: %t\n", tr.tx.TimedOut(tr.now))
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	fmt.Fprintf(&out, "state: %s\n", describe(tr.tx))
	if err := roundTrip(tr.tx); err != nil {
		fmt.Fprintf(&out, "record: %v\n", err)
	}
	return out.String()
}

// describe renders a transaction on one line.
func describe(t *Txn) string {
	s := fmt.Sprintf("%s %s pid=%d epoch=%d", t.ID, t.State, t.ProducerID, t.ProducerEpoch)
	if t.PrevProducerID >= 0 {
		s += fmt.Sprintf(" prev=%d/%d", t.PrevProducerID, t.PrevEpoch)
	}
	s += fmt.Sprintf(" timeout=%d", t.TimeoutMs)
	if len(t.Partitions) > 0 {
		var ps []string
		for _, p := range t.SortedPartitions() {
			ps = append(ps, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
		}
		s += " partitions=[" + strings.Join(ps, " ") + "]"
	}
	if t.StartMs >= 0 {
		s += " started=" + at(t.StartMs)
	}
	return s + " updated=" + at(t.UpdateMs)
}

// roundTrip checks that the __transaction_state record of t decodes to t
// (less the KIP-360 fields, which the record does not carry).
func roundTrip(t *Txn) error {
	got, err := UnmarshalTxn(t.MarshalKey(), t.MarshalValue())
	if err != nil {
		return fmt.Errorf("does not decode: %w", err)
	}
	want := t.Clone()
	want.PrevProducerID, want.PrevEpoch = -1, -1
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("decodes to %s, want %s", describe(got), describe(want))
	}
	return nil
}

func at(ms int64) string { return "@" + (time.Duration(ms-txnStart) * time.Millisecond).String() }

func errName(err *kerr.Error) string {
	if err == nil {
		return "ok"
	}
	return err.Message
}

// int64Arg returns an optional integer argument, def when absent.
func int64Arg(t *testing.T, d *datadriven.TestData, key string, def int64) int64 {
	if !d.HasArg(key) {
		return def
	}
	var v int64
	d.ScanArgs(t, key, &v)
	return v
}
