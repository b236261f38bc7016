package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotReady is returned by Start when the process exits, or the context
// ends, before it prints its ready line.
var ErrNotReady = errors.New("process did not become ready")

// Process is a broker running as a child process. Its stdout and stderr are
// kept in memory (Output) for diagnosis. Every Process must end with Stop or
// Kill, which wait for it to exit.
type Process struct {
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once the process has exited and its output is drained
	err  error         // cmd.Wait's result, set before done is closed
}

// StartGregor starts `bin broker` listening on a free loopback port (port
// 0: the kernel picks it, the broker advertises the bound port) with its
// data in dataDir, with any extra broker flags (such as "--flush",
// "durable" or "--set", "k=v"), and waits for its ready line.
func StartGregor(ctx context.Context, bin, dataDir string, extra ...string) (*Process, error) {
	args := append([]string{"broker", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	return Start(ctx, bin, args...)
}

// Start runs bin with args and waits until it prints a line containing
// "ready on ADDR" on stdout (Gregor prints "gregor broker VERSION ready on
// ADDR (...)"); ADDR becomes Addr. The child is killed if this process dies
// (Linux parent-death signal), so a broker never outlives its test.
func Start(ctx context.Context, bin string, args ...string) (*Process, error) {
	p := &Process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	ready := make(chan string, 1)
	go p.drain(stdout, ready)
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%w: %s exited (%v); output:\n%s", ErrNotReady, bin, p.err, p.Output())
	case <-ctx.Done():
		p.Kill()
		return nil, fmt.Errorf("%w: %w; output:\n%s", ErrNotReady, ctx.Err(), p.Output())
	}
}

// drain copies stdout into the output buffer, reports the ready address
// once, then reaps the process. It owns cmd.Wait.
func (p *Process) drain(stdout io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(stdout)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		p.out.Write([]byte(line + "\n"))
		if sent {
			continue
		}
		if _, rest, ok := strings.Cut(line, " ready on "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				ready <- f[0]
				sent = true
			}
		}
	}
	io.Copy(io.Discard, stdout) // after a scanner error, still drain to EOF
	p.err = p.cmd.Wait()
	close(p.done)
}

// Addr is the host:port the process said it is ready on.
func (p *Process) Addr() string { return p.addr }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output is everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits for the process to exit; if it has not exited
// within timeout it is killed and Stop reports that. It returns the exit
// error (nil for a clean exit with status 0).
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("process %d did not exit within %v of SIGTERM; killed", p.Pid(), timeout)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// Memory is a process's resident memory in bytes, from /proc/PID/status.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the peak resident set size
}

// Memory reads the process's current and peak resident set size.
func (p *Process) Memory() (Memory, error) { return ReadMemory(p.Pid()) }

// ReadMemory reads VmRSS and VmHWM of pid from /proc (Linux only).
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, k, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Peak = kb << 10
		}
	}
	if m.RSS == 0 || m.Peak == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM", pid)
	}
	return m, nil
}

// maxOutput bounds the output a Process keeps; past it the oldest half is
// dropped, so a chatty broker cannot grow the test's memory without end.
const maxOutput = 8 << 20

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > maxOutput {
		keep := b.buf.Bytes()[b.buf.Len()/2:]
		b.buf = *bytes.NewBuffer(append([]byte("[earlier output dropped]\n"), keep...))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
