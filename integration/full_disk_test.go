package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mountTmpfs mounts a tmpfs of size bytes under a temporary directory and
// unmounts it when the test ends. It skips the test when not root or when
// the mount fails (a container without CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs for the data directory needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillDisk writes a file in dir until its file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// The last partial chunk may have left a few bytes: fill them too.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			return
		}
	}
}

// TestFullDiskIsReported runs the broker with its data on a small tmpfs and
// fills it: produce gets KAFKA_STORAGE_ERROR, the broker logs one ERROR
// line for the partition however often the client retries, consume keeps
// working, DescribeLogDirs and `gregor topics describe` show the dir's
// error; once the filler is deleted produce works again, the broker says
// so, and every acknowledged record is there.
func TestFullDiskIsReported(t *testing.T) {
	mnt := mountTmpfs(t, 16<<20)
	dataDir := filepath.Join(mnt, "data")
	b := startBrokerIn(t, dataDir)
	topic := uniqueTopic("fulldisk")
	createTopic(t, b.addr(), topic, 1, nil)
	ctx := testCtx(t, 2*time.Minute)

	cl := newClient(t, b.addr(), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(3), kgo.MetadataMinAge(50*time.Millisecond), // a refusal fails the record after a few quick tries
		kgo.RecordDeliveryTimeout(30*time.Second))
	rng := rand.New(rand.NewSource(1))
	var acked []string
	produce := func(n int) {
		t.Helper()
		for range n {
			r := record(rng, len(acked))
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce record %d: %v", len(acked), err)
			}
			acked = append(acked, string(r.Value))
		}
	}
	produce(20)

	fillDisk(t, filepath.Join(mnt, "filler"))
	for i := range 3 {
		// Larger than a page, so it cannot fit in the slack of the
		// segment's last page.
		err := cl.ProduceSync(ctx, record(rng, -1-i)).FirstErr()
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
	}
	checkValuesAt(t, consumeAll(t, ctx, b.addr(), topic, 0, len(acked)), acked)

	adm := newKadm(t, b.addr())
	if err := logDirError(t, ctx, adm, dataDir); !errors.Is(err, kerr.KafkaStorageError) {
		t.Errorf("DescribeLogDirs error on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
	table := runCLI(t, b.addr(), "topics", "describe", topic)
	if !strings.Contains(table, "LOG DIRS") || strings.Count(table, "KAFKA_STORAGE_ERROR") < 2 { // the partition's row and the dir's
		t.Errorf("topics describe does not show the dir's error:\n%s", table)
	}
	var descs []struct {
		LogDirs []struct {
			Dir   string `json:"dir"`
			Error string `json:"error"`
		} `json:"log_dirs"`
		Partitions []struct {
			LogDirError string `json:"log_dir_error"`
		} `json:"partition_details"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, b.addr(), "topics", "describe", topic, "-o", "json")), &descs); err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 || len(descs[0].LogDirs) != 1 || descs[0].LogDirs[0].Dir != dataDir ||
		!strings.Contains(descs[0].LogDirs[0].Error, "KAFKA_STORAGE_ERROR") ||
		len(descs[0].Partitions) != 1 || !strings.Contains(descs[0].Partitions[0].LogDirError, "KAFKA_STORAGE_ERROR") {
		t.Errorf("topics describe -o json: %+v", descs)
	}

	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	produce(20)
	// The INFO line comes after every ERROR line, so once it is in the
	// output, so are they.
	waitFor(t, 30*time.Second, "the broker to log that the dir accepts appends again", func() bool {
		return strings.Contains(b.p.Output(), `msg="log dir accepts appends again"`)
	})
	var refusals []string
	for _, line := range strings.Split(b.p.Output(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, " topic="+topic+" partition=0 ") {
			refusals = append(refusals, line)
		}
	}
	if len(refusals) != 1 {
		t.Fatalf("%d ERROR lines for %s-0, want 1:\n%s", len(refusals), topic, strings.Join(refusals, "\n"))
	}
	if l := refusals[0]; !strings.Contains(l, "dir="+dataDir+" ") || !strings.Contains(l, "free_bytes=") || !strings.Contains(l, "no space left on device") {
		t.Errorf("the ERROR line lacks the dir, free bytes or cause: %s", l)
	}
	if err := logDirError(t, ctx, adm, dataDir); err != nil {
		t.Errorf("DescribeLogDirs error after space was freed: %v", err)
	}
	checkValuesAt(t, consumeAll(t, ctx, b.addr(), topic, 0, len(acked)), acked)
}

// record is a record of 16 KiB of random bytes tagged with i.
func record(rng *rand.Rand, i int) *kgo.Record {
	v := make([]byte, 16<<10)
	rng.Read(v)
	copy(v, fmt.Sprintf("record %d ", i))
	return &kgo.Record{Value: v}
}

// checkValuesAt fails unless recs are the values want at offsets 0, 1, ...
func checkValuesAt(t *testing.T, recs []*kgo.Record, want []string) {
	t.Helper()
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != want[i] {
			t.Fatalf("record at %d: offset %d, value %.20q, want %.20q", i, r.Offset, r.Value, want[i])
		}
	}
}

// logDirError is DescribeLogDirs' error for dir.
func logDirError(t *testing.T, ctx context.Context, adm *kadm.Client, dir string) error {
	t.Helper()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	var dirErr error
	all.Each(func(d kadm.DescribedLogDir) {
		if d.Dir == dir {
			found, dirErr = true, d.Err
		}
	})
	if !found {
		t.Fatalf("DescribeLogDirs does not list %s: %+v", dir, all)
	}
	return dirErr
}

// runCLI runs the gregor binary as a client of addr and returns its
// standard output, failing the test if it does not exit 0.
func runCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	cmd := exec.Command(gregorBin, append([]string{"--brokers", addr}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gregor %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
