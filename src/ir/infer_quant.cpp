// Shape inference of the internal INT8 ops (Quantize ... QConcat); the contract of each op, attribute by
// attribute, is in src/ir/qops.h. Everything a later kernel relies on is validated here (dtypes,
// shapes, attribute lengths, int32 accumulator range), so kernels only assert.
//
// 4-D activations are NHWC: a Q-op window (QConv, QMaxPool, QAvgPool) reads [N, H, W, C] and writes
// [N, OH, OW, C']. The window geometry is forward_window's (ir/window.h) applied to the NCHW view
// [N, C, H, W] of the input: pads [top, left, bottom, right] are exactly its [begin..., end...] layout.
#include <cmath>
#include <string>

#include "ir/qops.h"
#include "ir/qresize.h"
#include "ir/infer.h"
#include "ir/window.h"
#include "quant/quant.h"

namespace octet {

namespace {

// |int8 * int8| <= 2^14, so a sum of at most 2^31 / 2^14 - 1 products always fits in an int32.
constexpr int64_t kMaxTaps = (int64_t{1} << 17) - 1;

void check_dtype(const InferCtx& c, int i, DType want, const char* what) {
  const DType got = c.input(i).dtype;
  OCTET_CHECK(got == want, c.node.describe(), ": ", what, " (input ", i, ") must be ", dtype_name(want), ", got ",
              dtype_name(got));
}

float required_f(const Node& n, const char* name) {
  OCTET_CHECK(n.has_attr(name), n.describe(), ": attribute ", name, " is required");
  return n.attr_f(name, 0.f);
}

// Per-channel requantization multipliers: exactly `count` finite values.
void check_multiplier(const Node& n, int64_t count) {
  const std::vector<float> m = n.attr_floats("multiplier");
  OCTET_CHECK(static_cast<int64_t>(m.size()) == count, n.describe(), ": attribute multiplier has ", m.size(),
              " values, expected one per output channel (", count, ")");
  for (float v : m) OCTET_CHECK(std::isfinite(v), n.describe(), ": multiplier ", v, " is not finite");
}

// act_lo / act_hi (defaults: no clamp) must form a non-empty range; a non-linear `act` needs a positive
// out_scale, and takes a residual only on a QConv (added after the activation: quant::requantize_act_residual).
void check_act(const Node& n) {
  const float lo = n.attr_f("act_lo", quant::kNoLo), hi = n.attr_f("act_hi", quant::kNoHi);
  OCTET_CHECK(lo <= hi, n.describe(), ": act_lo ", lo, " > act_hi ", hi);
  const int64_t act = n.attr_i("act", 0);
  OCTET_CHECK(act >= 0 && act <= quant::kActLast, n.describe(), ": unknown epilogue activation ", act);
  if (act == 0) return;
  for (const char* k : {"act_mul", "act_add"})
    OCTET_CHECK(std::isfinite(n.attr_f(k, 0.f)), n.describe(), ": ", k, " ", n.attr_f(k, 0.f), " is not finite");
  const float s = n.attr_f("out_scale", 0.f);
  OCTET_CHECK(s > 0.f && std::isfinite(s), n.describe(), ": out_scale ", s, " must be positive and finite");
  OCTET_CHECK(n.op == OpType::QConv || n.inputs.size() < 4 || n.inputs[3] < 0, n.describe(),
              ": a non-linear epilogue activation cannot take a residual");
}

// NHWC 4-D int8 activation.
const Shape& nhwc_input(const InferCtx& c, int i) {
  check_dtype(c, i, DType::i8, "x");
  const Shape& x = c.input(i).shape;
  OCTET_CHECK(x.size() == 4, c.node.describe(), ": input ", i, " must be 4-D NHWC [N,H,W,C], got ", shape_str(x));
  return x;
}

// forward_window on the NCHW view of an NHWC input (no ceil_mode: Q pools are floor-mode). Its errors name
// the NCHW view, so say which NHWC tensor that was.
Window nhwc_window(const Node& n, const Shape& x, const Shape& kernel) {
  OCTET_CHECK(!n.has_attr("auto_pad"), n.describe(), ": auto_pad must be resolved into explicit pads");
  try {
    return forward_window(n, {x[0], x[3], x[1], x[2]}, kernel, false);
  } catch (const Error& e) {
    fail(e.what(), " (NHWC input ", shape_str(x), " seen as NCHW)");
  }
}

}  // namespace

void infer_Quantize(InferCtx& c) {
  check_dtype(c, 0, DType::f32, "x");
  const float scale = required_f(c.node, "scale");
  OCTET_CHECK(scale > 0.f && std::isfinite(scale), c.node.describe(), ": scale ", scale, " must be positive and finite");
  Shape s = c.input(0).shape;
  if (c.node.attr_i("to_nhwc", 0) != 0) {
    OCTET_CHECK(s.size() == 4, c.node.describe(), ": to_nhwc needs a 4-D NCHW input, got ", shape_str(s));
    s = {s[0], s[2], s[3], s[1]};
  }
  c.set(0, DType::i8, s);
}

void infer_Dequantize(InferCtx& c) {
  check_dtype(c, 0, DType::i8, "x");
  const float scale = required_f(c.node, "scale");
  OCTET_CHECK(std::isfinite(scale), c.node.describe(), ": scale ", scale, " is not finite");
  zero_point_attr(c.node, "zero_point");  // an int8 value
  Shape s = c.input(0).shape;
  if (c.node.attr_i("to_nchw", 0) != 0) {
    OCTET_CHECK(s.size() == 4, c.node.describe(), ": to_nchw needs a 4-D NHWC input, got ", shape_str(s));
    s = {s[0], s[3], s[1], s[2]};
  }
  c.set(0, DType::f32, s);
}

void infer_QConv(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = nhwc_input(c, 0);
  check_dtype(c, 1, DType::i8, "weight w");
  const Shape& w = c.input(1).shape;
  OCTET_CHECK(w.size() == 4, n.describe(), ": weight w must be 4-D [K, C/group, kh, kw], got ", shape_str(w));
  const int64_t C = x[3], K = w[0], g = n.attr_i("group", 1);
  OCTET_CHECK(g >= 1 && C % g == 0 && K % g == 0, n.describe(), ": group ", g, " must divide the ", C,
              " input channels of x ", shape_str(x), " and the ", K, " output channels of w ", shape_str(w));
  OCTET_CHECK(w[1] == C / g, n.describe(), ": w ", shape_str(w), " has ", w[1], " channels per group, x ",
              shape_str(x), " with group ", g, " has ", C / g);
  OCTET_CHECK(w[1] * w[2] * w[3] <= kMaxTaps, n.describe(), ": ", w[1] * w[2] * w[3],
              " products per output could overflow the int32 accumulator (at most ", kMaxTaps, ")");
  // x - x_zero_point spans up to 255 (not 128): half as many products fit.
  if (zero_point_attr(n, "x_zero_point") != 0)
    OCTET_CHECK(w[1] * w[2] * w[3] <= kMaxTaps / 2, n.describe(), ": ", w[1] * w[2] * w[3],
                " products per output with x_zero_point could overflow the int32 accumulator (at most ", kMaxTaps / 2, ")");
  if (n.attr_i("out_zero_point", 0) != 0)
    OCTET_CHECK(n.attr_i("act", 0) != 0 && zero_point_attr(n, "out_zero_point") != 0, n.describe(),
                ": out_zero_point needs a non-linear epilogue activation (act)");
  if (c.has(2)) {
    check_dtype(c, 2, DType::f32, "bias");
    OCTET_CHECK(c.input(2).shape == Shape{K}, n.describe(), ": bias ", shape_str(c.input(2).shape), " must be [", K,
                "] for w ", shape_str(w));
  }
  check_multiplier(n, K);
  check_act(n);
  const Window win = nhwc_window(n, x, {w[2], w[3]});
  const Shape y{x[0], win.out[0], win.out[1], K};
  if (c.has(3)) {
    check_dtype(c, 3, DType::i8, "residual");
    OCTET_CHECK(c.input(3).shape == y, n.describe(), ": residual ", shape_str(c.input(3).shape),
                " must have the output shape ", shape_str(y));
  }
  c.set(0, DType::i8, y);
}

void infer_QConvTranspose(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = nhwc_input(c, 0);
  check_dtype(c, 1, DType::i8, "weight w");
  const Shape& w = c.input(1).shape;
  OCTET_CHECK(w.size() == 4, n.describe(), ": weight w must be 4-D [C, K/group, kh, kw], got ", shape_str(w));
  const int64_t C = x[3], g = n.attr_i("group", 1);
  OCTET_CHECK(g >= 1 && C % g == 0 && w[0] == C, n.describe(), ": w ", shape_str(w), " must have the ", C,
              " input channels of x ", shape_str(x), " first, divisible by group ", g);
  const int64_t K = w[1] * g;
  // Each output sums at most C/group channels times the taps that land on it (all of them, at stride 1).
  OCTET_CHECK(C / g * w[2] * w[3] <= kMaxTaps, n.describe(), ": ", C / g * w[2] * w[3],
              " products per output could overflow the int32 accumulator (at most ", kMaxTaps, ")");
  OCTET_CHECK(n.inputs.size() < 4 || n.inputs[3] < 0, n.describe(), ": QConvTranspose takes no residual");
  if (c.has(2)) {
    check_dtype(c, 2, DType::f32, "bias");
    OCTET_CHECK(c.input(2).shape == Shape{K}, n.describe(), ": bias ", shape_str(c.input(2).shape), " must be [", K,
                "] for w ", shape_str(w), " and group ", g);
  }
  check_multiplier(n, K);
  check_act(n);
  const auto st = n.attr_ints("strides", {1, 1}), pads = n.attr_ints("pads", {0, 0, 0, 0}),
             dil = n.attr_ints("dilations", {1, 1});
  OCTET_CHECK(st.size() == 2 && pads.size() == 4 && dil.size() == 2, n.describe(),
              ": strides, dilations (2 values) and pads (4) expected");
  int64_t out[2];
  for (int d = 0; d < 2; ++d) {
    OCTET_CHECK(st[d] >= 1 && dil[d] >= 1 && pads[d] >= 0 && pads[d + 2] >= 0, n.describe(),
                ": strides and dilations must be positive and pads non-negative");
    out[d] = (x[1 + d] - 1) * st[d] + (w[2 + d] - 1) * dil[d] + 1 - pads[d] - pads[d + 2];
    OCTET_CHECK(out[d] >= 1, n.describe(), ": the pads crop the whole output of x ", shape_str(x));
  }
  c.set(0, DType::i8, Shape{x[0], out[0], out[1], K});
}

void infer_QResize(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = nhwc_input(c, 0);
  OCTET_CHECK(qresize_supported_modes(n.attr_s("mode", "nearest"), n.attr_s("coordinate_transformation_mode", "half_pixel"),
                                      n.attr_s("nearest_mode", "round_prefer_floor")),
              n.describe(), ": unsupported mode / coordinate_transformation_mode / nearest_mode");
  const std::vector<float> s = n.attr_floats("scales");
  OCTET_CHECK(s.size() == 2 && s[0] > 0.f && s[1] > 0.f && std::isfinite(s[0]) && std::isfinite(s[1]), n.describe(),
              ": scales must be two positive finite values [sh, sw]");
  const int64_t oh = static_cast<int64_t>(std::floor(static_cast<double>(x[1]) * static_cast<double>(s[0])));
  const int64_t ow = static_cast<int64_t>(std::floor(static_cast<double>(x[2]) * static_cast<double>(s[1])));
  c.set(0, DType::i8, Shape{x[0], oh, ow, x[3]});
}

void infer_QLinear(InferCtx& c) {
  const Node& n = c.node;
  check_dtype(c, 0, DType::i8, "x");
  check_dtype(c, 1, DType::i8, "weight w");
  const Shape& x = c.input(0).shape;
  const Shape& w = c.input(1).shape;
  OCTET_CHECK(!x.empty() && w.size() == 2 && w[1] == x.back(), n.describe(), ": x ", shape_str(x),
              " must be [..., K] and w ", shape_str(w), " [N, K] with the same K");
  OCTET_CHECK(w[1] <= kMaxTaps, n.describe(), ": K = ", w[1], " could overflow the int32 accumulator (at most ",
              kMaxTaps, ")");
  if (c.has(2)) {
    check_dtype(c, 2, DType::f32, "bias");
    OCTET_CHECK(c.input(2).shape == Shape{w[0]}, n.describe(), ": bias ", shape_str(c.input(2).shape), " must be [",
                w[0], "] for w ", shape_str(w));
  }
  check_multiplier(n, w[0]);
  check_act(n);
  Shape y = x;
  y.back() = w[0];
  c.set(0, DType::i8, y);
}

void infer_QAdd(InferCtx& c) {
  const Node& n = c.node;
  check_dtype(c, 0, DType::i8, "a");
  check_dtype(c, 1, DType::i8, "b");
  OCTET_CHECK(c.input(0).shape == c.input(1).shape, n.describe(), ": a ", shape_str(c.input(0).shape), " and b ",
              shape_str(c.input(1).shape), " must have the same shape (QAdd does not broadcast)");
  required_f(n, "scale_a");
  required_f(n, "scale_b");
  check_act(n);
  c.set(0, DType::i8, c.input(0).shape);
}

void infer_QMaxPool(InferCtx& c) {
  const Shape& x = nhwc_input(c, 0);
  const Window w = nhwc_window(c.node, x, c.node.attr_ints("kernel"));
  c.set(0, DType::i8, {x[0], w.out[0], w.out[1], x[3]});
}

void infer_QAvgPool(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = nhwc_input(c, 0);
  const float m = n.attr_f("multiplier", 1.f);
  OCTET_CHECK(std::isfinite(m), n.describe(), ": multiplier ", m, " is not finite");
  // x - x_zero_point spans up to 255 (not 128): half as many values fit the int32 sum.
  const int64_t max_taps = zero_point_attr(n, "x_zero_point") != 0 ? int64_t{1} << 23 : int64_t{1} << 24;
  if (n.attr_i("global", 0) != 0) {
    // kernel = H x W; kernel, strides and pads attributes are not read.
    OCTET_CHECK(x[1] * x[2] <= max_taps, n.describe(), ": ", x[1] * x[2],
                " values per window could overflow the int32 sum");
    c.set(0, DType::i8, {x[0], 1, 1, x[3]});
    return;
  }
  const Window w = nhwc_window(n, x, n.attr_ints("kernel"));
  OCTET_CHECK(w.kernel[0] * w.kernel[1] <= max_taps, n.describe(), ": kernel ", w.kernel[0], "x",
              w.kernel[1], " could overflow the int32 window sum");
  c.set(0, DType::i8, {x[0], w.out[0], w.out[1], x[3]});
}

void infer_QMulGate(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = nhwc_input(c, 0);
  check_dtype(c, 1, DType::f32, "g");
  const int64_t gn = numel(c.input(1).shape);
  OCTET_CHECK(gn == x[0] * x[3] || gn == x[3], n.describe(), ": gate ", shape_str(c.input(1).shape),
              " must hold N*C (", x[0] * x[3], ") or C (", x[3], ") values for x ", shape_str(x));
  const float s = required_f(n, "scale");
  OCTET_CHECK(std::isfinite(s), n.describe(), ": scale ", s, " is not finite");
  const int64_t ga = n.attr_i("gate_act", 0);
  OCTET_CHECK(ga == 0 || ga == 1, n.describe(), ": unknown gate_act ", ga, " (0: none, 1: HardSigmoid)");
  OCTET_CHECK(std::isfinite(n.attr_f("gate_alpha", 0.2f)) && std::isfinite(n.attr_f("gate_beta", 0.5f)), n.describe(),
              ": gate_alpha / gate_beta not finite");
  zero_point_attr(n, "x_zero_point");  // int8 values
  zero_point_attr(n, "out_zero_point");
  c.set(0, DType::i8, x);
}

void infer_QConcat(InferCtx& c) {
  const Node& n = c.node;
  OCTET_CHECK(c.num_inputs() >= 1, n.describe(), ": needs at least one input");
  const std::vector<float> scales = n.attr_floats("scales", std::vector<float>(c.in.size(), 1.f));
  OCTET_CHECK(scales.size() == c.in.size(), n.describe(), ": attribute scales has ", scales.size(),
              " values for ", c.in.size(), " inputs");
  for (float s : scales) OCTET_CHECK(std::isfinite(s), n.describe(), ": scale ", s, " is not finite");
  OCTET_CHECK(n.has_attr("axis"), n.describe(), ": attribute axis is required");
  Shape y = c.input(0).shape;
  const int axis = normalize_axis(n, n.attr_i("axis", 0), static_cast<int>(y.size()));
  y[static_cast<size_t>(axis)] = 0;
  for (int i = 0; i < c.num_inputs(); ++i) {
    check_dtype(c, i, DType::i8, "x");
    const Shape& s = c.input(i).shape;
    bool ok = s.size() == y.size();
    for (size_t d = 0; ok && d < s.size(); ++d) ok = static_cast<int>(d) == axis || s[d] == y[d];
    OCTET_CHECK(ok, n.describe(), ": input ", i, " ", shape_str(s), " does not match input 0 ",
                shape_str(c.input(0).shape), " outside axis ", axis);
    y[static_cast<size_t>(axis)] += s[static_cast<size_t>(axis)];
  }
  c.set(0, DType::i8, y);
}

}  // namespace octet
