// Contracts of the internal INT8 ops (what passes/quantize.cpp rewrites to; shape inference in
// ir/infer_quant.cpp, kernels in backends/ref/qops.cpp and backends/cpu/). They live in ir/ so that every
// layer that reads them sits at or above ir; the quantization pass is one writer among others (plan files).
//
// Internal INT8 ops (all activations int8, zero point 0 unless an attribute below says otherwise; 4-D activations NHWC, so their IR shape is
// [N, H, W, C]). Arithmetic is exactly src/quant/quant.h:
//
// Quantize    in: x f32.             attrs: scale (f), to_nhwc (i, 0/1: x is NCHW 4-D and y is NHWC).
//             y[i] = quant::quantize(x[i], scale)
// Dequantize  in: x i8.              attrs: scale (f), to_nchw (i, 0/1: x is NHWC 4-D and y is NCHW).
//             y[i] = quant::dequantize(x[i], scale); zero_point (i, default 0): quant::dequantize_zp(x[i], zp, scale).
// QConv       in: x i8 NHWC [N,H,W,C], w i8 constant [K, C/group, kh, kw] (ONNX OIHW order),
//             bias f32 constant [K] in accumulator units (optional, kNoValue), residual i8 NHWC [N,OH,OW,K] (optional, index 3).
//             attrs: strides [sh,sw], pads [top,left,bottom,right] (explicit; auto_pad resolved), dilations
//             [dh,dw], group, multiplier (floats [K]), residual_scale (f), act_lo (f), act_hi (f).
//             y i8 NHWC [N,OH,OW,K]: quant::requantize[_residual](acc, bias[k], multiplier[k], ...)
//             With a fused non-linear activation (Sigmoid, SiLU, HardSwish, LeakyRelu):
//             attrs act (i, quant::Act), act_alpha (f), out_scale (f, s_y) instead of act_lo/act_hi, and
//             multiplier[k] = s_x * s_w[k]: y = quant::requantize_act(acc, bias[k], multiplier[k], act, alpha,
//             act_mul / s_y, act_add / s_y); act_mul (f, default 1), act_add (f, default 0): a scalar affine
//             a * act(v) + b after the activation (a Mul and an Add by scalar constants the pass absorbed).
//             A residual with a non-linear activation is added AFTER it (x + SiLU(conv(...)), YOLOX's bottleneck;
//             out_scale is then the sum's scale s_y and residual_scale s_r / s_y): y = quant::requantize_act_residual
//             (the activation's output is never rounded). With Relu/Clip the residual comes before the clamp.
//             2-D convolutions only (1-D/3-D stay FP32).
//             Zero points (quant.h): x_zero_point (i, default 0): acc = sum w * (x - x_zero_point), padded taps
//             adding nothing (a real zero); out_zero_point (i, default 0, only with a non-linear act): the
//             output's zero point, added inside the rounding (out_add = act_add / s_y + out_zero_point).
// QConvTranspose in: x i8 NHWC [N,H,W,C], w i8 constant [C, K/group, kh, kw] (ONNX ConvTranspose order), bias f32
//             constant [K] in accumulator units (optional). attrs: strides, pads [top,left,bottom,right] (>= 0:
//             what is cropped from the full output), dilations, group, multiplier (floats [K]) and the epilogue
//             attributes of QConv (act_lo/act_hi or act/act_alpha/out_scale/act_mul/act_add; no residual).
//             Input pixel (ih, iw) adds w[c, k, i, j] * x to output (ih*sh - pt + i*dh, iw*sw - pl + j*dw);
//             OH = (H-1)*sh + (kh-1)*dh + 1 - pt - pb. y i8 NHWC [N,OH,OW,K]: the QConv epilogue of each sum.
// QResize     in: x i8 NHWC [N,H,W,C]. attrs: mode ("nearest" | "linear"), coordinate_transformation_mode
//             ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"), nearest_mode (ONNX's four),
//             scales (floats [sh, sw]); OH = floor(H * sh), OW = floor(W * sw). Output keeps the input scale.
//             Source coordinates as ONNX Resize (in double, ir/qresize.h's tables). nearest: a copy of the
//             source pixel. linear: quant::lerp2d of the 2 x 2 neighbours (edges repeated) with the float
//             weights of the tables: one rounding, to the input's scale.
// QLinear     in: x i8 [..., K], w i8 constant [N, K] (row n = output channel n), bias f32 [N] (optional).
//             attrs: multiplier (floats [N]), act_lo, act_hi, or act/act_alpha/out_scale as QConv.
//             y i8 [..., N]. (Gemm with transB folded.)
// QAdd        in: a i8, b i8 of the same shape (no broadcasting). attrs: scale_a, scale_b (s_a/s_y,
//             s_b/s_y), act_lo, act_hi. y = quant::add(a, scale_a, b, scale_b, lo, hi).
// QMaxPool    in: x i8 NHWC. attrs: kernel [kh,kw], strides, pads [t,l,b,r], dilations. Output keeps the
//             input scale (no arithmetic); padding never wins.
// QAvgPool    in: x i8 NHWC. attrs: kernel, strides, pads, count_include_pad (i), global (i: kernel = H,W),
//             multiplier (f, s_x/s_y). y = quant::average(window sum, count, multiplier); count excludes
//             padding unless count_include_pad. x_zero_point (i, default 0): the window sum is of (x - x_zero_point)
//             over the taps inside the input (a padded tap adds nothing); y is symmetric.
// QMulGate    in: x i8 NHWC [N,H,W,C], g f32 with N*C values ([N,C,1,1]) or C values (one gate for every
//             image). attrs: scale (f, s_x/s_y). y i8 NHWC: quant::rescale(x, gate_multiplier(g[n,c], scale)).
//             (A squeeze-excitation Mul(x, Sigmoid(...)) whose x is int8 and whose output an int8 op reads.)
//             gate_act (i, default 0): 1 = g is the input of a HardSigmoid (gate_alpha, gate_beta, f), and the gate
//             is quant::hard_sigmoid(g, alpha, beta) (PP-LCNet's SE blocks; the HardSigmoid node is absorbed).
//             x_zero_point, out_zero_point (i, default 0): y = quant::rescale_zp(x, x_zero_point, m, out_zero_point)
//             with m the same multiplier (an SE block reading a SiLU output with a zero point).
// QConcat     in: n x i8 NHWC (or any rank). attrs: axis (i, in the tensor's own layout), scales (floats, per
//             input: s_i/s_y). y = quant::rescale(x_i, scales[i]) (a plain copy where scales[i] == 1).
#pragma once

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
  float act_alpha = 0.f, out_scale = 1.f, inv_out_scale = 1.f;  // inv_out_scale = act_mul / out_scale
  float out_add = 0.f;                                             // act_add / out_scale

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
    e.inv_out_scale = n.attr_f("act_mul", 1.f) / e.out_scale;
    e.out_add = n.attr_f("act_add", 0.f) / e.out_scale;
    const int64_t zp = n.attr_i("out_zero_point", 0);
    if (zp < -128 || zp > 127) throw Error(n.describe() + ": out_zero_point " + std::to_string(zp) + " is outside [-128, 127]");
    if (zp != 0) {
      if (e.act == quant::Act::None)
        throw Error(n.describe() + ": out_zero_point needs a non-linear epilogue activation (act)");
      e.out_add += static_cast<float>(zp);
    }
    return e;
  }
  // One output value: channel k's accumulator, its bias (accumulator units) and residual (if any).
  quant::EpilogueArgs args() const { return {residual_scale, act_lo, act_hi, act, act_alpha, inv_out_scale, out_add}; }
  int8_t apply(int32_t acc, float bias, size_t k, const int8_t* residual) const {
    return quant::epilogue(args(), acc, bias, multiplier[k], residual);
  }
};

// A QConv's x_zero_point / a Dequantize's zero_point (attribute `name`, default 0), checked to be an int8 value.
inline int32_t zero_point_attr(const Node& n, const char* name) {
  const int64_t zp = n.attr_i(name, 0);
  if (zp < -128 || zp > 127) throw Error(n.describe() + ": " + name + " " + std::to_string(zp) + " is outside [-128, 127]");
  return static_cast<int32_t>(zp);
}

}  // namespace octet
