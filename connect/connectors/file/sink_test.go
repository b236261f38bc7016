package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/connect"
)

// TestSinkWritesLinesAtFlush: a Put's values reach the file, one a line,
// by the time Flush returns, with fsync on or off; TaskConfigs passes
// fsync on, and Stop leaves every line in the file.
func TestSinkWritesLinesAtFlush(t *testing.T) {
	for _, fsync := range []string{"", "false", "true"} {
		t.Run("fsync="+fsync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.txt")
			s := &Sink{}
			if err := s.Start(map[string]string{FileConfig: path, FsyncConfig: fsync}); err != nil {
				t.Fatal(err)
			}
			cfgs, err := s.TaskConfigs(3)
			if err != nil || len(cfgs) != 1 || cfgs[0][FsyncConfig] != fsync {
				t.Fatalf("task configs %v, %v", cfgs, err)
			}
			task := s.NewTask().(*SinkTask)
			if err := task.Start(cfgs[0]); err != nil {
				t.Fatal(err)
			}
			if task.fsync != (fsync == "true") {
				t.Fatalf("fsync=%q gives fsync %v", fsync, task.fsync)
			}
			put := func(vals ...any) {
				var recs []*connect.SinkRecord
				for _, v := range vals {
					recs = append(recs, &connect.SinkRecord{Topic: "t", Value: v})
				}
				if err := task.Put(recs); err != nil {
					t.Fatal(err)
				}
			}
			put("one", []byte("two"), nil)
			if err := task.Flush(nil); err != nil {
				t.Fatal(err)
			}
			if got := read(t, path); got != "one\ntwo\nnull\n" {
				t.Fatalf("after the first flush the file holds %q", got)
			}
			put(int64(4))
			if err := task.Stop(); err != nil {
				t.Fatal(err)
			}
			if got := read(t, path); !strings.HasSuffix(got, "null\n4\n") {
				t.Fatalf("after stop the file holds %q", got)
			}
		})
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
