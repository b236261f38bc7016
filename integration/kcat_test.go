package integration

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcat runs kcat with args and stdin, failing the test on error.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestKcat(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("kcat")
	createTopic(t, b.addr(), topic, 3, nil)

	meta := kcat(t, "", "-b", b.addr(), "-L")
	for _, want := range []string{
		"1 brokers:",
		"at " + b.addr(),
		fmt.Sprintf("topic \"%s\" with 3 partitions:", topic),
	} {
		if !strings.Contains(meta, want) {
			t.Fatalf("kcat -L output lacks %q:\n%s", want, meta)
		}
	}

	const n = 1000
	var in strings.Builder
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("line %d with some text", i)
		fmt.Fprintf(&in, "%s:%s\n", k, v)
		want[k] = v
	}
	kcat(t, in.String(), "-b", b.addr(), "-t", topic, "-P", "-K:", "-X", "acks=all")

	out := kcat(t, "", "-b", b.addr(), "-t", topic, "-C", "-o", "beginning", "-e", "-q", "-f", "%p %o %k:%s\n")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("kcat consumed %d lines, want %d", len(lines), n)
	}
	nextOffset := map[string]int{}
	for _, line := range lines {
		var p string
		var o int
		var kv string
		if _, err := fmt.Sscanf(line, "%s %d", &p, &o); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		kv = strings.SplitN(line, " ", 3)[2]
		k, v, _ := strings.Cut(kv, ":")
		if want[k] != v {
			t.Fatalf("%s = %q, want %q", k, v, want[k])
		}
		delete(want, k)
		if o != nextOffset[p] {
			t.Fatalf("partition %s: offset %d, want %d", p, o, nextOffset[p])
		}
		nextOffset[p]++
	}
	if len(want) != 0 {
		t.Fatalf("%d lines never came back", len(want))
	}
	if len(nextOffset) < 2 {
		t.Errorf("all keys landed in %d partition(s); expected keyed spread over 3", len(nextOffset))
	}
}
