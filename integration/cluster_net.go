package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// NetMode is how a Cluster gives its nodes addresses.
type NetMode int

const (
	// Loopback runs every node in the test's own network namespace on its
	// own loopback address 127.77.S.ID (on Linux all of 127/8 is local), on
	// ports the kernel picked when the cluster was created. Links between
	// nodes cannot be cut in this mode.
	Loopback NetMode = iota
	// Netns runs every node in its own network namespace with its own
	// address 10.77.S.ID on a bridge in the test's namespace, which holds
	// 10.77.S.254; every node listens on 9092 (clients) and 9093
	// (controllers). Needs root and `ip netns`.
	Netns
)

func (m NetMode) String() string {
	if m == Netns {
		return "netns"
	}
	return "loopback"
}

// netModeEnv forces a mode: "loopback" or "netns".
const netModeEnv = "GREGOR_CLUSTER_NET"

// maxSlots bounds the clusters that can run at once on one machine. Each
// running cluster holds one slot (a subnet, a bridge, namespace names) with
// an flock, so clusters in parallel tests of different packages never
// share names or addresses, and a slot's leftovers from a crashed run are
// known to be stale when its lock is free.
const maxSlots = 64

// clientHostSuffix is the last byte of the bridge address, the address the
// test process (the clients) has on every cluster network.
const clientHostSuffix = 254

var netnsProbe struct {
	once sync.Once
	err  error
}

// netnsUsable reports why network namespaces cannot be used, or nil.
func netnsUsable() error {
	netnsProbe.once.Do(func() {
		if os.Geteuid() != 0 {
			netnsProbe.err = errors.New("not running as root")
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			netnsProbe.err = fmt.Errorf("no ip command (apt-get install iproute2): %w", err)
			return
		}
		// Everything setup does, once: a namespace, a bridge, a veth pair
		// between them (a container may allow the first and not the rest).
		ns, link := fmt.Sprintf("gregor-probe-%d", os.Getpid()), fmt.Sprintf("gregorp%d", os.Getpid()%1e7)
		if err := runCmd("ip", "netns", "add", ns); err != nil {
			netnsProbe.err = err
			return
		}
		defer func() { netnsProbe.err = errors.Join(netnsProbe.err, runCmd("ip", "netns", "del", ns)) }()
		if err := runCmd("ip", "link", "add", link+"b", "type", "bridge"); err != nil {
			netnsProbe.err = err
			return
		}
		defer func() { netnsProbe.err = errors.Join(netnsProbe.err, runCmd("ip", "link", "del", link+"b")) }()
		netnsProbe.err = runCmd("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
	})
	return netnsProbe.err
}

// runCmd runs a command and returns its output in the error if it fails.
func runCmd(args ...string) error {
	_, err := cmdOutput(args...)
	return err
}

// cmdOutput runs a command and returns its combined output.
func cmdOutput(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// clusterNet is the network of one Cluster: its slot, and in Netns mode
// the namespaces, the bridge and the firewall rules it created.
type clusterNet struct {
	mode NetMode
	slot int
	lock *os.File

	mu          sync.Mutex
	iptables    string // iptables command usable in the node namespaces; "" until probed
	rootChain   bool   // the root-namespace chain for client cuts exists
	forward     bool   // the FORWARD accept rule for the bridge was added
	netemProbed bool
	netemErr    error // why netem cannot be used, once probed
}

// Names and addresses of slot s.
func (n *clusterNet) nsName(id int) string { return fmt.Sprintf("gregor-%d-%d", n.slot, id) }
func (n *clusterNet) nsPrefix() string     { return fmt.Sprintf("gregor-%d-", n.slot) }
func (n *clusterNet) bridge() string       { return fmt.Sprintf("gregor%dbr", n.slot) }
func (n *clusterNet) vethPrefix() string   { return fmt.Sprintf("gregor%dv", n.slot) }
func (n *clusterNet) veth(id int) string   { return fmt.Sprintf("%s%d", n.vethPrefix(), id) }
func (n *clusterNet) chain() string        { return fmt.Sprintf("GREGOR-%d", n.slot) }

// host is node id's IP address (id Clients: the test process's).
func (n *clusterNet) host(id int) string {
	if id == Clients {
		id = clientHostSuffix
	}
	if n.mode == Netns {
		return fmt.Sprintf("10.77.%d.%d", n.slot, id)
	}
	if id == clientHostSuffix {
		return "127.0.0.1"
	}
	return fmt.Sprintf("127.77.%d.%d", n.slot, id)
}

// newClusterNet takes a free slot for mode and clears what a crashed
// earlier holder of it left behind.
func newClusterNet(mode NetMode) (*clusterNet, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("gregor-cluster-%d", os.Geteuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster slot locks: %w", err)
	}
	for s := 0; s < maxSlots; s++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d.lock", s)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("cluster slot locks: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		n := &clusterNet{mode: mode, slot: s, lock: f}
		if mode == Netns {
			n.clearStale()
			if subnetTaken(n.host(1)) {
				f.Close()
				continue
			}
		}
		return n, nil
	}
	return nil, fmt.Errorf("all %d cluster slots are in use (locks in %s)", maxSlots, dir)
}

// subnetTaken reports whether an interface of this machine has an address
// in ip's /24, or in a wider network that contains it.
func subnetTaken(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	_, ours, _ := net.ParseCIDR(ip + "/24")
	for _, a := range addrs {
		in, ok := a.(*net.IPNet)
		if ok && (ours.Contains(in.IP) || in.Contains(ours.IP)) {
			return true
		}
	}
	return false
}

// clearStale removes namespaces, links and firewall rules of this slot
// left by a run that died without cleaning up. The slot's lock is held, so
// nothing alive owns them.
func (n *clusterNet) clearStale() {
	if out, err := cmdOutput("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], n.nsPrefix()) {
				_ = runCmd("ip", "netns", "del", f[0])
			}
		}
	}
	if links, err := net.Interfaces(); err == nil {
		for _, l := range links {
			if l.Name == n.bridge() || strings.HasPrefix(l.Name, n.vethPrefix()) {
				_ = runCmd("ip", "link", "del", l.Name)
			}
		}
	}
	n.rootChain, n.forward = true, true // remove whatever may be there
	n.clearRootRules()
}

