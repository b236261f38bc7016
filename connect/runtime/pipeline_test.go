package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/internal/testcluster"
)

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(f, "line %06d with some text\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

func pipelineConfigs(dir, topic string) (src, sink map[string]string) {
	src = map[string]string{"connector.class": "FileStreamSource", "file": filepath.Join(dir, "in.txt"), "topic": topic, "batch.size": "100"}
	sink = map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "file": filepath.Join(dir, "out.txt"), "topics": topic}
	return src, sink
}

func requireSameLines(t *testing.T, dir string) {
	t.Helper()
	in, out := connecttest.Lines(filepath.Join(dir, "in.txt")), connecttest.Lines(filepath.Join(dir, "out.txt"))
	if !slices.Equal(in, out) {
		seen := map[string]int{}
		for _, l := range out {
			seen[l]++
		}
		dups, missing := 0, 0
		for _, l := range in {
			switch seen[l] {
			case 0:
				missing++
			case 1:
			default:
				dups++
			}
		}
		t.Fatalf("out.txt differs from in.txt: %d lines in, %d out, %d missing, %d duplicated", len(in), len(out), missing, dups)
	}
}

// TestFilePipelineExactlyOnce copies a file through a topic into another
// file and checks every line arrives once, in order.
// It runs on Gregor's broker and on kfake (one and three brokers).
func TestFilePipelineExactlyOnce(t *testing.T) { testcluster.Run(t, testFilePipelineExactlyOnce) }

func testFilePipelineExactlyOnce(t *testing.T, addr string) {
	dir := t.TempDir()
	appendLines(t, filepath.Join(dir, "in.txt"), 0, 5000)
	h := connecttest.Worker(t, addr, filepath.Join(dir, "offsets.json"), nil)
	src, sink := pipelineConfigs(dir, "lines")
	connecttest.Create(t, h, "src", src)
	connecttest.Create(t, h, "sink", sink)
	// The file grows while the worker runs.
	appendLines(t, filepath.Join(dir, "in.txt"), 5000, 7000)
	connecttest.Eventually(t, 30*time.Second, "7000 lines in out.txt", func() bool {
		return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= 7000
	})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameLines(t, dir)
	topics, err := h.ConnectorTopics("src")
	if err != nil || !slices.Equal(topics, []string{"lines"}) {
		t.Fatalf("src topics = %v, %v", topics, err)
	}
}

// TestFilePipelineRestartMidFile stops the worker while the source is in
// the middle of the file and lines keep being written, restarts it, and
// checks the copy has no duplicates and no gaps.
func TestFilePipelineRestartMidFile(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	appendLines(t, in, 0, 20000)
	offsets := filepath.Join(dir, "offsets.json")
	src, sink := pipelineConfigs(dir, "lines")
	for round := range 3 {
		h := connecttest.Worker(t, b.Addr(), offsets, nil)
		connecttest.Create(t, h, "src", src)
		connecttest.Create(t, h, "sink", sink)
		before := len(connecttest.Lines(filepath.Join(dir, "out.txt")))
		connecttest.Eventually(t, 30*time.Second, "progress", func() bool {
			return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) > before+500
		})
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		n := len(connecttest.Lines(filepath.Join(dir, "out.txt")))
		t.Logf("round %d: stopped with %d lines copied", round, n)
		if n >= 20000+round*1000 {
			t.Logf("round %d finished the file before stopping", round)
		}
		appendLines(t, in, 20000+round*1000, 20000+(round+1)*1000)
	}
	h := connecttest.Worker(t, b.Addr(), offsets, nil)
	defer h.Close()
	connecttest.Create(t, h, "src", src)
	connecttest.Create(t, h, "sink", sink)
	total := len(connecttest.Lines(in))
	connecttest.Eventually(t, 30*time.Second, "every line copied", func() bool {
		return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= total
	})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameLines(t, dir)
	// The offset file records the end of the input.
	st, err := runtime.OpenFileOffsetStore(offsets)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := runtime.OffsetKey("src", map[string]any{"filename": in})
	vals, _ := st.Get(context.Background(), []string{k})
	off, _ := runtime.DecodeOffset(vals[k])
	fi, _ := os.Stat(in)
	if off["position"] != fi.Size() {
		t.Fatalf("stored position %v, file size %d", off["position"], fi.Size())
	}
}
