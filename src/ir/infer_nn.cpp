// Shape inference for the weight/window ops (Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, the
// pools, PRelu) and the window geometry they share (ir/window.h).
#include <algorithm>
#include <string>

#include "ir/infer.h"
#include "ir/window.h"

namespace octet {

namespace {

// Floor division for possibly negative numerators (C++ truncates toward zero).
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

// An ints attribute of exactly `len` entries (default `def` repeated when absent), each >= `min`.
std::vector<int64_t> ints_attr(const Node& n, const char* name, size_t len, int64_t def, int64_t min,
                               const Shape& x) {
  std::vector<int64_t> v = n.attr_ints(name, std::vector<int64_t>(len, def));
  OCTET_CHECK(v.size() == len, n.describe(), ": attribute ", name, " ", ints_str(v), " must have ", len,
              " entries for input ", shape_str(x));
  for (int64_t e : v)
    OCTET_CHECK(e >= min, n.describe(), ": attribute ", name, " ", ints_str(v), " must be >= ", min);
  return v;
}

// Common part of both windows: spatial sizes, kernel, strides, dilations, auto_pad.
Window window_base(const Node& n, const Shape& x, const Shape& kernel, std::string* auto_pad) {
  OCTET_CHECK(x.size() >= 3, n.describe(), ": input must be N x C x D1 x ... (rank >= 3), got ", shape_str(x));
  const size_t k = x.size() - 2;
  Window w;
  w.in.assign(x.begin() + 2, x.end());
  OCTET_CHECK(kernel.size() == k, n.describe(), ": kernel ", ints_str(kernel), " must have ", k,
              " spatial dims for input ", shape_str(x));
  for (int64_t e : kernel)
    OCTET_CHECK(e >= 1, n.describe(), ": kernel ", ints_str(kernel), " must be positive (input ", shape_str(x), ")");
  w.kernel = kernel;
  w.strides = ints_attr(n, "strides", k, 1, 1, x);
  w.dilations = ints_attr(n, "dilations", k, 1, 1, x);
  *auto_pad = n.attr_s("auto_pad", "NOTSET");
  OCTET_CHECK(*auto_pad == "NOTSET" || *auto_pad == "SAME_UPPER" || *auto_pad == "SAME_LOWER" ||
                  *auto_pad == "VALID",
              n.describe(), ": auto_pad '", *auto_pad, "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  w.pad_begin.assign(k, 0);
  w.pad_end.assign(k, 0);
  return w;
}

// Explicit pads [b1..bk, e1..ek] into w.pad_begin / w.pad_end.
void explicit_pads(const Node& n, const Shape& x, Window& w) {
  const size_t k = w.in.size();
  std::vector<int64_t> p = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  OCTET_CHECK(p.size() == 2 * k, n.describe(), ": pads ", ints_str(p), " must have ", 2 * k,
              " entries (begin..., end...) for input ", shape_str(x));
  for (int64_t e : p) OCTET_CHECK(e >= 0, n.describe(), ": pads ", ints_str(p), " must be >= 0");
  w.pad_begin.assign(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(k));
  w.pad_end.assign(p.begin() + static_cast<std::ptrdiff_t>(k), p.end());
}

void check_out(const Node& n, const Shape& x, const Window& w) {
  for (size_t i = 0; i < w.out.size(); ++i)
    OCTET_CHECK(w.out[i] >= 1, n.describe(), ": output spatial size ", ints_str(w.out), " is empty for input ",
                shape_str(x), ", kernel ", ints_str(w.kernel), ", strides ", ints_str(w.strides), ", dilations ",
                ints_str(w.dilations), ", pads ", ints_str(w.pad_begin), "+", ints_str(w.pad_end));
}

// kernel_shape, when given, must agree with the weight's spatial dims.
void check_kernel_attr(const Node& n, const Shape& wshape, const Shape& kernel) {
  if (!n.has_attr("kernel_shape")) return;
  std::vector<int64_t> ks = n.attr_ints("kernel_shape");
  OCTET_CHECK(ks == kernel, n.describe(), ": kernel_shape ", ints_str(ks), " does not match weight ",
              shape_str(wshape));
}

void check_residual(const InferCtx& c, const Shape& out) {
  int r = c.node.post.residual_input;
  if (r < 0) return;
  const Shape& s = c.input(r).shape;
  OCTET_CHECK(s == out, c.node.describe(), ": fused residual input ", r, " has shape ", shape_str(s),
              ", expected the output shape ", shape_str(out));
}

void check_f32(const InferCtx& c, int i, const char* what) {
  OCTET_CHECK(c.input(i).dtype == DType::f32, c.node.describe(), ": ", what, " must be float32, got ",
              dtype_name(c.input(i).dtype));
}

}  // namespace

Window forward_window(const Node& n, const Shape& x, const Shape& kernel, bool pool) {
  std::string auto_pad;
  Window w = window_base(n, x, kernel, &auto_pad);
  const size_t k = w.in.size();
  w.out.assign(k, 0);
  const bool ceil_mode = pool && n.attr_i("ceil_mode", 0) != 0;
  for (size_t i = 0; i < k; ++i) {
    const int64_t in = w.in[i], s = w.strides[i], ext = w.extent(static_cast<int>(i));
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      w.out[i] = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (w.out[i] - 1) * s + ext - in);
      w.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end[i] = total - w.pad_begin[i];
    } else if (auto_pad == "VALID") {
      w.out[i] = in >= ext ? (in - ext) / s + 1 : 0;
    }
  }
  if (auto_pad == "NOTSET") {
    explicit_pads(n, x, w);
    for (size_t i = 0; i < k; ++i) {
      const int64_t s = w.strides[i];
      const int64_t span = w.in[i] + w.pad_begin[i] + w.pad_end[i] - w.extent(static_cast<int>(i));
      if (!ceil_mode) {
        w.out[i] = floor_div(span, s) + 1;
      } else {
        // ONNX: ceil((in + pads - extent) / stride + 1); a window longer than the padded input but starting
        // inside it still gives one output in ceil mode (as in PyTorch).
        w.out[i] = ceil_div(span, s) + 1;
        // A window that would start in the end padding is dropped (ONNX reference, PyTorch).
        if ((w.out[i] - 1) * s >= w.in[i] + w.pad_begin[i]) --w.out[i];
      }
    }
  }
  check_out(n, x, w);
  return w;
}

