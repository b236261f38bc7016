package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/converters"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

const panicRecords = 1000

// panickyConverter is a StringConverter that panics on the value "boom",
// in both its plain and its appending form.
type panickyConverter struct{ converters.String }

func (p panickyConverter) FromConnectData(topic string, s *connect.Schema, v any) ([]byte, error) {
	if v == "boom" {
		panic("boom")
	}
	return p.String.FromConnectData(topic, s, v)
}

func (p panickyConverter) AppendFromConnectData(dst []byte, topic string, s *connect.Schema, v any) ([]byte, bool, error) {
	if v == "boom" {
		panic("boom")
	}
	return p.String.AppendFromConnectData(dst, topic, s, v)
}

// boomSource polls panicRecords records in batches of 100, record 150's
// value being "boom".
type boomSource struct{ stubConnector }

func (boomSource) NewTask() connect.SourceTask { return &boomTask{} }

type boomTask struct {
	stubTask
	n int
}

func (*boomTask) Initialize(connect.SourceTaskContext) {}

func (t *boomTask) Poll(ctx context.Context) ([]*connect.SourceRecord, error) {
	if t.n >= panicRecords {
		<-ctx.Done()
		return nil, nil
	}
	var out []*connect.SourceRecord
	for range 100 {
		v := fmt.Sprint(t.n)
		if t.n == 150 {
			v = "boom"
		}
		out = append(out, &connect.SourceRecord{Topic: "booms", ValueSchema: connect.StringSchema, Value: v})
		t.n++
	}
	return out, nil
}

func init() {
	connect.RegisterConnector("test.BoomSourceConnector", func() connect.Connector { return boomSource{} })
	if err := connect.DefaultRegistry.AddConverter("test.PanickyConverter", func() connect.Converter { return panickyConverter{converters.NewString()} }); err != nil {
		panic(err)
	}
}

// TestSourceConverterPanic: a converter that panics on one record fails
// that record like a conversion error: skipped under errors.tolerance=all
// (every other record arrives), and failing the task with the panic in
// its trace under the default tolerance, after the records before it.
func TestSourceConverterPanic(t *testing.T) {
	for _, tolerance := range []string{"all", "none"} {
		t.Run(tolerance, func(t *testing.T) {
			br := connecttest.Broker(t)
			h := connecttest.Worker(t, br.Addr(), filepath.Join(t.TempDir(), "offsets"), nil)
			defer h.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			// Created first: a producer that finds it missing waits out its
			// metadata refresh (5 s) after the auto-creation.
			if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, "booms"); err != nil {
				t.Fatal(err)
			}
			connecttest.Create(t, h, "boom", map[string]string{"connector.class": "test.BoomSourceConnector",
				"value.converter": "test.PanickyConverter", "errors.tolerance": tolerance})
			want := int64(panicRecords - 1)
			if tolerance == "none" {
				want = 150
				connecttest.Eventually(t, 30*time.Second, "task FAILED with the panic", func() bool {
					st, _ := h.ConnectorStatus("boom")
					return len(st.Tasks) == 1 && st.Tasks[0].State == "FAILED" && strings.Contains(st.Tasks[0].Trace, "panic: boom")
				})
			}
			connecttest.Eventually(t, 30*time.Second, fmt.Sprintf("%d records", want), func() bool {
				ends, err := adm.ListEndOffsets(context.Background(), "booms")
				return err == nil && ends["booms"][0].Offset >= want
			})
			time.Sleep(200 * time.Millisecond)
			if n := endOffset(t, adm, "booms"); n != want {
				t.Fatalf("topic holds %d records, want %d", n, want)
			}
		})
	}
}
