package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestModuleLayout checks the real import graph of both modules: the
// root's, and integration/'s (whose packages are integration/... to the
// rules).
func TestModuleLayout(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	for _, m := range Modules {
		t.Run(m.Path, func(t *testing.T) {
			pkgs, err := Load(filepath.Join(strings.TrimSpace(string(root)), m.Dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkgs) < m.MinPackages {
				t.Fatalf("go list found %d packages of %s; expected the whole module", len(pkgs), m.Path)
			}
			for _, p := range pkgs {
				if p.ImportPath != m.Path && !strings.HasPrefix(p.ImportPath, m.Path+"/") {
					t.Fatalf("go list in %s found %s, not a package of %s", m.Dir, p.ImportPath, m.Path)
				}
			}
			for _, v := range Check(Module, pkgs) {
				t.Error(v)
			}
		})
	}
}

// TestTestOnlyClientsStayOut fails when a client that only tests and
// benchmarks use enters the root module's build list: such code belongs in
// the integration module, whose go.mod is no burden to the library's users.
func TestTestOnlyClientsStayOut(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "all").Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		mod, _, _ := strings.Cut(line, " ")
		if slices.Contains(TestOnlyModules, mod) {
			t.Errorf("the root module's build list has %s: move the code that needs it to integration/", line)
		}
	}
}

