// Shape inference for data-movement, shape-computation and quantization ops (ONNX semantics of the
// newest opset; the importer canonicalizes attribute forms into inputs).
#include "ir/infer_tensor.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ir/infer.h"

namespace octet {

namespace {

// An optional shape-like input: nullptr when omitted or empty, else its data (which must be known).
const Tensor* opt_const(const InferCtx& c, int i, const char* what) {
  if (!c.has(i) || numel(c.input(i).shape) == 0) return nullptr;
  return &c.const_input(i, what);
}

std::vector<int64_t> ints_of(const Node& n, const Tensor& t, const char* what) {
  OCTET_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::i32, n.describe(), ": ", what,
              " must be int64, got ", dtype_name(t.dtype()));
  OCTET_CHECK(t.rank() <= 1, n.describe(), ": ", what, " must be 1-D, got ", shape_str(t.shape()));
  return t.to_i64();
}

// Axes from input `i` (or the legacy attribute "axes"); each normalized against `rank`, no repeats.
std::vector<int> axes_list(const Node& n, const std::vector<int64_t>& raw, int rank) {
  std::vector<int> axes;
  for (int64_t a : raw) {
    int x = normalize_axis(n, a, rank);
    OCTET_CHECK(std::find(axes.begin(), axes.end(), x) == axes.end(), n.describe(), ": axis ", a, " repeats");
    axes.push_back(x);
  }
  return axes;
}

std::vector<int64_t> axes_input(const InferCtx& c, int i) {
  if (const Tensor* t = opt_const(c, i, "axes")) return ints_of(c.node, *t, "axes");
  return c.node.attr_ints("axes");
}

}  // namespace

// ---- shared parameter helpers --------------------------------------------------------------------

SliceParams slice_params(const Node& n, const Shape& in, const Tensor& starts_t, const Tensor& ends_t,
                         const Tensor* axes_t, const Tensor* steps_t) {
  const int rank = static_cast<int>(in.size());
  std::vector<int64_t> starts = ints_of(n, starts_t, "starts"), ends = ints_of(n, ends_t, "ends");
  std::vector<int64_t> raw_axes(starts.size()), steps(starts.size(), 1);
  std::iota(raw_axes.begin(), raw_axes.end(), 0);
  if (axes_t) raw_axes = ints_of(n, *axes_t, "axes");
  if (steps_t) steps = ints_of(n, *steps_t, "steps");
  OCTET_CHECK(ends.size() == starts.size() && raw_axes.size() == starts.size() && steps.size() == starts.size(),
              n.describe(), ": starts, ends, axes and steps must have the same length (", starts.size(), ", ",
              ends.size(), ", ", raw_axes.size(), ", ", steps.size(), ")");
  std::vector<int> axes = axes_list(n, raw_axes, rank);

  SliceParams p{in, std::vector<int64_t>(in.size(), 0), std::vector<int64_t>(in.size(), 1)};
  for (size_t k = 0; k < axes.size(); ++k) {
    const int a = axes[k];
    const int64_t dim = in[static_cast<size_t>(a)], step = steps[k];
    OCTET_CHECK(step != 0, n.describe(), ": step 0 on axis ", a);
    int64_t s = starts[k], e = ends[k];
    if (s < 0) s += dim;  // adding a non-negative dim to a negative value cannot overflow
    if (e < 0) e += dim;
    int64_t count;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::max<int64_t>(std::min<int64_t>(s, dim - 1), 0);
      e = std::max<int64_t>(std::min<int64_t>(e, dim - 1), -1);
      count = dim > 0 && s > e ? (s - e - step - 1) / -step : 0;
    }
    p.out[static_cast<size_t>(a)] = count;
    p.start[static_cast<size_t>(a)] = count > 0 ? s : 0;
    p.step[static_cast<size_t>(a)] = step;
  }
  return p;
}

