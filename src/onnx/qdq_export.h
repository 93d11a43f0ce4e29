// Explicit quantization: an FP32 ONNX model + per-tensor activation scales -> the same model with
// QuantizeLinear/DequantizeLinear (Q/DQ) nodes, for TensorRT >= 8 explicit quantization (the only INT8 path
// in TensorRT 11) and ONNX Runtime's QDQ format. docs/qdq.md has the user-facing story.
//
// The rewrite works on the onnx::ModelProto itself, not on octet's IR: every original node, tensor name,
// initializer, value_info, metadata and external-data reference is kept; only Q/DQ nodes and their
// initializers (written inline) are added, quantized weights replace their float initializers, and the
// default-domain opset is raised to 13 when below (per-axis DequantizeLinear needs 13).
//
// Arithmetic (src/quant/quant.h, DESIGN.md): activations int8 per tensor, zero point 0, scale = the cache's
// float32 scale bit for bit; weights int8 per output channel, s[k] = max|W[k]| / 127, narrow range [-127, 127],
// round half to even, stored as an int8 initializer feeding a DequantizeLinear with `axis`.
//
// Placement (TensorRT developer guide, "Q/DQ Layer-Placement Recommendations"; the rule each step follows is
// cited in qdq_export.cpp):
//   trt: Q/DQ on the activation inputs of Conv, ConvTranspose, Gemm, MatMul (not on their outputs); the
//        residual (non-fused) input of an Add that follows such an op; the inputs of a Concat whose output is
//        quantized, with the Concat output's scale. Bias stays float.
//   ort: ONNX Runtime's quantize_static QDQ layout: Q/DQ on the float activation inputs AND outputs of every op
//        ONNX Runtime quantizes by default (Conv, Gemm, MatMul, Add, Mul, Relu, Clip, MaxPool, Concat,
//        GlobalAveragePool, Reshape, ...), so its QDQ transformer fuses them into QLinearConv etc.; Conv/Gemm
//        bias as int32 with scale s_x * s_w[k]. Graph outputs stay float.
//   With QdqExportOptions::int8_tensors (what `octet quantize` passes unless --rules-only) both formats put
//   Q/DQ where octet's own INT8 plan rounds, so a runtime executing the model computes what octet does: trt
//   adds pairs on every tensor the plan holds in int8 (Concat / pooling / Add outputs and their inputs, own
//   scales, replacing the Concat rule above); ort keeps only the pairs on such tensors and on Conv outputs
//   fused into a Relu/Clip epilogue (with the epilogue output's scale). Weighted ops the plan keeps in FP32
//   get no Q/DQ of their own, only on an input the plan dequantizes for them (QdqExportOptions::dequantized).
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace octet {

enum class QdqFormat { TensorRT, OnnxRuntime };
const char* qdq_format_name(QdqFormat f);            // "trt", "ort"
QdqFormat qdq_format_from_name(const std::string& s);  // throws Error for anything else

struct QdqExportOptions {
  QdqFormat format = QdqFormat::TensorRT;
  // ONNX node names that get no Q/DQ (inputs, outputs and weights stay float). An unknown name is an error.
  std::vector<std::string> fp32_layers;
  // trt: the activation tensors octet's own INT8 plan holds in int8 (api::mirror_plan in src/api/qdq.cpp,
  // from Plan::build with the same scales). Each gets a Q/DQ pair, with its own scale, at every consumer, so a
  // runtime executing the Q/DQ model rounds where octet rounds: outputs of int8 Concat / AveragePool /
  // GlobalAveragePool / Add nodes and the weighted-op outputs they read. Empty: TensorRT's rules alone (and
  // Concat inputs with the Concat output's scale).
  std::set<std::string> int8_tensors;
  // With int8_tensors: the ONNX nodes octet's plan runs in INT8 (weighted ops outside it get no Q/DQ of their
  // own), and, for the ort format, the tensors an INT8 epilogue fused away -> the tensor it writes instead
  // (Conv -> Relu: the Conv output's pair takes the Relu output's scale, so ONNX Runtime still fuses
  // DQ -> Conv -> Q and rounds once, as octet does).
  std::set<std::string> int8_nodes;
  std::map<std::string, std::string> fused_into;
  // With int8_tensors: those of them that octet's plan computes in int8 only (an INT8 op produces them; the
  // float value is a Dequantize of it). Every reader sees the rounded value there, layers kept in FP32
  // included, so their slots get the pair too.
  std::set<std::string> dequantized;
  // With int8_tensors: those octet's plan holds with a zero point (QuantizeOptions::asymmetric_activations:
  // SiLU outputs read only by convs) -> (scale, zero point). The ort format gives their pairs that scale and an
  // int8 zero point; trt keeps the cache's symmetric pair (TensorRT's explicit Q/DQ is symmetric only) and says
  // so once in QdqExportReport::notes.
  std::map<std::string, std::pair<float, int>> zero_points;
};

struct QdqExportReport {
  int64_t opset_in = 0, opset_out = 0;
  int quantized_nodes = 0;   // nodes that read at least one DequantizeLinear output
  int activation_pairs = 0;  // Q -> DQ pairs on activations
  int weights = 0;           // int8 weight initializers
  int biases = 0;            // int32 bias initializers (ort format)
  // Nodes left in FP32 and why: "node 'fc' (Gemm): input 'x' has no scale in the cache".
  std::vector<std::string> skipped;
  std::vector<std::string> notes;  // other things the user should know (opset raised, ...)
};

// `scales` maps ONNX tensor names to float32 activation scales (amax / 127), e.g. a TensorRT cache's entries;
// a tensor without an entry, or with a scale that is 0, negative or not finite, gets no Q/DQ (its consumers
// stay FP32 and are listed in QdqExportReport::skipped).
//
// Throws Error (message names the node and op) for what cannot be placed correctly: a weight that is not a
// constant (initializer or Constant node), a weight or activation that is not float32, a model that already
// has Q/DQ nodes, an opset below 11, a Softmax of opset < 13 whose axis differs from -1, and (file variant)
// external data when `out_path` is in another directory. The result is checked (topological order, one
// producer per tensor, unique node names, types) before it is returned.
//
// `base_dir` resolves external-data files of the input (needed to quantize externally stored weights).
std::string export_qdq_buffer(const void* data, size_t size, const std::string& what, const std::string& base_dir,
                              const std::map<std::string, float>& scales, const QdqExportOptions& opt,
                              QdqExportReport* report = nullptr);
// Reads `model_path`; returns the serialized Q/DQ model (the caller writes it, atomically). `out_path` is where
// it will go: with external data it must be in the same directory as the input (locations are relative).
std::string export_qdq_file(const std::string& model_path, const std::string& out_path,
                            const std::map<std::string, float>& scales, const QdqExportOptions& opt,
                            QdqExportReport* report = nullptr);

}  // namespace octet
