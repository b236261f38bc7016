// Package benchkit is the plumbing the benchmark programs under
// integration/cmd share: cleanups that run at exit and on Ctrl-C, the
// gregor binary to measure (GREGOR_BIN, or built on the fly), franz-go's
// kfake as a reference broker in a child process, and the load average.
//
//	func main() {
//		flag.Parse()
//		if benchkit.IsKfakeChild() {
//			benchkit.RunKfakeChild(6)
//			return
//		}
//		benchkit.HandleSignals("mybench")
//		bin := benchkit.GregorBinary("mybench")
//		...
//		benchkit.RunCleanups()
//	}
package benchkit

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/gregorhq/gregor/integration"
)

var kfakeChild = flag.Bool("kfake-child", false, "internal: run kfake and print its ready line")

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// AtExit registers f to run at exit, also on a signal; the last registered
// runs first.
func AtExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// RunCleanups runs and forgets the registered cleanups.
func RunCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// Die prints a message prefixed with the program's name, cleans up and
// exits 1.
func Die(prog, format string, args ...any) {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", args...)
	RunCleanups()
	os.Exit(1)
}

// HandleSignals cleans up and exits 130 on SIGINT or SIGTERM.
func HandleSignals(prog string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, prog+": interrupted, cleaning up")
		RunCleanups()
		os.Exit(130)
	}()
}

// GregorBinary returns $GREGOR_BIN, or builds ./cmd/gregor into a
// temporary directory removed at exit.
func GregorBinary(prog string) string {
	if bin := os.Getenv("GREGOR_BIN"); bin != "" {
		return bin
	}
	dir, err := os.MkdirTemp("", prog+"-bin-")
	if err != nil {
		Die(prog, "%v", err)
	}
	AtExit(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "gregor")
	if err := integration.BuildProgram(integration.MainModule+"/cmd/gregor", bin); err != nil {
		Die(prog, "build gregor: %v", err)
	}
	return bin
}

// IsKfakeChild reports whether this process was started by StartKfake to
// run the reference broker (after flag.Parse).
func IsKfakeChild() bool { return *kfakeChild }

// RunKfakeChild runs a one-broker kfake cluster on a free loopback port,
// prints its ready line and serves until SIGTERM or SIGINT.
func RunKfakeChild(partitions int) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.DefaultNumPartitions(partitions))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Printf("kfake ready on %s\n", c.ListenAddrs()[0])
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	<-sigs
	c.Close()
}

// StartKfake starts this program again as a kfake child (see
// RunKfakeChild), so the reference broker's memory can be measured apart;
// extra arguments go to the child. It is killed at exit.
func StartKfake(ctx context.Context, extra ...string) (*integration.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := integration.Start(ctx, self, append([]string{"-kfake-child"}, extra...)...)
	if err != nil {
		return nil, err
	}
	AtExit(p.Kill)
	return p, nil
}

// LoadAvg is the 1-minute load average from /proc/loadavg ("?" if unknown).
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// clockTick is the kernel's unit of /proc/PID/stat times (USER_HZ, 100
// on Linux).
const clockTick = 100

// ProcessCPU is the CPU time (user and system) process pid has used so
// far, from /proc/PID/stat; 0 if it cannot be read.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 14th and 15th fields.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clockTick
}

// SelfCPU is the CPU time (user and system) this process has used so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