Window transposed_window(const Node& n, const Shape& x, const Shape& kernel) {
  std::string auto_pad;
  Window w = window_base(n, x, kernel, &auto_pad);
  const size_t k = w.in.size();
  std::vector<int64_t> opad = ints_attr(n, "output_padding", k, 0, 0, x);
  std::vector<int64_t> full(k);
  for (size_t i = 0; i < k; ++i)
    full[i] = w.strides[i] * (w.in[i] - 1) + opad[i] + w.extent(static_cast<int>(i));

  std::vector<int64_t> target;
  if (n.has_attr("output_shape")) {
    target = n.attr_ints("output_shape");
    if (target.size() == k + 2) target.erase(target.begin(), target.begin() + 2);  // N x C x spatial
    OCTET_CHECK(target.size() == k, n.describe(), ": output_shape ", ints_str(n.attr_ints("output_shape")),
                " must have ", k, " spatial entries for input ", shape_str(x));
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    target.resize(k);
    for (size_t i = 0; i < k; ++i) target[i] = w.in[i] * w.strides[i];
  }

  if (!target.empty()) {
    w.out = target;
    for (size_t i = 0; i < k; ++i) {
      const int64_t total = full[i] - target[i];
      const int64_t half = floor_div(total, 2);
      if (auto_pad == "SAME_UPPER") {
        w.pad_begin[i] = half;
        w.pad_end[i] = total - half;
      } else if (auto_pad == "SAME_LOWER" || total >= 0) {
        w.pad_begin[i] = total - half;
        w.pad_end[i] = half;
      } else {
        // An explicit output_shape larger than the full output extends it at the end (ONNX's reference and
        // ONNX Runtime; the spec's formula would shift the result as well when total < -1).
        w.pad_begin[i] = 0;
        w.pad_end[i] = total;
      }
    }
  } else {
    if (auto_pad == "NOTSET") explicit_pads(n, x, w);
    w.out.resize(k);
    for (size_t i = 0; i < k; ++i) w.out[i] = full[i] - w.pad_begin[i] - w.pad_end[i];
  }
  check_out(n, x, w);
  return w;
}

