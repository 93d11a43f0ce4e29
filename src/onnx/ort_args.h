// ONNX Runtime's quantize_static told to round what octet's INT8 plan rounds: which nodes it quantizes, which
// op types get no output Q/DQ, and the per-tensor scales (TensorQuantOverrides). octet tune --exclusions writes
// them ("onnxruntime" -> "quantize_static"); octet.ort.quantize_static_kwargs (python/octet/ort.py) turns them into kwargs.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "onnx/qdq_export.h"

namespace octet {

struct OrtQuantizeArgs {
  std::vector<std::string> nodes_to_quantize;  // model order
  std::vector<std::string> nodes_to_exclude;   // every other named node
  std::set<std::string> op_types;              // of nodes_to_quantize (op_types_to_quantize)
  std::set<std::string> output_types;          // those whose outputs get Q/DQ too (the others are in
                                               // OpTypesToExcludeOutputQuantization)
  std::map<std::string, float> scales;         // octet's rounded tensors ORT rounds, with octet's scales
  std::map<std::string, int> zero_points;      // those of them octet holds with a zero point (absent: 0)
  std::vector<std::string> int16;              // inputs of chosen nodes octet does not round: 16-bit Q/DQ
  std::vector<std::string> not_reproduced;     // rounded by octet; no reader of them can mark them in ORT
  // Rounded by octet for its INT8 readers only (another reader takes the float value); ORT's one pair rounds
  // it for every reader.
  std::vector<std::string> rounded_for_every_reader;
};

// `plan`: api::mirror_plan's int8_tensors, int8_nodes, fused_into and dequantized for the INT8 plan, and
// `float_read` (rounded tensors an FP32 node of the plan reads unrounded); `scales` the cache's scales (tensor
// name -> scale). Throws Error when `model_path` is not an ONNX model.
OrtQuantizeArgs ort_quantize_args(const std::string& model_path, const std::map<std::string, float>& scales,
                                  const QdqExportOptions& plan, const std::set<std::string>& float_read);

}  // namespace octet
