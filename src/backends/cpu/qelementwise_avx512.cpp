// AVX-512 (F, BW, VL, DQ) variants of the INT8 row kernels of qelementwise.h. Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512dq -ffp-contract=off (CMakeLists.txt): only this file gets them,
// and contraction is off so that no a*b+c the compiler sees becomes an FMA quant.h does not have.
//
// Bit-exactness with quant.h, operation by operation:
//   x / s                 _mm512_div_ps (IEEE division, correctly rounded like divss)
//   a * b                 _mm512_mul_ps
//   std::fma(a, b, c)     _mm512_fmadd_ps(a, b, c) (one rounding)
//   std::max(v, lo)       _mm512_max_ps(lo, v): (lo > v) ? lo : v  — returns v for NaN and for ±0 ties,
//   std::min(v, hi)       _mm512_min_ps(hi, v): (hi < v) ? hi : v    exactly like the std:: forms
//   std::nearbyint        _mm512_roundscale_ps(.., TO_NEAREST_INT) (ties to even, as the default FP mode)
//   saturate_i8           NaN lanes -> 0, then clamp to [-128, 127] in float, then convert (exact)
//   float(int32)          _mm512_cvtepi32_ps (round to nearest even, like cvtsi2ss)
// Tails (fewer than 16 left) run masked: loads zero the masked-off lanes, which are computed but never stored.
#include <immintrin.h>

#include "backends/cpu/qelementwise.h"
// quant.h is deliberately not included: its inline functions compiled with AVX-512 flags here could be
// the copy the linker keeps for every other translation unit (ODR), and run on CPUs without AVX-512.

namespace octet::cpu {

namespace {

inline __m512 round_saturate(__m512 v) {
  __m512 r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r, r, _CMP_ORD_Q), r);  // NaN -> 0
  return _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-128.f)), _mm512_set1_ps(127.f));
}
// 16 floats already integral and in [-128, 127] -> 16 int8.
inline __m128i to_s8(__m512 r) { return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)); }
inline __m512 load_s8_as_f32(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
inline void store16(int8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
// The lanes of the last, partial step of an element loop: the first `left` (0 < left < 16).
inline __mmask16 tail_mask(int64_t left) { return static_cast<__mmask16>((1u << left) - 1); }
inline __m512 maskz_load_s8_as_f32(__mmask16 m, const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}
inline __m512 clamp_act(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }

void quantize_f32_s8_avx512(const float* x, int8_t* y, int64_t n, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, to_s8(round_saturate(_mm512_div_ps(_mm512_loadu_ps(x + i), s))));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm_mask_storeu_epi8(y + i, m, to_s8(round_saturate(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), s))));
  }
}

void dequantize_s8_f32_avx512(const int8_t* x, float* y, int64_t n, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(load_s8_as_f32(x + i), s));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(maskz_load_s8_as_f32(m, x + i), s));
  }
}

void add_s8_avx512(const int8_t* a, const int8_t* b, int8_t* y, int64_t n, float sa, float sb, float lo, float hi) {
  const __m512 va = _mm512_set1_ps(sa), vb = _mm512_set1_ps(sb), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_fmadd_ps(load_s8_as_f32(b + i), vb, _mm512_mul_ps(load_s8_as_f32(a + i), va));
    store16(y + i, to_s8(round_saturate(clamp_act(v, vlo, vhi))));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_fmadd_ps(maskz_load_s8_as_f32(m, b + i), vb, _mm512_mul_ps(maskz_load_s8_as_f32(m, a + i), va));
    _mm_mask_storeu_epi8(y + i, m, to_s8(round_saturate(clamp_act(v, vlo, vhi))));
  }
}

void rescale_s8_avx512(const int8_t* x, int8_t* y, int64_t n, float ratio) {
  const __m512 r = _mm512_set1_ps(ratio);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, to_s8(round_saturate(_mm512_mul_ps(load_s8_as_f32(x + i), r))));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm_mask_storeu_epi8(y + i, m, to_s8(round_saturate(_mm512_mul_ps(maskz_load_s8_as_f32(m, x + i), r))));
  }
}

