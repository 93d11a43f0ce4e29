// Explicit quantization: the FP32 ONNX model with QuantizeLinear/DequantizeLinear nodes carrying a cache's
// scales (TensorRT 8-11 explicit INT8, ONNX Runtime QDQ) — `octet quantize`. See docs/qdq.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace octet {

struct QdqOptions {
  std::string format = "trt";  // "trt" or "ort"
  // ONNX node names that get no Q/DQ. nullopt: those octet tune recorded in the cache's sidecar, else none.
  std::optional<std::vector<std::string>> fp32_layers;
  // true: Q/DQ by the format's rules alone; false (default): also where octet's own INT8 plan rounds.
  bool rules_only = false;
};

struct QdqResult {
  std::string model;  // the ONNX bytes
  int64_t opset = 0;
  int quantized_nodes = 0, activation_pairs = 0, weights = 0, biases = 0;
  std::vector<std::string> notes;    // what was decided (and why the plan could not be mirrored, if so)
  std::vector<std::string> skipped;  // nodes left in FP32
};

// `scales_path`: a TensorRT cache, ONNX Runtime's calibration.json or its text calibration.cache.
// `out_path` is where the model will be written (external data paths are relative to it); not written here.
QdqResult quantize_qdq(const std::string& onnx_path, const std::string& scales_path, const std::string& out_path,
                       const QdqOptions& options = {});

}  // namespace octet
