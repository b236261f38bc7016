package broker_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// extractTestdata unpacks a gzipped tar from testdata into dir.
func extractTestdata(t *testing.T, name, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			out, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}

// TestSingleNodeJournalMigrates starts the broker on a data directory
// written by Gregor before the metadata quorum (testdata: a metadata
// journal with topic "legacy" holding one, two, three, a compacted topic of
// three partitions, and the group legacy-group's commits): everything is
// there, and stays there across another restart.
func TestSingleNodeJournalMigrates(t *testing.T) {
	dir := t.TempDir()
	extractTestdata(t, "single-node-journal.tgz", dir)
	b := brokertest.Start(t, brokertest.WithDataDir(dir))
	check := func(when string) {
		t.Helper()
		ctx := testCtx(t)
		_, adm := newAdmin(t, b.Addr())
		td, err := adm.ListTopics(ctx, "legacy", "compacted")
		if err != nil {
			t.Fatal(err)
		}
		if len(td["legacy"].Partitions) != 1 || len(td["compacted"].Partitions) != 3 {
			t.Fatalf("%s: topics %+v", when, td)
		}
		dc, err := adm.DescribeTopicConfigs(ctx, "compacted")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := dc.On("compacted", nil); err != nil || !hasConfig(v, "cleanup.policy", "compact") {
			t.Fatalf("%s: compacted's configs %+v %v", when, v, err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"legacy": {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []string
		for len(got) < 3 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: fetch: %v", when, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if got[0] != "one" || got[1] != "two" || got[2] != "three" {
			t.Fatalf("%s: legacy holds %v", when, got)
		}
		offs, err := adm.FetchOffsets(ctx, "legacy-group")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offs.Lookup("legacy", 0); !ok || o.At != 3 {
			t.Fatalf("%s: legacy-group's offset %+v (found %v)", when, o, ok)
		}
	}
	check("after migration")
	// Writes go on, and the migrated metadata is now the quorum's.
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr())
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "after-migration"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "legacy", Value: []byte("four")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	check("after a restart")
	_, adm = newAdmin(t, b.Addr())
	td, err := adm.ListTopics(ctx, "after-migration")
	if err != nil || len(td["after-migration"].Partitions) != 2 {
		t.Fatalf("topic created after migration: %+v %v", td, err)
	}
	end, err := adm.ListEndOffsets(ctx, "legacy")
	if o, _ := end.Lookup("legacy", 0); err != nil || o.Offset != 4 {
		t.Fatalf("legacy's end offset %+v %v, want 4", o, err)
	}
}

func hasConfig(rc kadm.ResourceConfig, name, value string) bool {
	for _, c := range rc.Configs {
		if c.Key == name && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}
