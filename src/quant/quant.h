// THE single definition of octet's INT8 arithmetic (TensorRT's implicit-quantization scheme, DESIGN.md).
// Every kernel — ref, cpu (oneDNN / own VNNI code), cuda — must produce exactly what these scalar functions
// produce; the op tests compare them bit for bit.
//
//   activations: symmetric per tensor, zero point 0, int8 [-128, 127], scale s = amax / 127 (except SiLU outputs
//                read only by convs: a zero point, see "Zero points" below)
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
//                y = saturate_int8(round_half_even(fmaf(activate(act, v, alpha), out_mul, out_add)))
//   with out_mul = act_mul / s_y and out_add = act_add / s_y: a scalar affine a * act(v) + b after the activation
//   (PP-LCNet's "learnable affine block" after HardSwish), quantized with one rounding; without one, act_mul = 1
//   and act_add = 0, and fmaf(h, 1 / s_y, 0) is exactly h * (1 / s_y).
//   with a residual r (int8, scale s_r) added AFTER the non-linear activation (YOLOX's x + SiLU(conv(...)): the
//   activation's output is never rounded, the sum is, once, at the Add's output scale s_y):
//                y = saturate_int8(round_half_even(fmaf(residual_scale, float(r),
//                                                       fmaf(activate(act, v, alpha), out_mul, out_add))))
//   residual_scale = s_r / s_y. (Relu / Clip take the residual before the clamp, as above: relu(conv + x).)
//   with exp computed by exp_approx below (a fixed sequence of float operations, so that a SIMD epilogue can
//   reproduce it bit for bit; within 2 ulp of expf).
//
// Zero points (QuantizeOptions::asymmetric_activations): an activation output whose values have a known lower bound
// L < 0 (SiLU: L = kSiluMin) and calibrated amax T is stored as int8 with a zero point over [L, T]
// (asym_range below): s = (T - L) / 255, zp = -128 + round_half_even(-L / s); the real value of q is (q - zp) * s.
// Its producer (a QConv with the activation fused) writes it with the zero point inside the one rounding:
//                y = saturate_int8(round_half_even(fmaf(activate(act, v, alpha), out_mul, out_add)))
//   with out_add = act_add / s_y + zp (the float sum), i.e. round(act / s + zp), no second rounding.
// Its readers: a QConv with x_zero_point = zp accumulates  acc = sum w * (x - zp)  in int32 (exact), a padded
// tap being a real zero (= zp in storage: it adds nothing); Dequantize with zero_point = zp gives
// float(q - zp) * s (dequantize_zp); a QAvgPool with x_zero_point sums (x - zp); a QMulGate (squeeze-excitation
// product) with x_zero_point / out_zero_point computes rescale_zp below (its gate lies in [0, 1], so the product
// keeps the lower bound L). The calibration cache keeps T (TensorRT's amax); L is the activation's.
// Rounding is round-half-to-even everywhere (std::nearbyint under the default FP environment; rintf on a GPU).
//
// Fused multiply-adds: exactly the fp::fma calls written below (std::fma on the host, __fmaf_rn on the GPU)
// and no others. Every other product and sum is rounded on its own: the host's SIMD copies are compiled with
// -ffp-contract=off, and the CUDA build compiles device code with --fmad=false, so that nvcc does not contract,
// e.g., 1.f + p * 2^n (exp_approx inlined into a sigmoid) into an fma. The functions marked OCTET_HD are
// compiled for the GPU too (__host__ __device__ under nvcc, nothing in plain C++): ref, cpu and cuda run this
// one text.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__CUDACC__)
#define OCTET_HD __host__ __device__
#else
#define OCTET_HD
#endif

namespace octet::quant {

// The primitives the functions below are written in, the same operation on host and device.
namespace fp {
// Round half to even (the default rounding mode on the host; rintf is round-half-even on the GPU).
OCTET_HD inline float round_even(float v) {
#if defined(__CUDA_ARCH__)
  return rintf(v);
#else
  return std::nearbyint(v);
#endif
}
// a * b + c with one rounding.
OCTET_HD inline float fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
// std::max / std::min exactly (a NaN first argument is kept, as std::max(NaN, lo) keeps it).
OCTET_HD inline float max(float a, float b) { return a < b ? b : a; }
OCTET_HD inline float min(float a, float b) { return b < a ? b : a; }
OCTET_HD inline float clamp(float v, float lo, float hi) { return min(max(v, lo), hi); }
OCTET_HD inline float from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  static_assert(sizeof(f) == sizeof(bits));
  std::memcpy(&f, &bits, sizeof(bits));
  return f;
#endif
}
}  // namespace fp

inline constexpr float kNoLo = -std::numeric_limits<float>::infinity();
inline constexpr float kNoHi = std::numeric_limits<float>::infinity();

OCTET_HD inline int8_t saturate_i8(float v) {
  // v is already rounded; clamp in float first so the conversion is defined for any v (NaN -> 0).
  if (!(v >= -128.f)) return v != v ? 0 : -128;
  if (v > 127.f) return 127;
  return static_cast<int8_t>(v);
}

