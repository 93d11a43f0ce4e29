// Internal helpers of the reference kernels (not part of the backend interface): dtype dispatch with a
// compile-time set of accepted dtypes, and the one numpy-broadcasting index walk every broadcasting kernel uses.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "ir/graph.h"

namespace octet::refk {

// Dtype sets for visit_dtype.
inline constexpr unsigned kFloat = 1, kInt = 2, kBool = 4, kNum = kFloat | kInt, kAny = 7;

// Calls f(T{}) with the C++ type of `t` when `t` is in Set; otherwise fails naming the node. Only the types in
// Set are instantiated, so f's body needs to compile only for them.
template <unsigned Set, typename F>
void visit_dtype(const Node& n, DType t, F&& f) {
  switch (t) {
    case DType::f32: if constexpr ((Set & kFloat) != 0) { f(float{}); return; } break;
    case DType::f64: if constexpr ((Set & kFloat) != 0) { f(double{}); return; } break;
    case DType::i8: if constexpr ((Set & kInt) != 0) { f(int8_t{}); return; } break;
    case DType::u8: if constexpr ((Set & kInt) != 0) { f(uint8_t{}); return; } break;
    case DType::i32: if constexpr ((Set & kInt) != 0) { f(int32_t{}); return; } break;
    case DType::i64: if constexpr ((Set & kInt) != 0) { f(int64_t{}); return; } break;
    case DType::boolean: if constexpr ((Set & kBool) != 0) { f(bool{}); return; } break;
    case DType::f16: break;
  }
  fail(n.describe(), ": ", dtype_name(t), " tensors are not supported by this op");
}

inline int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[static_cast<size_t>(i)];
  return p;
}

// Walks `out` in row-major order and calls f(i, off) for each element, where i is the flat output index and
// off[k] the flat index of the element of input k that numpy broadcasting maps to it. Every shape in `ins`
// must broadcast to `out` (right-aligned, each dim equal or 1).
template <typename F>
void broadcast_loop(const Shape& out, const std::vector<const Shape*>& ins, F&& f) {
  const size_t r = out.size(), k = ins.size();
  std::vector<int64_t> stride(k * r, 0), idx(r, 0), off(k, 0);
  for (size_t j = 0; j < k; ++j) {
    const Shape& s = *ins[j];
    int64_t st = 1;
    for (size_t d = s.size(); d-- > 0;) {
      if (s[d] != 1) stride[j * r + (r - s.size()) + d] = st;
      st *= s[d];
    }
  }
  const int64_t n = numel(out);
  for (int64_t i = 0; i < n; ++i) {
    f(i, static_cast<const int64_t*>(off.data()));
    for (size_t d = r; d-- > 0;) {
      for (size_t j = 0; j < k; ++j) off[j] += stride[j * r + d];
      if (++idx[d] < out[d]) break;
      for (size_t j = 0; j < k; ++j) off[j] -= stride[j * r + d] * out[d];
      idx[d] = 0;
    }
  }
}

}  // namespace octet::refk
