// The quantization pass: FP32 graph (BN folded, activations fused) + calibration table -> INT8 graph.
//
// Conv / Gemm / MatMul-with-constant-weights whose input and output tensors have calibrated scales become
// QConv / QLinear; residual Add, MaxPool, AveragePool/GlobalAveragePool and Concat between them become
// QAdd / QMaxPool / QAvgPool / QConcat; Quantize / Dequantize nodes are placed where int8 meets float. Ops
// without an INT8 kernel stay FP32, and the pass says which and why (QuantizeReport).
//
// The internal INT8 ops it rewrites to, and their attributes: src/ir/qops.h.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "ir/qops.h"

namespace octet {

// Per-output-channel int8 weights and their scales, by the address of the FP32 weights they were made from.
struct QuantizedWeights {
  Tensor q;
  std::vector<float> scale;
  Tensor source;  // in a WeightCache: the FP32 constant (kept, so that its address stays its own)
};
using WeightCache = std::map<const void*, QuantizedWeights>;

struct QuantizeOptions {
  std::vector<std::string> fp32_layers;  // ONNX node names (or output tensor names) kept in FP32
  // EntropyCalibration2's rule that Concat inputs and output share one scale. Off by default: each tensor
  // keeps its calibrated scale and QConcat rescales (measured better, see quantize.cpp).
  bool share_concat_scales = false;
  // A tensor read only by a Concat that runs int8 is produced at the Concat's output scale (one rounding where
  // a rescale would round it again; quantize.cpp, concat_scale_source). Its own calibrated scale is then unused.
  bool concat_inputs_at_output_scale = true;
  // x + act(conv(...)) with a non-linear fused activation (YOLOX's x + SiLU(conv(...))): the Add is taken into the
  // QConv's epilogue, which adds the int8 residual x after the activation and rounds once, at the Add's output
  // scale (quant::requantize_act_residual), where a QConv and a QAdd round the activation's output twice. Only
  // when the activation's output has no other reader and the Add would run int8 (quantize.cpp,
  // find_residuals_after); the activation output's own calibrated scale is then unused.
  bool residual_after_activation = true;
  // An activation output with a known lower bound L (SiLU: quant::kSiluMin, HardSwish: quant::kHardSwishMin) and
  // calibrated amax T gets an int8 range with a zero point over [L, T] (quant::asym_range) instead of [-T, T], where
  // every reader takes a zero point: Conv, AveragePool / GlobalAveragePool and a squeeze-excitation Mul by a gate
  // (QConv / QAvgPool / QMulGate x_zero_point, or a Dequantize when the reader runs FP32) and graph outputs; the conv
  // writing it must have the activation in its epilogue (no residual or affine after it). The SE product of such a
  // tensor and a gate in [0, 1] (a Sigmoid or HardSigmoid output) keeps the bound L and gets a zero point the same
  // way (QMulGate out_zero_point). The cache's amax is unchanged.
  bool asymmetric_activations = true;
  // Tensors that must keep their own rounding (a Q/DQ model's pairs, CompileOptions::keep_unfused): an activation
  // output named here is not fused with its residual Add. Null: none.
  const std::set<std::string>* keep_rounded = nullptr;
  // A caller that quantizes the same graph (the same FP32 weight tensors) again with other amax values
  // (Plan::update_int8_amax) passes the same cache every time: the weights are quantized once. Null: none.
  WeightCache* weight_cache = nullptr;
};

struct QuantizeReport {
  struct Line {
    std::string node;  // ONNX node name
    std::string op;
    std::string precision;  // "int8" or "fp32"
    std::string why;        // for fp32: the reason
  };
  std::vector<Line> lines;
  int int8_nodes = 0, fp32_nodes = 0;
  // Names of the tensors whose calibrated scale the INT8 graph uses (sorted): changing any other amax
  // cannot change the plan.
  std::vector<std::string> scaled_tensors;
  // Tensors (sorted) given an amax of exactly 0 that kept a layer FP32 which would otherwise run INT8: a cache's
  // "0" is legal only for tensors the plan does not quantize, so the CLI refuses these (tools/common.cpp).
  std::vector<std::string> zero_scale_tensors;
  // Every int8 tensor of the graph: its value, the ONNX tensor it represents (value `of`) and its scale;
  // rank-4 ones are NHWC. For error analysis (calib/layer_error.h); not stored in plan files.
  struct Int8Tensor {
    int value = -1, of = -1;
    float scale = 0.f;
    int32_t zero_point = 0;  // real value (q - zero_point) * scale
  };
  std::vector<Int8Tensor> int8_tensors;
};

// Rewrites `g` in place. `g` must have gone through fold_constants/fold_batchnorm/fuse_post_ops (int8 mode:
// a non-linear activation fused after a residual Add would keep its conv in FP32). Tensors absent from `amax`, or with amax 0, keep their op in FP32.
// `amax` maps ONNX tensor names to calibrated amax (scale = amax / 127), e.g. from a CalibTable.
QuantizeReport quantize_graph(Graph& g, const std::map<std::string, float>& amax, const QuantizeOptions& opt = {});

}  // namespace octet
