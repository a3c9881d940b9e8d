// Package onnxpb is the ONNX protobuf schema (onnx.proto, IR version 8, from ONNX 1.12 as
// Debian's python3-onnx ships it) compiled by protoc-gen-go. It is generated code: regenerate
// it, never edit it (see README.md).
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/ninedge/ninedge/onnx/onnxpb onnx.proto
