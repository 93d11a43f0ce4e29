// AVX-512 (F, DQ) variants of the FP32 row kernels of eltwise.h. Compiled with -mavx512f -mavx512dq
// -ffp-contract=off (CMakeLists.txt): only this file gets the flags, and no a*b+c becomes an FMA.
//
// Bit-exactness with the ref functors, operation by operation:
//   a + b, a - b, a * b, a / b   _mm512_{add,sub,mul,div}_ps (IEEE, correctly rounded like the scalar forms)
//   std::sqrt                    _mm512_sqrt_ps (correctly rounded)
//   c ? u : v                    _mm512_mask_blend_ps(cmp mask, v, u) with the ref's comparison, ordered
//                                predicates (false on NaN) like the C++ operators
//   std::max(v, lo)              _mm512_max_ps(lo, v) = (lo > v) ? lo : v — v for NaN and for ±0 ties
//   std::min(v, hi)              _mm512_min_ps(hi, v) = (hi < v) ? hi : v
//   -x                           sign-bit flip (what the scalar negation does, NaN included)
// Tails (fewer than 16 left) run the scalar twin.
#include <immintrin.h>

#include "backends/cpu/eltwise.h"

namespace octet::cpu {

namespace {

inline const EwRowKernels& twin() { return ew_row_kernels_ref(); }

struct AddV { static __m512 f(__m512 a, __m512 b) { return _mm512_add_ps(a, b); } };
struct SubV { static __m512 f(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); } };
struct MulV { static __m512 f(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); } };
struct DivV { static __m512 f(__m512 a, __m512 b) { return _mm512_div_ps(a, b); } };
// (isnan(a) || a <= b) ? a : b
struct MinV {
  static __m512 f(__m512 a, __m512 b) {
    const __mmask16 m = _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(m, b, a);
  }
};
// (isnan(a) || a >= b) ? a : b
struct MaxV {
  static __m512 f(__m512 a, __m512 b) {
    const __mmask16 m = _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(m, b, a);
  }
};

template <EwBin B, EwMode M, typename Op>
void bin(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  if constexpr (M == EwMode::VV) {
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(y + i, Op::f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
      _mm512_storeu_ps(y + i + 16, Op::f(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16)));
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Op::f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    twin().binary[static_cast<int>(B)][static_cast<int>(M)](a + i, b + i, y + i, n - i);
  } else if constexpr (M == EwMode::VS) {
    const __m512 s = _mm512_set1_ps(b[0]);
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(y + i, Op::f(_mm512_loadu_ps(a + i), s));
      _mm512_storeu_ps(y + i + 16, Op::f(_mm512_loadu_ps(a + i + 16), s));
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Op::f(_mm512_loadu_ps(a + i), s));
    twin().binary[static_cast<int>(B)][static_cast<int>(M)](a + i, b, y + i, n - i);
  } else {
    const __m512 s = _mm512_set1_ps(a[0]);
    for (; i + 32 <= n; i += 32) {
      _mm512_storeu_ps(y + i, Op::f(s, _mm512_loadu_ps(b + i)));
      _mm512_storeu_ps(y + i + 16, Op::f(s, _mm512_loadu_ps(b + i + 16)));
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, Op::f(s, _mm512_loadu_ps(b + i)));
    twin().binary[static_cast<int>(B)][static_cast<int>(M)](a, b + i, y + i, n - i);
  }
}

void relu_avx512(const float* x, float* y, int64_t n) {
  const __m512 z = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_max_ps(_mm512_loadu_ps(x + i), z));  // x > 0 ? x : 0
  twin().relu(x + i, y + i, n - i);
}

void leaky_relu_avx512(const float* x, float* y, int64_t n, float alpha) {
  const __m512 z = _mm512_setzero_ps(), al = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    _mm512_storeu_ps(y + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, z, _CMP_GE_OQ), _mm512_mul_ps(v, al), v));
  }
  twin().leaky_relu(x + i, y + i, n - i, alpha);
}

