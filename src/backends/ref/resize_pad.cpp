// Reference Pad and Resize. Pad and nearest Resize are index_copy with per-dim tables; linear Resize
// interpolates over the 2^k corners of the k resized dims (N-D, so 4-D NCHW over H and W is the usual case).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/ref/index_copy.h"
#include "backends/ref/ref.h"
#include "ir/infer_tensor.h"

namespace octet {

namespace {

// One value of dtype `dt` as bytes (fill for padding / extrapolation).
std::vector<char> fill_bytes(const Node& n, DType dt, double v) {
  std::vector<char> b(dtype_size(dt), 0);
  visit_dtype(n, dt, [&](auto z) {
    using T = decltype(z);
    T t = static_cast<T>(v);
    std::memcpy(b.data(), &t, sizeof(T));
  });
  return b;
}

// Source index for output index o of a padded axis of size `dim`, or kFillElement.
int64_t pad_source(const std::string& mode, int64_t o, int64_t begin, int64_t dim) {
  int64_t i = o - begin;
  if (i >= 0 && i < dim) return i;
  if (mode == "constant") return kFillElement;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, dim - 1);
  if (mode == "wrap") return ((i % dim) + dim) % dim;
  // reflect: mirror without repeating the edge; period 2*(dim-1), as numpy.pad does for wide pads.
  if (dim == 1) return 0;
  const int64_t period = 2 * (dim - 1);
  i = ((i % period) + period) % period;
  return i < dim ? i : period - i;
}

}  // namespace

void ref_Pad(const OpArgs& a) {
  const Tensor& x = a.input(0);
  const std::string mode = a.node.attr_s("mode", "constant");
  PadParams p = pad_params(a.node, x.shape(), a.input(1), optional_input(a.in, 3));
  std::vector<char> fill(dtype_size(x.dtype()), 0);
  if (const Tensor* v = optional_input(a.in, 2)) std::memcpy(fill.data(), v->raw(), fill.size());
  std::vector<int64_t> st = row_major_strides(x.shape());
  const Shape& out = a.output(0).shape();
  OffsetTables tab(out.size());
  for (size_t d = 0; d < out.size(); ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      const int64_t i = pad_source(mode, o, p.begin[d], x.shape()[d]);
      tab[d].push_back(i == kFillElement ? kFillElement : i * st[d]);
    }
  index_copy(fill.size(), out, tab, x.raw(), a.output(0).raw(), fill.data());
}