void infer_Conv(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = c.input(0).shape;
  const Shape& wt = c.input(1).shape;
  check_f32(c, 0, "input X");
  check_f32(c, 1, "weight W");
  OCTET_CHECK(x.size() >= 3, n.describe(), ": input X must be N x C x D1 x ..., got ", shape_str(x));
  OCTET_CHECK(wt.size() == x.size(), n.describe(), ": weight W ", shape_str(wt), " must have the rank of X ",
              shape_str(x));
  const int64_t g = n.attr_i("group", 1);
  OCTET_CHECK(g >= 1 && wt[0] % g == 0, n.describe(), ": group ", g, " must be >= 1 and divide the ", wt[0],
              " output channels of W ", shape_str(wt));
  OCTET_CHECK(x[1] == wt[1] * g, n.describe(), ": X ", shape_str(x), " has ", x[1], " channels but W ",
              shape_str(wt), " with group ", g, " expects ", wt[1] * g);
  Shape kernel(wt.begin() + 2, wt.end());
  check_kernel_attr(n, wt, kernel);
  Window w = forward_window(n, x, kernel, false);
  if (c.has(2))
    OCTET_CHECK(c.input(2).shape == Shape{wt[0]}, n.describe(), ": bias B ", shape_str(c.input(2).shape),
                " must be [", wt[0], "] for W ", shape_str(wt));
  Shape out{x[0], wt[0]};
  out.insert(out.end(), w.out.begin(), w.out.end());
  check_residual(c, out);
  c.set(0, DType::f32, out);
}

void infer_ConvTranspose(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = c.input(0).shape;
  const Shape& wt = c.input(1).shape;
  check_f32(c, 0, "input X");
  check_f32(c, 1, "weight W");
  OCTET_CHECK(x.size() >= 3, n.describe(), ": input X must be N x C x D1 x ..., got ", shape_str(x));
  OCTET_CHECK(wt.size() == x.size(), n.describe(), ": weight W ", shape_str(wt), " must have the rank of X ",
              shape_str(x));
  const int64_t g = n.attr_i("group", 1);
  OCTET_CHECK(g >= 1 && wt[0] % g == 0, n.describe(), ": group ", g, " must be >= 1 and divide the ", wt[0],
              " input channels of W ", shape_str(wt));
  OCTET_CHECK(x[1] == wt[0], n.describe(), ": X ", shape_str(x), " has ", x[1], " channels but W ",
              shape_str(wt), " expects ", wt[0]);
  Shape kernel(wt.begin() + 2, wt.end());
  check_kernel_attr(n, wt, kernel);
  Window w = transposed_window(n, x, kernel);
  const int64_t m = wt[1] * g;
  if (c.has(2))
    OCTET_CHECK(c.input(2).shape == Shape{m}, n.describe(), ": bias B ", shape_str(c.input(2).shape), " must be [",
                m, "] for W ", shape_str(wt), " and group ", g);
  Shape out{x[0], m};
  out.insert(out.end(), w.out.begin(), w.out.end());
  check_residual(c, out);
  c.set(0, DType::f32, out);
}