// setup creates the bridge and one namespace per node id, each with a veth
// into the bridge.
func (n *clusterNet) setup(ids []int) error {
	if n.mode != Netns {
		return nil
	}
	br, brIP := n.bridge(), n.host(Clients)
	for _, c := range [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", brIP + "/24", "dev", br},
		{"ip", "link", "set", br, "up"},
	} {
		if err := runCmd(c...); err != nil {
			return fmt.Errorf("cluster network: %w", err)
		}
	}
	for _, id := range ids {
		if err := n.addNode(id); err != nil {
			return err
		}
	}
	// With br_netfilter loaded, frames crossing the bridge go through the
	// root namespace's FORWARD chain, which a Docker host sets to DROP.
	if _, err := exec.LookPath("iptables"); err == nil {
		if err := runCmd("iptables", "-w", "-I", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT"); err == nil {
			n.mu.Lock()
			n.forward = true
			n.mu.Unlock()
		}
	}
	return nil
}

// addNode creates node id's namespace, with a veth into the bridge.
func (n *clusterNet) addNode(id int) error {
	if n.mode != Netns {
		return nil
	}
	ns, veth, brIP := n.nsName(id), n.veth(id), n.host(Clients)
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", n.bridge(), "up"},
		{"ip", "-n", ns, "addr", "add", n.host(id) + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", brIP},
	} {
		if err := runCmd(c...); err != nil {
			return fmt.Errorf("cluster network: %w", err)
		}
	}
	return nil
}

