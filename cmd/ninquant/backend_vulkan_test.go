//go:build cgo && vulkan

package main

// The binary the tests run is built with the tags the tests are.
func init() { buildTags = append(buildTags, "vulkan") }