PadParams pad_params(const Node& n, const Shape& in, const Tensor& pads_t, const Tensor* axes_t) {
  const int rank = static_cast<int>(in.size());
  std::vector<int64_t> pads = ints_of(n, pads_t, "pads");
  std::vector<int64_t> raw_axes(static_cast<size_t>(rank));
  std::iota(raw_axes.begin(), raw_axes.end(), 0);
  if (axes_t) raw_axes = ints_of(n, *axes_t, "axes");
  OCTET_CHECK(pads.size() == 2 * raw_axes.size(), n.describe(), ": pads has ", pads.size(), " values, expected ",
              2 * raw_axes.size(), " (begin and end for each of ", raw_axes.size(), " axes)");
  std::vector<int> axes = axes_list(n, raw_axes, rank);
  PadParams p{std::vector<int64_t>(in.size(), 0), std::vector<int64_t>(in.size(), 0)};
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t a = static_cast<size_t>(axes[k]);
    p.begin[a] = pads[k];
    p.end[a] = pads[k + axes.size()];
    OCTET_CHECK(in[a] + p.begin[a] + p.end[a] >= 0, n.describe(), ": pads ", p.begin[a], ", ", p.end[a],
                " crop more than the ", in[a], " elements of axis ", a);
  }
  return p;
}

