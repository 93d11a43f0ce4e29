// FP32 (and layout) kernel bodies of the cuda backend for the ops that INT8 plans keep in FP32 around their
// int8 layers (layout changes, reshapes, element-wise arithmetic, concat, global pooling), in the style of
// kernels.h: an Args struct and a per-output-element `__host__ __device__` body. Results are compared with ref
// within a tolerance (STYLE.md), not bit for bit (a global average may sum in another order).
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/cuda/kernels.h"  // Win2
#include "quant/quant.h"

namespace octet::cuda {

inline constexpr int kMaxRank = 6;

// ToNhwc / ToNchw of 1- or 4-byte elements: y[n, a, b, c] = x[n, ...] with x's [N, D1, D2, D3] and y's
// [N, D2·D3 ... ] given as: y index (n, q, r) over [N, P, Q] maps to x's (n, r, q) over [N, Q, P]
// (ToNhwc: P = HW, Q = C; ToNchw: P = C, Q = HW).
struct TransposeArgs {
  const void* x;
  void* y;
  int64_t N, P, Q;
  int elem_bytes;  // 1 or 4
  int64_t count() const { return N * P * Q; }
};
struct TransposeBody {
  using Args = TransposeArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t q = o % a.Q, p = o / a.Q % a.P, n = o / (a.P * a.Q);
    const int64_t src = (n * a.Q + q) * a.P + p;
    if (a.elem_bytes == 4) static_cast<float*>(a.y)[o] = static_cast<const float*>(a.x)[src];
    else static_cast<int8_t*>(a.y)[o] = static_cast<const int8_t*>(a.x)[src];
  }
};

// Add / Sub / Mul / Div of f32 with numpy broadcasting: y's dims, and per input the element stride of each of
// y's dims (0 where the input is broadcast along it). Relu (a unary op) is op 4 with b unused.
enum class BinOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3, Relu = 4 };
struct BinaryArgs {
  const float* a;
  const float* b;
  float* y;
  int rank;
  int64_t dims[kMaxRank], sa[kMaxRank], sb[kMaxRank];
  BinOp op;
  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
};
struct BinaryBody {
  using Args = BinaryArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    int64_t ia = 0, ib = 0, rest = o;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t i = rest % a.dims[d];
      rest /= a.dims[d];
      ia += i * a.sa[d];
      ib += i * a.sb[d];
    }
    const float x = a.a[ia];
    float v = 0.f;
    switch (a.op) {
      case BinOp::Add: v = x + a.b[ib]; break;
      case BinOp::Sub: v = x - a.b[ib]; break;
      case BinOp::Mul: v = x * a.b[ib]; break;
      case BinOp::Div: v = x / a.b[ib]; break;
      case BinOp::Relu: v = x < 0.f ? 0.f : x; break;
    }
    a.y[o] = v;
  }
};

// One input of an FP32 Concat, as QConcatPartArgs without the rescale.
struct ConcatPartArgs {
  const float* x;
  float* y;
  int64_t outer, len, row, col;
  int64_t count() const { return outer * len; }
};
struct ConcatPartBody {
  using Args = ConcatPartArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const { a.y[i / a.len * a.row + a.col + i % a.len] = a.x[i]; }
};

// BatchNormalization (inference) on f32 [N, C, plane...]: ref's formula literally, y = (x - mean) / sqrt(var +
// eps) * scale + shift, each operation rounded on its own (sqrtf and the division are correctly rounded on the
// GPU too: no fast-math), so bit-identical to ref.
struct BatchNormArgs {
  const float *x, *scale, *shift, *mean, *var;
  float* y;
  int64_t n, C, plane;
  float eps;
  int64_t count() const { return n; }
};
struct BatchNormBody {
  using Args = BatchNormArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t c = o / a.plane % a.C;
    const float sd = sqrtf(a.var[c] + a.eps);
    a.y[o] = (a.x[o] - a.mean[c]) / sd * a.scale[c] + a.shift[c];
  }
};

// PoolNhwc with global=1 on f32 [N, HW, C] -> [N, 1, 1, C]: the maximum, or the mean as ref computes it (a
// double sum in pixel order divided in double, then rounded to float: bit-identical to ref).
struct GlobalPoolArgs {
  const float* x;
  float* y;
  int64_t N, HW, C;
  bool max;
  int64_t count() const { return N * C; }
};
struct GlobalPoolBody {
  using Args = GlobalPoolArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t c = o % a.C, n = o / a.C;
    const float* x = a.x + n * a.HW * a.C + c;
    if (a.max) {
      float m = x[0];
      for (int64_t p = 1; p < a.HW; ++p) m = quant::fp::max(m, x[p * a.C]);
      a.y[o] = m;
      return;
    }
    double s = 0;
    for (int64_t p = 0; p < a.HW; ++p) s += x[p * a.C];
    a.y[o] = static_cast<float>(s / static_cast<double>(a.HW));
  }
};

