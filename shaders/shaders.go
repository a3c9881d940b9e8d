// Package shaders holds the GLSL compute shaders of the Vulkan backend and their SPIR-V,
// compiled by glslc through `go generate ./shaders` and committed, so that building the
// backend needs no shader compiler. TestSPIRVFresh fails when a committed .spv no longer
// matches its source.
//
// Every shader works on uint8 NHWC activations whose pixels are padded to whole 32-bit words
// and on int8 weights packed four to a word: no 8-bit storage, int8 arithmetic or int64
// extension is needed, so they run on Mesa v3dv (Raspberry Pi) as on desktop drivers.
package shaders

import _ "embed"

// The target environment is Vulkan 1.0 (SPIR-V 1.0), which every driver accepts.
//go:generate glslc -O --target-env=vulkan1.0 -o conv.spv conv.comp
//go:generate glslc -O --target-env=vulkan1.0 -o maxpool.spv maxpool.comp
//go:generate glslc -O --target-env=vulkan1.0 -o avgpool.spv avgpool.comp
//go:generate glslc -O --target-env=vulkan1.0 -o globalsum.spv globalsum.comp

// SPIR-V modules, one per op.
var (
	//go:embed conv.spv
	Conv []byte
	//go:embed maxpool.spv
	MaxPool []byte
	//go:embed avgpool.spv
	AvgPool []byte
	//go:embed globalsum.spv
	GlobalSum []byte
)
