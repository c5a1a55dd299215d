#!/usr/bin/env bash
# Regenerates onnx.pb.go from onnx.proto.
#
# onnx.proto is ONNX's own schema (Apache-2.0), copied unchanged from Debian's
# libonnx-dev package (/usr/include/onnx/onnx.proto, ONNX 1.12, IR version 8).
# Fields added by later IR versions are not lost: protobuf-go keeps them as
# unknown fields and writes them back on a round trip.
#
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -euo pipefail
cd "$(dirname "$0")"
protoc --go_out=. --go_opt=paths=source_relative \
  --go_opt=Monnx.proto=github.com/onnx-adapt/onnx-adapt/internal/onnxpb \
  onnx.proto
