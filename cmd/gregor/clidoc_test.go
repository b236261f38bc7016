package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The CLI reference in docs/cli is generated from the cobra command tree, so
// it cannot drift from --help: this test renders every command and compares
// the result with the files on disk. After changing a command, regenerate:
//
//	go test ./cmd/gregor -run TestCLIReference -update
var updateCLIReference = flag.Bool("update", false, "rewrite docs/cli from the command tree")

const cliReferenceDir = "../../docs/cli"

func TestCLIReference(t *testing.T) {
	t.Setenv(brokersEnv, "") // the --brokers default comes from the environment
	pages := map[string]string{"README.md": renderCLIIndex(newRootCommand())}
	walkCommands(newRootCommand(), func(c *cobra.Command) {
		pages[cliPageName(c)] = renderCLIPage(c)
	})
	if *updateCLIReference {
		if err := os.MkdirAll(cliReferenceDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(cliReferenceDir, "*.md"))
		for _, f := range old {
			if _, keep := pages[filepath.Base(f)]; !keep {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, body := range pages {
			if err := os.WriteFile(filepath.Join(cliReferenceDir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	const hint = "regenerate with: go test ./cmd/gregor -run TestCLIReference -update"
	onDisk, _ := filepath.Glob(filepath.Join(cliReferenceDir, "*.md"))
	for _, f := range onDisk {
		if _, ok := pages[filepath.Base(f)]; !ok {
			t.Errorf("docs/cli/%s documents a command that no longer exists; %s", filepath.Base(f), hint)
		}
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(cliReferenceDir, name))
		if err != nil {
			t.Errorf("docs/cli/%s: %v; %s", name, err, hint)
			continue
		}
		if string(got) != want {
			t.Errorf("docs/cli/%s is out of date with the command's help; %s", name, hint)
		}
	}
}

// walkCommands calls fn for c and every visible command below it, parents
// first.
func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range visibleSubcommands(c) {
		walkCommands(sub, fn)
	}
}

func visibleSubcommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && sub.Name() != "help" && sub.Name() != "completion" {
			out = append(out, sub)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func cliPageName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

// renderCLIPage is one command's page: what it does, its usage line,
// examples, flags (its own, then the inherited ones) and links up and down.
func renderCLIPage(c *cobra.Command) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", c.CommandPath(), c.Short)
	if c.Long != "" {
		fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimRight(c.Long, "\n"))
	}
	if c.Runnable() {
		fmt.Fprintf(&b, "## Usage\n\n```text\n%s\n```\n\n", c.UseLine())
	}
	if len(c.Aliases) > 0 {
		fmt.Fprintf(&b, "Aliases: %s\n\n", strings.Join(c.Aliases, ", "))
	}
	if c.Example != "" {
		fmt.Fprintf(&b, "## Examples\n\n```sh\n%s\n```\n\n", strings.TrimRight(c.Example, "\n"))
	}
	if fs := c.NonInheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(&b, "## Flags\n\n```text\n%s```\n\n", fs.FlagUsages())
	}
	if fs := c.InheritedFlags(); fs.HasAvailableFlags() && c.Name() != "broker" {
		fmt.Fprintf(&b, "## Global flags\n\n```text\n%s```\n\n", fs.FlagUsages())
	}
	if subs := visibleSubcommands(c); len(subs) > 0 {
		b.WriteString("## Commands\n\n")
		for _, sub := range subs {
			fmt.Fprintf(&b, "- [%s](%s): %s\n", sub.CommandPath(), cliPageName(sub), sub.Short)
		}
		b.WriteString("\n")
	}
	if p := c.Parent(); p != nil {
		fmt.Fprintf(&b, "Up: [%s](%s)\n", p.CommandPath(), cliPageName(p))
	} else {
		b.WriteString("Up: [the CLI reference](README.md)\n")
	}
	return b.String()
}

// renderCLIIndex lists every command on one page.
func renderCLIIndex(root *cobra.Command) string {
	var b bytes.Buffer
	b.WriteString("# The gregor command line\n\n")
	b.WriteString("Generated from the commands' own help (`gregor <command> --help` prints the same);\n")
	b.WriteString("regenerate with `go test ./cmd/gregor -run TestCLIReference -update`.\n\n")
	walkCommands(root, func(c *cobra.Command) {
		depth := strings.Count(c.CommandPath(), " ")
		fmt.Fprintf(&b, "%s- [%s](%s): %s\n", strings.Repeat("  ", depth), c.CommandPath(), cliPageName(c), c.Short)
	})
	return b.String()
}
