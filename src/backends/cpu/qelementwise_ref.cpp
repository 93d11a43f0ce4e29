// Scalar twins of the INT8 row kernels (qelementwise.h) and the one-time ISA dispatch. Compiled without ISA
// flags: the CPU-feature probe must run on any x86-64. Each routine is a loop over the quant.h function.
#include <cstdlib>
#include <cstring>

#include "backends/cpu/qelementwise.h"
#include "quant/quant.h"

namespace octet::cpu {

void quantize_f32_s8_ref(const float* x, int8_t* y, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::quantize(x[i], scale);
}

void dequantize_s8_f32_ref(const int8_t* x, float* y, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::dequantize(x[i], scale);
}

void add_s8_ref(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float sa, float sb, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::add(a[i], sa, b[i], sb, lo, hi);
}

void rescale_s8_ref(const int8_t* x, int8_t* y, int64_t n, float ratio) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::rescale(x[i], ratio);
}

void rescale_ch_s8_ref(const int8_t* x, const float* m, int8_t* y, int64_t n, int32_t x_zp, int32_t out_zp) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::rescale_zp(x[i], x_zp, m[i], out_zp);
}

void requant_s32_s8_ref(const int32_t* acc, const float* bias, const float* mult, const int8_t* residual, float rs,
                        float lo, float hi, int64_t k, int8_t* y) {
  for (int64_t j = 0; j < k; ++j) {
    const float b = bias ? bias[j] : 0.f;
    y[j] = residual ? quant::requantize_residual(acc[j], b, mult[j], residual[j], rs, lo, hi)
                    : quant::requantize(acc[j], b, mult[j], lo, hi);
  }
}

void requant_act_s32_s8_ref(const int32_t* acc, const float* bias, const float* dequant, int act, float alpha,
                            float inv_out_scale, float out_add, const int8_t* residual, float rs, int64_t k,
                            int8_t* y) {
  const auto a = static_cast<quant::Act>(act);
  for (int64_t j = 0; j < k; ++j)
    y[j] = residual ? quant::requantize_act_residual(acc[j], bias ? bias[j] : 0.f, dequant[j], a, alpha, inv_out_scale,
                                                     out_add, residual[j], rs)
                    : quant::requantize_act(acc[j], bias ? bias[j] : 0.f, dequant[j], a, alpha, inv_out_scale, out_add);
}

void maxpool_s8_ref(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int8_t* y) {
  for (int64_t ch = 0; ch < c; ++ch) y[ch] = -128;
  for (int64_t i = 0; i < nh; ++i)
    for (int64_t j = 0; j < nw; ++j) {
      const int8_t* p = x0 + i * hs + j * ws;
      for (int64_t ch = 0; ch < c; ++ch) y[ch] = std::max(y[ch], p[ch]);
    }
}

void avgpool_s8_ref(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int32_t count,
                    int32_t sum_add, float multiplier, int8_t* y) {
  for (int64_t ch = 0; ch < c; ++ch) {
    int32_t s = sum_add;
    for (int64_t i = 0; i < nh; ++i)
      for (int64_t j = 0; j < nw; ++j) s += x0[i * hs + j * ws + ch];
    y[ch] = quant::average(s, count, multiplier);
  }
}

namespace {

const QRowKernels kRef{"ref",           quantize_f32_s8_ref, dequantize_s8_f32_ref, add_s8_ref, rescale_s8_ref,
                       rescale_ch_s8_ref, requant_s32_s8_ref, requant_act_s32_s8_ref, maxpool_s8_ref, avgpool_s8_ref};

const QRowKernels& pick() {
  const char* force = std::getenv("OCTET_CPU_ISA");
  if (force && std::strcmp(force, "ref") == 0) return kRef;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return q_row_kernels_avx512();
#endif
  return kRef;
}

}  // namespace

const QRowKernels& q_row_kernels() {
  static const QRowKernels& k = pick();
  return k;
}

}  // namespace octet::cpu