// graph builds packages from "pkg: import import ..." lines, paths
// relative to a module "m"; Deps are computed from the direct imports.
func graph(lines ...string) []Package {
	imports := map[string][]string{}
	var order []string
	for _, l := range lines {
		name, rest, _ := strings.Cut(l, ":")
		name = "m/" + strings.TrimSpace(name)
		order = append(order, name)
		for _, f := range strings.Fields(rest) {
			if !strings.Contains(f, ".") && f != "fmt" { // std-like paths stay as they are
				f = "m/" + f
			}
			imports[name] = append(imports[name], f)
		}
	}
	var out []Package
	for _, name := range order {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, d := range imports[p] {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(name)
		p := Package{ImportPath: name, Imports: imports[name]}
		for d := range seen {
			p.Deps = append(p.Deps, d)
		}
		out = append(out, p)
	}
	return out
}

// base is a graph that follows the rules, like the real module.
var base = []string{
	"broker: broker/log broker/meta broker/group internal/fsutil fmt",
	"broker/log: broker/txn internal/fsutil",
	"broker/group: broker/log",
	"broker/meta:",
	"broker/txn:",
	"broker/brokertest: broker",
	"internal/fsutil: fmt",
	"internal/kgopool: github.com/twmb/franz-go/pkg/kgo",
	"state: internal/fsutil",
	"state/statetest: state",
	"state/kafkachangelog: state internal/kgopool",
	"streams: state state/kafkachangelog",
	"streams/streamstest: streams",
	"connect:",
	"connect/converters: connect",
	"connect/connectors/file: connect",
	"connect/runtime: connect internal/kgopool internal/fsutil",
	"connect/runtime/rest: connect connect/runtime",
	"connect/runtime/storetest: connect/runtime",
	"connect/internal/connecttest: connect connect/runtime broker/brokertest",
	"cmd/gregor: broker connect connect/runtime connect/runtime/rest streams",
	"integration: broker broker/log",
	"integration/cmd/restorebench: integration state",
	"examples/wordcount: streams",
	"internal/testcluster: broker",
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		want  []string
	}{
		{name: "the base graph is clean"},
		{
			name:  "a broker subpackage imports state",
			extra: []string{"broker/meta: state"},
			want: []string{
				"broker depends on state: " + ruleBroker,
				"broker/brokertest depends on state: " + ruleBroker,
				"broker/meta imports state: " + ruleBroker,
			},
		},
		{
			name:  "the broker depends on connect through an internal package",
			extra: []string{"internal/bad: connect", "broker/txn: internal/bad"},
			want: []string{
				"broker depends on connect: " + ruleBroker,
				"broker/brokertest depends on connect: " + ruleBroker,
				"broker/group depends on connect: " + ruleBroker,
				"broker/log depends on connect: " + ruleBroker,
				"broker/txn depends on connect: " + ruleBroker,
			},
		},
		{
			name:  "the broker imports connect",
			extra: []string{"broker/brokertest: broker connect"},
			want:  []string{"broker/brokertest imports connect: " + ruleBroker},
		},
		{
			name:  "state imports streams",
			extra: []string{"state/statetest: state streams/streamstest"},
			want: []string{
				"state/statetest depends on streams: " + ruleState,
				"state/statetest imports streams/streamstest: " + ruleState,
			},
		},
		{
			name:  "state imports connect",
			extra: []string{"state/leveldb: state connect"},
			want:  []string{"state/leveldb imports connect: " + ruleState},
		},
		{
			name:  "streams imports the broker",
			extra: []string{"streams/internal/x: broker/log"},
			want:  []string{"streams/internal/x imports broker/log: " + ruleImporters},
		},
		{
			name:  "connect imports the broker's test helper outside a test helper",
			extra: []string{"connect/runtime/rest: connect connect/runtime broker/brokertest"},
			want:  []string{"connect/runtime/rest imports broker/brokertest: " + ruleImporters},
		},
		{
			name:  "connect's API imports the runtime",
			extra: []string{"connect: connect/runtime/rest"},
			want: []string{
				"connect depends on connect/runtime: " + ruleConnect,
				"connect imports connect/runtime/rest: " + ruleConnect,
				"connect/connectors/file depends on connect/runtime: " + ruleConnect,
				"connect/connectors/file depends on connect/runtime/rest: " + ruleConnect,
				"connect/converters depends on connect/runtime: " + ruleConnect,
				"connect/converters depends on connect/runtime/rest: " + ruleConnect,
			},
		},
		{
			name:  "a converter imports the runtime",
			extra: []string{"connect/converters: connect connect/runtime"},
			want:  []string{"connect/converters imports connect/runtime: " + ruleConnect},
		},
		{
			name:  "a test helper imports more of the broker than brokertest",
			extra: []string{"streams/streamstest: streams broker"},
			want:  []string{"streams/streamstest imports broker: " + ruleImporters},
		},
		{
			name:  "an internal package imports the broker",
			extra: []string{"internal/kgopool: broker/meta"},
			want:  []string{"internal/kgopool imports broker/meta: " + ruleImporters},
		},
		{
			name:  "the module root imports the broker",
			extra: []string{".: broker"},
			want:  []string{". imports broker: " + ruleImporters},
		},
		{
			name: "allowed importers of the broker",
			extra: []string{
				"cmd/tool: broker/meta",
				"examples/demo: broker/brokertest streams",
				"integration/benchkit: broker/log",
				"internal/testcluster/node: broker",
				"state/statetest: state broker/brokertest",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := append([]string{}, base...)
			// An extra line replaces the base line of the same package.
			for _, e := range tc.extra {
				name, _, _ := strings.Cut(e, ":")
				replaced := false
				for i, l := range lines {
					if n, _, _ := strings.Cut(l, ":"); n == name {
						lines[i], replaced = e, true
					}
				}
				if !replaced {
					lines = append(lines, e)
				}
			}
			var got []string
			for _, v := range Check("m", graph(lines...)) {
				got = append(got, v.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParse(t *testing.T) {
	out := `{"ImportPath": "fmt", "Deps": ["errors"]}
{"ImportPath": "m/a", "Imports": ["fmt"], "Deps": ["errors", "fmt"], "Module": {"Main": true}}
{"ImportPath": "dep/x", "Module": {"Main": false}}
`
	pkgs, err := parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].ImportPath != "m/a" || len(pkgs[0].Deps) != 2 {
		t.Fatalf("parse = %+v, want only m/a", pkgs)
	}
	if _, err := parse([]byte(`{"ImportPath": "m/b", "Error": {"Err": "no Go files"}}`)); err == nil {
		t.Error("parse accepted a package with an error")
	}
}

// TestSizes keeps files and functions within MaxFileLines and MaxFuncLines,
// except those SizeExceptions names (ARCHITECTURE.md says why).
func TestSizes(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	over, err := CheckSizes(strings.TrimSpace(string(root)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range over {
		seen[v.Name] = true
		if _, ok := SizeExceptions[v.Name]; !ok {
			t.Errorf("%v: split it, or add it to SizeExceptions with the reason in ARCHITECTURE.md", v)
		}
	}
	for name := range SizeExceptions {
		if !seen[name] {
			t.Errorf("SizeExceptions names %s, which is within the limits now (or gone): remove it", name)
		}
	}
}

// TestCheckSizes finds a long file and a long method in a scratch tree,
// and skips tests and generated files.
func TestCheckSizes(t *testing.T) {
	dir := t.TempDir()
	long := func(n int) string { return strings.Repeat("\tx++\n", n) }
	files := map[string]string{
		"a/big.go":     "package a\n\n" + strings.Repeat("var _ = 1\n", MaxFileLines),
		"a/method.go":  "package a\n\ntype T[K any] struct{}\n\nfunc (t *T[K]) M() {\n\tx := 0\n" + long(MaxFuncLines) + "\t_ = x\n}\n",
		"a/fine.go":    "package a\n\nfunc F() {\n\tx := 0\n" + long(10) + "\t_ = x\n}\n",
		"a/x_test.go":  "package a\n\nfunc G() {\n\tx := 0\n" + long(MaxFuncLines) + "\t_ = x\n}\n",
		"a/gen.go":     "// Code generated by hand. DO NOT EDIT.\n\npackage a\n\nfunc H() {\n\tx := 0\n" + long(MaxFuncLines) + "\t_ = x\n}\n",
		"a/testdata/t": "not go",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	over, err := CheckSizes(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range over {
		got = append(got, v.Name)
	}
	want := []string{"a/big.go", "a/method.go:T.M"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("CheckSizes = %v, want %v", got, want)
	}
}