// teardown removes everything setup and the cuts created and releases the
// slot. Errors are returned joined; teardown goes on past them.
func (n *clusterNet) teardown() error {
	defer n.lock.Close()
	if n.mode != Netns {
		return nil
	}
	var errs []error
	n.clearRootRules()
	if out, err := cmdOutput("ip", "netns", "list"); err != nil {
		errs = append(errs, err)
	} else {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], n.nsPrefix()) {
				errs = append(errs, runCmd("ip", "netns", "del", f[0]))
			}
		}
	}
	if _, err := net.InterfaceByName(n.bridge()); err == nil {
		errs = append(errs, runCmd("ip", "link", "del", n.bridge()))
	}
	return errors.Join(errs...)
}

// clearRootRules removes the rules this slot added to the root namespace.
func (n *clusterNet) clearRootRules() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := exec.LookPath("iptables"); err != nil {
		return
	}
	br, chain := n.bridge(), n.chain()
	if n.forward {
		for runCmd("iptables", "-w", "-D", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT") == nil {
		}
		n.forward = false
	}
	if n.rootChain {
		for runCmd("iptables", "-w", "-D", "INPUT", "-i", br, "-j", chain) == nil {
		}
		_ = runCmd("iptables", "-w", "-F", chain)
		_ = runCmd("iptables", "-w", "-X", chain)
		n.rootChain = false
	}
}

// errNoCuts explains why links cannot be cut in loopback mode.
var errNoCuts = errors.New("cutting links needs netns mode (root and a working `ip netns`): " +
	"in loopback mode every node's outgoing connections come from 127.0.0.1, " +
	"so no firewall rule can tell the nodes apart")

