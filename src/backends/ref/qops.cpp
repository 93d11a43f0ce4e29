// Reference kernels of the internal INT8 ops (Quantize ... QConcat; contracts in src/ir/qops.h).
// They are the oracle every fast INT8 kernel must match bit for bit, so they are plain loops: every output
// value comes from one call of a src/quant/quant.h function, window taps are bounds-tested one by one
// (padding contributes nothing and never wins a max), and products are summed in int32 (infer_Q* bounds the
// number of products so the sum cannot overflow). Shapes, dtypes and attributes were validated by
// infer_Q* (ir/infer_quant.cpp); here they are only asserted.
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <vector>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "ir/window.h"
#include "ir/qops.h"
#include "ir/qresize.h"
#include "quant/quant.h"

namespace octet {

namespace {

// 2-D window of an NHWC op: output (oh, ow) reads input rows oh*sh - pt + i*dh, cols ow*sw - pl + j*dw.
struct Win2 {
  int64_t H, W, OH, OW, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
};

// The geometry of infer_Q*: forward_window on the NCHW view of x (pads [t, l, b, r]); `global` = whole image.
Win2 nhwc_window(const Node& n, const Shape& x, const Shape& kernel, bool global) {
  if (global) return {x[1], x[2], 1, 1, x[1], x[2], 1, 1, 1, 1, 0, 0, 0, 0};
  const Window w = forward_window(n, {x[0], x[3], x[1], x[2]}, kernel, false);
  return {x[1], x[2], w.out[0], w.out[1], w.kernel[0], w.kernel[1], w.strides[0], w.strides[1],
          w.dilations[0], w.dilations[1], w.pad_begin[0], w.pad_begin[1], w.pad_end[0], w.pad_end[1]};
}

// Calls f(tap, ih, iw) for each tap (tap = i * kw + j) of output (oh, ow) that lies inside the image.
template <typename F>
void for_taps(const Win2& w, int64_t oh, int64_t ow, F&& f) {
  for (int64_t i = 0; i < w.kh; ++i) {
    const int64_t ih = oh * w.sh - w.pt + i * w.dh;
    if (ih < 0 || ih >= w.H) continue;
    for (int64_t j = 0; j < w.kw; ++j) {
      const int64_t iw = ow * w.sw - w.pl + j * w.dw;
      if (iw >= 0 && iw < w.W) f(i * w.kw + j, ih, iw);
    }
  }
}

}  // namespace

void ref_Quantize(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const float scale = a.node.attr_f("scale", 1.f);
  const float* x = X.data<float>();
  int8_t* y = a.output(0).data<int8_t>();
  if (a.node.attr_i("to_nhwc", 0) == 0) {
    for (int64_t i = 0; i < X.numel(); ++i) y[i] = quant::quantize(x[i], scale);
    return;
  }
  const int64_t N = X.dim(0), C = X.dim(1), HW = X.dim(2) * X.dim(3);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) y[(n * HW + p) * C + c] = quant::quantize(x[(n * C + c) * HW + p], scale);
}

void ref_Dequantize(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const float scale = a.node.attr_f("scale", 1.f);
  const int32_t zp = zero_point_attr(a.node, "zero_point");
  const int8_t* x = X.data<int8_t>();
  float* y = a.output(0).data<float>();
  if (a.node.attr_i("to_nchw", 0) == 0) {
    for (int64_t i = 0; i < X.numel(); ++i) y[i] = quant::dequantize_zp(x[i], zp, scale);
    return;
  }
  const int64_t N = X.dim(0), HW = X.dim(1) * X.dim(2), C = X.dim(3);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p)
        y[(n * C + c) * HW + p] = quant::dequantize_zp(x[(n * HW + p) * C + c], zp, scale);
}