namespace {

// Coordinate in the input of output coordinate `o` along one axis (ONNX coordinate_transformation_mode).
double source_coord(const std::string& m, double o, double scale, int64_t in, int64_t out, double roi0, double roi1) {
  const double lin = static_cast<double>(in), lout = static_cast<double>(out);
  if (m == "asymmetric") return o / scale;
  if (m == "align_corners") return out == 1 ? 0.0 : o * (lin - 1) / (lout - 1);
  if (m == "pytorch_half_pixel") return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  if (m == "tf_half_pixel_for_nearest") return (o + 0.5) / scale;
  if (m == "tf_crop_and_resize")
    return out > 1 ? roi0 * (lin - 1) + o * (roi1 - roi0) * (lin - 1) / (lout - 1) : 0.5 * (roi0 + roi1) * (lin - 1);
  if (m == "half_pixel_symmetric") {
    const double adjust = lout / (scale * lin);
    return lin / 2 * (1 - adjust) + (o + 0.5) / scale - 0.5;
  }
  return (o + 0.5) / scale - 0.5;  // half_pixel
}

int64_t nearest_index(const std::string& m, double x) {
  if (m == "floor") return static_cast<int64_t>(std::floor(x));
  if (m == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (m == "round_prefer_ceil") return static_cast<int64_t>(std::floor(x + 0.5));
  return static_cast<int64_t>(std::ceil(x - 0.5));  // round_prefer_floor
}

}  // namespace

void ref_Resize(const OpArgs& a) {
  const Node& n = a.node;
  const Tensor& x = a.input(0);
  Tensor& y = a.output(0);
  const std::string ctm = n.attr_s("coordinate_transformation_mode", "half_pixel");
  const std::string mode = n.attr_s("mode", "nearest"), nm = n.attr_s("nearest_mode", "round_prefer_floor");
  const bool crop = ctm == "tf_crop_and_resize";
  ResizeParams p = resize_params(n, x.shape(), crop ? optional_input(a.in, 1) : nullptr, optional_input(a.in, 2),
                                 optional_input(a.in, 3));
  const double extrapolation = n.attr_f("extrapolation_value", 0.f);
  const Shape &in = x.shape(), &out = y.shape();
  const size_t rank = in.size();
  std::vector<int64_t> st = row_major_strides(in);
  auto coord = [&](size_t d, int64_t o) {
    return source_coord(ctm, static_cast<double>(o), p.scale[d], in[d], out[d], p.roi_start[d], p.roi_end[d]);
  };
  auto outside = [&](size_t d, double c) { return crop && (c < 0 || c > static_cast<double>(in[d] - 1)); };

  if (mode == "nearest") {
    OffsetTables tab(rank);
    for (size_t d = 0; d < rank; ++d)
      for (int64_t o = 0; o < out[d]; ++o) {
        const double c = coord(d, o);
        const int64_t i = std::clamp<int64_t>(nearest_index(nm, c), 0, in[d] - 1);
        tab[d].push_back(outside(d, c) ? kFillElement : i * st[d]);
      }
    std::vector<char> fill = fill_bytes(n, x.dtype(), extrapolation);
    index_copy(dtype_size(x.dtype()), out, tab, x.raw(), y.raw(), fill.data());
    return;
  }
  OCTET_CHECK(mode == "linear" && x.dtype() == DType::f32, n.describe(), ": mode '", mode, "' on ",
              dtype_name(x.dtype()), " is not supported");
  // Per dim and output index: the two neighbours (as offsets), the weight of the upper one, and
  // whether the point lies outside the crop region.
  struct Axis {
    std::vector<int64_t> lo, hi;
    std::vector<double> w;
    std::vector<char> out;
  };
  std::vector<Axis> ax(rank);
  std::vector<size_t> active;  // dims where some output index has a non-zero upper weight
  for (size_t d = 0; d < rank; ++d) {
    bool interp = false;
    for (int64_t o = 0; o < out[d]; ++o) {
      const double c = coord(d, o);
      const double cc = std::clamp(c, 0.0, static_cast<double>(in[d] - 1));
      const int64_t i0 = static_cast<int64_t>(std::floor(cc)), i1 = std::min(i0 + 1, in[d] - 1);
      ax[d].lo.push_back(i0 * st[d]);
      ax[d].hi.push_back(i1 * st[d]);
      ax[d].w.push_back(cc - static_cast<double>(i0));
      ax[d].out.push_back(outside(d, c));
      interp = interp || ax[d].w.back() != 0;
    }
    if (interp) active.push_back(d);
  }
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t e = 0; e < y.numel(); ++e) {
    int64_t base = 0;
    bool extrap = false;
    for (size_t d = 0; d < rank; ++d) {
      extrap = extrap || ax[d].out[static_cast<size_t>(idx[d])];
      base += ax[d].lo[static_cast<size_t>(idx[d])];
    }
    double acc = 0;
    for (size_t corner = 0; !extrap && corner < (size_t{1} << active.size()); ++corner) {
      double w = 1;
      int64_t off = base;
      for (size_t k = 0; k < active.size(); ++k) {
        const Axis& A = ax[active[k]];
        const size_t i = static_cast<size_t>(idx[active[k]]);
        if (corner >> k & 1) {
          w *= A.w[i];
          off += A.hi[i] - A.lo[i];
        } else {
          w *= 1 - A.w[i];
        }
      }
      if (w != 0) acc += w * src[off];
    }
    dst[e] = extrap ? static_cast<float>(extrapolation) : static_cast<float>(acc);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace octet
