package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/integration"
	"github.com/gregorhq/gregor/integration/benchkit"
)

var (
	records    = flag.Int("records", 500000, "records of 100 B in each throughput phase")
	partitions = flag.Int("partitions", 6, "partitions of each topic")
	rate       = flag.Int("rate", 5000, "records/s in the latency phases")
	latPhase   = flag.Duration("latency", 5*time.Second, "length of each latency phase")
	rounds     = flag.Int("rounds", 1, "rounds of every phase; each figure is the best round")
)

const prog = "replbench"

func main() {
	flag.Parse()
	benchkit.HandleSignals(prog)
	defer benchkit.RunCleanups()
	bin := benchkit.GregorBinary(prog)
	fmt.Fprintf(os.Stderr, "%s: 3 nodes; %d x 100 B per phase over %d partitions, acks=all; latency at %d records/s for %v; %d round(s)\n",
		prog, *records, *partitions, *rate, *latPhase, *rounds)
	loadBefore := benchkit.LoadAvg()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	nodes, err := startCluster(ctx, bin, 3)
	if err != nil {
		benchkit.Die(prog, "%v", err)
	}
	seeds := make([]string, len(nodes))
	for i, p := range nodes {
		seeds[i] = p.Addr()
	}
	type setup struct {
		name string
		rf   int16
	}
	setups := []setup{{"RF 1", 1}, {"RF 3", 3}}
	best := map[string]phase{}
	lats, acks := map[string]latencies{}, map[string]latencies{}
	for round := range *rounds {
		for _, s := range setups {
			topic := fmt.Sprintf("replbench-rf%d-r%d", s.rf, round)
			if err := createTopic(ctx, seeds, topic, int32(*partitions), s.rf); err != nil {
				benchkit.Die(prog, "%s: %v", s.name, err)
			}
			ph, err := produce(ctx, seeds, topic, *records)
			if err != nil {
				benchkit.Die(prog, "%s: produce: %v\n%s", s.name, err, outputs(nodes))
			}
			fmt.Fprintf(os.Stderr, "round %d: %s: %.0f records/s\n", round, s.name, ph.recsPerSec())
			if ph.recsPerSec() > best[s.name].recsPerSec() {
				best[s.name] = ph
			}
			l, a, err := latency(ctx, seeds, topic+"-latency", int32(*partitions), s.rf, *rate, *latPhase)
			if err != nil {
				benchkit.Die(prog, "%s: latency: %v\n%s", s.name, err, outputs(nodes))
			}
			fmt.Fprintf(os.Stderr, "round %d: %s: end to end p50 %v p99 %v; acknowledgement p50 %v p99 %v\n",
				round, s.name, l.quantile(0.5), l.quantile(0.99), a.quantile(0.5), a.quantile(0.99))
			if old, ok := lats[s.name]; !ok || l.quantile(0.99) < old.quantile(0.99) {
				lats[s.name], acks[s.name] = l, a
			}
		}
	}

	one, three := best["RF 1"], best["RF 3"]
	fmt.Printf("\ngregor, 3 nodes (combined broker+controller, --flush os) on one machine: %d records of 100 B per phase, %d partitions, acks=all, idempotent, linger 5ms\n",
		*records, *partitions)
	fmt.Printf("%-28s %14s %14s %8s\n", "", "RF 1", "RF 3 (ISR 2)", "ratio")
	verdict := "ok"
	if three.recsPerSec() < 0.6*one.recsPerSec() {
		verdict = "MISSED"
	}
	fmt.Printf("%-28s %14.0f %14.0f %8.2f  target >= 0.60: %s\n", "produce records/s", one.recsPerSec(), three.recsPerSec(), three.recsPerSec()/one.recsPerSec(), verdict)
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}, {"max", 1}} {
		fmt.Printf("%-28s %14v %14v\n", fmt.Sprintf("end to end at %d/s, %s", *rate, q.name),
			lats["RF 1"].quantile(q.q).Round(10*time.Microsecond), lats["RF 3"].quantile(q.q).Round(10*time.Microsecond))
	}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		fmt.Printf("%-28s %14v %14v\n", fmt.Sprintf("acknowledged at %d/s, %s", *rate, q.name),
			acks["RF 1"].quantile(q.q).Round(10*time.Microsecond), acks["RF 3"].quantile(q.q).Round(10*time.Microsecond))
	}
	fmt.Printf("(end to end: produce, with acks=all and no linger, to a consumer's receipt; acknowledged: to the producer's; all processes share this machine, load average %s before, %s after)\n",
		loadBefore, benchkit.LoadAvg())
}

// startCluster starts n gregor nodes as one cluster in combined mode on
// loopback ports and waits until each has joined it.
func startCluster(ctx context.Context, bin string, n int) ([]*integration.Process, error) {
	dir, err := os.MkdirTemp("", prog)
	if err != nil {
		return nil, err
	}
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	client, ctrl := make([]int, n), make([]int, n)
	var voters []string
	for i := range n {
		if client[i], err = freePort(); err != nil {
			return nil, err
		}
		if ctrl[i], err = freePort(); err != nil {
			return nil, err
		}
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctrl[i]))
	}
	nodes := make([]*integration.Process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"broker", "--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
				"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", client[i], ctrl[i]),
				"--flush", "os", "--log-level", "warn"}
			for _, s := range []string{
				"node.id=" + strconv.Itoa(i+1),
				"process.roles=broker,controller",
				"controller.listener.names=CONTROLLER",
				"controller.quorum.voters=" + strings.Join(voters, ","),
				"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			} {
				args = append(args, "--set", s)
			}
			p, err := integration.Start(ctx, bin, args...)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i+1, err)
				return
			}
			benchkit.AtExit(func() { _ = p.Stop(20 * time.Second) })
			nodes[i] = p
		}()
	}
	wg.Wait()
	return nodes, errors.Join(errs...)
}

// freePort is a loopback TCP port free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// outputs is the tail of every node's output, for an error message.
func outputs(nodes []*integration.Process) string {
	var b strings.Builder
	for i, p := range nodes {
		out := p.Output()
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		fmt.Fprintf(&b, "--- node %d:\n%s\n", i+1, out)
	}
	return b.String()
}

// createTopic creates topic with rf replicas (min.insync.replicas 2 when
// replicated) and waits until every partition has all its replicas in
// sync.
func createTopic(ctx context.Context, seeds []string, topic string, partitions int32, rf int16) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	configs := map[string]*string{}
	if rf > 1 {
		two := "2"
		configs["min.insync.replicas"] = &two
	}
	res, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	for {
		m, err := adm.Metadata(ctx, topic)
		if err == nil {
			err = m.Topics[topic].Err
		}
		if err == nil {
			ready := len(m.Topics[topic].Partitions) == int(partitions)
			for _, p := range m.Topics[topic].Partitions {
				ready = ready && p.Leader >= 0 && len(p.ISR) == int(rf)
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never fully in sync: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
