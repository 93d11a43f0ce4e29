// Reference kernels for data-movement and shape ops. Everything that moves elements goes through
// index_copy (any dtype, dtype_size bytes per element); only Cast and Range look at values.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/ref/index_copy.h"
#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "ir/infer_tensor.h"

namespace octet {

// ---- the generic copy ----------------------------------------------------------------------------

void index_copy(size_t esize, const Shape& out, const OffsetTables& tab, const void* src, void* dst,
                const void* fill) {
  const int rank = static_cast<int>(out.size());
  const int64_t total = numel(out);
  if (total == 0) return;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (rank == 0) {
    std::memcpy(d, s, esize);
    return;
  }
  const int64_t inner = out[static_cast<size_t>(rank - 1)];
  const std::vector<int64_t>& last = tab[static_cast<size_t>(rank - 1)];
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t row = 0; row < total; row += inner) {
    int64_t base = 0;
    bool filled = false;
    for (int k = 0; k < rank - 1; ++k) {
      const int64_t t = tab[static_cast<size_t>(k)][static_cast<size_t>(idx[static_cast<size_t>(k)])];
      if (t == kFillElement) filled = true;
      base += t;
    }
    for (int64_t j = 0; j < inner; ++j, d += esize) {
      const int64_t t = last[static_cast<size_t>(j)];
      const bool f = filled || t == kFillElement;
      assert(!f || fill);
      std::memcpy(d, f ? fill : s + (base + t) * static_cast<int64_t>(esize), esize);
    }
    for (int k = rank - 2; k >= 0; --k) {
      if (++idx[static_cast<size_t>(k)] < out[static_cast<size_t>(k)]) break;
      idx[static_cast<size_t>(k)] = 0;
    }
  }
}

std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i)
    st[static_cast<size_t>(i)] = st[static_cast<size_t>(i) + 1] * s[static_cast<size_t>(i) + 1];
  return st;
}

OffsetTables broadcast_tables(const Shape& in, const Shape& out) {
  assert(in.size() <= out.size());
  const size_t lead = out.size() - in.size();
  std::vector<int64_t> st = row_major_strides(in);
  OffsetTables tab(out.size());
  for (size_t d = 0; d < out.size(); ++d) {
    const bool bcast = d < lead || in[d - lead] == 1;
    for (int64_t i = 0; i < out[d]; ++i) tab[d].push_back(bcast ? 0 : i * st[d - lead]);
  }
  return tab;
}