ResizeParams resize_params(const Node& n, const Shape& in, const Tensor* roi, const Tensor* scales,
                           const Tensor* sizes) {
  const int rank = static_cast<int>(in.size());
  OCTET_CHECK((scales != nullptr) != (sizes != nullptr), n.describe(),
              ": exactly one of scales and sizes must be given");
  std::vector<int64_t> raw_axes = n.attr_ints("axes");
  if (raw_axes.empty()) {
    raw_axes.resize(static_cast<size_t>(rank));
    std::iota(raw_axes.begin(), raw_axes.end(), 0);
  }
  std::vector<int> axes = axes_list(n, raw_axes, rank);
  const size_t na = axes.size();

  ResizeParams p{in, std::vector<double>(in.size(), 1.0), std::vector<double>(in.size(), 0.0),
                 std::vector<double>(in.size(), 1.0)};
  if (roi && n.attr_s("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") {
    std::vector<float> r = roi->to_f32();
    OCTET_CHECK(r.size() == 2 * na, n.describe(), ": roi has ", r.size(), " values, expected ", 2 * na);
    for (size_t k = 0; k < na; ++k) {
      p.roi_start[static_cast<size_t>(axes[k])] = r[k];
      p.roi_end[static_cast<size_t>(axes[k])] = r[k + na];
    }
  }
  if (scales) {
    OCTET_CHECK(scales->dtype() == DType::f32, n.describe(), ": scales must be float32");
    std::vector<float> s = scales->to_f32();
    OCTET_CHECK(s.size() == na, n.describe(), ": scales has ", s.size(), " values for ", na, " axes");
    for (size_t k = 0; k < na; ++k) {
      const size_t a = static_cast<size_t>(axes[k]);
      OCTET_CHECK(s[k] > 0, n.describe(), ": scale ", s[k], " on axis ", a, " must be positive");
      p.scale[a] = s[k];
      p.out[a] = static_cast<int64_t>(std::floor(static_cast<double>(in[a]) * static_cast<double>(s[k])));
    }
    return p;
  }
  std::vector<int64_t> sz = ints_of(n, *sizes, "sizes");
  OCTET_CHECK(sz.size() == na, n.describe(), ": sizes has ", sz.size(), " values for ", na, " axes");
  const std::string policy = n.attr_s("keep_aspect_ratio_policy", "stretch");
  OCTET_CHECK(policy == "stretch" || policy == "not_larger" || policy == "not_smaller", n.describe(),
              ": unknown keep_aspect_ratio_policy '", policy, "'");
  for (size_t k = 0; k < na; ++k) {
    const size_t a = static_cast<size_t>(axes[k]);
    OCTET_CHECK(sz[k] >= 0 && in[a] > 0, n.describe(), ": cannot resize axis ", a, " of ", in[a], " to ", sz[k]);
  }
  if (policy == "stretch") {
    for (size_t k = 0; k < na; ++k) {
      const size_t a = static_cast<size_t>(axes[k]);
      p.out[a] = sz[k];
      p.scale[a] = static_cast<double>(sz[k]) / static_cast<double>(in[a]);
    }
  } else {
    double s = policy == "not_larger" ? INFINITY : 0.0;
    for (size_t k = 0; k < na; ++k) {
      double r = static_cast<double>(sz[k]) / static_cast<double>(in[static_cast<size_t>(axes[k])]);
      s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
    }
    for (int a : axes) {
      p.scale[static_cast<size_t>(a)] = s;
      // round half up, as the ONNX reference does
      p.out[static_cast<size_t>(a)] = static_cast<int64_t>(std::floor(s * static_cast<double>(in[static_cast<size_t>(a)]) + 0.5));
    }
  }
  return p;
}

Tensor constant_attr_value(const Node& n) {
  auto it = n.attrs.find("value");
  if (it != n.attrs.end()) {
    OCTET_CHECK(it->second.kind == Attr::Kind::Tensor && it->second.t.defined(), n.describe(),
                ": attribute 'value' must hold a tensor");
    return it->second.t;
  }
  if (n.has_attr("value_float")) return Tensor::scalar_f32(n.attr_f("value_float", 0));
  if (n.has_attr("value_floats")) {
    std::vector<float> v = n.attr_floats("value_floats");
    return Tensor::from<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (n.has_attr("value_int")) return Tensor::from<int64_t>({}, {n.attr_i("value_int", 0)});
  if (n.has_attr("value_ints")) {
    std::vector<int64_t> v = n.attr_ints("value_ints");
    return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  fail(n.describe(), ": needs one of the attributes value, value_float(s), value_int(s) "
       "(sparse and string constants are not supported)");
}

Tensor constant_of_shape_value(const Node& n) {
  auto it = n.attrs.find("value");
  if (it == n.attrs.end()) return Tensor::scalar_f32(0.f);
  const Tensor& t = it->second.t;
  OCTET_CHECK(it->second.kind == Attr::Kind::Tensor && t.defined() && t.numel() == 1, n.describe(),
              ": attribute 'value' must be a 1-element tensor");
  OCTET_CHECK(t.dtype() != DType::f16, n.describe(), ": float16 values are not supported");
  return t;
}

// ---- per-op inference ----------------------------------------------------------------------------

void infer_Where(InferCtx& c) {
  const TensorInfo &cond = c.input(0), &x = c.input(1), &y = c.input(2);
  OCTET_CHECK(cond.dtype == DType::boolean, c.node.describe(), ": condition must be bool, got ", dtype_name(cond.dtype));
  OCTET_CHECK(x.dtype == y.dtype, c.node.describe(), ": X and Y differ in dtype (", dtype_name(x.dtype), ", ",
              dtype_name(y.dtype), ")");
  c.set(0, x.dtype, broadcast_shapes(c.node, cond.shape, broadcast_shapes(c.node, x.shape, y.shape)));
}

void infer_Flatten(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const int rank = static_cast<int>(x.shape.size());
  int64_t axis = c.node.attr_i("axis", 1);
  if (axis < 0) axis += rank;
  OCTET_CHECK(axis >= 0 && axis <= rank, c.node.describe(), ": axis ", c.node.attr_i("axis", 1),
              " is out of range for rank ", rank);
  Shape lo(x.shape.begin(), x.shape.begin() + axis), hi(x.shape.begin() + axis, x.shape.end());
  c.set(0, x.dtype, {numel(lo), numel(hi)});
}

void infer_Reshape(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  std::vector<int64_t> req = ints_of(c.node, c.const_input(1, "target shape"), "shape");
  const bool allowzero = c.node.attr_i("allowzero", 0) != 0;
  Shape out(req.size());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < req.size(); ++i) {
    int64_t d = req[i];
    if (d == -1) {
      OCTET_CHECK(infer_at < 0, c.node.describe(), ": target shape ", shape_str(req), " has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d == 0 && !allowzero) {
      OCTET_CHECK(i < x.shape.size(), c.node.describe(), ": target shape ", shape_str(req), " copies dim ", i,
                  " (0) but the input ", shape_str(x.shape), " has only ", x.shape.size(), " dims");
      d = x.shape[i];
    }
    OCTET_CHECK(d >= 0, c.node.describe(), ": invalid dim ", req[i], " in target shape ", shape_str(req));
    out[i] = d;
    known *= d;
  }
  const int64_t total = numel(x.shape);
  if (infer_at >= 0) {
    OCTET_CHECK(known != 0 && total % known == 0, c.node.describe(), ": cannot infer the -1 in ", shape_str(req),
                " for an input of shape ", shape_str(x.shape));
    out[static_cast<size_t>(infer_at)] = total / known;
  }
  OCTET_CHECK(numel(out) == total, c.node.describe(), ": cannot reshape ", shape_str(x.shape), " (", total,
              " elements) to ", shape_str(out));
  c.set(0, x.dtype, out);
}

void infer_Transpose(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const int rank = static_cast<int>(x.shape.size());
  std::vector<int64_t> perm = c.node.attr_ints("perm");
  if (perm.empty())
    for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
  OCTET_CHECK(static_cast<int>(perm.size()) == rank, c.node.describe(), ": perm has ", perm.size(),
              " entries for rank ", rank);
  std::vector<int> p = axes_list(c.node, perm, rank);
  Shape out;
  for (int a : p) out.push_back(x.shape[static_cast<size_t>(a)]);
  c.set(0, x.dtype, out);
}

void infer_Concat(InferCtx& c) {
  const TensorInfo& x0 = c.input(0);
  const int rank = static_cast<int>(x0.shape.size());
  const int axis = normalize_axis(c.node, c.node.attr_i("axis", 0), rank);
  OCTET_CHECK(rank > 0, c.node.describe(), ": cannot concatenate scalars");
  Shape out = x0.shape;
  out[static_cast<size_t>(axis)] = 0;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const TensorInfo& x = c.input(i);
    OCTET_CHECK(x.dtype == x0.dtype, c.node.describe(), ": input ", i, " is ", dtype_name(x.dtype),
                ", input 0 is ", dtype_name(x0.dtype));
    bool ok = static_cast<int>(x.shape.size()) == rank;
    for (int d = 0; ok && d < rank; ++d) ok = d == axis || x.shape[static_cast<size_t>(d)] == out[static_cast<size_t>(d)];
    OCTET_CHECK(ok, c.node.describe(), ": input ", i, " has shape ", shape_str(x.shape), ", incompatible with ",
                shape_str(x0.shape), " on axis ", axis);
    out[static_cast<size_t>(axis)] += x.shape[static_cast<size_t>(axis)];
  }
  c.set(0, x0.dtype, out);
}

void infer_Split(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const int axis = normalize_axis(c.node, c.node.attr_i("axis", 0), static_cast<int>(x.shape.size()));
  const int64_t dim = x.shape[static_cast<size_t>(axis)];
  const int64_t nout = static_cast<int64_t>(c.out.size());
  std::vector<int64_t> sizes;
  if (const Tensor* s = opt_const(c, 1, "split sizes")) {
    sizes = ints_of(c.node, *s, "split");
  } else if (c.node.has_attr("split")) {
    sizes = c.node.attr_ints("split");
  } else if (c.node.has_attr("num_outputs")) {
    const int64_t n = c.node.attr_i("num_outputs", 0);
    OCTET_CHECK(n == nout, c.node.describe(), ": num_outputs is ", n, " but the node has ", nout, " outputs");
    const int64_t chunk = (dim + n - 1) / n;  // opset 18: the last chunk is smaller
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  } else {
    OCTET_CHECK(dim % nout == 0, c.node.describe(), ": axis ", axis, " of size ", dim, " does not split evenly into ",
                nout, " outputs");
    sizes.assign(static_cast<size_t>(nout), dim / nout);
  }
  OCTET_CHECK(static_cast<int64_t>(sizes.size()) == nout, c.node.describe(), ": ", sizes.size(),
              " split sizes for ", nout, " outputs");
  int64_t sum = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    OCTET_CHECK(sizes[i] >= 0, c.node.describe(), ": negative split size ", sizes[i]);
    sum += sizes[i];
    Shape s = x.shape;
    s[static_cast<size_t>(axis)] = sizes[i];
    c.set(static_cast<int>(i), x.dtype, s);
  }
  OCTET_CHECK(sum == dim, c.node.describe(), ": split sizes add up to ", sum, ", axis ", axis, " has ", dim);
}

void infer_Slice(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  SliceParams p = slice_params(c.node, x.shape, c.const_input(1, "starts"), c.const_input(2, "ends"),
                               opt_const(c, 3, "axes"), opt_const(c, 4, "steps"));
  c.set(0, x.dtype, p.out);
}

void infer_Squeeze(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const int rank = static_cast<int>(x.shape.size());
  std::vector<int> axes = axes_list(c.node, axes_input(c, 1), rank);
  Shape out;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = x.shape[static_cast<size_t>(d)];
    const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
    OCTET_CHECK(!listed || dim == 1, c.node.describe(), ": cannot squeeze axis ", d, " of size ", dim, " (shape ",
                shape_str(x.shape), ")");
    if (axes.empty() ? dim != 1 : !listed) out.push_back(dim);
  }
  c.set(0, x.dtype, out);
}

