package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The edge binary ships to small boards, where it reads model files and runs them. It must
// not link the trainer, its linear algebra (gonum) or the Caffe importer and its protobuf
// decoding, each of which one import in the wrong package brings back.
var forbiddenDeps = []string{
	"gonum.org/v1/gonum",
	"github.com/ninedge/ninedge/caffe",
	"github.com/ninedge/ninedge/nin/train",
	"google.golang.org/protobuf",
}

// serve's /metrics uses the Prometheus client, whose data model is protobuf
// (github.com/prometheus/client_model): protobuf is expected there, so the search does not
// go through the client's packages.
const prometheusClient = "github.com/prometheus/"

// ninPkg is one package ninedge does import, to check that the search saw its imports.
const ninPkg = "github.com/ninedge/ninedge/nin"

// TestEdgeDependencies lists what ninedge imports, directly or not, for the host and for the
// release builds (deploy/release.sh; the GPU backends' tags together), and fails naming the
// chain of imports that brings in a forbidden package.
func TestEdgeDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the dependencies: %v", err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		tags string
	}{
		{"host", nil, ""},
		{"linux-arm64", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}, ""},
		{"linux-armv7", []string{"GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0"}, ""},
		{"linux-arm64-gpu", []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=1"}, "opencl vulkan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(goTool, "list", "-deps", "-tags", tc.tags,
				"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".")
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, stderrOf(err))
			}
			imports := map[string][]string{}
			root := ""
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(line)
				imports[f[0]] = f[1:]
				root = f[0] // -deps lists a package after its dependencies: the command is last
			}
			// Breadth first, so that each package found is named with a shortest chain.
			via := map[string]string{root: ""}
			for queue := []string{root}; len(queue) > 0; queue = queue[1:] {
				p := queue[0]
				if forbidden(p) {
					t.Errorf("ninedge links %s: %s", p, chain(via, p))
					continue
				}
				if strings.HasPrefix(p, prometheusClient) {
					continue
				}
				for _, q := range imports[p] {
					if _, seen := via[q]; !seen {
						via[q] = p
						queue = append(queue, q)
					}
				}
			}
			// A listing that went wrong could find nothing forbidden for want of finding anything.
			if _, ok := via[ninPkg]; !ok {
				t.Fatalf("%s not reached from %s: the listing is not what it seems\n%s", ninPkg, root, out)
			}
		})
	}
}

func forbidden(pkg string) bool {
	for _, f := range forbiddenDeps {
		if pkg == f || strings.HasPrefix(pkg, f+"/") {
			return true
		}
	}
	return false
}

// chain is the import chain from the command to pkg, as the search found it.
func chain(via map[string]string, pkg string) string {
	var c []string
	for p := pkg; p != ""; p = via[p] {
		c = append([]string{p}, c...)
	}
	return strings.Join(c, " -> ")
}

func stderrOf(err error) []byte {
	var e *exec.ExitError
	if errors.As(err, &e) {
		return e.Stderr
	}
	return nil
}
