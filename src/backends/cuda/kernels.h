// The cuda backend's kernels as per-output-element bodies: plain structs of pointers and sizes (Args) and a
// `__host__ __device__` function computing one output value from its flat index. The __global__ wrapper
// (kernels.cu) only maps threads to indices; run_on_host below runs the same body over the same indices on
// the CPU, which is how tests/cuda/ checks every body against ref on machines without a GPU. Every INT8 value
// comes from one src/quant/quant.h function, so the bodies agree with ref and cpu bit for bit; products are
// summed in int32 (exact, in any order). These are the simple, correct kernels (one thread per output value,
// no tiling); the fast paths of issue 14 (wgmma implicit GEMM, cuDNN, cuBLASLt) will be checked against them.
//
// Layouts (contracts in src/ir/qops.h): INT8 activations NHWC; QConv weights [K, C/group, kh, kw]; QLinear
// weights [N, K]; everything dense, row-major.
#pragma once

#include <cstdint>

#include "quant/quant.h"

namespace octet::cuda {

// Geometry of a 2-D NHWC window op: output (oh, ow) reads input rows oh*sh - pt + i*dh, cols ow*sw - pl + j*dw.
struct Win2 {
  int64_t N, H, W, C, OH, OW, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
};

struct QConvArgs {
  const int8_t* x;           // [N, H, W, C]
  const int8_t* w;           // [K, C/group, kh, kw]
  const float* bias;         // [K] accumulator units, or nullptr
  const int8_t* residual;    // [N, OH, OW, K], or nullptr
  const float* multiplier;   // [K]
  int8_t* y;                 // [N, OH, OW, K]
  Win2 win;
  int64_t K, group;
  quant::EpilogueArgs ep;
  int32_t xzp;  // x_zero_point: acc = sum w * (x - xzp); a padded tap adds nothing
  int64_t count() const { return win.N * win.OH * win.OW * K; }
};
struct QConvBody {
  using Args = QConvArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t k = o % a.K, pix = o / a.K;
    const int64_t ow = pix % w.OW, oh = pix / w.OW % w.OH, n = pix / (w.OW * w.OH);
    const int64_t Cg = w.C / a.group, Kg = a.K / a.group, c0 = k / Kg * Cg, taps = w.kh * w.kw;
    const int8_t* wk = a.w + k * Cg * taps;  // w[k, c, i, j] = wk[c * taps + i * kw + j]
    int32_t acc = 0;
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.pt + i * w.dh;
      if (ih < 0 || ih >= w.H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pl + j * w.dw;
        if (iw < 0 || iw >= w.W) continue;
        const int8_t* xp = a.x + ((n * w.H + ih) * w.W + iw) * w.C + c0;
        const int64_t tap = i * w.kw + j;
        for (int64_t c = 0; c < Cg; ++c) acc += (int32_t{xp[c]} - a.xzp) * int32_t{wk[c * taps + tap]};
      }
    }
    a.y[o] = quant::epilogue(a.ep, acc, a.bias ? a.bias[k] : 0.f, a.multiplier[k],
                             a.residual ? a.residual + o : nullptr);
  }
};

struct QLinearArgs {
  const int8_t* x;          // [rows, K]
  const int8_t* w;          // [Nout, K]
  const float* bias;        // [Nout] or nullptr
  const float* multiplier;  // [Nout]
  int8_t* y;                // [rows, Nout]
  int64_t rows, K, Nout;
  quant::EpilogueArgs ep;
  int64_t count() const { return rows * Nout; }
};
struct QLinearBody {
  using Args = QLinearArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t r = o / a.Nout, j = o % a.Nout;
    int32_t acc = 0;
    for (int64_t k = 0; k < a.K; ++k) acc += int32_t{a.x[r * a.K + k]} * int32_t{a.w[j * a.K + k]};
    a.y[o] = quant::epilogue(a.ep, acc, a.bias ? a.bias[j] : 0.f, a.multiplier[j], nullptr);
  }
};

struct QAddArgs {
  const int8_t *a, *b;
  int8_t* y;
  int64_t n;
  float scale_a, scale_b, act_lo, act_hi;
  int64_t count() const { return n; }
};
struct QAddBody {
  using Args = QAddArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const {
    a.y[i] = quant::add(a.a[i], a.scale_a, a.b[i], a.scale_b, a.act_lo, a.act_hi);
  }
};

struct QMulGateArgs {
  const int8_t* x;  // [N, HW, C]
  const float* g;   // [N, C] (per_image) or [C]
  int8_t* y;
  int64_t N, HW, C;
  bool per_image;
  float ratio;
  int32_t x_zp, out_zp;  // x_zero_point, out_zero_point (0: symmetric)
  int64_t count() const { return N * HW * C; }
};
struct QMulGateBody {
  using Args = QMulGateArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const {
    const int64_t c = i % a.C, n = i / (a.HW * a.C);
    a.y[i] = quant::rescale_zp(a.x[i], a.x_zp, quant::gate_multiplier(a.g[a.per_image ? n * a.C + c : c], a.ratio),
                               a.out_zp);
  }
};