void ref_QConv(const OpArgs& a) {
  const Node& nd = a.node;
  const Tensor& X = a.input(0);
  const Tensor& Wt = a.input(1);
  const Win2 w = nhwc_window(nd, X.shape(), {Wt.dim(2), Wt.dim(3)}, false);
  const int64_t N = X.dim(0), C = X.dim(3), K = Wt.dim(0), G = nd.attr_i("group", 1);
  const int64_t Cg = C / G, Kg = K / G, taps = w.kh * w.kw;
  const QEpilogue ep = QEpilogue::of(nd);
  const int32_t xzp = zero_point_attr(nd, "x_zero_point");  // padded taps are skipped: a real zero
  assert(static_cast<int64_t>(ep.multiplier.size()) == K && Wt.dim(1) == Cg);
  const int8_t* x = X.data<int8_t>();
  const int8_t* wt = Wt.data<int8_t>();
  const float* bias = a.has(2) ? a.input(2).data<float>() : nullptr;
  const int8_t* res = a.has(3) ? a.input(3).data<int8_t>() : nullptr;
  int8_t* y = a.output(0).data<int8_t>();

  // One output pixel (all K channels) per iteration; y and the residual are [N, OH, OW, K].
#pragma omp parallel for schedule(static)
  for (int64_t pix = 0; pix < N * w.OH * w.OW; ++pix) {
    const int64_t n = pix / (w.OH * w.OW), oh = pix / w.OW % w.OH, ow = pix % w.OW;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t c0 = k / Kg * Cg;  // first input channel of k's group
      const int8_t* wk = wt + k * Cg * taps;  // w[k, c, i, j] = wk[c * taps + i * kw + j]
      int32_t acc = 0;
      for_taps(w, oh, ow, [&](int64_t tap, int64_t ih, int64_t iw) {
        const int8_t* xp = x + ((n * w.H + ih) * w.W + iw) * C + c0;
        for (int64_t c = 0; c < Cg; ++c) acc += (int32_t{xp[c]} - xzp) * int32_t{wk[c * taps + tap]};
      });
      const int64_t o = pix * K + k;
      y[o] = ep.apply(acc, bias ? bias[k] : 0.f, static_cast<size_t>(k), res ? res + o : nullptr);
    }
  }
}

// Gather form: output (oh, ow) sums the taps (i, j) whose input pixel ih = (oh + pt - i*dh) / sh (and the same
// for w) is a whole number inside the image.
void ref_QConvTranspose(const OpArgs& a) {
  const Node& nd = a.node;
  const Tensor& X = a.input(0);
  const Tensor& Wt = a.input(1);
  const Tensor& Y = a.output(0);
  const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2), C = X.dim(3), G = nd.attr_i("group", 1);
  const int64_t Kg = Wt.dim(1), kh = Wt.dim(2), kw = Wt.dim(3), K = Kg * G, Cg = C / G;
  const int64_t OH = Y.dim(1), OW = Y.dim(2);
  const auto st = nd.attr_ints("strides", {1, 1}), pads = nd.attr_ints("pads", {0, 0, 0, 0}),
             dil = nd.attr_ints("dilations", {1, 1});
  const QEpilogue ep = QEpilogue::of(nd);
  assert(static_cast<int64_t>(ep.multiplier.size()) == K && Wt.dim(0) == C && Y.dim(3) == K);
  const int8_t* x = X.data<int8_t>();
  const int8_t* wt = Wt.data<int8_t>();
  const float* bias = a.has(2) ? a.input(2).data<float>() : nullptr;
  int8_t* y = a.output(0).data<int8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t pix = 0; pix < N * OH * OW; ++pix) {
    const int64_t n = pix / (OH * OW), oh = pix / OW % OH, ow = pix % OW;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t g = k / Kg, kk = k % Kg;
      int32_t acc = 0;
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t th = oh + pads[0] - i * dil[0];
        if (th < 0 || th % st[0] != 0 || th / st[0] >= H) continue;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t tw = ow + pads[1] - j * dil[1];
          if (tw < 0 || tw % st[1] != 0 || tw / st[1] >= W) continue;
          const int8_t* xp = x + ((n * H + th / st[0]) * W + tw / st[1]) * C + g * Cg;
          for (int64_t c = 0; c < Cg; ++c)  // w[g*Cg + c, kk, i, j]
            acc += int32_t{xp[c]} * int32_t{wt[(((g * Cg + c) * Kg + kk) * kh + i) * kw + j]};
        }
      }
      y[pix * K + k] = ep.apply(acc, bias ? bias[k] : 0.f, static_cast<size_t>(k), nullptr);
    }
  }
}

void ref_QResize(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const Tensor& Y = a.output(0);
  const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2), C = X.dim(3), OH = Y.dim(1), OW = Y.dim(2);
  const std::vector<float> sc = a.node.attr_floats("scales");
  const ResizeAxisTable th = qresize_axis(a.node, H, OH, sc[0]), tw = qresize_axis(a.node, W, OW, sc[1]);
  const bool linear = qresize_linear(a.node);
  const int8_t* x = X.data<int8_t>();
  int8_t* y = a.output(0).data<int8_t>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          auto at = [&](int64_t ih, int64_t iw) { return x[((n * H + ih) * W + iw) * C + c]; };
          const size_t h = static_cast<size_t>(oh), w = static_cast<size_t>(ow);
          y[((n * OH + oh) * OW + ow) * C + c] =
              linear ? quant::lerp2d(at(th.i0[h], tw.i0[w]), at(th.i0[h], tw.i1[w]), at(th.i1[h], tw.i0[w]),
                                     at(th.i1[h], tw.i1[w]), tw.w1[w], th.w1[h])
                     : at(th.i0[h], tw.i0[w]);
        }
}

void ref_QLinear(const OpArgs& a) {
  const Node& nd = a.node;
  const Tensor& X = a.input(0);
  const Tensor& Wt = a.input(1);
  const int64_t Nout = Wt.dim(0), K = Wt.dim(1);
  int64_t rows = 1;  // x is [rows, K] flattened
  for (int d = 0; d + 1 < X.rank(); ++d) rows *= X.dim(d);
  const QEpilogue ep = QEpilogue::of(nd);
  assert(static_cast<int64_t>(ep.multiplier.size()) == Nout && X.dim(-1) == K);
  const int8_t* x = X.data<int8_t>();
  const int8_t* wt = Wt.data<int8_t>();
  const float* bias = a.has(2) ? a.input(2).data<float>() : nullptr;
  int8_t* y = a.output(0).data<int8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < Nout; ++j) {
      int32_t acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += int32_t{x[r * K + k]} * int32_t{wt[j * K + k]};
      y[r * Nout + j] = ep.apply(acc, bias ? bias[j] : 0.f, static_cast<size_t>(j), nullptr);
    }
}

void ref_QAdd(const OpArgs& a) {
  const Node& nd = a.node;
  const float sa = nd.attr_f("scale_a", 1.f), sb = nd.attr_f("scale_b", 1.f);
  const float lo = nd.attr_f("act_lo", quant::kNoLo), hi = nd.attr_f("act_hi", quant::kNoHi);
  assert(a.input(0).shape() == a.input(1).shape());
  const int8_t* pa = a.input(0).data<int8_t>();
  const int8_t* pb = a.input(1).data<int8_t>();
  int8_t* y = a.output(0).data<int8_t>();
  for (int64_t i = 0; i < a.output(0).numel(); ++i) y[i] = quant::add(pa[i], sa, pb[i], sb, lo, hi);
}

void ref_QMulGate(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const int64_t N = X.dim(0), HW = X.dim(1) * X.dim(2), C = X.dim(3);
  const float ratio = a.node.attr_f("scale", 1.f);
  const bool per_image = a.input(1).numel() == N * C;
  const bool hard = a.node.attr_i("gate_act", 0) == 1;
  const float alpha = a.node.attr_f("gate_alpha", 0.2f), beta = a.node.attr_f("gate_beta", 0.5f);
  const int32_t xzp = zero_point_attr(a.node, "x_zero_point"), yzp = zero_point_attr(a.node, "out_zero_point");
  const float* g = a.input(1).data<float>();
  const int8_t* x = X.data<int8_t>();
  int8_t* y = a.output(0).data<int8_t>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = (n * HW + p) * C + c;
        const float gv = g[per_image ? n * C + c : c];
        const float m = quant::gate_multiplier(hard ? quant::hard_sigmoid(gv, alpha, beta) : gv, ratio);
        y[i] = quant::rescale_zp(x[i], xzp, m, yzp);
      }
}

void ref_QMaxPool(const OpArgs& a) {
  const Tensor& X = a.input(0);
  const Win2 w = nhwc_window(a.node, X.shape(), a.node.attr_ints("kernel"), false);
  const int64_t N = X.dim(0), C = X.dim(3);
  const int8_t* x = X.data<int8_t>();
  int8_t* y = a.output(0).data<int8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t pix = 0; pix < N * w.OH * w.OW; ++pix) {
    const int64_t n = pix / (w.OH * w.OW), oh = pix / w.OW % w.OH, ow = pix % w.OW;
    int8_t* yp = y + pix * C;
    // Only taps inside the image compete; a window entirely in the padding gives -128.
    for (int64_t c = 0; c < C; ++c) yp[c] = -128;
    for_taps(w, oh, ow, [&](int64_t, int64_t ih, int64_t iw) {
      const int8_t* xp = x + ((n * w.H + ih) * w.W + iw) * C;
      for (int64_t c = 0; c < C; ++c) yp[c] = std::max(yp[c], xp[c]);
    });
  }
}

void ref_QAvgPool(const OpArgs& a) {
  const Node& nd = a.node;
  const Tensor& X = a.input(0);
  const bool global = nd.attr_i("global", 0) != 0;
  const Win2 w = nhwc_window(nd, X.shape(), global ? Shape{} : nd.attr_ints("kernel"), global);
  const bool include_pad = nd.attr_i("count_include_pad", 0) != 0;
  const float mult = nd.attr_f("multiplier", 1.f);
  const int32_t zp = zero_point_attr(nd, "x_zero_point");
  const int64_t N = X.dim(0), C = X.dim(3);
  const int8_t* x = X.data<int8_t>();
  int8_t* y = a.output(0).data<int8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t pix = 0; pix < N * w.OH * w.OW; ++pix) {
    const int64_t n = pix / (w.OH * w.OW), oh = pix / w.OW % w.OH, ow = pix % w.OW;
    int32_t count = 0;
    for_taps(w, oh, ow, [&](int64_t, int64_t, int64_t) { ++count; });
    if (include_pad) {
      // Taps inside the padded extent [-pad_begin, in + pad_end) per dim (all of them in floor mode).
      auto padded = [](int64_t o, int64_t s, int64_t p0, int64_t d, int64_t k, int64_t in, int64_t p1) {
        int64_t t = 0;
        for (int64_t i = 0; i < k; ++i) t += o * s - p0 + i * d < in + p1;
        return t;
      };
      count = static_cast<int32_t>(padded(oh, w.sh, w.pt, w.dh, w.kh, w.H, w.pb) *
                                   padded(ow, w.sw, w.pl, w.dw, w.kw, w.W, w.pr));
    }
    // A window with nothing to count (entirely padding, count_include_pad=0) averages to 0.
    for (int64_t c = 0; c < C; ++c) {
      int32_t sum = 0;
      for_taps(w, oh, ow, [&](int64_t, int64_t ih, int64_t iw) { sum += x[((n * w.H + ih) * w.W + iw) * C + c] - zp; });
      y[pix * C + c] = count > 0 ? quant::average(sum, count, mult) : 0;
    }
  }
}

void ref_QConcat(const OpArgs& a) {
  const Node& nd = a.node;
  Tensor& Y = a.output(0);
  const int axis = normalize_axis(nd, nd.attr_i("axis", 0), Y.rank());
  const std::vector<float> scales = nd.attr_floats("scales", std::vector<float>(a.in.size(), 1.f));
  // Each input is [outer, len_i * inner] rows placed at column offset `col` of Y's [outer, total * inner].
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= Y.dim(d);
  for (int d = axis + 1; d < Y.rank(); ++d) inner *= Y.dim(d);
  const int64_t row = Y.dim(axis) * inner;
  int8_t* y = Y.data<int8_t>();
  int64_t col = 0;
  for (size_t i = 0; i < a.in.size(); ++i) {
    const Tensor& X = a.input(static_cast<int>(i));
    const int64_t len = X.dim(axis) * inner;
    const int8_t* x = X.data<int8_t>();
    const float s = scales[i];  // rescale(q, 1) == q: the plain copy of the contract
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len; ++j) y[o * row + col + j] = quant::rescale(x[o * len + j], s);
    col += len;
  }
}

}  // namespace octet