namespace {

void copy_all(const OpArgs& a) {
  const Tensor &x = a.input(0);
  Tensor& y = a.output(0);
  assert(x.nbytes() == y.nbytes());
  if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
}

void copy_tables(const OpArgs& a, const OffsetTables& tab, const void* fill = nullptr) {
  Tensor& y = a.output(0);
  index_copy(dtype_size(y.dtype()), y.shape(), tab, a.input(0).raw(), y.raw(), fill);
}

// Float -> integer truncates toward zero; out-of-range values and NaN saturate (ONNX leaves them undefined).
template <typename D, typename S>
D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    if (std::isnan(v)) return D(0);
    const double t = std::trunc(static_cast<double>(v));
    if (t <= static_cast<double>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    if (t >= static_cast<double>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(t);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace

// ---- kernels -------------------------------------------------------------------------------------

void ref_Where(const OpArgs& a) {
  Tensor& y = a.output(0);
  const size_t es = dtype_size(y.dtype());
  Tensor cond(DType::boolean, y.shape()), xs(y.dtype(), y.shape()), ys(y.dtype(), y.shape());
  index_copy(1, y.shape(), broadcast_tables(a.input(0).shape(), y.shape()), a.input(0).raw(), cond.raw());
  index_copy(es, y.shape(), broadcast_tables(a.input(1).shape(), y.shape()), a.input(1).raw(), xs.raw());
  index_copy(es, y.shape(), broadcast_tables(a.input(2).shape(), y.shape()), a.input(2).raw(), ys.raw());
  const bool* c = cond.data<bool>();
  char* out = static_cast<char*>(y.raw());
  for (int64_t i = 0; i < y.numel(); ++i) {
    const Tensor& from = c[i] ? xs : ys;
    std::memcpy(out + i * static_cast<int64_t>(es), static_cast<const char*>(from.raw()) + i * static_cast<int64_t>(es), es);
  }
}

void ref_Flatten(const OpArgs& a) { copy_all(a); }
void ref_Reshape(const OpArgs& a) { copy_all(a); }
void ref_Squeeze(const OpArgs& a) { copy_all(a); }
void ref_Unsqueeze(const OpArgs& a) { copy_all(a); }

void ref_Transpose(const OpArgs& a) {
  const Shape& in = a.input(0).shape();
  std::vector<int64_t> perm = a.node.attr_ints("perm");
  if (perm.empty())
    for (int i = static_cast<int>(in.size()) - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int64_t> st = row_major_strides(in);
  const Shape& out = a.output(0).shape();
  OffsetTables tab(out.size());
  for (size_t d = 0; d < out.size(); ++d) {
    const size_t p = static_cast<size_t>(perm[d] < 0 ? perm[d] + static_cast<int64_t>(in.size()) : perm[d]);
    for (int64_t i = 0; i < out[d]; ++i) tab[d].push_back(i * st[p]);
  }
  copy_tables(a, tab);
}

// Concat and Split move contiguous blocks: the tensors are [outer, axis, inner] around the axis.
void ref_Concat(const OpArgs& a) {
  Tensor& y = a.output(0);
  const int axis = normalize_axis(a.node, a.node.attr_i("axis", 0), y.rank());
  const Shape& s = y.shape();
  const int64_t es = static_cast<int64_t>(dtype_size(y.dtype()));
  const int64_t outer = numel(Shape(s.begin(), s.begin() + axis)), inner = numel(Shape(s.begin() + axis + 1, s.end()));
  int64_t at = 0;
  for (const Tensor* x : a.in) {
    const int64_t block = x->dim(axis) * inner * es;
    for (int64_t o = 0; block && o < outer; ++o)
      std::memcpy(static_cast<char*>(y.raw()) + (o * s[static_cast<size_t>(axis)] + at) * inner * es,
                  static_cast<const char*>(x->raw()) + o * block, static_cast<size_t>(block));
    at += x->dim(axis);
  }
}

void ref_Split(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const int axis = normalize_axis(a.node, a.node.attr_i("axis", 0), x.rank());
  const Shape& s = x.shape();
  const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
  const int64_t outer = numel(Shape(s.begin(), s.begin() + axis)), inner = numel(Shape(s.begin() + axis + 1, s.end()));
  int64_t at = 0;
  for (Tensor* y : a.out) {
    const int64_t block = y->dim(axis) * inner * es;
    for (int64_t o = 0; block && o < outer; ++o)
      std::memcpy(static_cast<char*>(y->raw()) + o * block,
                  static_cast<const char*>(x.raw()) + (o * s[static_cast<size_t>(axis)] + at) * inner * es,
                  static_cast<size_t>(block));
    at += y->dim(axis);
  }
}

void ref_Slice(const OpArgs& a) {
  const Shape& in = a.input(0).shape();
  SliceParams p = slice_params(a.node, in, a.input(1), a.input(2), optional_input(a.in, 3), optional_input(a.in, 4));
  std::vector<int64_t> st = row_major_strides(in);
  OffsetTables tab(in.size());
  for (size_t d = 0; d < in.size(); ++d)
    for (int64_t i = 0; i < p.out[d]; ++i) tab[d].push_back((p.start[d] + i * p.step[d]) * st[d]);
  copy_tables(a, tab);
}

void ref_Gather(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const int axis = normalize_axis(a.node, a.node.attr_i("axis", 0), x.rank());
  const int64_t dim = x.dim(axis);
  const int64_t outer = numel(Shape(x.shape().begin(), x.shape().begin() + axis));
  const int64_t inner = numel(Shape(x.shape().begin() + axis + 1, x.shape().end()));
  std::vector<int64_t> idx = a.input(1).to_i64();
  // The output is [outer, indices..., inner] row-major: view it as 3-D.
  OffsetTables tab(3);
  for (int64_t o = 0; o < outer; ++o) tab[0].push_back(o * dim * inner);
  for (int64_t i : idx) {
    OCTET_CHECK(i >= -dim && i < dim, a.node.describe(), ": index ", i, " is out of range for axis ", axis,
                " of size ", dim);
    tab[1].push_back((i < 0 ? i + dim : i) * inner);
  }
  for (int64_t k = 0; k < inner; ++k) tab[2].push_back(k);
  Tensor& y = a.output(0);
  index_copy(dtype_size(y.dtype()), {outer, static_cast<int64_t>(idx.size()), inner}, tab, x.raw(), y.raw());
}

void ref_Shape(const OpArgs& a) {
  const Shape& s = a.input(0).shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  int64_t start = a.node.attr_i("start", 0);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  Tensor& y = a.output(0);
  for (int64_t i = 0; i < y.numel(); ++i) y.data<int64_t>()[i] = s[static_cast<size_t>(start + i)];
}

void ref_Cast(const OpArgs& a) {
  const Tensor& x = a.input(0);
  Tensor& y = a.output(0);
  visit_dtype(a.node, x.dtype(), [&](auto s) {
    using S = decltype(s);
    visit_dtype(a.node, y.dtype(), [&](auto d) {
      using D = decltype(d);
      const S* in = static_cast<const S*>(x.raw());
      D* out = static_cast<D*>(y.raw());
      for (int64_t i = 0; i < x.numel(); ++i) out[i] = convert<D>(in[i]);
    });
  });
}

void ref_Constant(const OpArgs& a) {
  Tensor t = constant_attr_value(a.node);
  Tensor& y = a.output(0);
  OCTET_CHECK(t.nbytes() == y.nbytes(), a.node.describe(), ": output of ", shape_str(y.shape()),
              " does not match its value ", shape_str(t.shape()));
  if (t.nbytes()) std::memcpy(y.raw(), t.raw(), t.nbytes());
}

void ref_ConstantOfShape(const OpArgs& a) {
  Tensor v = constant_of_shape_value(a.node);
  Tensor& y = a.output(0);
  const size_t es = dtype_size(y.dtype());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(static_cast<char*>(y.raw()) + i * static_cast<int64_t>(es), v.raw(), es);
}

void ref_Expand(const OpArgs& a) { copy_tables(a, broadcast_tables(a.input(0).shape(), a.output(0).shape())); }

void ref_Tile(const OpArgs& a) {
  const Shape& in = a.input(0).shape();
  const Shape& out = a.output(0).shape();
  std::vector<int64_t> st = row_major_strides(in);
  OffsetTables tab(out.size());
  for (size_t d = 0; d < out.size(); ++d)
    for (int64_t i = 0; i < out[d]; ++i) tab[d].push_back((i % in[d]) * st[d]);
  copy_tables(a, tab);
}

void ref_Range(const OpArgs& a) {
  Tensor& y = a.output(0);
  visit_dtype(a.node, y.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, bool>) {
      fail(a.node.describe(), ": bool range");
    } else {
      const T start = static_cast<const T*>(a.input(0).raw())[0], delta = static_cast<const T*>(a.input(2).raw())[0];
      T* out = static_cast<T*>(y.raw());
      for (int64_t i = 0; i < y.numel(); ++i) out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    }
  });
}

}  // namespace octet
