package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// table accumulates rows and writes them aligned in columns.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// add appends a row; values are formatted with fmt.Sprint.
func (t *table) add(vals ...any) {
	row := make([]string, len(vals))
	for i, v := range vals {
		row[i] = cell(v)
	}
	t.rows = append(t.rows, row)
}

// cell formats one value for a table cell; empty strings become "-".
func cell(v any) string {
	s := fmt.Sprint(v)
	if s == "" {
		return "-"
	}
	// Keep one row per line.
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(s)
}

// write prints the header and rows aligned with two spaces between columns.
func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// joinInt32 formats a list of numbers as "1,2,3".
func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
