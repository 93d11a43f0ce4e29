// Reference FP32 kernels: Gemm and MatMul (numpy semantics).
//
// Both compute one output row at a time (one OpenMP iteration), summing over k in ascending order in float
// whatever the transposition, so transposed and plain layouts of the same numbers give identical results.
// Fused post-ops (Node::post): residual input added, then the activation, after everything else.
#include <algorithm>
#include <vector>

#include "backends/ref/ref.h"

namespace octet {

namespace {

void check_f32_io(const OpArgs& a) {
  for (size_t i = 0; i < a.in.size(); ++i)
    if (a.in[i])
      OCTET_CHECK(a.in[i]->dtype() == DType::f32, a.node.describe(), ": input ", i, " is ",
                  dtype_name(a.in[i]->dtype()), "; this reference kernel is float32 only");
}

// Residual and activation over one row of `count` values at flat offset `offset` of the output.
void finish_row(const OpArgs& a, float* y, int64_t count, int64_t offset) {
  const int r = a.node.post.residual_input;
  const float* res = r >= 0 ? a.input(r).data<float>() + offset : nullptr;
  if (!res && a.node.post.act == Activation::None) return;
  for (int64_t j = 0; j < count; ++j) y[j] = apply_activation(a.node.post, res ? y[j] + res[j] : y[j]);
}

}  // namespace

// Y = alpha * A' B' + beta * C, A' = transA ? A^T : A (M x K), B' = transB ? B^T : B (K x N);
// C broadcasts unidirectionally to M x N.
void ref_Gemm(const OpArgs& a) {
  check_f32_io(a);
  const Node& n = a.node;
  const Tensor& A = a.input(0);
  const Tensor& B = a.input(1);
  const bool ta = n.attr_i("transA", 0) != 0, tb = n.attr_i("transB", 0) != 0;
  const float alpha = n.attr_f("alpha", 1.f), beta = n.attr_f("beta", 1.f);
  const int64_t M = ta ? A.dim(1) : A.dim(0), K = ta ? A.dim(0) : A.dim(1), N = tb ? B.dim(0) : B.dim(1);
  const float* pa = A.data<float>();
  const float* pb = B.data<float>();
  float* py = a.output(0).data<float>();
  const Tensor* C = a.has(2) ? &a.input(2) : nullptr;
  const float* pc = C ? C->data<float>() : nullptr;
  // C's strides over (row, col) of Y: 0 along broadcast dims.
  int64_t c_rs = 0, c_cs = 0;
  if (C && C->rank() == 2) {
    c_rs = C->dim(0) == 1 ? 0 : C->dim(1);
    c_cs = C->dim(1) == 1 ? 0 : 1;
  } else if (C && C->rank() == 1) {
    c_cs = C->dim(0) == 1 ? 0 : 1;
  }

#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    float* y = py + i * N;
    std::fill(y, y + N, 0.f);
    if (!tb) {
      for (int64_t k = 0; k < K; ++k) {
        const float av = ta ? pa[k * M + i] : pa[i * K + k];
        const float* br = pb + k * N;
        for (int64_t j = 0; j < N; ++j) y[j] += av * br[j];
      }
    } else {
      for (int64_t j = 0; j < N; ++j) {
        const float* bc = pb + j * K;
        float s = 0.f;
        for (int64_t k = 0; k < K; ++k) s += (ta ? pa[k * M + i] : pa[i * K + k]) * bc[k];
        y[j] = s;
      }
    }
    for (int64_t j = 0; j < N; ++j) {
      y[j] *= alpha;
      if (pc) y[j] += beta * pc[i * c_rs + j * c_cs];
    }
    finish_row(a, y, N, i * N);
  }
}

// numpy matmul: a 1-D A is [1, K] and a 1-D B is [K, 1] with that dim dropped from Y; the batch dims
// (all but the last two) broadcast.
void ref_MatMul(const OpArgs& a) {
  check_f32_io(a);
  const Tensor& A = a.input(0);
  const Tensor& B = a.input(1);
  Tensor& Y = a.output(0);
  Shape as = A.shape(), bs = B.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  // Batch dims right-aligned to the output's batch rank, with strides (in matrices) 0 where broadcast.
  const size_t rb = std::max(as.size(), bs.size()) - 2;
  std::vector<int64_t> ob(rb, 1), sa(rb, 0), sb(rb, 0);
  auto fill = [&](const Shape& s, std::vector<int64_t>& stride) {
    const size_t r = s.size() - 2;
    int64_t st = 1;
    for (size_t i = r; i-- > 0;) {
      const size_t o = rb - r + i;
      if (s[i] != 1) stride[o] = st;
      ob[o] = std::max(ob[o], s[i]);
      st *= s[i];
    }
  };
  fill(as, sa);
  fill(bs, sb);
  int64_t batches = 1;
  for (int64_t d : ob) batches *= d;
  const float* pa = A.data<float>();
  const float* pb = B.data<float>();
  float* py = Y.data<float>();

#pragma omp parallel for schedule(static)
  for (int64_t bi = 0; bi < batches * M; ++bi) {
    const int64_t batch = bi / M, i = bi % M;
    int64_t oa = 0, obb = 0, rem = batch;
    for (size_t d = rb; d-- > 0;) {
      const int64_t idx = rem % ob[d];
      rem /= ob[d];
      oa += idx * sa[d];
      obb += idx * sb[d];
    }
    const float* ar = pa + oa * M * K + i * K;
    const float* bm = pb + obb * K * N;
    float* y = py + bi * N;  // Y is [batch..., M, N] with 1-D operand dims dropped: same flat layout
    std::fill(y, y + N, 0.f);
    for (int64_t k = 0; k < K; ++k) {
      const float av = ar[k];
      const float* br = bm + k * N;
      for (int64_t j = 0; j < N; ++j) y[j] += av * br[j];
    }
    finish_row(a, y, N, bi * N);
  }
}

}  // namespace octet
