// Row kernels of the cpu backend's INT8 ops: single-threaded routines over one contiguous row (or one NHWC
// pixel's channel vector); the op kernels (qops_cpu.cpp, qpool_cpu.cpp, qconv_dnnl.cpp, qlinear_dnnl.cpp)
// split tensors into rows and run them under OpenMP.
//
// Every routine computes exactly the scalar functions of src/quant/quant.h, element by element, with the
// same float operations in the same order (division where quant.h divides, one fused multiply-add where it
// calls fma), so a SIMD variant is bit-identical to its `_ref` twin. The `_ref` twins (qelementwise_ref.cpp,
// compiled without ISA flags) are the portable fallback and the tail loops of the SIMD variants.
//
// Variants are chosen once, at the first call of q_row_kernels(), from the CPU's features (AVX-512 F+BW+VL+DQ
// -> qelementwise_avx512.cpp, otherwise _ref). OCTET_CPU_ISA=ref forces the scalar variants (tests, triage).
#pragma once

#include <cstdint>

namespace octet::cpu {

struct QRowKernels {
  const char* isa;  // "avx512" or "ref"
  // y[i] = quant::quantize(x[i], scale), i < n.
  void (*quantize_f32_s8)(const float* x, int8_t* y, int64_t n, float scale);
  // y[i] = quant::dequantize(x[i], scale).
  void (*dequantize_s8_f32)(const int8_t* x, float* y, int64_t n, float scale);
  // y[i] = quant::add(a[i], sa, b[i], sb, lo, hi).
  void (*add_s8)(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float sa, float sb, float lo, float hi);
  // y[i] = quant::rescale(x[i], ratio).
  void (*rescale_s8)(const int8_t* x, int8_t* y, int64_t n, float ratio);
  // y[i] = quant::rescale_zp(x[i], x_zp, m[i], out_zp): a per-element multiplier (QMulGate's row of channels);
  // with both zero points 0 this is quant::rescale(x[i], m[i]).
  void (*rescale_ch_s8)(const int8_t* x, const float* m, int8_t* y, int64_t n, int32_t x_zp, int32_t out_zp);
  // The conv/matmul epilogue over one row of k output channels:
  //   y[j] = requantize[_residual](acc[j], bias[j], mult[j], residual[j], rs, lo, hi)
  // bias and residual may be null (bias 0 / no residual term).
  void (*requant_s32_s8)(const int32_t* acc, const float* bias, const float* mult, const int8_t* residual,
                         float rs, float lo, float hi, int64_t k, int8_t* y);
  // The epilogue with a non-linear activation (quant::Act `act`, LeakyRelu slope `alpha`):
  //   y[j] = requantize_act(acc[j], bias[j], dequant[j], act, alpha, inv_out_scale, out_add)
  // or, with a residual (added after the activation, rs = s_r / s_y):
  //   y[j] = requantize_act_residual(acc[j], bias[j], dequant[j], act, alpha, inv_out_scale, out_add, residual[j], rs)
  // bias and residual may be null. y may be residual (each element is read before it is written).
  void (*requant_act_s32_s8)(const int32_t* acc, const float* bias, const float* dequant, int act, float alpha,
                             float inv_out_scale, float out_add, const int8_t* residual, float rs, int64_t k,
                             int8_t* y);
  // Pooling over an NHWC window clipped to the input: the nh x nw valid pixels start at x0 and step by hs / ws
  // elements; each has c channels.
  //   max: y[ch] = max over the pixels (-128 when there are none)
  //   avg: y[ch] = quant::average(sum_add + sum over the pixels, count, multiplier) (sum_add: -pixels * x_zero_point)
  void (*maxpool_s8)(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int8_t* y);
  void (*avgpool_s8)(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int32_t count,
                     int32_t sum_add, float multiplier, int8_t* y);
};

const QRowKernels& q_row_kernels();

// The scalar twins (qelementwise_ref.cpp).
void quantize_f32_s8_ref(const float* x, int8_t* y, int64_t n, float scale);
void dequantize_s8_f32_ref(const int8_t* x, float* y, int64_t n, float scale);
void add_s8_ref(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float sa, float sb, float lo, float hi);
void rescale_s8_ref(const int8_t* x, int8_t* y, int64_t n, float ratio);
void rescale_ch_s8_ref(const int8_t* x, const float* m, int8_t* y, int64_t n, int32_t x_zp, int32_t out_zp);
void requant_s32_s8_ref(const int32_t* acc, const float* bias, const float* mult, const int8_t* residual, float rs,
                        float lo, float hi, int64_t k, int8_t* y);
void requant_act_s32_s8_ref(const int32_t* acc, const float* bias, const float* dequant, int act, float alpha,
                            float inv_out_scale, float out_add, const int8_t* residual, float rs, int64_t k,
                            int8_t* y);
void maxpool_s8_ref(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int8_t* y);
void avgpool_s8_ref(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int32_t count,
                    int32_t sum_add, float multiplier, int8_t* y);

// The AVX-512 variants (qelementwise_avx512.cpp); only called when the CPU has AVX-512 F/BW/VL/DQ.
const QRowKernels& q_row_kernels_avx512();

}  // namespace octet::cpu