void clip_avx512(const float* x, float* y, int64_t n, float lo, float hi) {
  const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, h, _CMP_GT_OQ), v, h);  // x > hi ? hi : x
    _mm512_storeu_ps(y + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, l, _CMP_LT_OQ), t, l));
  }
  twin().clip(x + i, y + i, n - i, lo, hi);
}

void clamp_avx512(const float* x, float* y, int64_t n, float lo, float hi) {
  const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_min_ps(h, _mm512_max_ps(l, _mm512_loadu_ps(x + i))));
  twin().clamp(x + i, y + i, n - i, lo, hi);
}

void hard_sigmoid_avx512(const float* x, float* y, int64_t n, float alpha, float beta) {
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta), z = _mm512_setzero_ps(),
               one = _mm512_set1_ps(1.f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(al, _mm512_loadu_ps(x + i)), be);
    _mm512_storeu_ps(y + i, _mm512_min_ps(one, _mm512_max_ps(z, v)));
  }
  twin().hard_sigmoid(x + i, y + i, n - i, alpha, beta);
}

void hard_swish_avx512(const float* x, float* y, int64_t n) {
  const __m512 six = _mm512_set1_ps(6.f), half = _mm512_set1_ps(0.5f), z = _mm512_setzero_ps(),
               one = _mm512_set1_ps(1.f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 t = _mm512_add_ps(_mm512_div_ps(v, six), half);
    _mm512_storeu_ps(y + i, _mm512_mul_ps(v, _mm512_min_ps(one, _mm512_max_ps(z, t))));
  }
  twin().hard_swish(x + i, y + i, n - i);
}

void neg_avx512(const float* x, float* y, int64_t n) {
  const __m512 sign = _mm512_set1_ps(-0.f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_xor_ps(_mm512_loadu_ps(x + i), sign));
  twin().neg(x + i, y + i, n - i);
}

void abs_avx512(const float* x, float* y, int64_t n) {
  const __m512 sign = _mm512_set1_ps(-0.f), z = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);  // x < 0 ? -x : x (-0 and NaN keep their sign, as in the ref)
    _mm512_storeu_ps(y + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, z, _CMP_LT_OQ), v, _mm512_xor_ps(v, sign)));
  }
  twin().abs(x + i, y + i, n - i);
}

void sqrt_avx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
  twin().sqrt(x + i, y + i, n - i);
}

void batchnorm_avx512(const float* x, float* y, int64_t n, float mean, float sd, float scale, float shift) {
  const __m512 m = _mm512_set1_ps(mean), d = _mm512_set1_ps(sd), s = _mm512_set1_ps(scale), b = _mm512_set1_ps(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_div_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), m), d);
    _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_mul_ps(v, s), b));
  }
  twin().batchnorm(x + i, y + i, n - i, mean, sd, scale, shift);
}

#define OCTET_EW_MODES(B, Op) {bin<EwBin::B, EwMode::VV, Op>, bin<EwBin::B, EwMode::VS, Op>, bin<EwBin::B, EwMode::SV, Op>}
const EwRowKernels kAvx512{"avx512",
                           {OCTET_EW_MODES(Add, AddV), OCTET_EW_MODES(Sub, SubV), OCTET_EW_MODES(Mul, MulV),
                            OCTET_EW_MODES(Div, DivV), OCTET_EW_MODES(Min, MinV), OCTET_EW_MODES(Max, MaxV)},
                           relu_avx512, leaky_relu_avx512, clip_avx512, clamp_avx512, hard_sigmoid_avx512,
                           hard_swish_avx512, neg_avx512, abs_avx512, sqrt_avx512, batchnorm_avx512};
#undef OCTET_EW_MODES

}  // namespace

const EwRowKernels& ew_row_kernels_avx512() { return kAvx512; }

}  // namespace octet::cpu
