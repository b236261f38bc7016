package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// printTable prints the results side by side with the ratios to goka's view and the
// targets: restore at least 5x goka's records/s, ready within 3 s plus the restore time.
func printTable(results []result) {
	var goka *result
	for i := range results {
		if results[i].name == "goka view" {
			goka = &results[i]
		}
	}
	rate := func(r result) float64 { return float64(r.records) / r.restore.Seconds() }
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\trecords\trestore\trecords/s\tMB/s\tvs goka\tcpu\tbroker cpu\tready\tready-restore\trestart\t")
	for _, r := range results {
		ratio := "-"
		if goka != nil {
			ratio = fmt.Sprintf("%.2fx", rate(r)/rate(*goka))
		}
		restart := "-"
		if r.restarted > 0 {
			restart = dur(r.restarted)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.records, dur(r.restore), rate(r),
			float64(r.bytes)/r.restore.Seconds()/1e6, ratio, dur(r.cpu), dur(r.brokerCPU), dur(r.ready), dur(r.ready-r.restore), restart)
	}
	_ = w.Flush()
	fmt.Println("cpu: CPU time of this process during the restore (goroutines, GC, leveldb compactions);")
	fmt.Println("broker cpu: the broker process's. restart: ready again after a restart on the same state.")
	fmt.Println("targets: restore records/s >= 5x goka view's; ready-restore < 3s")
	if goka == nil {
		return
	}
	for _, r := range results {
		if r.name[:6] != "gregor" {
			continue
		}
		ok := func(b bool) string {
			if b {
				return "met"
			}
			return "MISSED"
		}
		fmt.Printf("  %s: %.2fx goka (%s), ready-restore %s (%s)\n", r.name, rate(r)/rate(*goka),
			ok(rate(r) >= 5*rate(*goka)), dur(r.ready-r.restore), ok(r.ready-r.restore < 3*time.Second))
	}
}

func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }
