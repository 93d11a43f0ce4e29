// Node + shapes -> kernel Args (args.h). The geometry is ref's (backends/ref/qops.cpp) so that the bodies
// compute the same windows.
#include "backends/cuda/args.h"

#include <algorithm>

#include "ir/infer.h"
#include "ir/qops.h"
#include "ir/window.h"

namespace octet::cuda {

Win2 nhwc_window(const Node& n, const Shape& x, const Shape& kernel, bool global) {
  if (global) return {x[0], x[1], x[2], x[3], 1, 1, x[1], x[2], 1, 1, 1, 1, 0, 0, 0, 0};
  const Window w = forward_window(n, {x[0], x[3], x[1], x[2]}, kernel, false);
  return {x[0], x[1], x[2], x[3], w.out[0], w.out[1], w.kernel[0], w.kernel[1], w.strides[0], w.strides[1],
          w.dilations[0], w.dilations[1], w.pad_begin[0], w.pad_begin[1], w.pad_end[0], w.pad_end[1]};
}

QConvArgs qconv_args(const Node& n, const Shape& x, const Shape& w) {
  QConvArgs a{};
  a.win = nhwc_window(n, x, {w[2], w[3]}, false);
  a.K = w[0];
  a.group = n.attr_i("group", 1);
  a.ep = QEpilogue::of(n).args();
  a.xzp = zero_point_attr(n, "x_zero_point");
  return a;
}

QLinearArgs qlinear_args(const Node& n, const Shape& x, const Shape& w) {
  QLinearArgs a{};
  a.Nout = w[0];
  a.K = w[1];
  a.rows = 1;
  for (size_t d = 0; d + 1 < x.size(); ++d) a.rows *= x[d];
  a.ep = QEpilogue::of(n).args();
  return a;
}

QAddArgs qadd_args(const Node& n, const Shape& y) {
  QAddArgs a{};
  a.n = numel(y);
  a.scale_a = n.attr_f("scale_a", 1.f);
  a.scale_b = n.attr_f("scale_b", 1.f);
  a.act_lo = n.attr_f("act_lo", quant::kNoLo);
  a.act_hi = n.attr_f("act_hi", quant::kNoHi);
  return a;
}

QMulGateArgs qmulgate_args(const Node& n, const Shape& x, const Shape& g) {
  QMulGateArgs a{};
  a.N = x[0];
  a.HW = x[1] * x[2];
  a.C = x[3];
  a.per_image = numel(g) == a.N * a.C;
  a.ratio = n.attr_f("scale", 1.f);
  a.x_zp = zero_point_attr(n, "x_zero_point");
  a.out_zp = zero_point_attr(n, "out_zero_point");
  return a;
}

QPoolArgs qpool_args(const Node& n, const Shape& x) {
  QPoolArgs a{};
  const bool global = n.attr_i("global", 0) != 0;
  a.win = nhwc_window(n, x, global ? Shape{} : n.attr_ints("kernel"), global);
  a.include_pad = n.attr_i("count_include_pad", 0) != 0;
  a.multiplier = n.attr_f("multiplier", 1.f);
  a.x_zp = n.op == OpType::QAvgPool ? zero_point_attr(n, "x_zero_point") : 0;
  return a;
}

namespace {
// Concat geometry: input i is [outer, len_i] at column col_i of y's [outer, row].
template <class A>
A concat_part(const Node& n, const std::vector<Shape>& xs, size_t i, const Shape& y) {
  const int rank = static_cast<int>(y.size());
  const int axis = normalize_axis(n, n.attr_i("axis", 0), rank);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= y[static_cast<size_t>(d)];
  for (int d = axis + 1; d < rank; ++d) inner *= y[static_cast<size_t>(d)];
  A a{};
  a.outer = outer;
  a.row = y[static_cast<size_t>(axis)] * inner;
  for (size_t j = 0; j < i; ++j) a.col += xs[j][static_cast<size_t>(axis)] * inner;
  a.len = xs[i][static_cast<size_t>(axis)] * inner;
  return a;
}
}  // namespace

std::vector<QConcatPartArgs> qconcat_args(const Node& n, const std::vector<Shape>& xs, const Shape& y) {
  const std::vector<float> scales = n.attr_floats("scales", std::vector<float>(xs.size(), 1.f));
  std::vector<QConcatPartArgs> parts;
  for (size_t i = 0; i < xs.size(); ++i) {
    parts.push_back(concat_part<QConcatPartArgs>(n, xs, i, y));
    parts.back().scale = scales[i];
  }
  return parts;
}

QuantizeArgs quantize_args(const Node& n, const Shape& x) {
  QuantizeArgs a{};
  a.n = numel(x);
  a.scale = n.attr_f("scale", 1.f);
  a.to_nhwc = n.attr_i("to_nhwc", 0) != 0;
  if (a.to_nhwc) {
    a.N = x[0];
    a.C = x[1];
    a.HW = x[2] * x[3];
  }
  return a;
}

DequantizeArgs dequantize_args(const Node& n, const Shape& x) {
  DequantizeArgs a{};
  a.n = numel(x);
  a.scale = n.attr_f("scale", 1.f);
  a.zero_point = zero_point_attr(n, "zero_point");
  a.to_nchw = n.attr_i("to_nchw", 0) != 0;
  if (a.to_nchw) {
    a.N = x[0];
    a.HW = x[1] * x[2];
    a.C = x[3];
  }
  return a;
}

TransposeArgs layout_args(const Node& n, const Shape& x) {
  TransposeArgs a{};
  a.N = x[0];
  if (n.op == OpType::ToNhwc) {  // [N, C, HW] -> [N, HW, C]
    a.P = x[2] * x[3];
    a.Q = x[1];
  } else {  // [N, HW, C] -> [N, C, HW]
    a.P = x[3];
    a.Q = x[1] * x[2];
  }
  return a;
}

BinaryArgs binary_args(const Node& n, const Shape& sa, const Shape& sb, const Shape& y) {
  BinaryArgs a{};
  a.rank = static_cast<int>(y.size());
  a.op = n.op == OpType::Add ? BinOp::Add
         : n.op == OpType::Sub ? BinOp::Sub
         : n.op == OpType::Mul ? BinOp::Mul
         : n.op == OpType::Div ? BinOp::Div
                               : BinOp::Relu;
  // Right-aligned strides of an input over y's dims; 0 where the input's dim is 1 (or missing).
  auto strides = [&](const Shape& s, int64_t* out) {
    int64_t st = 1;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int k = d - (a.rank - static_cast<int>(s.size()));
      const int64_t dim = k >= 0 ? s[static_cast<size_t>(k)] : 1;
      out[d] = dim == 1 ? 0 : st;
      st *= dim;
    }
  };
  for (int d = 0; d < a.rank; ++d) a.dims[d] = y[static_cast<size_t>(d)];
  strides(sa, a.sa);
  strides(a.op == BinOp::Relu ? sa : sb, a.sb);
  return a;
}

