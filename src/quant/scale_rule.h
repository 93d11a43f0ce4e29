// The one rule for a quantization scale that becomes a kernel parameter: a normal, positive, finite float32
// whose amax (127 * scale) and reciprocal (1 / scale) are finite. Every reader of scales (TensorRT caches,
// ONNX Runtime tables, Q/DQ initializers) and the quantization pass apply it, so that no NaN, Inf, negative,
// zero, denormal or overflowing scale reaches a kernel (where it gives garbage or "multiplier inf").
#pragma once

#include <cmath>
#include <string>

namespace octet {

// "" for a usable scale, else what is wrong with it ("NaN", "negative", "denormal ...", ...).
inline std::string scale_problem(float s) {
  if (std::isnan(s)) return "NaN";
  if (std::isinf(s)) return s > 0 ? "infinite" : "negative infinite";
  if (s == 0.f) return std::signbit(s) ? "negative zero" : "zero";
  if (s < 0.f) return "negative";
  if (!std::isnormal(s)) return "denormal";
  if (!std::isfinite(127.0f * s)) return "too large: 127 x scale overflows float32";
  if (!std::isfinite(1.0f / s)) return "too small: 1 / scale overflows float32";
  return "";
}

// The same rule on amax: scale = amax / 127 must be usable.
inline std::string amax_problem(float amax) {
  if (std::isnan(amax) || std::isinf(amax) || !(amax > 0.f)) return scale_problem(amax);
  return scale_problem(amax / 127.0f);
}

}  // namespace octet
