// The one data-movement routine of the reference backend, and helpers that build its offset tables.
//
// Transpose, Slice, Expand, Tile, Gather, Pad and nearest Resize are all "output element at index
// (i_0..i_{r-1}) comes from source element sum_d offsets[d][i_d]": only the per-dim tables differ, and
// the copy moves dtype_size bytes per element, so every dtype works.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"

namespace octet {

// A table entry meaning "no source element: write the fill value" (Pad constant, crop-resize outside).
inline constexpr int64_t kFillElement = -1;

using OffsetTables = std::vector<std::vector<int64_t>>;  // [dim][index along that dim of the output]

// dst (dense, shape `out`) [i] = src[sum_d tab[d][i_d]] in units of `esize` bytes, or `fill` (esize bytes)
// where any tab[d][i_d] is kFillElement. tab.size() == out.size(); tab[d].size() == out[d].
void index_copy(size_t esize, const Shape& out, const OffsetTables& tab, const void* src, void* dst,
                const void* fill = nullptr);

std::vector<int64_t> row_major_strides(const Shape& s);
// Tables that read `in` broadcast (numpy rules, right-aligned) to `out`.
OffsetTables broadcast_tables(const Shape& in, const Shape& out);

// Calls f(T{}) with T the C++ type of dtype t (all dtypes but float16).
template <typename F>
void visit_dtype(const Node& n, DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i8: return f(int8_t{});
    case DType::u8: return f(uint8_t{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::boolean: return f(bool{});
    case DType::f16: break;
  }
  fail(n.describe(), ": dtype ", dtype_name(t), " is not supported here");
}

// An optional input, treating an empty tensor like an omitted one.
inline const Tensor* optional_input(const std::vector<const Tensor*>& in, int i) {
  if (i >= static_cast<int>(in.size()) || !in[static_cast<size_t>(i)]) return nullptr;
  return in[static_cast<size_t>(i)]->numel() == 0 ? nullptr : in[static_cast<size_t>(i)];
}

}  // namespace octet
