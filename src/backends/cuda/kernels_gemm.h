// The GEMM path of the cuda backend's QConv / QLinear (issue 14, first fast step): an int8 convolution is
// im2col + an int8 GEMM with int32 accumulators (cuBLASLt, cublaslt.h) + octet's own epilogue over those
// accumulators. int32 sums are exact in any order, and the epilogue is the one quant::epilogue call the
// one-thread QConvBody makes, so the result equals QConvBody (and ref) bit for bit by construction.
//
// The GEMM is cuBLASLt's "TN" int8 layout (column-major): C[m, n] = sum_k A[k, m] * B[k, n] with
//   m = Mp  (output channels, padded to a multiple of 4 with zero rows),
//   n = P   (output pixels N*OH*OW, or QLinear rows),
//   k = Kp  (kh*kw*Cin in (i, j, c) order, padded with zeros to a multiple of kKAlign),
// A = the packed weights [Mp][Kp] row-major (PackWeightsBody, once per plan), B = the columns [P][Kp] row-major
// (Im2colBody; a 1x1 stride-1 unpadded conv with Cin % 4 == 0 reads the NHWC activations directly), C = the
// accumulators [P][Mp] row-major, i.e. NHWC with a channel stride of Mp (GemmEpilogueBody reads them).
//
// Bodies per output element, like kernels.h (run_on_host runs them on the CPU for tests/cuda/).
#pragma once

#include <cstdint>

#include "backends/cuda/kernels.h"
#include "quant/quant.h"

namespace octet::cuda {

constexpr int64_t kKAlign = 16;  // im2col's K padding (cuBLASLt int8 needs multiples of 4; 16 keeps rows aligned)
constexpr int64_t kMAlign = 4;   // output channels padding (m of an int8 TN GEMM: a multiple of 4)

inline int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Weights [M][C][kh][kw] (QConv, group 1) or [M][C] (QLinear: kh = kw = 1) to A = [Mp][Kp], k = (i*kw + j)*C + c.
struct PackWeightsArgs {
  const int8_t* w;
  int8_t* a;
  int64_t M, C, kh, kw, Mp, Kp;
  int64_t count() const { return Mp * Kp; }
};
struct PackWeightsBody {
  using Args = PackWeightsArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t m = o / a.Kp, kk = o % a.Kp, taps = a.kh * a.kw;
    int8_t v = 0;
    if (m < a.M && kk < taps * a.C) {
      const int64_t c = kk % a.C, t = kk / a.C;
      v = a.w[(m * a.C + c) * taps + t];
    }
    a.a[o] = v;
  }
};

// B = the columns [P][Kp] of NHWC x for the window `win` (zero for padding and for k >= kh*kw*C).
struct Im2colArgs {
  const int8_t* x;  // [N, H, W, C]
  int8_t* cols;     // [N*OH*OW, Kp]
  Win2 win;
  int64_t Kp;
  int64_t count() const { return win.N * win.OH * win.OW * Kp; }
};
struct Im2colBody {
  using Args = Im2colArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const Win2& w = a.win;
    const int64_t p = o / a.Kp, kk = o % a.Kp;
    int8_t v = 0;
    if (kk < w.kh * w.kw * w.C) {
      const int64_t c = kk % w.C, t = kk / w.C, j = t % w.kw, i = t / w.kw;
      const int64_t ow = p % w.OW, oh = p / w.OW % w.OH, n = p / (w.OW * w.OH);
      const int64_t ih = oh * w.sh - w.pt + i * w.dh, iw = ow * w.sw - w.pl + j * w.dw;
      if (ih >= 0 && ih < w.H && iw >= 0 && iw < w.W) v = a.x[((n * w.H + ih) * w.W + iw) * w.C + c];
    }
    a.cols[o] = v;
  }
};

// y[p, m] = quant::epilogue(acc[p, m]) for the first M of Mp channels: QConvBody's last line.
struct GemmEpilogueArgs {
  const int32_t* acc;       // [P, Mp]
  const float* bias;        // [M] or nullptr
  const float* multiplier;  // [M]
  const int8_t* residual;   // [P, M] or nullptr
  int8_t* y;                // [P, M]
  int64_t P, M, Mp;
  quant::EpilogueArgs ep;
  int64_t count() const { return P * M; }
};
struct GemmEpilogueBody {
  using Args = GemmEpilogueArgs;
  OCTET_HD void operator()(const Args& a, int64_t o) const {
    const int64_t m = o % a.M, p = o / a.M;
    a.y[o] = quant::epilogue(a.ep, a.acc[p * a.Mp + m], a.bias ? a.bias[m] : 0.f, a.multiplier[m],
                             a.residual ? a.residual + o : nullptr);
  }
};

// The GEMM's shape for a QConv (group 1) or QLinear: whether it can skip im2col (B is x itself).
struct GemmShape {
  int64_t M = 0, Mp = 0, K = 0, Kp = 0, P = 0;
  bool direct = false;  // B = x: 1x1, stride 1, no padding (or QLinear), K % 4 == 0
};
inline GemmShape conv_gemm_shape(const Win2& w, int64_t M) {
  GemmShape g;
  g.M = M;
  g.Mp = round_up(M, kMAlign);
  g.K = w.kh * w.kw * w.C;
  g.P = w.N * w.OH * w.OW;
  g.direct = w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 &&
             w.pr == 0 && w.C % 4 == 0;
  g.Kp = g.direct ? g.K : round_up(g.K, kKAlign);
  return g;
}
// QLinear x [rows, K] as a 1x1 conv over rows "pixels" of one row each.
inline Win2 linear_window(int64_t rows, int64_t K) { return Win2{rows, 1, 1, K, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}; }

}  // namespace octet::cuda
