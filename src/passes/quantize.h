// The quantization pass: FP32 graph (BN folded, activations fused) + calibration table -> INT8 graph.
//
// Conv / Gemm / MatMul-with-constant-weights whose input and output tensors have calibrated scales become
// QConv / QLinear; residual Add, MaxPool, AveragePool/GlobalAveragePool and Concat between them become
// QAdd / QMaxPool / QAvgPool / QConcat; Quantize / Dequantize nodes are placed where int8 meets float. Ops
// without an INT8 kernel stay FP32, and the pass says which and why (QuantizeReport).
//
// Internal INT8 ops (all activations int8, zero point 0; 4-D activations NHWC, so their IR shape is
// [N, H, W, C]). Arithmetic is exactly src/quant/quant.h:
//
// Quantize    in: x f32.             attrs: scale (f), to_nhwc (i, 0/1: x is NCHW 4-D and y is NHWC).
//             y[i] = quant::quantize(x[i], scale)
// Dequantize  in: x i8.              attrs: scale (f), to_nchw (i, 0/1: x is NHWC 4-D and y is NCHW).
//             y[i] = quant::dequantize(x[i], scale)
// QConv       in: x i8 NHWC [N,H,W,C], w i8 constant [K, C/group, kh, kw] (ONNX OIHW order),
//             bias f32 constant [K] in accumulator units (optional, kNoValue), residual i8 NHWC [N,OH,OW,K] (optional, index 3).
//             attrs: strides [sh,sw], pads [top,left,bottom,right] (explicit; auto_pad resolved), dilations
//             [dh,dw], group, multiplier (floats [K]), residual_scale (f), act_lo (f), act_hi (f).
//             y i8 NHWC [N,OH,OW,K]: quant::requantize[_residual](acc, bias[k], multiplier[k], ...)
//             With a fused non-linear activation (Sigmoid, SiLU, HardSwish, LeakyRelu; no residual then):
//             attrs act (i, quant::Act), act_alpha (f), out_scale (f, s_y) instead of act_lo/act_hi, and
//             multiplier[k] = s_x * s_w[k]: y = quant::requantize_act(acc, bias[k], multiplier[k], act, alpha, 1/s_y).
//             2-D convolutions only (1-D/3-D stay FP32).
// QLinear     in: x i8 [..., K], w i8 constant [N, K] (row n = output channel n), bias f32 [N] (optional).
//             attrs: multiplier (floats [N]), act_lo, act_hi, or act/act_alpha/out_scale as QConv.
//             y i8 [..., N]. (Gemm with transB folded.)
// QAdd        in: a i8, b i8 of the same shape (no broadcasting). attrs: scale_a, scale_b (s_a/s_y,
//             s_b/s_y), act_lo, act_hi. y = quant::add(a, scale_a, b, scale_b, lo, hi).
// QMaxPool    in: x i8 NHWC. attrs: kernel [kh,kw], strides, pads [t,l,b,r], dilations. Output keeps the
//             input scale (no arithmetic); padding never wins.
// QAvgPool    in: x i8 NHWC. attrs: kernel, strides, pads, count_include_pad (i), global (i: kernel = H,W),
//             multiplier (f, s_x/s_y). y = quant::average(window sum, count, multiplier); count excludes
//             padding unless count_include_pad.
// QMulGate    in: x i8 NHWC [N,H,W,C], g f32 with N*C values ([N,C,1,1]) or C values (one gate for every
//             image). attrs: scale (f, s_x/s_y). y i8 NHWC: quant::rescale(x, gate_multiplier(g[n,c], scale)).
//             (A squeeze-excitation Mul(x, Sigmoid(...)) whose x is int8 and whose output an int8 op reads.)
// QConcat     in: n x i8 NHWC (or any rank). attrs: axis (i, in the tensor's own layout), scales (floats, per
//             input: s_i/s_y). y = quant::rescale(x_i, scales[i]) (a plain copy where scales[i] == 1).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "ir/graph.h"
#include "quant/quant.h"

namespace octet {

// The epilogue attributes of a QConv / QLinear node (see above), read once by the kernels.
struct QEpilogue {
  std::vector<float> multiplier;
  float residual_scale = 1.f, act_lo = quant::kNoLo, act_hi = quant::kNoHi;
  quant::Act act = quant::Act::None;  // non-linear activation (then multiplier is s_x * s_w[k])
  float act_alpha = 0.f, out_scale = 1.f, inv_out_scale = 1.f;

  static QEpilogue of(const Node& n) {
    QEpilogue e;
    e.multiplier = n.attr_floats("multiplier");
    e.residual_scale = n.attr_f("residual_scale", 1.f);
    e.act_lo = n.attr_f("act_lo", quant::kNoLo);
    e.act_hi = n.attr_f("act_hi", quant::kNoHi);
    const int64_t a = n.attr_i("act", 0);
    if (a < 0 || a > quant::kActLast) throw Error(n.describe() + ": unknown epilogue activation " + std::to_string(a));
    e.act = static_cast<quant::Act>(a);
    e.act_alpha = n.attr_f("act_alpha", 0.f);
    e.out_scale = n.attr_f("out_scale", 1.f);
    e.inv_out_scale = 1.f / e.out_scale;
    return e;
  }
  // One output value: channel k's accumulator, its bias (accumulator units) and residual (if any).
  int8_t apply(int32_t acc, float bias, size_t k, const int8_t* residual) const {
    if (act != quant::Act::None) return quant::requantize_act(acc, bias, multiplier[k], act, act_alpha, inv_out_scale);
    if (residual) return quant::requantize_residual(acc, bias, multiplier[k], *residual, residual_scale, act_lo, act_hi);
    return quant::requantize(acc, bias, multiplier[k], act_lo, act_hi);
  }
};

struct QuantizeOptions {
  std::vector<std::string> fp32_layers;  // ONNX node names (or output tensor names) kept in FP32
  // EntropyCalibration2's rule that Concat inputs and output share one scale. Off by default: each tensor
  // keeps its calibrated scale and QConcat rescales (measured better, see quantize.cpp).
  bool share_concat_scales = false;
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
  };
  std::vector<Int8Tensor> int8_tensors;
};

// Rewrites `g` in place. `g` must have gone through fold_constants/fold_batchnorm/fuse_post_ops (int8 mode:
// a non-linear activation fused after a residual Add would keep its conv in FP32). Tensors absent from `amax`, or with amax 0, keep their op in FP32.
// `amax` maps ONNX tensor names to calibrated amax (scale = amax / 127), e.g. from a CalibTable.
QuantizeReport quantize_graph(Graph& g, const std::map<std::string, float>& amax, const QuantizeOptions& opt = {});

}  // namespace octet
