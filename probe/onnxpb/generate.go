// Package onnxpb holds Go types for the ONNX protobuf schema (IR version 8),
// generated from onnx.proto3 of the ONNX project (Apache-2.0, see NOTICE).
//
// Only what the hidden-state probes need is used (ModelProto, GraphProto,
// NodeProto, TensorProto, ValueInfoProto, metadata_props), but the whole schema
// is generated so the types match upstream exactly.
//
// The code was generated on Debian 12 with protoc 3.21.12 (apt-get install -y
// protobuf-compiler) and protoc-gen-go v1.36.12 (go install
// google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12). onnx.proto3 is a copy
// of the file in the Go module github.com/advancedclimatesystems/gonnx@v1.1.0
// (go mod download -json github.com/advancedclimatesystems/gonnx@v1.1.0 prints
// its directory), with the changes listed in its header. The file is
// registered in the protobuf registry as "probe/onnxpb/onnx.proto3" (path from
// the module root), which keeps it distinct from other copies of the schema.
package onnxpb

//go:generate protoc --proto_path=../.. --go_out=../.. --go_opt=module=github.com/edgecascade/edgecascade probe/onnxpb/onnx.proto3
