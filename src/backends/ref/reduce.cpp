// Reference kernels of the Reduce group (ReduceMean/Max/Min/Sum, ArgMax) and TopK.
//
// Float reductions accumulate in double, integer ones in int64; Max/Min propagate NaN.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "backends/ref/ref.h"
#include "backends/ref/ref_util.h"
#include "ir/reduce_axes.h"

namespace octet {

using namespace refk;

namespace {

enum class Red { Sum, Mean, Max, Min };

void reduce(const OpArgs& a, Red kind) {
  const Tensor& x = a.input(0);
  Tensor& y = a.output(0);
  std::vector<bool> mask = reduce_axes_mask(a.node, x.rank(), a.has(1) ? &a.input(1) : nullptr);
  if (mask.empty()) {  // noop_with_empty_axes
    if (x.nbytes() > 0) std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  Shape kept = x.shape();  // the output shape with keepdims=1: same elements, same order as y
  for (size_t d = 0; d < kept.size(); ++d)
    if (mask[d]) kept[d] = 1;
  const int64_t count = numel(kept) == 0 ? 0 : x.numel() / numel(kept);
  visit_dtype<kNum>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    constexpr bool kFloatT = std::is_floating_point_v<T>;
    Acc init = 0;
    if (kind == Red::Max) init = kFloatT ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<T>::lowest();
    if (kind == Red::Min) init = kFloatT ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<T>::max();
    std::vector<Acc> acc(static_cast<size_t>(numel(kept)), init);
    const T* xp = x.data<T>();
    // Walk x; off[0] is the position of each element's reduction slot.
    broadcast_loop(x.shape(), {&kept}, [&](int64_t i, const int64_t* off) {
      Acc& r = acc[static_cast<size_t>(off[0])];
      const Acc v = static_cast<Acc>(xp[i]);
      switch (kind) {
        case Red::Sum: case Red::Mean: r += v; break;
        case Red::Max: if (v > r || v != v) r = r != r ? r : v; break;
        case Red::Min: if (v < r || v != v) r = r != r ? r : v; break;
      }
    });
    T* yp = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i) {
      Acc v = acc[i];
      if (kind == Red::Mean) {
        if constexpr (kFloatT) v = v / static_cast<double>(count);  // 0/0 = NaN for an empty reduction
        else v = count ? v / count : 0;
      }
      yp[i] = static_cast<T>(v);
    }
  });
}

// x viewed as [outer, n, inner] around `axis`.
struct AxisView {
  int64_t outer, n, inner;
  AxisView(const Shape& s, int axis)
      : outer(prod(s, 0, axis)), n(s[static_cast<size_t>(axis)]), inner(prod(s, axis + 1, static_cast<int>(s.size()))) {}
};

// Strict "a comes before b" for largest-first ordering; NaN counts as larger than any number.
template <typename T> bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

}  // namespace

void ref_ReduceSum(const OpArgs& a) { reduce(a, Red::Sum); }
void ref_ReduceMean(const OpArgs& a) { reduce(a, Red::Mean); }
void ref_ReduceMax(const OpArgs& a) { reduce(a, Red::Max); }
void ref_ReduceMin(const OpArgs& a) { reduce(a, Red::Min); }

// First index of the maximum (last with select_last_index=1); NaN wins.
void ref_ArgMax(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const AxisView v(x.shape(), normalize_axis(a.node, a.node.attr_i("axis", 0), x.rank()));
  const bool last = a.node.attr_i("select_last_index", 0) != 0;
  int64_t* out = a.output(0).data<int64_t>();
  visit_dtype<kNum>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t in = 0; in < v.inner; ++in) {
        const T* q = p + o * v.n * v.inner + in;
        int64_t best = 0;
        for (int64_t k = 1; k < v.n; ++k) {
          T c = q[k * v.inner], b = q[best * v.inner];
          if (greater(c, b) || (last && !greater(b, c))) best = k;
        }
        out[o * v.inner + in] = best;
      }
  });
}

// Values and indices of the K largest (or smallest) along axis, always sorted; ties keep the smaller index first.
void ref_TopK(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const AxisView v(x.shape(), normalize_axis(a.node, a.node.attr_i("axis", -1), x.rank()));
  const int64_t k = a.input(1).to_i64().at(0);
  const bool largest = a.node.attr_i("largest", 1) != 0;
  int64_t* idx_out = a.out.size() > 1 && a.out[1] ? a.output(1).data<int64_t>() : nullptr;
  visit_dtype<kNum>(a.node, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    T* val_out = a.output(0).data<T>();
    std::vector<int64_t> order(static_cast<size_t>(v.n));
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t in = 0; in < v.inner; ++in) {
        const T* q = p + o * v.n * v.inner + in;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t i, int64_t j) {
          T qi = q[i * v.inner], qj = q[j * v.inner];
          if (largest ? greater(qi, qj) : greater(qj, qi)) return true;
          if (largest ? greater(qj, qi) : greater(qi, qj)) return false;
          return i < j;
        });
        for (int64_t r = 0; r < k; ++r) {
          const int64_t dst = (o * k + r) * v.inner + in;
          val_out[dst] = q[order[static_cast<size_t>(r)] * v.inner];
          if (idx_out) idx_out[dst] = order[static_cast<size_t>(r)];
        }
      }
  });
}

}  // namespace octet