// ---- FP32 compute ops (the rest of an FP32 forward: calibration's, FP32 layers of INT8 plans) ----
// Each sums in ref's order (backends/ref/conv.cpp, matmul.cpp, pool.cpp, norm.cpp) with the same float /
// double types, so on the CPU these bodies give ref's values (and on the GPU, where the device compiles
// with --fmad=false, only expf/exp and friends may differ in the last bits: compared within a tolerance).

// A fused FP32 post-op (ir/graph.h Activation), as ref's apply_activation.
struct PostF32 {
  int act;  // static_cast<int>(Activation): 0 None, 1 Relu, 2 Clip, 3 Sigmoid, 4 HardSwish, 5 LeakyRelu, 6 Silu
  float alpha, beta;
};
OCTET_HD inline float post_f32(const PostF32& p, float v) {
  switch (p.act) {
    case 1: return v > 0.f ? v : 0.f;
    case 2: return quant::fp::min(quant::fp::max(v, p.alpha), p.beta);
    case 3: return 1.f / (1.f + expf(-v));
    case 4: return v * quant::fp::min(quant::fp::max(v / 6.f + 0.5f, 0.f), 1.f);
    case 5: return v >= 0.f ? v : v * p.alpha;
    case 6: return v / (1.f + expf(-v));
    default: return v;
  }
}

// ConvNhwc: x [N, H, W, C], w [K, C/group, kh, kw] (OIHW), bias [K] or null, residual [N, OH, OW, K] or null.
// Sum over channel, then tap (ref's order), then + bias, + residual, activation.
struct ConvF32Args {
  const float *x, *w, *bias, *residual;
  float* y;
  Win2 win;
  int64_t K, group;
  PostF32 post;
  int64_t count() const { return win.N * win.OH * win.OW * K; }
};
struct ConvF32Body {
  using Args = ConvF32Args;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t k = o % a.K, pix = o / a.K;
    const int64_t ow = pix % w.OW, oh = pix / w.OW % w.OH, n = pix / (w.OW * w.OH);
    const int64_t Cg = w.C / a.group, Kg = a.K / a.group, c0 = k / Kg * Cg, taps = w.kh * w.kw;
    const float* wk = a.w + k * Cg * taps;
    float acc = 0.f;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t i = 0; i < w.kh; ++i) {
        const int64_t ih = oh * w.sh - w.pt + i * w.dh;
        if (ih < 0 || ih >= w.H) continue;
        for (int64_t j = 0; j < w.kw; ++j) {
          const int64_t iw = ow * w.sw - w.pl + j * w.dw;
          if (iw < 0 || iw >= w.W) continue;
          acc += wk[c * taps + i * w.kw + j] * a.x[((n * w.H + ih) * w.W + iw) * w.C + c0 + c];
        }
      }
    float v = acc + (a.bias ? a.bias[k] : 0.f);
    if (a.residual) v += a.residual[o];
    a.y[o] = post_f32(a.post, v);
  }
};

// Windowed PoolNhwc on f32 (max: taps inside the image only, -inf when none; avg: float sum in tap order
// divided by the count, NaN when there is nothing to count), as ref's MaxPool / AveragePool.
struct PoolF32Args {
  const float* x;
  float* y;
  Win2 win;
  bool max, include_pad;
  int64_t count() const { return win.N * win.OH * win.OW * win.C; }
};
struct PoolF32Body {
  using Args = PoolF32Args;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t c = o % w.C, pix = o / w.C;
    const int64_t ow = pix % w.OW, oh = pix / w.OW % w.OH, n = pix / (w.OW * w.OH);
    float m = -INFINITY, sum = 0.f;
    int64_t count = 0;
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.pt + i * w.dh;
      if (ih < 0 || ih >= w.H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pl + j * w.dw;
        if (iw < 0 || iw >= w.W) continue;
        const float v = a.x[((n * w.H + ih) * w.W + iw) * w.C + c];
        m = quant::fp::max(m, v);
        sum += v;
        ++count;
      }
    }
    if (a.max) {
      a.y[o] = m;
      return;
    }
    if (a.include_pad)
      count = QAvgPoolBody::padded_taps(oh, w.sh, w.pt, w.dh, w.kh, w.H, w.pb) *
              QAvgPoolBody::padded_taps(ow, w.sw, w.pl, w.dw, w.kw, w.W, w.pr);
    a.y[o] = count > 0 ? sum / static_cast<float>(count) : NAN;
  }
};

