// ONNX -> octet IR.
//
// The model file is untrusted input: every size, dim and name is checked, and anything wrong gives an
// octet::Error naming the file and the tensor or node, never a crash or a huge allocation.
// Old opsets are rewritten to the newest form of each op (attributes that became inputs — Squeeze axes,
// Split sizes, Reduce axes, Clip bounds, Pad pads, Slice ranges — become constant inputs; Upsample becomes
// Resize; Softmax before opset 13 gets `coerce_2d`), so kernels handle one form only.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace octet {

struct ImportOptions {
  // When false, unsupported ops do not throw: they are listed in ImportResult::unsupported and the
  // graph keeps them as Identity placeholders (good for `octet info`, not for running).
  bool strict = true;
};

struct ImportResult {
  Graph graph;
  std::vector<std::string> unsupported;  // "node 'x' (Foo, domain d)" for each node octet cannot run
  std::string producer;                  // producer_name + version, for reports
};

ImportResult import_onnx_file(const std::string& path, const ImportOptions& opt = {});
// `base_dir` resolves external-data files; `what` names the source in errors.
ImportResult import_onnx_buffer(const void* data, size_t size, const std::string& what,
                                const std::string& base_dir, const ImportOptions& opt = {});

// Reads a serialized onnx.TensorProto (the input_N.pb / output_N.pb files of ONNX's test data).
Tensor read_tensor_proto_file(const std::string& path);

}  // namespace octet
