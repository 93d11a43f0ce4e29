// Reference Pad and Resize. Pad and nearest Resize are index_copy with per-dim tables; linear and cubic
// Resize sum over the product of per-axis taps (N-D; 4-D NCHW over H and W is the usual case).
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
// As in the ONNX reference, the resized length is in*scale unrounded (so align_corners with scales
// differs from align_corners with sizes).
double source_coord(const std::string& m, double o, double scale, int64_t in, int64_t out, double roi0, double roi1) {
  const double lin = static_cast<double>(in), lres = lin * scale;
  if (m == "asymmetric") return o / scale;
  if (m == "align_corners") return lres == 1 ? 0.0 : o * (lin - 1) / (lres - 1);
  if (m == "pytorch_half_pixel") return lres == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
  if (m == "tf_half_pixel_for_nearest" || m == "tf_half_pixel_for_nn") return (o + 0.5) / scale;
  if (m == "tf_crop_and_resize")
    return roi0 * (lin - 1) + (lres == 1 ? (roi1 - roi0) * (lin - 1) / 2 : o * (roi1 - roi0) * (lin - 1) / (lres - 1));
  if (m == "half_pixel_symmetric") return lin / 2 * (1 - static_cast<double>(out) / lres) + (o + 0.5) / scale - 0.5;
  return (o + 0.5) / scale - 0.5;  // half_pixel
}

int64_t nearest_index(const std::string& m, double x) {
  if (m == "floor") return static_cast<int64_t>(std::floor(x));
  if (m == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (m == "round_prefer_ceil") return static_cast<int64_t>(std::floor(x + 0.5));
  return static_cast<int64_t>(std::ceil(x - 0.5));  // round_prefer_floor
}

// One input element contributing to an output element along one axis: element offset and weight.
struct Tap {
  int64_t off;
  double w;
};

// Weights of the input elements around coordinate x: linear (2 taps) or cubic (4 taps, coefficient A).
// Out-of-range neighbours repeat the edge, or are dropped and the rest renormalized (exclude_outside).
std::vector<Tap> taps_at(double x, int64_t in, int64_t stride, bool cubic, double A, bool exclude_outside) {
  const double f = std::floor(x), t = x - f;
  const int64_t i0 = static_cast<int64_t>(f);
  std::vector<std::pair<int64_t, double>> raw;
  if (!cubic) {
    raw = {{i0, 1 - t}, {i0 + 1, t}};
  } else {
    auto far = [A](double d) { return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A; };  // 1 < d < 2
    auto near = [A](double d) { return ((A + 2) * d - (A + 3)) * d * d + 1; };      // d <= 1
    raw = {{i0 - 1, far(t + 1)}, {i0, near(t)}, {i0 + 1, near(1 - t)}, {i0 + 2, far(2 - t)}};
  }
  double sum = 0;
  for (auto& [i, w] : raw) {
    if (exclude_outside && (i < 0 || i >= in)) w = 0;
    sum += w;
  }
  std::vector<Tap> taps;
  for (auto& [i, w] : raw)
    if (w != 0) taps.push_back({std::clamp<int64_t>(i, 0, in - 1) * stride, exclude_outside ? w / sum : w});
  return taps;
}

// Sum over the product of the per-axis taps of one output element.
double interpolate(const std::vector<const std::vector<Tap>*>& taps, size_t d, int64_t off, double w, const float* src) {
  if (d == taps.size()) return w * static_cast<double>(src[off]);
  double acc = 0;
  for (const Tap& t : *taps[d]) acc += interpolate(taps, d + 1, off + t.off, w * t.w, src);
  return acc;
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
  OCTET_CHECK((mode == "linear" || mode == "cubic") && x.dtype() == DType::f32, n.describe(), ": mode '", mode,
              "' on ", dtype_name(x.dtype()), " is not supported");
  const double A = n.attr_f("cubic_coeff_a", -0.75f);
  const bool exclude = n.attr_i("exclude_outside", 0) != 0;
  // taps[d][o]: the input elements (and weights) output index o of axis d reads; empty = extrapolate.
  std::vector<std::vector<std::vector<Tap>>> taps(rank);
  for (size_t d = 0; d < rank; ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      const double c = coord(d, o);
      taps[d].push_back(outside(d, c) ? std::vector<Tap>{} : taps_at(c, in[d], st[d], mode == "cubic", A, exclude));
    }
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  std::vector<int64_t> idx(rank, 0);
  std::vector<const std::vector<Tap>*> at(rank);
  for (int64_t e = 0; e < y.numel(); ++e) {
    bool extrap = false;
    for (size_t d = 0; d < rank; ++d) {
      at[d] = &taps[d][static_cast<size_t>(idx[d])];
      extrap = extrap || at[d]->empty();
    }
    dst[e] = static_cast<float>(extrap ? extrapolation : interpolate(at, 0, 0, 1.0, src));
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace octet