void infer_Unsqueeze(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  std::vector<int64_t> raw = axes_input(c, 1);
  OCTET_CHECK(!raw.empty(), c.node.describe(), ": axes are required");
  const int rank = static_cast<int>(x.shape.size() + raw.size());
  std::vector<int> axes = axes_list(c.node, raw, rank);
  Shape out;
  size_t next = 0;
  for (int d = 0; d < rank; ++d)
    out.push_back(std::find(axes.begin(), axes.end(), d) != axes.end() ? 1 : x.shape[next++]);
  c.set(0, x.dtype, out);
}

void infer_Gather(InferCtx& c) {
  const TensorInfo &x = c.input(0), &idx = c.input(1);
  OCTET_CHECK(idx.dtype == DType::i64 || idx.dtype == DType::i32, c.node.describe(),
              ": indices must be int32 or int64, got ", dtype_name(idx.dtype));
  OCTET_CHECK(!x.shape.empty(), c.node.describe(), ": data must have rank >= 1");
  const int axis = normalize_axis(c.node, c.node.attr_i("axis", 0), static_cast<int>(x.shape.size()));
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  c.set(0, x.dtype, out);
}

void infer_Shape(InferCtx& c) {
  const Shape& s = c.input(0).shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  auto clampi = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  const int64_t start = clampi(c.node.attr_i("start", 0)), end = clampi(c.node.attr_i("end", rank));
  std::vector<int64_t> dims(s.begin() + start, s.begin() + std::max(start, end));
  c.set(0, DType::i64, {static_cast<int64_t>(dims.size())});
  c.out[0].folded = Tensor::from<int64_t>({static_cast<int64_t>(dims.size())}, dims);
}

