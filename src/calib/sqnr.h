// Signal-to-quantization-noise ratio of a test signal against a reference: the one definition that octet tune,
// octet eval (outputs) and the per-tensor error (calib/layer_error.h) report.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace octet {

// Adds sum(ref^2) to signal and sum((test - ref)^2) to noise.
inline void add_sqnr_sums(const float* ref, const float* test, int64_t n, double& signal, double& noise) {
  for (int64_t i = 0; i < n; ++i) {
    const double r = ref[i], d = static_cast<double>(test[i]) - r;
    signal += r * r;
    noise += d * d;
  }
}

// 10 log10(signal / noise): +inf when the signals are equal, -inf when the noise is not finite (NaN / inf outputs).
inline double sqnr_db(double signal, double noise) {
  if (!std::isfinite(noise)) return -std::numeric_limits<double>::infinity();
  return noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
}

}  // namespace octet