struct QPoolArgs {
  const int8_t* x;  // [N, H, W, C]
  int8_t* y;        // [N, OH, OW, C]
  Win2 win;
  bool include_pad;  // QAvgPool: count_include_pad
  float multiplier;  // QAvgPool: s_x / s_y
  int32_t x_zp;      // QAvgPool: x_zero_point (each tap inside the input adds x - x_zp)
  int64_t count() const { return win.N * win.OH * win.OW * win.C; }
};
// Only taps inside the image compete; a window entirely in the padding gives -128 (as ref).
struct QMaxPoolBody {
  using Args = QPoolArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t c = o % w.C, pix = o / w.C;
    const int64_t ow = pix % w.OW, oh = pix / w.OW % w.OH, n = pix / (w.OW * w.OH);
    int8_t m = -128;
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.pt + i * w.dh;
      if (ih < 0 || ih >= w.H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pl + j * w.dw;
        if (iw < 0 || iw >= w.W) continue;
        const int8_t v = a.x[((n * w.H + ih) * w.W + iw) * w.C + c];
        m = v > m ? v : m;
      }
    }
    a.y[o] = m;
  }
};
// Window sum times multiplier / count (quant::average); count excludes padding unless include_pad; a window
// with nothing to count gives 0.
struct QAvgPoolBody {
  using Args = QPoolArgs;
  OCTET_HD static int64_t padded_taps(int64_t o, int64_t s, int64_t p0, int64_t d, int64_t k, int64_t in, int64_t p1) {
    int64_t t = 0;
    for (int64_t i = 0; i < k; ++i) t += o * s - p0 + i * d < in + p1;
    return t;
  }
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t c = o % w.C, pix = o / w.C;
    const int64_t ow = pix % w.OW, oh = pix / w.OW % w.OH, n = pix / (w.OW * w.OH);
    int32_t sum = 0, count = 0;
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.pt + i * w.dh;
      if (ih < 0 || ih >= w.H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pl + j * w.dw;
        if (iw < 0 || iw >= w.W) continue;
        sum += a.x[((n * w.H + ih) * w.W + iw) * w.C + c] - a.x_zp;
        ++count;
      }
    }
    if (a.include_pad)
      count = static_cast<int32_t>(padded_taps(oh, w.sh, w.pt, w.dh, w.kh, w.H, w.pb) *
                                   padded_taps(ow, w.sw, w.pl, w.dw, w.kw, w.W, w.pr));
    a.y[o] = count > 0 ? quant::average(sum, count, a.multiplier) : int8_t{0};
  }
};

// One input of a QConcat: x is [outer, len] placed at column `col` of y's [outer, row].
struct QConcatPartArgs {
  const int8_t* x;
  int8_t* y;
  int64_t outer, len, row, col;
  float scale;  // s_i / s_y (rescale(q, 1) == q)
  int64_t count() const { return outer * len; }
};
struct QConcatPartBody {
  using Args = QConcatPartArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const {
    a.y[i / a.len * a.row + a.col + i % a.len] = quant::rescale(a.x[i], a.scale);
  }
};

// Quantize: y[i] = quantize(x[i]); with to_nhwc, x is [N, C, HW] and y [N, HW, C] (the index is y's).
struct QuantizeArgs {
  const float* x;
  int8_t* y;
  int64_t n, N, C, HW;
  bool to_nhwc;
  float scale;
  int64_t count() const { return n; }
};
struct QuantizeBody {
  using Args = QuantizeArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    int64_t src = o;
    if (a.to_nhwc) {
      const int64_t c = o % a.C, p = o / a.C % a.HW, n = o / (a.C * a.HW);
      src = (n * a.C + c) * a.HW + p;
    }
    a.y[o] = quant::quantize(a.x[src], a.scale);
  }
};
// Dequantize: y[i] = dequantize_zp(x[i], zero_point); with to_nchw, x is [N, HW, C] and y [N, C, HW] (the index is y's).
struct DequantizeArgs {
  const int8_t* x;
  float* y;
  int64_t n, N, C, HW;
  bool to_nchw;
  float scale;
  int32_t zero_point;
  int64_t count() const { return n; }
};
struct DequantizeBody {
  using Args = DequantizeArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    int64_t src = o;
    if (a.to_nchw) {
      const int64_t p = o % a.HW, c = o / a.HW % a.C, n = o / (a.HW * a.C);
      src = (n * a.HW + p) * a.C + c;
    }
    a.y[o] = quant::dequantize_zp(a.x[src], a.zero_point, a.scale);
  }
};

// The CPU twin of a launch: the same body over the same indices, in order.
template <class Body>
void run_on_host(const typename Body::Args& a) {
  const Body body{};
  const int64_t n = a.count();
  for (int64_t i = 0; i < n; ++i) body(a, i);
}

}  // namespace octet::cuda