void infer_Cast(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  OCTET_CHECK(c.node.has_attr("to"), c.node.describe(), ": attribute 'to' is required");
  DType to = dtype_from_onnx(static_cast<int>(c.node.attr_i("to", 0)));
  OCTET_CHECK(to != DType::f16 && x.dtype != DType::f16, c.node.describe(), ": casts from or to float16 are not supported");
  c.set(0, to, x.shape);
}

void infer_Constant(InferCtx& c) {
  Tensor t = constant_attr_value(c.node);
  c.set(0, t.dtype(), t.shape());
  c.out[0].folded = t;
}

void infer_ConstantOfShape(InferCtx& c) {
  std::vector<int64_t> shape = ints_of(c.node, c.const_input(0, "shape"), "shape");
  for (int64_t d : shape) OCTET_CHECK(d >= 0, c.node.describe(), ": negative dim in shape ", shape_str(shape));
  c.set(0, constant_of_shape_value(c.node).dtype(), shape);
}

void infer_Expand(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  std::vector<int64_t> shape = ints_of(c.node, c.const_input(1, "target shape"), "shape");
  c.set(0, x.dtype, broadcast_shapes(c.node, x.shape, shape));
}

void infer_Tile(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  std::vector<int64_t> rep = ints_of(c.node, c.const_input(1, "repeats"), "repeats");
  OCTET_CHECK(rep.size() == x.shape.size(), c.node.describe(), ": ", rep.size(), " repeats for an input of rank ",
              x.shape.size());
  Shape out = x.shape;
  for (size_t i = 0; i < rep.size(); ++i) {
    OCTET_CHECK(rep[i] >= 0, c.node.describe(), ": negative repeat ", rep[i]);
    out[i] *= rep[i];
  }
  c.set(0, x.dtype, out);
}

