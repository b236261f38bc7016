package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the built gregor binary against an in-process broker: the
// quickstart, exit codes, the environment variable, and Ctrl-C (SIGINT) on
// a group consumer.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "gregor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := startGregor(t)
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GREGOR_BROKERS="+addr)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	if _, e, c := run("", "topics", "create", "quickstart-events"); c != 0 {
		t.Fatalf("create: %d %s", c, e)
	}
	if o, e, c := run("This is my first event\nThis is my second event\n", "produce", "quickstart-events"); c != 0 || !strings.Contains(o, "2 records acknowledged") {
		t.Fatalf("produce: %d %q %q", c, o, e)
	}
	if o, e, c := run("", "consume", "quickstart-events", "--from-beginning", "--max-messages", "2"); c != 0 || o != "This is my first event\nThis is my second event\n" {
		t.Fatalf("consume: %d %q %q", c, o, e)
	}
	if _, e, c := run("", "topics", "describe", "nope"); c != 1 || e != "gregor: topic nope: UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition.\n" {
		t.Errorf("unknown topic: exit %d, %q", c, e)
	}
	if _, e, c := run("", "topics", "list", "--partitions", "3"); c != 2 || !strings.Contains(e, "unknown flag") {
		t.Errorf("bad flag: exit %d, %q", c, e)
	}
	if _, e, c := run("", "--brokers", "127.0.0.1:1", "topics", "list"); c != 1 || !strings.HasPrefix(e, "gregor: cannot reach a broker at 127.0.0.1:1") {
		t.Errorf("unreachable: exit %d, %q", c, e)
	}

	// Ctrl-C stops a group consumer cleanly, committing what it printed.
	cmd := exec.Command(bin, "consume", "quickstart-events", "--group", "qs", "--from-beginning")
	cmd.Env = append(os.Environ(), "GREGOR_BROKERS="+addr)
	var out syncBuffer
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "second event") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consume after SIGINT: %v\nstderr: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "Processed a total of 2 messages") {
		t.Errorf("consume stderr: %q", errb.String())
	}
	if o, e, c := run("", "groups", "describe", "qs"); c != 0 || !strings.Contains(o, "TOTAL-LAG    0") {
		t.Errorf("group after SIGINT: exit %d\n%s%s", c, o, e)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
