// Which axes a ReduceMean/Max/Min/Sum node reduces; shared by shape inference and the reference kernels.
#pragma once

#include <vector>

#include "ir/infer.h"

namespace octet {

// ONNX >= 18 form: axes is the optional int tensor `axes_input` (input 1); an `axes` attribute (older opsets)
// is also read when there is no input. No/empty axes reduce every axis, unless noop_with_empty_axes=1: then an
// empty mask is returned and the op is an identity. Otherwise the mask has one entry per dim.
inline std::vector<bool> reduce_axes_mask(const Node& n, int rank, const Tensor* axes_input) {
  std::vector<int64_t> axes = axes_input ? axes_input->to_i64() : n.attr_ints("axes");
  if (axes.empty() && n.attr_i("noop_with_empty_axes", 0) == 1) return {};
  std::vector<bool> mask(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    int d = normalize_axis(n, a, rank);
    OCTET_CHECK(d < rank, n.describe(), ": axis ", a, " is out of range for a scalar");
    OCTET_CHECK(!mask[static_cast<size_t>(d)], n.describe(), ": axis ", a, " is listed twice");
    mask[static_cast<size_t>(d)] = true;
  }
  return mask;
}

}  // namespace octet