ConcatPartArgs concat_part_args(const Node& n, const std::vector<Shape>& xs, size_t i, const Shape& y) {
  return concat_part<ConcatPartArgs>(n, xs, i, y);
}

GlobalPoolArgs global_pool_args(const Node& n, const Shape& x) {
  GlobalPoolArgs a{};
  a.N = x[0];
  a.HW = x[1] * x[2];
  a.C = x[3];
  a.max = n.attr_s("mode", "max") == "max";
  return a;
}

BatchNormArgs batchnorm_args(const Node& n, const Shape& x) {
  BatchNormArgs a{};
  a.n = numel(x);
  a.C = x.size() > 1 ? x[1] : 1;
  a.plane = a.n && a.C ? a.n / (x[0] * a.C) : 1;
  a.eps = n.attr_f("epsilon", 1e-5f);
  return a;
}

PostF32 post_f32_of(const Node& n) {
  return {static_cast<int>(n.post.act), n.post.alpha, n.post.beta};
}

ConvF32Args conv_f32_args(const Node& n, const Shape& x, const Shape& w) {
  ConvF32Args a{};
  a.win = nhwc_window(n, x, {w[2], w[3]}, false);
  a.K = w[0];
  a.group = n.attr_i("group", 1);
  a.post = post_f32_of(n);
  return a;
}