// MatMul (numpy, both operands at least 2-D) and Gemm in one body: y[b, i, j] = alpha * sum_k A[b, i, k] *
// B[b, k, j] (k ascending, float) [+ beta * C[i, j]] [+ residual] -> activation. A's and B's element strides
// along (row, k) and (k, col) carry the transpositions; batch dims (numpy broadcast) carry per-dim matrix
// offsets for A and B (0 where broadcast).
struct MatMulF32Args {
  const float *a, *b, *c, *residual;
  float* y;
  int64_t M, N, K;
  int64_t a_row, a_k, b_k, b_col;  // element strides
  int64_t c_row, c_col;            // Gemm's C broadcast strides (c null: none)
  float alpha, beta;
  bool scale;                      // Gemm: y * alpha (+ beta * C); MatMul: y as summed
  int rank;                        // batch dims
  int64_t bdims[kMaxRank], sa[kMaxRank], sb[kMaxRank];  // sa/sb: element offsets per batch index
  PostF32 post;
  int64_t count() const {
    int64_t n = M * N;
    for (int d = 0; d < rank; ++d) n *= bdims[d];
    return n;
  }
};
struct MatMulF32Body {
  using Args = MatMulF32Args;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t j = o % a.N, i = o / a.N % a.M;
    int64_t rest = o / (a.M * a.N), oa = 0, ob = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t idx = rest % a.bdims[d];
      rest /= a.bdims[d];
      oa += idx * a.sa[d];
      ob += idx * a.sb[d];
    }
    float s = 0.f;
    for (int64_t k = 0; k < a.K; ++k) s += a.a[oa + i * a.a_row + k * a.a_k] * a.b[ob + k * a.b_k + j * a.b_col];
    if (a.scale) {
      s *= a.alpha;
      if (a.c) s += a.beta * a.c[i * a.c_row + j * a.c_col];
    }
    if (a.residual) s = post_f32(a.post, s + a.residual[o]);
    else if (a.post.act) s = post_f32(a.post, s);
    a.y[o] = s;
  }
};

// Softmax over n elements strided by `inner` ([outer, n, inner]; coerce_2d: inner = 1), in double as ref:
// one thread per (outer, inner) row.
struct SoftmaxF32Args {
  const float* x;
  float* y;
  int64_t outer, n, inner;
  int64_t count() const { return outer * inner; }
};
struct SoftmaxF32Body {
  using Args = SoftmaxF32Args;
  OCTET_HD void operator()(const Args& a, int64_t r) const {
    const int64_t o = r / a.inner, in = r % a.inner;
    const float* p = a.x + o * a.n * a.inner + in;
    float* q = a.y + o * a.n * a.inner + in;
    double mx = -INFINITY, sum = 0;
    for (int64_t k = 0; k < a.n; ++k) {
      const double v = static_cast<double>(p[k * a.inner]);
      mx = mx < v ? v : mx;  // std::max's choice
    }
    for (int64_t k = 0; k < a.n; ++k) sum += exp(static_cast<double>(p[k * a.inner]) - mx);
    for (int64_t k = 0; k < a.n; ++k) q[k * a.inner] = static_cast<float>(exp(static_cast<double>(p[k * a.inner]) - mx) / sum);
  }
};

// LayerNormalization over the last n elements of [outer, n] (population variance, in double as ref); scale
// and bias of n elements (bias may be null). One thread per row.
struct LayerNormF32Args {
  const float *x, *scale, *bias;
  float* y;
  int64_t outer, n;
  double eps;
  int64_t count() const { return outer; }
};
struct LayerNormF32Body {
  using Args = LayerNormF32Args;
  OCTET_HD void operator()(const Args& a, int64_t r) const {
    const float* x = a.x + r * a.n;
    float* y = a.y + r * a.n;
    double mean = 0, var = 0;
    for (int64_t k = 0; k < a.n; ++k) mean += static_cast<double>(x[k]);
    mean /= static_cast<double>(a.n);
    for (int64_t k = 0; k < a.n; ++k) var += (static_cast<double>(x[k]) - mean) * (static_cast<double>(x[k]) - mean);
    var /= static_cast<double>(a.n);
    const double inv = 1.0 / sqrt(var + a.eps);
    for (int64_t k = 0; k < a.n; ++k)
      y[k] = static_cast<float>((static_cast<double>(x[k]) - mean) * inv * static_cast<double>(a.scale[k]) +
                                (a.bias ? static_cast<double>(a.bias[k]) : 0.0));
  }
};

}  // namespace octet::cuda
