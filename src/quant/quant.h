// THE single definition of octet's INT8 arithmetic (TensorRT's implicit-quantization scheme, DESIGN.md).
// Every kernel — ref, cpu (oneDNN / own VNNI code), cuda — must produce exactly what these scalar functions
// produce; the op tests compare them bit for bit.
//
//   activations: symmetric per tensor, zero point 0, int8 [-128, 127], scale s = amax / 127
//   weights:     symmetric per output channel, int8 [-127, 127], s_w[k] = max|W[k]| / 127
//   bias:        float32 in accumulator units, b[k] / (s_x * s_w[k]) (not rounded: TensorRT keeps biases in
//                float, and a rounded bias is off by up to multiplier/2 output steps where multiplier > 1)
//   requantize:  v = (float(acc) + bias[k]) * multiplier[k]      multiplier[k] = s_x * s_w[k] / s_y
//                v = fmaf(residual_scale, float(r), v)           when a residual r (int8) is added
//                v = min(max(v, act_lo), act_hi)                  fused Relu / Clip, in output units
//                y = saturate_int8(round_half_even(v))
//   non-linear activation fused into the epilogue (Sigmoid, SiLU, HardSwish, LeakyRelu; what TensorRT fuses
//   into a conv), in real units, then quantized to the activation output's scale s_y:
//                v = (float(acc) + bias[k]) * dequant[k]        dequant[k] = s_x * s_w[k]
//                y = saturate_int8(round_half_even(activate(act, v, alpha) * inv_s_y))   inv_s_y = 1.f / s_y
//   with exp computed by exp_approx below (a fixed sequence of float operations, so that a SIMD epilogue can
//   reproduce it bit for bit; within 2 ulp of expf).
// Rounding is round-half-to-even everywhere (std::nearbyint under the default FP environment).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace octet::quant {

inline constexpr float kNoLo = -std::numeric_limits<float>::infinity();
inline constexpr float kNoHi = std::numeric_limits<float>::infinity();

inline int8_t saturate_i8(float v) {
  // v is already rounded; clamp in float first so the conversion is defined for any v (NaN -> 0).
  if (!(v >= -128.f)) return v != v ? 0 : -128;
  if (v > 127.f) return 127;
  return static_cast<int8_t>(v);
}

inline float round_half_even(float v) { return std::nearbyint(v); }

// Activation quantization: x / scale, as ONNX QuantizeLinear (a division, not a multiply by 1/scale).
inline int8_t quantize(float x, float scale) { return saturate_i8(round_half_even(x / scale)); }
inline float dequantize(int8_t q, float scale) { return static_cast<float>(q) * scale; }

// Weight quantization: per output channel, narrow range [-127, 127].
inline int8_t quantize_weight(float w, float scale) {
  if (scale == 0.f) return 0;
  float v = round_half_even(w / scale);
  return static_cast<int8_t>(std::min(127.f, std::max(-127.f, v)));
}

// Bias in accumulator units, as the requantization adds it (float, unrounded).
inline float bias_in_acc_units(float b, float sx_sw) {
  if (sx_sw == 0.f) return 0.f;
  return static_cast<float>(static_cast<double>(b) / static_cast<double>(sx_sw));
}

// Bias quantized to int32 in accumulator units, as ONNX QLinearConv / ONNX Runtime's QDQ bias want it
// (the `ort` Q/DQ export); saturates beyond the int32 range.
inline int32_t quantize_bias(float b, float sx_sw) {
  if (sx_sw == 0.f) return 0;
  double v = std::nearbyint(static_cast<double>(b) / static_cast<double>(sx_sw));
  v = std::min<double>(v, std::numeric_limits<int32_t>::max());
  v = std::max<double>(v, std::numeric_limits<int32_t>::min());
  return static_cast<int32_t>(v);
}

// The epilogue of every quantized conv/matmul (see the top of this file).
inline int8_t requantize(int32_t acc, float bias, float multiplier, float act_lo, float act_hi) {
  float v = (static_cast<float>(acc) + bias) * multiplier;
  v = std::min(std::max(v, act_lo), act_hi);
  return saturate_i8(round_half_even(v));
}
inline int8_t requantize_residual(int32_t acc, float bias, float multiplier, int8_t residual, float residual_scale,
                                  float act_lo, float act_hi) {
  float v = (static_cast<float>(acc) + bias) * multiplier;
  v = std::fma(residual_scale, static_cast<float>(residual), v);
  v = std::min(std::max(v, act_lo), act_hi);
  return saturate_i8(round_half_even(v));
}

// Activations an INT8 epilogue can apply in real units (QConv/QLinear attribute "act").
enum class Act : int { None = 0, Sigmoid = 1, Silu = 2, HardSwish = 3, LeakyRelu = 4 };
inline constexpr int kActLast = 4;

// e^x for finite x, as a fixed sequence of float operations: x clamped to [-87, 88]; n = round(x log2 e);
// r = x - n ln2 (two fmas, ln2 split in a high part exact in 9 bits and a low part); e^r by a degree-7
// polynomial in Horner form (one fma per coefficient); times 2^n built from the exponent bits.
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.f), 88.f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r, 1.f);
  p = std::fma(p, r, 1.f);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  static_assert(sizeof(two_n) == sizeof(bits));
  std::memcpy(&two_n, &bits, sizeof(bits));
  return p * two_n;
}

// The activation in real units; v finite.
inline float activate(Act act, float v, float alpha) {
  switch (act) {
    case Act::Sigmoid: return 1.f / (1.f + exp_approx(-v));
    case Act::Silu: return v / (1.f + exp_approx(-v));
    case Act::HardSwish: return v * std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case Act::LeakyRelu: return v >= 0.f ? v : v * alpha;
    case Act::None: break;
  }
  return v;
}

// The epilogue with a non-linear activation (see the top of this file); inv_out_scale = 1.f / s_y (a multiply
// per element instead of a division).
inline int8_t requantize_act(int32_t acc, float bias, float dequant, Act act, float alpha, float inv_out_scale) {
  const float v = (static_cast<float>(acc) + bias) * dequant;
  return saturate_i8(round_half_even(activate(act, v, alpha) * inv_out_scale));
}

// Rescaling an int8 value to another scale (Concat inputs, QAdd operands): q * (s_in / s_out).
inline int8_t rescale(int8_t q, float ratio) { return saturate_i8(round_half_even(static_cast<float>(q) * ratio)); }

// An int8 tensor times a float per-channel gate (squeeze-excitation): q * (gate * s_in / s_out), the
// multiplier formed as one float product per (image, channel).
inline float gate_multiplier(float gate, float scale_ratio) { return gate * scale_ratio; }

// Sum of two int8 tensors with their scales, in output units: fmaf(b, scale_b, a * scale_a).
inline int8_t add(int8_t a, float scale_a, int8_t b, float scale_b, float act_lo, float act_hi) {
  float v = std::fma(static_cast<float>(b), scale_b, static_cast<float>(a) * scale_a);
  v = std::min(std::max(v, act_lo), act_hi);
  return saturate_i8(round_half_even(v));
}

// Average pooling: int32 window sum times (multiplier / count), multiplier = s_x / s_y.
inline int8_t average(int32_t sum, int32_t count, float multiplier) {
  float m = multiplier / static_cast<float>(count);
  return saturate_i8(round_half_even(static_cast<float>(sum) * m));
}

}  // namespace octet::quant
