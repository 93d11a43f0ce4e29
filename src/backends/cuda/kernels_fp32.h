// FP32 (and layout) kernel bodies of the cuda backend for the ops that INT8 plans keep in FP32 around their
// int8 layers (layout changes, reshapes, element-wise arithmetic, concat, global pooling), in the style of
// kernels.h: an Args struct and a per-output-element `__host__ __device__` body. Results are compared with ref
// within a tolerance (STYLE.md), not bit for bit (a global average may sum in another order).
#pragma once

#include <cmath>
#include <cstdint>

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

}  // namespace octet::cuda
