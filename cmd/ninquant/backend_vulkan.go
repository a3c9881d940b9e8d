//go:build cgo && vulkan

package main

import _ "github.com/ninedge/ninedge/backends/vulkan" // registers "vulkan"
