package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Size limits for non-test Go source: files past MaxFileLines lines and
// functions past MaxFuncLines lines are hard to read whole, so they are split,
// unless ARCHITECTURE.md says why one is better whole (and SizeExceptions
// names it).
const (
	MaxFileLines = 600
	MaxFuncLines = 100
)

// SizeExceptions lists what may exceed the limits, by "path" for a file or
// "path:Func" (or "path:Type.Method") for a function, each with the reason
// ARCHITECTURE.md gives ("Size limits").
var SizeExceptions = map[string]string{
	"connect/converters/json_decode.go:fromJSON":   "one switch over the schema types, mirror of appendValue",
	"connect/converters/json_value.go:appendValue": "one switch over the schema types, mirror of fromJSON",
	"connect/transforms/cast.go:castTo":            "one switch over the cast's target types",
}

// SizeViolation is one file or function over its limit.
type SizeViolation struct {
	Name  string // "path" or "path:Func", as in SizeExceptions
	Lines int
	Limit int
}

func (v SizeViolation) String() string {
	return fmt.Sprintf("%s: %d lines (limit %d)", v.Name, v.Lines, v.Limit)
}

// CheckSizes walks the Go files under root (skipping tests, testdata,
// hidden and vendor directories, and generated files) and returns the files
// and functions over the limits, exceptions included; the caller decides
// what an exception excuses.
func CheckSizes(root string) ([]SizeViolation, error) {
	var out []SizeViolation
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("archtest: parse %s: %w", path, err)
		}
		if ast.IsGenerated(f) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return fmt.Errorf("archtest: %w", err)
		}
		rel = filepath.ToSlash(rel)
		if n := fset.Position(f.End()).Line; n > MaxFileLines {
			out = append(out, SizeViolation{Name: rel, Lines: n, Limit: MaxFileLines})
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > MaxFuncLines {
				out = append(out, SizeViolation{Name: rel + ":" + funcName(fd), Lines: n, Limit: MaxFuncLines})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// funcName is "Func" or "Type.Method".
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fd.Name.Name
		}
		return fd.Name.Name
	}
}
