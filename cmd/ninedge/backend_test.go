package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// TestBackendChoice says what ran where: a named backend that cannot run is an error (no
// silent CPU), a list falls back in its order and says so, and a device index the backend
// does not have is a usage error naming how many it has. Each case runs as a process of its
// own, so that the GPU loaders read their environment afresh: the GPU rows run in the tagged
// builds (scripts/test.sh), with the real drivers hidden (an empty OpenCL vendor folder, a
// missing Vulkan ICD file) and present.
func TestBackendChoice(t *testing.T) {
	dir, m, _ := model(t)
	img := streamtest.WriteFile(t, dir, "a.png", streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0]))
	noOpenCL := []string{"OCL_ICD_VENDORS=" + t.TempDir(), "OCL_ICD_FILENAMES="}
	noVulkan := []string{"VK_ICD_FILENAMES=" + filepath.Join(dir, "missing-icd.json"), "VK_DRIVER_FILES=" + filepath.Join(dir, "missing-icd.json")}
	const cpuChosen = "ninedge: cpu device 0, "
	for _, tt := range []struct {
		name    string
		backend string // the backend the case needs in this build ("" for none)
		env     []string
		args    []string
		code    int
		stderr  []string // what stderr must hold
	}{
		{"a named backend that cannot run", "", nil, []string{"--backend", "faulty-test"}, 1,
			[]string{"ninedge classify: faulty-test: a test backend, enabled only by TestVerify\n"}},
		{"a list falls back in order", "", nil, []string{"--backend", "faulty-test,cpu"}, 0,
			[]string{"warning: faulty-test: a test backend, enabled only by TestVerify; trying cpu\n",
				cpuChosen, "fallback: faulty-test failed (faulty-test: a test backend, enabled only by TestVerify)\n"}},
		{"cpu device out of range", "", nil, []string{"--backend", "cpu", "--device", "7"}, 2,
			[]string{"ninedge classify: cpu: no device 7 (it has 1)\n"}},
		{"a backend twice", "", nil, []string{"--backend", "cpu,cpu"}, 2, []string{`"cpu,cpu" names cpu twice`}},
		{"auto in a list", "", nil, []string{"--backend", "auto,cpu"}, 2, []string{`auto is a choice of its own`}},
		{"opencl without an ICD", "opencl", noOpenCL, []string{"--backend", "opencl"}, 1, []string{"ninedge classify: opencl: "}},
		{"opencl without an ICD, then the CPU", "opencl", noOpenCL, []string{"--backend", "opencl,cpu"}, 0,
			[]string{"warning: opencl: ", "; trying cpu\n", cpuChosen, "fallback: opencl failed (opencl: "}},
		{"opencl", "opencl", nil, []string{"--backend", "opencl"}, 0, []string{"ninedge: opencl device 0, ", "chosen with --backend opencl\n"}},
		{"opencl device out of range", "opencl", nil, []string{"--backend", "opencl", "--device", "7"}, 2, []string{"ninedge classify: opencl: no device 7 (it has "}},
		{"vulkan without a driver", "vulkan", noVulkan, []string{"--backend", "vulkan"}, 1, []string{"ninedge classify: vulkan: "}},
		{"vulkan without a driver, then the CPU", "vulkan", noVulkan, []string{"--backend", "vulkan,cpu"}, 0,
			[]string{"warning: vulkan: ", "; trying cpu\n", cpuChosen, "fallback: vulkan failed (vulkan: "}},
		{"vulkan", "vulkan", nil, []string{"--backend", "vulkan"}, 0, []string{"ninedge: vulkan device 0, ", "chosen with --backend vulkan\n"}},
		{"vulkan device out of range", "vulkan", nil, []string{"--backend", "vulkan", "--device", "7"}, 2, []string{"ninedge classify: vulkan: no device 7 (it has "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.backend != "" && !slices.Contains(backends.Names(), tt.backend) {
				t.Skipf("%s is not in this build (-tags %s)", tt.backend, tt.backend)
			}
			cmd := exec.Command(os.Args[0], append(append([]string{"classify", "--model", m}, tt.args...), img)...)
			cmd.Env = append(append(os.Environ(), "NINEDGE_RUN_MAIN=1", "XDG_RUNTIME_DIR=/tmp"), tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			errs := stderr.String()
			if code != tt.code || strings.Contains(errs, "panic") {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			// Classified exactly when it ran, and then only once.
			if labelled := strings.HasPrefix(stdout.String(), img+": "); labelled != (code == 0) {
				t.Errorf("exit %d, stdout %q", code, stdout.String())
			}
		})
	}
}
