//go:build cgo && opencl

package main

import _ "github.com/ninedge/ninedge/backends/opencl" // registers "opencl"