OCTET_HD inline float round_half_even(float v) { return fp::round_even(v); }

// Activation quantization: x / scale, as ONNX QuantizeLinear (a division, not a multiply by 1/scale).
OCTET_HD inline int8_t quantize(float x, float scale) { return saturate_i8(round_half_even(x / scale)); }
OCTET_HD inline float dequantize(int8_t q, float scale) { return static_cast<float>(q) * scale; }
// With a zero point: the integer difference (exact), then one product.
OCTET_HD inline float dequantize_zp(int8_t q, int32_t zero_point, float scale) {
  return static_cast<float>(static_cast<int32_t>(q) - zero_point) * scale;
}

// The lower bound of SiLU(x) = x * sigmoid(x) over the reals (at x = -1.27846...).
inline constexpr float kSiluMin = -0.2784645427610738f;
// The lower bound of HardSwish(x) = x * clamp(x / 6 + 1/2, 0, 1) (at x = -1.5; exact in float).
inline constexpr float kHardSwishMin = -0.375f;

// The asymmetric int8 range [lo, amax] (lo < 0 < amax; see the top of this file): scale (T - L) / 255 and the
// zero point -128 + round(-L / s), both computed in float. False where it is not usable (lo >= 0, amax <= -lo:
// no better than symmetric, or a zero point outside [-128, 127] / a scale that is not a normal float).
inline bool asym_range(float lo, float amax, float& scale, int32_t& zero_point) {
  if (!(lo < 0.f) || !(amax > -lo) || !std::isfinite(amax)) return false;
  const float s = (amax - lo) / 255.f;
  if (!std::isnormal(s) || !std::isfinite(1.f / s)) return false;
  const float z = -128.f + round_half_even(-lo / s);
  if (!(z >= -128.f && z <= 127.f)) return false;
  scale = s;
  zero_point = static_cast<int32_t>(z);
  return true;
}

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
OCTET_HD inline int8_t requantize(int32_t acc, float bias, float multiplier, float act_lo, float act_hi) {
  float v = (static_cast<float>(acc) + bias) * multiplier;
  v = fp::clamp(v, act_lo, act_hi);
  return saturate_i8(round_half_even(v));
}
OCTET_HD inline int8_t requantize_residual(int32_t acc, float bias, float multiplier, int8_t residual,
                                           float residual_scale, float act_lo, float act_hi) {
  float v = (static_cast<float>(acc) + bias) * multiplier;
  v = fp::fma(residual_scale, static_cast<float>(residual), v);
  v = fp::clamp(v, act_lo, act_hi);
  return saturate_i8(round_half_even(v));
}

// Activations an INT8 epilogue can apply in real units (QConv/QLinear attribute "act").
enum class Act : int { None = 0, Sigmoid = 1, Silu = 2, HardSwish = 3, LeakyRelu = 4 };
inline constexpr int kActLast = 4;

// e^x for finite x, as a fixed sequence of float operations: x clamped to [-87, 88]; n = round(x log2 e);
// r = x - n ln2 (two fmas, ln2 split in a high part exact in 9 bits and a low part); e^r by a degree-7
// polynomial in Horner form (one fma per coefficient); times 2^n built from the exponent bits.
OCTET_HD inline float exp_approx(float x) {
  x = fp::clamp(x, -87.f, 88.f);
  const float n = fp::round_even(x * 1.44269504088896341f);
  float r = fp::fma(n, -0.693359375f, x);
  r = fp::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fp::fma(p, r, 1.3981999507e-3f);
  p = fp::fma(p, r, 8.3334519073e-3f);
  p = fp::fma(p, r, 4.1665795894e-2f);
  p = fp::fma(p, r, 1.6666665459e-1f);
  p = fp::fma(p, r, 5.0000001201e-1f);
  p = fp::fma(p, r, 1.f);
  p = fp::fma(p, r, 1.f);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  return p * fp::from_bits(bits);
}

// The activation in real units; v finite.
OCTET_HD inline float activate(Act act, float v, float alpha) {
  switch (act) {
    case Act::Sigmoid: return 1.f / (1.f + exp_approx(-v));
    case Act::Silu: return v / (1.f + exp_approx(-v));
    case Act::HardSwish: return v * fp::clamp(v / 6.f + 0.5f, 0.f, 1.f);
    case Act::LeakyRelu: return v >= 0.f ? v : v * alpha;
    case Act::None: break;
  }
  return v;
}

// The epilogue with a non-linear activation (see the top of this file); out_mul = act_mul / s_y (a multiply per
// element instead of a division), out_add = act_add / s_y (0 without an affine after the activation).
OCTET_HD inline int8_t requantize_act(int32_t acc, float bias, float dequant, Act act, float alpha, float out_mul,
                                      float out_add = 0.f) {
  const float v = (static_cast<float>(acc) + bias) * dequant;
  return saturate_i8(round_half_even(fp::fma(activate(act, v, alpha), out_mul, out_add)));
}

