// Command restorebench measures state-store restoration from a changelog on a
// real Gregor broker next to goka v1.1.17's table recovery of the same data,
// in one run, and prints the figures side by side. `make bench` runs it.
//
// It starts the gregor binary (GREGOR_BIN, or ./cmd/gregor built into a
// temporary directory) as a child process and fills two compacted topics with
// the same -records records (key "key-%012d" of i modulo -keys, so unique keys
// in ascending order by default, or with -random a hash of that number; -value bytes of
// value):
//
//   - restorebench-store-changelog, the changelog of our store "store";
//   - restorebench-goka-table, the group table of the goka processor
//     "restorebench-goka", which a goka view reads as well.
//
// Then, for each contender, from a fresh state directory:
//
//   - gregor leveldb / memory: open the task, register the store, Restore
//     (restore time), then one read-modify-write and Commit (ready time);
//     leveldb is then closed cleanly and restarted from its checkpoint;
//   - goka view: NewView + Run until Recovered (restore time and ready time);
//   - goka processor: NewProcessor + Run until its callback has processed one
//     input record after recovering its table (ready time), then restarted on
//     the same storage.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/restorebench
//	go run ./integration/cmd/restorebench -records 200000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gregorhq/gregor/integration"
	"github.com/gregorhq/gregor/integration/benchkit"
)

var (
	records  = flag.Int("records", 1_000_000, "records in each changelog")
	keys     = flag.Int("keys", 0, "distinct keys (0: every record has its own key)")
	random   = flag.Bool("random", false, "keys in random order (hashed) instead of ascending")
	valueLen = flag.Int("value", 100, "value size in bytes")
	rounds   = flag.Int("rounds", 1, "restores of each contender; each figure is the best round")
	skipGoka = flag.Bool("no-goka", false, "measure gregor only")
	cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of gregor's restores to this file")
)

// Topic and group names.
const (
	appID      = "restorebench"
	storeName  = "store"
	gokaGroup  = "restorebench-goka"
	gokaTable  = gokaGroup + "-table"
	gokaInput  = "restorebench-goka-input"
	keyPattern = "key-%012d"
)

// result is one contender's figures.
type result struct {
	name      string
	records   int64         // records applied by the restore
	bytes     int64         // key and value bytes applied
	restore   time.Duration // start of restoration to restored
	ready     time.Duration // start (new client) to ready: restored and one record processed
	restarted time.Duration // restart from its own local state to ready; 0 if not measured
	cpu       time.Duration // CPU time of this process during the restore
	brokerCPU time.Duration // CPU time of the broker during the restore
}

func main() {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		die("interrupted")
	}()
	defer benchkit.RunCleanups()

	tmp, err := os.MkdirTemp("", "restorebench-")
	if err != nil {
		die("%v", err)
	}
	benchkit.AtExit(func() { os.RemoveAll(tmp) })
	ctx := context.Background()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	p, err := integration.StartGregor(startCtx, benchkit.GregorBinary("restorebench"), filepath.Join(tmp, "broker"))
	cancel()
	if err != nil {
		die("start gregor: %v", err)
	}
	benchkit.AtExit(func() { _ = p.Stop(10 * time.Second) })
	addr := p.Addr()
	brokerPid = p.Pid()

	fmt.Printf("restorebench: %d records per changelog, %s, %d-byte values, broker %s, best of %d rounds\n",
		*records, keyDesc(), *valueLen, addr, *rounds)
	t0 := time.Now()
	if err := fill(ctx, addr, true, !*skipGoka); err != nil {
		die("fill: %v", err)
	}
	fmt.Printf("filled in %v\n", time.Since(t0).Round(time.Millisecond))
	load("before")

	var results []result
	best := func(name string, run func(dir string) (result, error)) {
		var b result
		for i := range *rounds {
			dir, err := os.MkdirTemp(tmp, "state-")
			if err != nil {
				die("%v", err)
			}
			r, err := run(dir)
			if err != nil {
				die("%s: %v", name, err)
			}
			_ = os.RemoveAll(dir)
			if i == 0 || r.restore < b.restore {
				b = r
			}
		}
		b.name = name
		results = append(results, b)
	}
	stopProfile := startProfile()
	best("gregor leveldb", func(dir string) (result, error) { return runGregor(ctx, addr, dir, true) })
	best("gregor memory", func(dir string) (result, error) { return runGregor(ctx, addr, dir, false) })
	stopProfile()
	if !*skipGoka {
		best("goka view", func(dir string) (result, error) { return runGokaView(ctx, addr, dir) })
		best("goka processor", func(dir string) (result, error) { return runGokaProcessor(ctx, addr, dir) })
	}
	load("after")
	printTable(results)
}

func keyDesc() string {
	order := "ascending"
	if *random {
		order = "random-order"
	}
	if *keys <= 0 || *keys >= *records {
		return "unique " + order + " keys"
	}
	return fmt.Sprintf("%d distinct %s keys", *keys, order)
}

// load prints the load average, so figures from a busy machine can be read with care.
func load(when string) {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average %s: %s", when, b)
	}
}

// startProfile starts the CPU profile asked for with -cpuprofile and returns its stop.
func startProfile() func() {
	if *cpuProf == "" {
		return func() {}
	}
	f, err := os.Create(*cpuProf)
	if err != nil {
		die("%v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		die("cpu profile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			die("cpu profile: %v", err)
		}
	}
}

func die(format string, args ...any) { benchkit.Die("restorebench", format, args...) }
