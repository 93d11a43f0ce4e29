// Scalar twins of the FP32 row kernels (eltwise.h) and their one-time dispatch. Compiled without ISA flags
// (and with -ffp-contract=off); each routine is the ref functor's expression, written out again.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/eltwise.h"
#include "backends/cpu/qelementwise.h"

namespace octet::cpu {

namespace {

struct AddOp { static float f(float a, float b) { return a + b; } };
struct SubOp { static float f(float a, float b) { return a - b; } };
struct MulOp { static float f(float a, float b) { return a * b; } };
struct DivOp { static float f(float a, float b) { return a / b; } };
struct MinOp { static float f(float a, float b) { return std::isnan(a) || a <= b ? a : b; } };
struct MaxOp { static float f(float a, float b) { return std::isnan(a) || a >= b ? a : b; } };

template <typename Op> void vv(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Op::f(a[i], b[i]);
}
template <typename Op> void vs(const float* a, const float* b, float* y, int64_t n) {
  const float s = b[0];
  for (int64_t i = 0; i < n; ++i) y[i] = Op::f(a[i], s);
}
template <typename Op> void sv(const float* a, const float* b, float* y, int64_t n) {
  const float s = a[0];
  for (int64_t i = 0; i < n; ++i) y[i] = Op::f(s, b[i]);
}

void relu_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
void leaky_relu_ref(const float* x, float* y, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] >= 0.f ? x[i] : x[i] * alpha;
}
void clip_ref(const float* x, float* y, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
}
void clamp_ref(const float* x, float* y, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], lo), hi);
}
void hard_sigmoid_ref(const float* x, float* y, int64_t n, float alpha, float beta) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(alpha * x[i] + beta, 0.f), 1.f);
}
void hard_swish_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * std::min(std::max(x[i] / 6.f + 0.5f, 0.f), 1.f);
}
void neg_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
}
void abs_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.f ? -x[i] : x[i];
}
void sqrt_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
}
void batchnorm_ref(const float* x, float* y, int64_t n, float mean, float sd, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) / sd * scale + shift;
}

#define OCTET_EW_MODES(Op) {vv<Op>, vs<Op>, sv<Op>}
const EwRowKernels kRef{"ref",
                        {OCTET_EW_MODES(AddOp), OCTET_EW_MODES(SubOp), OCTET_EW_MODES(MulOp), OCTET_EW_MODES(DivOp),
                         OCTET_EW_MODES(MinOp), OCTET_EW_MODES(MaxOp)},
                        relu_ref, leaky_relu_ref, clip_ref, clamp_ref, hard_sigmoid_ref, hard_swish_ref, neg_ref,
                        abs_ref, sqrt_ref, batchnorm_ref};
#undef OCTET_EW_MODES

}  // namespace

const EwRowKernels& ew_row_kernels_ref() { return kRef; }

const EwRowKernels& ew_row_kernels() {
  // The INT8 kernels' probe decides (same features, same OCTET_CPU_ISA override), so both families agree.
  static const EwRowKernels& k = std::strcmp(q_row_kernels().isa, "avx512") == 0 ? ew_row_kernels_avx512() : kRef;
  return k;
}

}  // namespace octet::cpu
