package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// MainModule is the module path of Gregor's library and binary, which this
// module requires and replaces with the repository root (../).
const MainModule = "github.com/gregorhq/gregor"

// MainModuleDir returns the directory of the main module, as the go command
// run in the current directory resolves it (inside this module: the
// replacement, the repository root).
func MainModuleDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", MainModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find module %s: %w: %s", MainModule, err, bytes.TrimSpace(stderr.Bytes()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("find module %s: the go command knows no directory for it", MainModule)
	}
	return dir, nil
}

// BuildProgram builds pkg, a main package of the main module such as
// github.com/gregorhq/gregor/cmd/gregor, into the file out. It builds in the
// main module's directory, with that module's go.mod, so the binary is the
// one `make build` makes there, not one linked against the versions this
// module's extra dependencies would select.
func BuildProgram(pkg, out string) error {
	dir, err := MainModuleDir()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
	}
	return nil
}
