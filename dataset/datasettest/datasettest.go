// Package datasettest locates the real data sets that tests use. They live outside the
// project (../shared/data beside the checkout, see that folder's README) and are never
// committed; NINEDGE_DATA overrides the location. It imports nothing of the project, so that
// package dataset's own tests can use it.
package datasettest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared data folder, or "" when it cannot be found.
func Root() string {
	if d := os.Getenv("NINEDGE_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if _, err := os.Stat(d); err == nil {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir returns the shared data subfolder sub (for example "cifar10"), or skips the test with
// a message saying where the data was looked for.
func Dir(t testing.TB, sub string) string {
	t.Helper()
	root := Root()
	if root == "" {
		t.Skip("shared data not found: set NINEDGE_DATA or place the data in ../shared/data (see its README)")
	}
	d := filepath.Join(root, sub)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared data %s not found: %v", d, err)
	}
	return d
}
