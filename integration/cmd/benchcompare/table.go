package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table: a label and a figure per broker.
type row struct {
	label       string
	value       func(r result) float64
	format      string
	lowerBetter bool
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func rows() []row {
	var out []row
	for _, s := range []struct {
		label string
		w     func(r result) workload
	}{
		{"100 B", func(r result) workload { return r.Small }},
		{"1 KB", func(r result) workload { return r.Big }},
	} {
		w := s.w
		out = append(out,
			row{s.label + " produce records/s", func(r result) float64 { return w(r).Produce.RecsPerSec() }, "%.0f", false},
			row{s.label + " produce MB/s", func(r result) float64 { return w(r).Produce.MBPerSec() }, "%.1f", false},
			row{s.label + " consume records/s", func(r result) float64 { return w(r).Consume.RecsPerSec() }, "%.0f", false},
			row{s.label + " consume MB/s", func(r result) float64 { return w(r).Consume.MBPerSec() }, "%.1f", false},
			row{s.label + " latency p50 ms", func(r result) float64 { return ms(w(r).Latency.quantile(0.5)) }, "%.2f", true},
			row{s.label + " latency p99 ms", func(r result) float64 { return ms(w(r).Latency.quantile(0.99)) }, "%.2f", true},
		)
	}
	out = append(out,
		row{"broker RSS peak MB (VmHWM)", func(r result) float64 { return float64(r.Memory.Peak) / (1 << 20) }, "%.0f", true},
		row{"broker RSS at end MB (VmRSS)", func(r result) float64 { return float64(r.Memory.RSS) / (1 << 20) }, "%.0f", true},
	)
	return out
}

// printTable prints the figures side by side, then each gregor column's
// ratio to kfake, then the targets of the broker-core issue.
func printTable(out io.Writer, results []result) {
	var ref *result
	for i := range results {
		if results[i].Name == "kfake" {
			ref = &results[i]
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"metric"}
	for _, r := range results {
		header = append(header, r.Name)
	}
	if ref != nil {
		for _, r := range results {
			if r.Name != ref.Name {
				header = append(header, r.Name+"/kfake")
			}
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, rw := range rows() {
		line := []string{rw.label}
		for _, r := range results {
			line = append(line, fmt.Sprintf(rw.format, rw.value(r)))
		}
		if ref != nil {
			for _, r := range results {
				if r.Name != ref.Name {
					line = append(line, ratio(rw.value(r), rw.value(*ref)))
				}
			}
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	tw.Flush()

	// The targets of the broker-core issue.
	get := func(name string) *result {
		for i := range results {
			if results[i].Name == name {
				return &results[i]
			}
		}
		return nil
	}
	os, durable := get("gregor-os"), get("gregor-durable")
	if ref == nil || os == nil {
		return
	}
	fmt.Fprintln(out, "\ntargets (100 B unless noted):")
	check := func(what string, got, want float64, atLeast bool) {
		ok := got >= want
		if !atLeast {
			ok = got < want
		}
		verdict := "ok"
		if !ok {
			verdict = "MISSED"
		}
		cmp := ">="
		if !atLeast {
			cmp = "<"
		}
		fmt.Fprintf(out, "  %-44s %8.3f  (target %s %g)  %s\n", what, got, cmp, want, verdict)
	}
	check("gregor-os produce records/s vs kfake", os.Small.Produce.RecsPerSec()/ref.Small.Produce.RecsPerSec(), 1.0, true)
	check("gregor-os consume records/s vs kfake", os.Small.Consume.RecsPerSec()/ref.Small.Consume.RecsPerSec(), 1.5, true)
	if len(os.Small.Latency) > 0 {
		check("gregor-os p99 ms at the latency rate", ms(os.Small.Latency.quantile(0.99)), 5, false)
	}
	check("gregor-os RSS peak MB", float64(os.Memory.Peak)/(1<<20), 300, false)
	if durable != nil {
		check("gregor-durable produce records/s vs kfake", durable.Small.Produce.RecsPerSec()/ref.Small.Produce.RecsPerSec(), 0.5, true)
		check("gregor-durable consume records/s vs kfake", durable.Small.Consume.RecsPerSec()/ref.Small.Consume.RecsPerSec(), 0.5, true)
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