// nsIptables returns the iptables command that works in node namespaces.
func (n *clusterNet) nsIptables(ns string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.iptables != "" {
		return n.iptables, nil
	}
	var errs []error
	for _, c := range []string{"iptables", "iptables-nft", "iptables-legacy"} {
		if _, err := exec.LookPath(c); err != nil {
			continue
		}
		err := runCmd("ip", "netns", "exec", ns, c, "-w", "-n", "-L", "INPUT")
		if err == nil {
			n.iptables = c
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return "", errors.New("no iptables command: apt-get install iptables")
	}
	return "", fmt.Errorf("iptables does not work in a network namespace: %w", errors.Join(errs...))
}

// dropFrom makes node `to` drop every packet from node `from` (either may
// be Clients). Rules go on the receiving side's INPUT chain, so the sender
// sees a silent loss (a timeout), as on a real network, not an error.
func (n *clusterNet) dropFrom(from, to int) error {
	if n.mode != Netns {
		return errNoCuts
	}
	if to == Clients {
		return n.rootDrop(n.host(from))
	}
	ns := n.nsName(to)
	ipt, err := n.nsIptables(ns)
	if err != nil {
		return err
	}
	// -C first keeps the chain free of duplicates.
	if runCmd("ip", "netns", "exec", ns, ipt, "-w", "-C", "INPUT", "-s", n.host(from), "-j", "DROP") == nil {
		return nil
	}
	return runCmd("ip", "netns", "exec", ns, ipt, "-w", "-A", "INPUT", "-s", n.host(from), "-j", "DROP")
}

// dropPortFrom makes node `to` drop every TCP packet from node `from` to
// its port port, leaving its other ports reachable from `from`.
func (n *clusterNet) dropPortFrom(from, to, port int) error {
	if n.mode != Netns {
		return errNoCuts
	}
	ns := n.nsName(to)
	ipt, err := n.nsIptables(ns)
	if err != nil {
		return err
	}
	rule := []string{"INPUT", "-s", n.host(from), "-p", "tcp", "--dport", fmt.Sprint(port), "-j", "DROP"}
	if runCmd(append([]string{"ip", "netns", "exec", ns, ipt, "-w", "-C"}, rule...)...) == nil {
		return nil
	}
	return runCmd(append([]string{"ip", "netns", "exec", ns, ipt, "-w", "-A"}, rule...)...)
}

// dropLinkFrom makes node `to` drop every TCP packet from node `from`
// that goes to its port port or comes from `from`'s port port: whichever
// side opened a connection on that port, what `from` sends on it is lost
// and what `to` sends arrives.
func (n *clusterNet) dropLinkFrom(from, to, port int) error {
	if n.mode != Netns {
		return errNoCuts
	}
	ns := n.nsName(to)
	ipt, err := n.nsIptables(ns)
	if err != nil {
		return err
	}
	for _, dir := range []string{"--dport", "--sport"} {
		rule := []string{"INPUT", "-s", n.host(from), "-p", "tcp", dir, fmt.Sprint(port), "-j", "DROP"}
		if runCmd(append([]string{"ip", "netns", "exec", ns, ipt, "-w", "-C"}, rule...)...) == nil {
			continue
		}
		if err := runCmd(append([]string{"ip", "netns", "exec", ns, ipt, "-w", "-A"}, rule...)...); err != nil {
			return err
		}
	}
	return nil
}

// rootDrop makes the test's namespace drop packets from src that arrive on
// the cluster's bridge (answers from a node to a client).
func (n *clusterNet) rootDrop(src string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	br, chain := n.bridge(), n.chain()
	if !n.rootChain {
		if err := runCmd("iptables", "-w", "-N", chain); err != nil {
			return err
		}
		n.rootChain = true
		if err := runCmd("iptables", "-w", "-I", "INPUT", "-i", br, "-j", chain); err != nil {
			return err
		}
	}
	if runCmd("iptables", "-w", "-C", chain, "-s", src, "-j", "DROP") == nil {
		return nil
	}
	return runCmd("iptables", "-w", "-A", chain, "-s", src, "-j", "DROP")
}

// heal removes every cut and delay of the nodes ids.
func (n *clusterNet) heal(ids []int) error {
	if n.mode != Netns {
		return nil
	}
	var errs []error
	n.mu.Lock()
	ipt, root := n.iptables, n.rootChain
	n.mu.Unlock()
	for _, id := range ids {
		ns := n.nsName(id)
		if ipt != "" {
			errs = append(errs, runCmd("ip", "netns", "exec", ns, ipt, "-w", "-F", "INPUT"))
		}
		// No netem qdisc is not an error: ask first.
		if out, err := cmdOutput("ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "eth0"); err == nil && strings.Contains(out, "netem") {
			errs = append(errs, runCmd("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"))
		}
	}
	if root {
		errs = append(errs, runCmd("iptables", "-w", "-F", n.chain()))
	}
	return errors.Join(errs...)
}

// netemUsable probes once whether a netem qdisc can be added in ns.
func (n *clusterNet) netemUsable(ns string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.netemProbed {
		n.netemProbed = true
		n.netemErr = runCmd("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
		if n.netemErr == nil {
			n.netemErr = runCmd("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "lo", "root")
		} else {
			n.netemErr = fmt.Errorf("no netem in this kernel (CONFIG_NET_SCH_NETEM): %w", n.netemErr)
		}
	}
	return n.netemErr
}

// delay adds d of latency to every packet node id sends.
func (n *clusterNet) delay(id int, d time.Duration) error {
	if n.mode != Netns {
		return errors.New("delays need network namespaces (netns mode)")
	}
	ms := fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
	return runCmd("ip", "netns", "exec", n.nsName(id), "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", ms)
}

// dialFrom opens a TCP connection to addr from node from's namespace
// (Clients: the test's own) and closes it.
func (n *clusterNet) dialFrom(from int, addr string, timeout time.Duration) error {
	dial := func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if n.mode != Netns || from == Clients {
		return dial()
	}
	return inNetns(n.nsName(from), dial)
}

// inNetns runs fn on an OS thread moved into the named network namespace,
// so the sockets fn creates live there. The thread goes back to the test's
// namespace afterwards, or, if that fails, dies with its goroutine.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime ends the thread with the goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
