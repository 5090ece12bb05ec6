package portico_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/portico-edge/portico"

// goList returns the packages of the module as `go list -json` sees them.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

type listedPackage struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Deps       []string
}

// TestPackageDocs checks that every package has exactly one package doc
// comment, as the house rules say.
func TestPackageDocs(t *testing.T) {
	for _, p := range goList(t, "./...") {
		docs := 0
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil {
				docs++
			}
		}
		if docs != 1 {
			t.Errorf("%s has %d package doc comments, want 1", p.ImportPath, docs)
		}
	}
}

// TestDataPlaneDependencies checks that the packages that serve viewers
// never depend on the API or console packages: a configuration reaches the
// data plane only through the store and the snapshot.
func TestDataPlaneDependencies(t *testing.T) {
	dataPlane := []string{"router", "certs", "httpcache", "origin", "respheaders", "edgeserver", "snapshot", "dnsserver", "errpage"}
	forbidden := []string{"cfapi", "acmapi", "console", "sigv4"}
	for _, name := range dataPlane {
		pkg := module + "/internal/" + name
		for _, d := range goList(t, "-deps", pkg) {
			for _, f := range forbidden {
				if d.ImportPath == module+"/internal/"+f {
					t.Errorf("%s depends on %s", pkg, d.ImportPath)
				}
			}
		}
	}
}