void infer_Range(InferCtx& c) {
  const Tensor &s = c.const_input(0, "start"), &l = c.const_input(1, "limit"), &d = c.const_input(2, "delta");
  const DType dt = s.dtype();
  OCTET_CHECK(l.dtype() == dt && d.dtype() == dt, c.node.describe(), ": start, limit and delta differ in dtype");
  OCTET_CHECK(s.numel() == 1 && l.numel() == 1 && d.numel() == 1, c.node.describe(), ": start, limit and delta must be scalars");
  int64_t n = 0;
  if (dt == DType::f32 || dt == DType::f64) {
    const double st = dt == DType::f32 ? s.data<float>()[0] : s.data<double>()[0];
    const double li = dt == DType::f32 ? l.data<float>()[0] : l.data<double>()[0];
    const double de = dt == DType::f32 ? d.data<float>()[0] : d.data<double>()[0];
    OCTET_CHECK(de != 0 && std::isfinite(st) && std::isfinite(li) && std::isfinite(de), c.node.describe(),
                ": invalid range ", st, " to ", li, " by ", de);
    // Subtract in the tensor's own precision, as the ONNX reference does.
    const double diff = dt == DType::f32 ? static_cast<double>(static_cast<float>(li) - static_cast<float>(st)) : li - st;
    n = static_cast<int64_t>(std::max(0.0, std::ceil(diff / de)));
  } else {
    OCTET_CHECK(dt == DType::i32 || dt == DType::i64, c.node.describe(), ": unsupported dtype ", dtype_name(dt));
    const int64_t st = s.to_i64()[0], li = l.to_i64()[0], de = d.to_i64()[0];
    OCTET_CHECK(de != 0, c.node.describe(), ": delta is 0");
    const int64_t diff = li - st;
    n = de > 0 ? (diff > 0 ? (diff + de - 1) / de : 0) : (diff < 0 ? (-diff + -de - 1) / -de : 0);
  }
  c.set(0, dt, {n});
}

void infer_Pad(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const std::string mode = c.node.attr_s("mode", "constant");
  OCTET_CHECK(mode == "constant" || mode == "reflect" || mode == "edge" || mode == "wrap", c.node.describe(),
              ": unknown mode '", mode, "'");
  PadParams p = pad_params(c.node, x.shape, c.const_input(1, "pads"), opt_const(c, 3, "axes"));
  Shape out = x.shape;
  for (size_t d = 0; d < out.size(); ++d) {
    out[d] += p.begin[d] + p.end[d];
    OCTET_CHECK(mode == "constant" || x.shape[d] > 0 || out[d] == 0, c.node.describe(), ": ", mode,
                " padding of an empty axis ", d);
  }
  if (c.has(2) && numel(c.input(2).shape) != 0)
    OCTET_CHECK(c.input(2).dtype == x.dtype && numel(c.input(2).shape) == 1, c.node.describe(),
                ": constant_value must be one ", dtype_name(x.dtype), " value");
  c.set(0, x.dtype, out);
}

