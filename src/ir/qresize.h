// The per-axis source tables of QResize (contract in ir/qops.h), shared by every backend's kernel so that only
// the int8 arithmetic (quant::lerp2d) is left to match: for output index o along an axis, the nearest source
// index, or the two linear neighbours (clamped to the axis) and the weight of the second one, as float.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "ir/graph.h"

namespace octet {

struct ResizeAxisTable {
  std::vector<int64_t> i0, i1;  // source indices (nearest: i0 only)
  std::vector<float> w1;        // linear: weight of i1 (i0 has 1 - w1, applied as a lerp)
};

inline bool qresize_linear(const Node& n) { return n.attr_s("mode", "nearest") == "linear"; }

// Whether QResize handles these ONNX Resize attributes (the quantization pass asks before rewriting).
inline bool qresize_supported_modes(const std::string& mode, const std::string& ctm, const std::string& nearest) {
  if (mode != "nearest" && mode != "linear") return false;
  if (ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "align_corners" && ctm != "asymmetric") return false;
  return nearest == "round_prefer_floor" || nearest == "round_prefer_ceil" || nearest == "floor" || nearest == "ceil";
}

// Axis `axis` (0: H, 1: W) of node n from `in` to `out` elements with scale `scale` (ONNX Resize's formulas).
inline ResizeAxisTable qresize_axis(const Node& n, int64_t in, int64_t out, double scale) {
  const std::string ctm = n.attr_s("coordinate_transformation_mode", "half_pixel");
  const std::string nm = n.attr_s("nearest_mode", "round_prefer_floor");
  const bool linear = qresize_linear(n);
  const double lin = static_cast<double>(in), lres = lin * scale;
  ResizeAxisTable t;
  for (int64_t o = 0; o < out; ++o) {
    const double od = static_cast<double>(o);
    double x;
    if (ctm == "asymmetric") x = od / scale;
    else if (ctm == "align_corners") x = lres == 1 ? 0.0 : od * (lin - 1) / (lres - 1);
    else if (ctm == "pytorch_half_pixel") x = lres == 1 ? -0.5 : (od + 0.5) / scale - 0.5;
    else x = (od + 0.5) / scale - 0.5;  // half_pixel
    if (!linear) {
      int64_t i;
      if (nm == "floor") i = static_cast<int64_t>(std::floor(x));
      else if (nm == "ceil") i = static_cast<int64_t>(std::ceil(x));
      else if (nm == "round_prefer_ceil") i = static_cast<int64_t>(std::floor(x + 0.5));
      else i = static_cast<int64_t>(std::ceil(x - 0.5));
      t.i0.push_back(std::clamp<int64_t>(i, 0, in - 1));
      continue;
    }
    // ONNX's reference clamps the coordinate's neighbours to the axis (edge values repeat).
    const double f = std::floor(x);
    const int64_t i0 = static_cast<int64_t>(f);
    t.i0.push_back(std::clamp<int64_t>(i0, 0, in - 1));
    t.i1.push_back(std::clamp<int64_t>(i0 + 1, 0, in - 1));
    t.w1.push_back(static_cast<float>(x - f));
  }
  return t;
}

}  // namespace octet