// The epilogue with a non-linear activation and a residual added after it (see the top of this file):
// residual_scale = s_r / s_y, out_mul / out_add as in requantize_act, with s_y the sum's scale.
OCTET_HD inline int8_t requantize_act_residual(int32_t acc, float bias, float dequant, Act act, float alpha,
                                               float out_mul, float out_add, int8_t residual, float residual_scale) {
  const float v = (static_cast<float>(acc) + bias) * dequant;
  const float h = fp::fma(activate(act, v, alpha), out_mul, out_add);
  return saturate_i8(round_half_even(fp::fma(residual_scale, static_cast<float>(residual), h)));
}

// Rescaling an int8 value to another scale (Concat inputs, QAdd operands): q * (s_in / s_out).
OCTET_HD inline int8_t rescale(int8_t q, float ratio) {
  return saturate_i8(round_half_even(static_cast<float>(q) * ratio));
}

// An int8 tensor times a float per-channel gate (squeeze-excitation): q * (gate * s_in / s_out), the
// multiplier formed as one float product per (image, channel).
OCTET_HD inline float gate_multiplier(float gate, float scale_ratio) { return gate * scale_ratio; }
// rescale with zero points (QMulGate's x_zero_point / out_zero_point): the integer difference q - x_zp (exact),
// one product, the rounding, then the output's zero point added to the rounded value (exact: both are integers).
// With both zero points 0 it equals rescale(q, ratio).
OCTET_HD inline int8_t rescale_zp(int8_t q, int32_t x_zp, float ratio, int32_t out_zp) {
  const float v = round_half_even(static_cast<float>(static_cast<int32_t>(q) - x_zp) * ratio);
  return saturate_i8(v + static_cast<float>(out_zp));
}
// A HardSigmoid gate (QMulGate's gate_act): the gate from its pre-activation g, as ONNX HardSigmoid
// max(0, min(1, alpha * g + beta)), the product and the sum rounded on their own.
OCTET_HD inline float hard_sigmoid(float g, float alpha, float beta) {
  const float t = alpha * g;
  return fp::clamp(t + beta, 0.f, 1.f);
}

// Sum of two int8 tensors with their scales, in output units: fmaf(b, scale_b, a * scale_a).
OCTET_HD inline int8_t add(int8_t a, float scale_a, int8_t b, float scale_b, float act_lo, float act_hi) {
  float v = fp::fma(static_cast<float>(b), scale_b, static_cast<float>(a) * scale_a);
  v = fp::clamp(v, act_lo, act_hi);
  return saturate_i8(round_half_even(v));
}

// Bilinear resize of int8 values (QResize, output scale = input scale): q00 q01 the top row's two neighbours,
// q10 q11 the bottom row's, wx / wy the weights of the right / bottom ones. Each row is interpolated with one
// fma, then the rows with one more; one rounding at the end (a convex combination: saturation never triggers).
OCTET_HD inline int8_t lerp2d(int8_t q00, int8_t q01, int8_t q10, int8_t q11, float wx, float wy) {
  const float top = fp::fma(wx, static_cast<float>(q01 - q00), static_cast<float>(q00));
  const float bot = fp::fma(wx, static_cast<float>(q11 - q10), static_cast<float>(q10));
  return saturate_i8(round_half_even(fp::fma(wy, bot - top, top)));
}

// Average pooling: int32 window sum times (multiplier / count), multiplier = s_x / s_y. With an input zero point
// (QAvgPool's x_zero_point) the sum is of (x - zp) over the taps inside the input (a padded tap is a real zero).
OCTET_HD inline int8_t average(int32_t sum, int32_t count, float multiplier) {
  float m = multiplier / static_cast<float>(count);
  return saturate_i8(round_half_even(static_cast<float>(sum) * m));
}

// The epilogue attributes of a QConv / QLinear (ir/qops.h's QEpilogue without its per-channel vector), a plain
// struct that device code can take by value.
struct EpilogueArgs {
  float residual_scale, act_lo, act_hi;
  Act act;
  float act_alpha, inv_out_scale;  // inv_out_scale: out_mul of requantize_act (act_mul / s_y)
  float out_add;                   // act_add / s_y
};

// One output value of a QConv / QLinear: channel k's accumulator, its bias (accumulator units), multiplier and
// residual (nullptr: none) through the requantization the attributes ask for. With a non-linear activation the
// residual is added after it (requantize_act_residual); with Relu / Clip / none, before the clamp.
OCTET_HD inline int8_t epilogue(const EpilogueArgs& e, int32_t acc, float bias, float multiplier,
                                const int8_t* residual) {
  if (e.act != Act::None) {
    if (residual)
      return requantize_act_residual(acc, bias, multiplier, e.act, e.act_alpha, e.inv_out_scale, e.out_add, *residual,
                                     e.residual_scale);
    return requantize_act(acc, bias, multiplier, e.act, e.act_alpha, e.inv_out_scale, e.out_add);
  }
  if (residual) return requantize_residual(acc, bias, multiplier, *residual, e.residual_scale, e.act_lo, e.act_hi);
  return requantize(acc, bias, multiplier, e.act_lo, e.act_hi);
}

}  // namespace octet::quant
