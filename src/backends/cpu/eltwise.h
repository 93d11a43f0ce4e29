// FP32 element-wise, normalization and data-movement kernels of the cpu backend.
//
// Op kernels (eltwise.cpp, movement.cpp) split tensors into contiguous runs and thread them with OpenMP; the
// arithmetic of the cheap ops is in the row kernels below (AVX-512 in eltwise_avx512.cpp, scalar twins in
// eltwise_ref.cpp). Results are bit-identical to the reference kernels (src/backends/ref/elementwise.cpp,
// conv.cpp, norm.cpp): every row kernel performs, per element, the same single float operations in the same
// order as the ref functor (a division stays a division, no a*b+c is contracted: these files are compiled
// with -ffp-contract=off), and comparisons/selects reproduce the ref's ternaries exactly for NaN and ±0.
// Transcendental ops call the same std:: function as the ref kernel, so they are bit-identical as well.
//
// Variants are chosen once from the CPU's features through the INT8 row kernels' probe (q_row_kernels():
// AVX-512 F/BW/VL/DQ, or OCTET_CPU_ISA=ref to force the scalar twins).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "runtime/backend.h"

namespace octet::cpu {

// Binary operations, in the order of EwRowKernels::binary.
enum class EwBin : int { Add, Sub, Mul, Div, Min, Max, kCount };
// Operand modes of a binary row: both vary, b is one scalar, a is one scalar.
enum class EwMode : int { VV, VS, SV, kCount };

using EwBinaryFn = void (*)(const float* a, const float* b, float* y, int64_t n);

struct EwRowKernels {
  const char* isa;  // "avx512" or "ref"
  // y[i] = a[i] op b[i] (VV), a[i] op b[0] (VS), a[0] op b[i] (SV), i < n. Min: (isnan(a) || a <= b) ? a : b;
  // Max: (isnan(a) || a >= b) ? a : b (the ref's NaN-propagating fold).
  EwBinaryFn binary[static_cast<int>(EwBin::kCount)][static_cast<int>(EwMode::kCount)];
  // Unary, y may equal x (in place).
  void (*relu)(const float* x, float* y, int64_t n);                         // x > 0 ? x : 0
  void (*leaky_relu)(const float* x, float* y, int64_t n, float alpha);      // x >= 0 ? x : x * alpha
  void (*clip)(const float* x, float* y, int64_t n, float lo, float hi);     // x < lo ? lo : (x > hi ? hi : x)
  void (*clamp)(const float* x, float* y, int64_t n, float lo, float hi);    // std::min(std::max(x, lo), hi)
  void (*hard_sigmoid)(const float* x, float* y, int64_t n, float alpha, float beta);  // min(max(a*x+b, 0), 1)
  void (*hard_swish)(const float* x, float* y, int64_t n);                   // x * min(max(x/6 + 0.5, 0), 1)
  void (*neg)(const float* x, float* y, int64_t n);                          // -x
  void (*abs)(const float* x, float* y, int64_t n);                          // x < 0 ? -x : x
  void (*sqrt)(const float* x, float* y, int64_t n);                         // std::sqrt(x)
  // Inference batch normalization of one plane: y[i] = (x[i] - mean) / sd * scale + shift.
  void (*batchnorm)(const float* x, float* y, int64_t n, float mean, float sd, float scale, float shift);
};

const EwRowKernels& ew_row_kernels();
// The scalar twins (eltwise_ref.cpp) and the AVX-512 set (eltwise_avx512.cpp; only on CPUs that have it).
const EwRowKernels& ew_row_kernels_ref();
const EwRowKernels& ew_row_kernels_avx512();

// Unary f32 ops (Relu ... Elu, Identity, Dropout with one output), Add/Sub/Mul/Div/Min/Max f32 with two inputs
// (any numpy broadcast: dims are collapsed so that the innermost run is VV, VS or SV; Add carries
// node.post.act), Softmax/LogSoftmax (any axis; rows along the last axis are the fast case),
// LayerNormalization (f32, scale/bias broadcast along the trailing dims), BatchNormalization (f32, NCHW,
// inference).
bool eltwise_supported(const Graph& g, const Node& n);
std::unique_ptr<Kernel> make_eltwise(const Graph& g, const Node& n);

// Concat (any dtype, rank, axis), Transpose (any perm), Reshape/Flatten/Squeeze/Unsqueeze (a copy).
bool movement_supported(const Graph& g, const Node& n);
std::unique_ptr<Kernel> make_movement(const Graph& g, const Node& n);

// Runs f(begin, end) over [0, n): one piece per thread, pieces a multiple of `align`, serial (no OpenMP
// region) unless every one of at least two threads gets min_per_thread elements.
template <typename F>
void parallel_range(int64_t n, int64_t min_per_thread, F&& f, int64_t align = 16) {
  const int64_t t = std::min<int64_t>(omp_get_max_threads(), n / std::max<int64_t>(min_per_thread, 1));
  if (t <= 1 || omp_in_parallel()) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(t))
  {
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t per = ((n + nt - 1) / nt + align - 1) / align * align;
    const int64_t b = std::min(n, id * per), e = std::min(n, b + per);
    if (b < e) f(b, e);
  }
}

}  // namespace octet::cpu
