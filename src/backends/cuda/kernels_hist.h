// Calibration's observer passes on the device (issue 14: "histogram collection on the device"), in the
// style of kernels.h: per-element `__host__ __device__` bodies, run on the CPU by run_on_host (plain
// increments) and on the GPU by the launch wrapper (atomics: integer counts and a max over the bit patterns
// of non-negative floats, whose order is the floats', so the result is independent of the order).
//   pass 1 (AbsMaxBody):    max |x| over finite values (calib/observer.h TensorStats::absmax())
//   pass 2 (HistogramBody): counts of floor(|x| * inv_w) clamped to kBins - 1 over finite values, zeros, and
//                           non-finite values skipped — calib/observer.cpp Histogram::add()'s formula
//                           exactly (inv_w is the float kBins / range computed in double, as there)
// Both are bit for bit the CPU observer's (tests/calib/device_histogram_test.cpp), so a two-pass
// calibration fed by them stays batch-invariant: counts add, the max is a max. Not wired into the
// calibration driver yet (calibrate --backend cuda runs the FP32 forward on the GPU and bins on the host).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/quant.h"

namespace octet::cuda {

inline constexpr int kHistBins = 2048;  // calib::Histogram::kBins

OCTET_HD inline void count_up(unsigned long long* c) {
#if defined(__CUDA_ARCH__)
  atomicAdd(c, 1ULL);
#else
  ++*c;
#endif
}

OCTET_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

struct AbsMaxArgs {
  const float* x;
  int64_t n;
  uint32_t* absmax_bits;  // in/out: bit pattern of the running max |x| (start at 0 = +0.f)
  int64_t count() const { return n; }
};
struct AbsMaxBody {
  using Args = AbsMaxArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const {
    const float v = fabsf(a.x[i]);
    if (!(v <= 3.402823466e+38f)) return;  // NaN, Inf
    const uint32_t b = float_bits(v);
#if defined(__CUDA_ARCH__)
    atomicMax(a.absmax_bits, b);
#else
    if (b > *a.absmax_bits) *a.absmax_bits = b;
#endif
  }
};

struct HistogramArgs {
  const float* x;
  int64_t n;
  float inv_w;                     // static_cast<float>(double(kHistBins) / double(range))
  unsigned long long* counts;      // [kHistBins]
  unsigned long long* zeros;       // exact zeros (they are also in bin 0)
  unsigned long long* nonfinite;   // NaN / Inf: not binned
  int64_t count() const { return n; }
};
struct HistogramBody {
  using Args = HistogramArgs;
  OCTET_HD void operator()(const Args& a, int64_t i) const {
    const float v = fabsf(a.x[i]);
    if (!(v <= 3.402823466e+38f)) {
      count_up(a.nonfinite);
      return;
    }
    if (v == 0.f) count_up(a.zeros);
    const float f = v * a.inv_w;
    const int32_t k = f < static_cast<float>(kHistBins) ? static_cast<int32_t>(f) : kHistBins - 1;
    count_up(a.counts + k);
  }
};

}  // namespace octet::cuda