void infer_Gemm(InferCtx& c) {
  const Node& n = c.node;
  const Shape& a = c.input(0).shape;
  const Shape& b = c.input(1).shape;
  check_f32(c, 0, "input A");
  check_f32(c, 1, "input B");
  OCTET_CHECK(a.size() == 2 && b.size() == 2, n.describe(), ": A ", shape_str(a), " and B ", shape_str(b),
              " must be 2-D");
  const bool ta = n.attr_i("transA", 0) != 0, tb = n.attr_i("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
  OCTET_CHECK(ka == kb, n.describe(), ": inner dims differ: A ", shape_str(a), (ta ? " (transposed)" : ""), " x B ",
              shape_str(b), (tb ? " (transposed)" : ""));
  if (c.has(2)) {
    const Shape& cs = c.input(2).shape;
    check_f32(c, 2, "input C");
    bool ok = cs.size() <= 2;
    for (size_t i = 0; ok && i < cs.size(); ++i) {
      int64_t want = (cs.size() - i == 1) ? nn : m;
      ok = cs[i] == 1 || cs[i] == want;
    }
    OCTET_CHECK(ok, n.describe(), ": C ", shape_str(cs), " does not broadcast to the output ", m, "x", nn);
  }
  Shape out{m, nn};
  check_residual(c, out);
  c.set(0, DType::f32, out);
}

void infer_MatMul(InferCtx& c) {
  const Node& n = c.node;
  Shape a = c.input(0).shape, b = c.input(1).shape;
  check_f32(c, 0, "input A");
  check_f32(c, 1, "input B");
  OCTET_CHECK(!a.empty() && !b.empty(), n.describe(), ": operands ", shape_str(a), " and ", shape_str(b),
              " must have rank >= 1");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  OCTET_CHECK(a.back() == b[b.size() - 2], n.describe(), ": inner dims differ: ", shape_str(c.input(0).shape), " x ",
              shape_str(c.input(1).shape));
  Shape out = broadcast_shapes(n, Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  check_residual(c, out);
  c.set(0, DType::f32, out);
}

void infer_BatchNormalization(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = c.input(0).shape;
  check_f32(c, 0, "input X");
  OCTET_CHECK(n.attr_i("training_mode", 0) == 0, n.describe(),
              ": training_mode=1 is not supported (octet runs inference only; export the model in eval mode)");
  OCTET_CHECK(n.attr_i("spatial", 1) == 1, n.describe(), ": spatial=0 (per-activation statistics) is not supported");
  OCTET_CHECK(x.size() >= 2, n.describe(), ": input X must be N x C x ..., got ", shape_str(x));
  static const char* names[] = {"scale", "B", "mean", "var"};
  for (int i = 1; i <= 4; ++i) {
    OCTET_CHECK(c.input(i).shape == Shape{x[1]}, n.describe(), ": ", names[i - 1], " ", shape_str(c.input(i).shape),
                " must be [", x[1], "] for X ", shape_str(x));
    check_f32(c, i, names[i - 1]);
  }
  OCTET_CHECK(c.out.size() <= 3, n.describe(),
              ": saved_mean / saved_var outputs exist only in training mode, which octet does not run");
  c.set(0, DType::f32, x);
  // Running mean / var outputs (declared by some exporters): in inference they are the inputs unchanged.
  for (size_t i = 1; i < c.out.size(); ++i) c.set(static_cast<int>(i), DType::f32, Shape{x[1]});
}

namespace {
void infer_pool(InferCtx& c, bool with_indices) {
  const Node& n = c.node;
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(n.has_attr("kernel_shape"), n.describe(), ": attribute kernel_shape is required");
  Window w = forward_window(n, x, n.attr_ints("kernel_shape"), true);
  Shape out{x[0], x[1]};
  out.insert(out.end(), w.out.begin(), w.out.end());
  c.set(0, c.input(0).dtype, out);
  if (with_indices) {
    int64_t so = n.attr_i("storage_order", 0);
    OCTET_CHECK(so == 0 || so == 1, n.describe(), ": storage_order ", so, " must be 0 or 1");
    if (c.out.size() > 1) c.set(1, DType::i64, out);
  }
}

void infer_global_pool(InferCtx& c) {
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(x.size() >= 2, c.node.describe(), ": input must be N x C x ..., got ", shape_str(x));
  Shape out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  c.set(0, c.input(0).dtype, out);
}

void check_pool_dtype(const InferCtx& c, bool allow_int8) {
  DType t = c.input(0).dtype;
  OCTET_CHECK(t == DType::f32 || (allow_int8 && (t == DType::i8 || t == DType::u8)), c.node.describe(),
              ": input dtype ", dtype_name(t), " is not supported (", allow_int8 ? "f32, i8, u8" : "f32", ")");
}
}  // namespace

void infer_MaxPool(InferCtx& c) {
  check_pool_dtype(c, true);
  infer_pool(c, true);
}
void infer_AveragePool(InferCtx& c) {
  check_pool_dtype(c, false);
  infer_pool(c, false);
}
void infer_GlobalAveragePool(InferCtx& c) {
  check_pool_dtype(c, false);
  infer_global_pool(c);
}
void infer_GlobalMaxPool(InferCtx& c) {
  check_pool_dtype(c, true);
  infer_global_pool(c);
}

void infer_PRelu(InferCtx& c) {
  const Node& n = c.node;
  const Shape& x = c.input(0).shape;
  const Shape& s = c.input(1).shape;
  check_f32(c, 0, "input X");
  check_f32(c, 1, "slope");
  bool ok = s.size() <= x.size();
  for (size_t i = 0; ok && i < s.size(); ++i) {
    int64_t xd = x[x.size() - s.size() + i];
    ok = s[i] == 1 || s[i] == xd;
  }
  OCTET_CHECK(ok, n.describe(), ": slope ", shape_str(s), " does not broadcast to X ", shape_str(x),
              " (numpy rules, aligned right: a per-channel slope of 4-D X is [C,1,1])");
  c.set(0, DType::f32, x);
}

}  // namespace octet