void infer_Resize(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const Node& n = c.node;
  const std::string mode = n.attr_s("mode", "nearest");
  OCTET_CHECK(mode == "nearest" || mode == "linear" || mode == "cubic", n.describe(), ": unknown mode '", mode, "'");
  OCTET_CHECK(mode == "nearest" || x.dtype == DType::f32, n.describe(), ": ", mode, " mode needs float32 input, got ",
              dtype_name(x.dtype));
  OCTET_CHECK(n.attr_i("antialias", 0) == 0, n.describe(), ": antialias is not supported");
  const std::string ctm = n.attr_s("coordinate_transformation_mode", "half_pixel");
  static const char* kModes[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                 "asymmetric", "tf_half_pixel_for_nearest", "tf_crop_and_resize",
                                 "tf_half_pixel_for_nn"};  // the last: opset 11's early name
  OCTET_CHECK(std::find(std::begin(kModes), std::end(kModes), ctm) != std::end(kModes), n.describe(),
              ": unknown coordinate_transformation_mode '", ctm, "'");
  const std::string nm = n.attr_s("nearest_mode", "round_prefer_floor");
  OCTET_CHECK(nm == "round_prefer_floor" || nm == "round_prefer_ceil" || nm == "floor" || nm == "ceil",
              n.describe(), ": unknown nearest_mode '", nm, "'");
  const Tensor* roi = ctm == "tf_crop_and_resize" ? opt_const(c, 1, "roi") : nullptr;
  ResizeParams p = resize_params(n, x.shape, roi, opt_const(c, 2, "scales"), opt_const(c, 3, "sizes"));
  c.set(0, x.dtype, p.out);
}

namespace {
// A scale is per tensor (one element, rank <= 1) or per axis (1-D, one value per slice of x along `axis`).
void check_scale(const Node& n, const Shape& x, const TensorInfo& s, const TensorInfo* zp) {
  OCTET_CHECK(s.dtype == DType::f32, n.describe(), ": scale must be float32, got ", dtype_name(s.dtype));
  OCTET_CHECK(n.attr_i("block_size", 0) == 0, n.describe(), ": blocked quantization is not supported");
  // ONNX asks for equal shapes; ONNX Runtime's quantizer writes a scalar zero point beside a [1] bias scale.
  const auto per_tensor = [](const Shape& sh) { return numel(sh) == 1 && sh.size() <= 1; };
  OCTET_CHECK(!zp || zp->shape == s.shape || (per_tensor(zp->shape) && per_tensor(s.shape)), n.describe(), ": zero point shape ", shape_str(zp ? zp->shape : Shape{}),
              " differs from scale shape ", shape_str(s.shape));
  if (numel(s.shape) == 1 && s.shape.size() <= 1) return;
  OCTET_CHECK(s.shape.size() == 1, n.describe(), ": scale must be a scalar or 1-D, got ", shape_str(s.shape));
  const int axis = normalize_axis(n, n.attr_i("axis", 1), static_cast<int>(x.size()));
  OCTET_CHECK(s.shape[0] == x[static_cast<size_t>(axis)], n.describe(), ": ", s.shape[0], " scales for axis ", axis,
              " of shape ", shape_str(x));
}
}  // namespace

void infer_QuantizeLinear(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const TensorInfo* zp = c.has(2) ? &c.input(2) : nullptr;
  OCTET_CHECK(x.dtype == DType::f32 || x.dtype == DType::i32, c.node.describe(), ": input must be float32 or int32, got ",
              dtype_name(x.dtype));
  check_scale(c.node, x.shape, c.input(1), zp);
  DType out = zp ? zp->dtype : dtype_from_onnx(static_cast<int>(c.node.attr_i("output_dtype", 2)));
  OCTET_CHECK(out == DType::i8 || out == DType::u8, c.node.describe(), ": output type must be int8 or uint8, got ",
              dtype_name(out));
  c.set(0, out, x.shape);
}

void infer_DequantizeLinear(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  const TensorInfo* zp = c.has(2) ? &c.input(2) : nullptr;
  OCTET_CHECK(x.dtype == DType::i8 || x.dtype == DType::u8 || x.dtype == DType::i32, c.node.describe(),
              ": input must be int8, uint8 or int32, got ", dtype_name(x.dtype));
  OCTET_CHECK(!zp || zp->dtype == x.dtype, c.node.describe(), ": zero point is ", dtype_name(zp ? zp->dtype : x.dtype),
              ", x is ", dtype_name(x.dtype));
  check_scale(c.node, x.shape, c.input(1), zp);
  c.set(0, DType::f32, x.shape);
}

}  // namespace octet