PoolF32Args pool_f32_args(const Node& n, const Shape& x) {
  PoolF32Args a{};
  a.win = nhwc_window(n, x, n.attr_ints("kernel"), false);
  a.max = n.attr_s("mode", "max") == "max";
  a.include_pad = n.attr_i("count_include_pad", 0) != 0;
  if (!a.max) a.win.dh = a.win.dw = 1;  // AveragePool has no dilations (ref drops them)
  return a;
}

MatMulF32Args matmul_f32_args(const Node& n, const Shape& as, const Shape& bs) {
  MatMulF32Args a{};
  a.M = as[as.size() - 2];
  a.K = as.back();
  a.N = bs.back();
  a.a_row = a.K, a.a_k = 1, a.b_k = a.N, a.b_col = 1;
  const size_t rb = std::max(as.size(), bs.size()) - 2;
  a.rank = static_cast<int>(rb);
  for (size_t d = 0; d < rb; ++d) a.bdims[d] = 1, a.sa[d] = 0, a.sb[d] = 0;
  auto fill = [&](const Shape& s, int64_t* stride, int64_t matrix) {
    const size_t r = s.size() - 2;
    int64_t st = matrix;
    for (size_t i = r; i-- > 0;) {
      const size_t o = rb - r + i;
      if (s[i] != 1) stride[o] = st;
      a.bdims[o] = std::max(a.bdims[o], s[i]);
      st *= s[i];
    }
  };
  fill(as, a.sa, a.M * a.K);
  fill(bs, a.sb, a.K * a.N);
  a.post = post_f32_of(n);
  return a;
}

MatMulF32Args gemm_f32_args(const Node& n, const Shape& as, const Shape& bs, const Shape* c) {
  MatMulF32Args a{};
  const bool ta = n.attr_i("transA", 0) != 0, tb = n.attr_i("transB", 0) != 0;
  a.M = ta ? as[1] : as[0];
  a.K = ta ? as[0] : as[1];
  a.N = tb ? bs[0] : bs[1];
  a.a_row = ta ? 1 : a.K;
  a.a_k = ta ? a.M : 1;
  a.b_k = tb ? 1 : a.N;
  a.b_col = tb ? a.K : 1;
  a.alpha = n.attr_f("alpha", 1.f);
  a.beta = n.attr_f("beta", 1.f);
  a.scale = true;
  if (c && c->size() == 2) {
    a.c_row = (*c)[0] == 1 ? 0 : (*c)[1];
    a.c_col = (*c)[1] == 1 ? 0 : 1;
  } else if (c && c->size() == 1) {
    a.c_col = (*c)[0] == 1 ? 0 : 1;
  }
  a.post = post_f32_of(n);
  return a;
}

SoftmaxF32Args softmax_f32_args(const Node& n, const Shape& x) {
  SoftmaxF32Args a{};
  const bool coerce = n.attr_i("coerce_2d", 0) == 1;
  const int r = static_cast<int>(x.size());
  int axis = static_cast<int>(n.attr_i("axis", coerce ? 1 : -1));
  if (axis < 0) axis += r;
  auto prod = [&](int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; ++i) p *= x[static_cast<size_t>(i)];
    return p;
  };
  a.outer = prod(0, axis);
  a.n = coerce ? prod(axis, r) : (r ? x[static_cast<size_t>(axis)] : 1);
  a.inner = coerce ? 1 : prod(axis + 1, r);
  return a;
}

LayerNormF32Args layernorm_f32_args(const Node& n, const Shape& x) {
  LayerNormF32Args a{};
  const int r = static_cast<int>(x.size());
  int axis = static_cast<int>(n.attr_i("axis", -1));
  if (axis < 0) axis += r;
  a.outer = 1;
  a.n = 1;
  for (int i = 0; i < r; ++i) (i < axis ? a.outer : a.n) *= x[static_cast<size_t>(i)];
  a.eps = n.attr_f("epsilon", 1e-5f);
  return a;
}

}  // namespace octet::cuda
