package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// Module is Gregor's module path.
const Module = "github.com/gregorhq/gregor"

// Modules are Gregor's two modules, each by its directory relative to the
// repository root and its module path, with the fewest packages a whole
// listing of it has (a smaller count means go list missed part of it): the
// library and binary at the root, and the integration tests and benchmarks,
// which hold the clients only they need.
var Modules = []struct {
	Dir, Path   string
	MinPackages int
}{
	{".", Module, 10},
	{"integration", Module + "/integration", 5},
}

// TestOnlyModules are clients that only tests and benchmarks use; they may be
// required by the integration module, not by the root module.
var TestOnlyModules = []string{"github.com/IBM/sarama", "github.com/lovoo/goka", "github.com/segmentio/kafka-go"}

// Package is one package of the module and what it imports.
type Package struct {
	// ImportPath is the package's full import path.
	ImportPath string
	// Imports are its direct imports (not those of its _test.go files).
	Imports []string
	// Deps are all the packages it depends on, directly or not.
	Deps []string
}

// Violation is one import that breaks a rule.
type Violation struct {
	// Package is the importing package, relative to the module ("state/foo").
	Package string
	// Import is the package it must not import or depend on, relative to
	// the module.
	Import string
	// Direct is set when Package imports Import itself; otherwise it
	// depends on it through other packages.
	Direct bool
	// Rule says which rule is broken.
	Rule string
}

func (v Violation) String() string {
	how := "depends on"
	if v.Direct {
		how = "imports"
	}
	return fmt.Sprintf("%s %s %s: %s", v.Package, how, v.Import, v.Rule)
}

// The rules' texts, as violations report them.
const (
	ruleBroker    = "the broker (broker/...) must not depend on streams, connect or state"
	ruleState     = "state must not depend on streams or connect"
	ruleConnect   = "connect's API and plugins (connect, connect/connectors/..., converters, transforms) must not depend on connect/runtime: the runtime imports the API, never the reverse"
	ruleImporters = "only cmd/, integration/, examples/, internal/testcluster, the broker's packages and tests may import the broker; test helpers may import broker/brokertest"
)

// under reports whether rel (a path relative to the module) is dir or
// inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

func underAny(rel string, dirs ...string) bool {
	for _, d := range dirs {
		if under(rel, d) {
			return true
		}
	}
	return false
}

// isTestHelper reports whether a package is a test helper: its last path
// element ends in "test" (brokertest, statetest, connecttest, ...).
func isTestHelper(rel string) bool {
	last := rel[strings.LastIndex(rel, "/")+1:]
	return strings.HasSuffix(last, "test")
}

// Check returns every violation of the layout rules in pkgs, the packages
// of module, sorted. Imports outside module are ignored.
func Check(module string, pkgs []Package) []Violation {
	relOf := func(path string) (string, bool) {
		if path == module {
			return ".", true
		}
		if rest, ok := strings.CutPrefix(path, module+"/"); ok {
			return rest, true
		}
		return "", false
	}
	var out []Violation
	for _, p := range pkgs {
		rel, ok := relOf(p.ImportPath)
		if !ok {
			continue
		}
		direct := map[string]bool{}
		for _, imp := range p.Imports {
			direct[imp] = true
		}
		for _, dep := range p.Deps {
			drel, ok := relOf(dep)
			if !ok {
				continue
			}
			v := Violation{Package: rel, Import: drel, Direct: direct[dep]}
			switch {
			case under(rel, "broker") && underAny(drel, "streams", "connect", "state"):
				v.Rule = ruleBroker
			case under(rel, "state") && underAny(drel, "streams", "connect"):
				v.Rule = ruleState
			case under(rel, "connect") && !under(rel, "connect/runtime") && !isTestHelper(rel) && under(drel, "connect/runtime"):
				v.Rule = ruleConnect
			case v.Direct && under(drel, "broker") && !mayImportBroker(rel, drel):
				v.Rule = ruleImporters
			default:
				continue
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Import < out[j].Import
	})
	return out
}

// mayImportBroker reports whether package rel may import imp, a package
// of the broker (both relative to the module).
func mayImportBroker(rel, imp string) bool {
	if underAny(rel, "broker", "cmd", "integration", "examples", "internal/testcluster") {
		return true
	}
	return imp == "broker/brokertest" && isTestHelper(rel)
}

// listed is the part of `go list -json` output Load reads.
type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Module     *struct{ Main bool }
	Error      *struct{ Err string }
}

// Load lists the packages of the module at dir with `go list -deps -json
// ./...` and returns those of the main module.
func Load(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps,Module,Error", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parse(stdout)
}

// parse decodes the stream of JSON objects go list prints.
func parse(data []byte) ([]Package, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Package
	for {
		var l listed
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if l.Error != nil {
			return nil, fmt.Errorf("go list: %s: %s", l.ImportPath, l.Error.Err)
		}
		if l.Module == nil || !l.Module.Main {
			continue
		}
		out = append(out, Package{ImportPath: l.ImportPath, Imports: l.Imports, Deps: l.Deps})
	}
}