void rescale_ch_s8_avx512(const int8_t* x, const float* m, int8_t* y, int64_t n, int32_t x_zp, int32_t out_zp) {
  int64_t i = 0;
  if (x_zp == 0 && out_zp == 0) {
    for (; i + 16 <= n; i += 16)
      store16(y + i, to_s8(round_saturate(_mm512_mul_ps(load_s8_as_f32(x + i), _mm512_loadu_ps(m + i)))));
    if (i < n) {
      const __mmask16 t = tail_mask(n - i);
      _mm_mask_storeu_epi8(y + i, t,
                           to_s8(round_saturate(_mm512_mul_ps(maskz_load_s8_as_f32(t, x + i), _mm512_maskz_loadu_ps(t, m + i)))));
    }
    return;
  }
  // quant::rescale_zp: round(float(x - x_zp) * m), then + out_zp (both integral: exact), then saturate.
  const __m512i vxz = _mm512_set1_epi32(x_zp);
  const __m512 voz = _mm512_set1_ps(static_cast<float>(out_zp));
  auto step = [&](__m128i q, __m512 mv) {
    const __m512 d = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepi8_epi32(q), vxz));
    const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(d, mv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return to_s8(round_saturate(_mm512_add_ps(r, voz)));
  };
  for (; i + 16 <= n; i += 16)
    store16(y + i, step(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)), _mm512_loadu_ps(m + i)));
  if (i < n) {
    const __mmask16 t = tail_mask(n - i);
    _mm_mask_storeu_epi8(y + i, t, step(_mm_maskz_loadu_epi8(t, x + i), _mm512_maskz_loadu_ps(t, m + i)));
  }
}

void requant_s32_s8_avx512(const int32_t* acc, const float* bias, const float* mult, const int8_t* residual,
                           float rs, float lo, float hi, int64_t k, int8_t* y) {
  const __m512 vrs = _mm512_set1_ps(rs), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    __m512 a = _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + j));
    if (bias) a = _mm512_add_ps(a, _mm512_loadu_ps(bias + j));
    __m512 v = _mm512_mul_ps(a, _mm512_loadu_ps(mult + j));
    if (residual) v = _mm512_fmadd_ps(vrs, load_s8_as_f32(residual + j), v);
    store16(y + j, to_s8(round_saturate(clamp_act(v, vlo, vhi))));
  }
  if (j < k) {  // the channel tail, masked (rows of 24, 40, 72 ... channels)
    const __mmask16 m = tail_mask(k - j);
    __m512 a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + j));
    if (bias) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, bias + j));
    __m512 v = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, mult + j));
    if (residual) v = _mm512_fmadd_ps(vrs, maskz_load_s8_as_f32(m, residual + j), v);
    _mm_mask_storeu_epi8(y + j, m, to_s8(round_saturate(clamp_act(v, vlo, vhi))));
  }
}

// quant::exp_approx, operation by operation (std::nearbyint -> roundscale, std::fma -> fmadd, the 2^n bits by
// integer add and shift; n is integral and in [-126, 127], so the conversion is exact).
inline __m512 exp_approx(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(88.f), _mm512_max_ps(_mm512_set1_ps(-87.f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// quant::activate for 16 values (act is not None).
inline __m512 activate(int act, __m512 v, __m512 alpha) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 neg_v = _mm512_xor_ps(v, _mm512_set1_ps(-0.f));  // -v, a sign flip as in the scalar code
  switch (act) {
    case 1:  // Sigmoid: 1 / (1 + e^-v)
      return _mm512_div_ps(one, _mm512_add_ps(one, exp_approx(neg_v)));
    case 2:  // SiLU: v / (1 + e^-v)
      return _mm512_div_ps(v, _mm512_add_ps(one, exp_approx(neg_v)));
    case 3: {  // HardSwish: v * min(max(v / 6 + 0.5, 0), 1)
      __m512 t = _mm512_add_ps(_mm512_div_ps(v, _mm512_set1_ps(6.f)), _mm512_set1_ps(0.5f));
      t = _mm512_min_ps(one, _mm512_max_ps(_mm512_setzero_ps(), t));
      return _mm512_mul_ps(v, t);
    }
    case 4:  // LeakyRelu: v >= 0 ? v : v * alpha
      return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), _mm512_mul_ps(v, alpha), v);
    default: return v;
  }
}

