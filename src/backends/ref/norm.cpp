// Reference kernels of Softmax, LogSoftmax, LayerNormalization and InstanceNormalization.
//
// Sums, means and variances accumulate in double; the result is rounded to the tensor's type once.
#include <cmath>

#include "backends/ref/ref.h"
#include "backends/ref/ref_util.h"
#include "ir/infer.h"

namespace octet {

using namespace refk;

namespace {

// Softmax over `n` elements strided by `inner`, for opset >= 13 (one axis) or, with the node attr
// coerce_2d=1 set by the importer for older opsets, over the flattened dims [axis, rank).
template <bool Log>
void softmax(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const bool coerce = a.node.attr_i("coerce_2d", 0) == 1;
  const int r = x.rank();
  const int axis = normalize_axis(a.node, a.node.attr_i("axis", coerce ? 1 : -1), r);
  const int64_t outer = prod(x.shape(), 0, axis);
  const int64_t n = coerce ? prod(x.shape(), axis, r) : (r ? x.dim(axis) : 1);
  const int64_t inner = coerce ? 1 : prod(x.shape(), axis + 1, r);
  visit_dtype<kFloat>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const T* p = x.data<T>() + o * n * inner + in;
        T* q = a.output(0).data<T>() + o * n * inner + in;
        double mx = -INFINITY, sum = 0;
        for (int64_t k = 0; k < n; ++k) mx = std::max(mx, static_cast<double>(p[k * inner]));
        for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(p[k * inner]) - mx);
        const double log_sum = std::log(sum);
        for (int64_t k = 0; k < n; ++k) {
          const double d = static_cast<double>(p[k * inner]) - mx;
          q[k * inner] = static_cast<T>(Log ? d - log_sum : std::exp(d) / sum);
        }
      }
  });
}

// Input i (shape broadcastable to `norm`) expanded to numel(norm) doubles.
std::vector<double> expand_param(const OpArgs& a, int i, const Shape& norm, double missing) {
  std::vector<double> v(static_cast<size_t>(numel(norm)), missing);
  if (!a.has(i)) return v;
  const Tensor& t = a.input(i);
  const std::vector<float> f = t.dtype() == DType::f64 ? std::vector<float>{} : t.to_f32();
  broadcast_loop(norm, {&t.shape()}, [&](int64_t j, const int64_t* off) {  // f64 parameters stay exact
    v[static_cast<size_t>(j)] = t.dtype() == DType::f64 ? t.data<double>()[off[0]] : f[static_cast<size_t>(off[0])];
  });
  return v;
}

// y = (x - mean) / sqrt(var + eps) * scale + bias over `count` contiguous elements (population variance);
// returns {mean, 1/sqrt(var+eps)}.
template <typename T, typename ScaleAt, typename BiasAt>
std::pair<double, double> normalize(const T* x, T* y, int64_t count, double eps, ScaleAt scale, BiasAt bias) {
  double mean = 0, var = 0;
  for (int64_t k = 0; k < count; ++k) mean += static_cast<double>(x[k]);
  mean /= static_cast<double>(count);
  for (int64_t k = 0; k < count; ++k) var += (static_cast<double>(x[k]) - mean) * (static_cast<double>(x[k]) - mean);
  var /= static_cast<double>(count);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t k = 0; k < count; ++k) y[k] = static_cast<T>((static_cast<double>(x[k]) - mean) * inv * scale(k) + bias(k));
  return {mean, inv};
}

}  // namespace

void ref_Softmax(const OpArgs& a) { softmax<false>(a); }
void ref_LogSoftmax(const OpArgs& a) { softmax<true>(a); }

// Normalizes over dims [axis, rank); optional outputs Mean and InvStdDev have shape X.shape[:axis] + 1s.
void ref_LayerNormalization(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const int axis = normalize_axis(a.node, a.node.attr_i("axis", -1), x.rank());
  const double eps = a.node.attr_f("epsilon", 1e-5f);
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const int64_t n = numel(norm), outer = prod(x.shape(), 0, axis);
  const std::vector<double> scale = expand_param(a, 1, norm, 1.0), bias = expand_param(a, 2, norm, 0.0);
  float* mean_out = a.out.size() > 1 && a.out[1] ? a.output(1).data<float>() : nullptr;
  float* inv_out = a.out.size() > 2 && a.out[2] ? a.output(2).data<float>() : nullptr;
  visit_dtype<kFloat>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t o = 0; o < outer; ++o) {
      auto [mean, inv] = normalize(x.data<T>() + o * n, a.output(0).data<T>() + o * n, n, eps,
                                   [&](int64_t k) { return scale[static_cast<size_t>(k)]; },
                                   [&](int64_t k) { return bias[static_cast<size_t>(k)]; });
      if (mean_out) mean_out[o] = static_cast<float>(mean);
      if (inv_out) inv_out[o] = static_cast<float>(inv);
    }
  });
}

// X [N, C, D1...]; per (n, c) over the spatial dims, then scale[c] and B[c].
void ref_InstanceNormalization(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const double eps = a.node.attr_f("epsilon", 1e-5f);
  const int64_t N = x.dim(0), C = x.dim(1), spatial = prod(x.shape(), 2, x.rank());
  const std::vector<float> scale = a.input(1).to_f32(), bias = a.input(2).to_f32();
  visit_dtype<kFloat>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t off = (b * C + c) * spatial;
        const double s = scale[static_cast<size_t>(c)], bb = bias[static_cast<size_t>(c)];
        normalize(x.data<T>() + off, a.output(0).data<T>() + off, spatial, eps, [&](int64_t) { return s; },
                  [&](int64_t) { return bb; });
      }
  });
}

}  // namespace octet