void requant_act_s32_s8_avx512(const int32_t* acc, const float* bias, const float* dequant, int act, float alpha,
                               float inv_out_scale, float out_add, const int8_t* residual, float rs, int64_t k,
                               int8_t* y) {
  const __m512 va = _mm512_set1_ps(alpha), vs = _mm512_set1_ps(inv_out_scale), vb = _mm512_set1_ps(out_add),
               vrs = _mm512_set1_ps(rs);
  // The tail too runs here, masked (the scalar twin's exp_approx costs a libm fma call per step where the host
  // library is built without FMA: it made rows of 24 channels 3x slower than FP32). Masked-off lanes compute
  // on zeros and are never stored.
  for (int64_t j = 0; j < k; j += 16) {
    const __mmask16 m = k - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (k - j)) - 1);
    __m512 a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + j));
    if (bias) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, bias + j));
    const __m512 v = activate(act, _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, dequant + j)), va);
    __m512 h = _mm512_fmadd_ps(v, vs, vb);
    if (residual) h = _mm512_fmadd_ps(vrs, maskz_load_s8_as_f32(m, residual + j), h);  // after the activation
    _mm_mask_storeu_epi8(y + j, m, to_s8(round_saturate(h)));
  }
}

void maxpool_s8_avx512(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int8_t* y) {
  for (int64_t c0 = 0; c0 < c; c0 += 64) {
    const int64_t left = c - c0;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : ((__mmask64{1} << left) - 1);
    __m512i acc = _mm512_set1_epi8(-128);
    for (int64_t i = 0; i < nh; ++i) {
      const int8_t* row = x0 + i * hs + c0;
      for (int64_t j = 0; j < nw; ++j) acc = _mm512_max_epi8(acc, _mm512_maskz_loadu_epi8(m, row + j * ws));
    }
    _mm512_mask_storeu_epi8(y + c0, m, acc);
  }
}

void avgpool_s8_avx512(const int8_t* x0, int64_t nh, int64_t nw, int64_t hs, int64_t ws, int64_t c, int32_t count,
                       int32_t sum_add, float multiplier, int8_t* y) {
  // quant::average: m = multiplier / float(count); y = saturate(round(float(sum) * m)).
  const __m512 vm = _mm512_set1_ps(multiplier / static_cast<float>(count));
  for (int64_t c0 = 0; c0 < c; c0 += 64) {
    const int64_t left = c - c0;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : ((__mmask64{1} << left) - 1);
    __m512i s0 = _mm512_set1_epi32(sum_add), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < nh; ++i) {
      const int8_t* row = x0 + i * hs + c0;
      for (int64_t j = 0; j < nw; ++j) {
        const __m512i v = _mm512_maskz_loadu_epi8(m, row + j * ws);
        s0 = _mm512_add_epi32(s0, _mm512_cvtepi8_epi32(_mm512_castsi512_si128(v)));
        s1 = _mm512_add_epi32(s1, _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 1)));
        s2 = _mm512_add_epi32(s2, _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 2)));
        s3 = _mm512_add_epi32(s3, _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 3)));
      }
    }
    __m512i out = _mm512_castsi128_si512(to_s8(round_saturate(_mm512_mul_ps(_mm512_cvtepi32_ps(s0), vm))));
    out = _mm512_inserti32x4(out, to_s8(round_saturate(_mm512_mul_ps(_mm512_cvtepi32_ps(s1), vm))), 1);
    out = _mm512_inserti32x4(out, to_s8(round_saturate(_mm512_mul_ps(_mm512_cvtepi32_ps(s2), vm))), 2);
    out = _mm512_inserti32x4(out, to_s8(round_saturate(_mm512_mul_ps(_mm512_cvtepi32_ps(s3), vm))), 3);
    _mm512_mask_storeu_epi8(y + c0, m, out);
  }
}

const QRowKernels kAvx512{"avx512",          quantize_f32_s8_avx512, dequantize_s8_f32_avx512, add_s8_avx512,
                          rescale_s8_avx512, rescale_ch_s8_avx512, requant_s32_s8_avx512,  requant_act_s32_s8_avx512, maxpool_s8_avx512,
                          avgpool_s8_avx512};

}  // namespace

const QRowKernels& q_row_kernels_avx512() { return kAvx512; }

}  // namespace octet::cpu
