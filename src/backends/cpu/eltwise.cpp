// cpu kernels of the FP32 element-wise ops (unary, broadcasting binary with Add's post-op), Softmax /
// LogSoftmax, LayerNormalization and inference BatchNormalization. Contracts and the bit-exactness argument:
// eltwise.h. Cheap arithmetic goes through the row kernels (AVX-512 or scalar twins); transcendental ops
// evaluate the ref functor's own expression with the same std:: functions, only threaded. The reductions
// (Softmax, LayerNormalization) keep the ref's double accumulation in the ref's order, row by row, so they
// are bit-identical too; rows run in parallel.
//
// Threading: a flat range is split into one contiguous piece per thread, and only when every thread gets at
// least kMinCheap elements (memory-bound ops) or kMinTransc (std::exp and friends): small tensors stay on
// the calling thread, without an OpenMP region.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/eltwise.h"
#include "ir/infer.h"

namespace octet::cpu {

namespace {

constexpr int64_t kMinCheap = 65536;  // elements per thread, memory-bound loops
constexpr int64_t kMinTransc = 8192;  // elements per thread, loops calling std::exp/erf/tanh

void check_f32(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, size_t n_in, const Node& node) {
  for (size_t i = 0; i < n_in && i < in.size(); ++i)
    OCTET_CHECK(!in[i] || in[i]->dtype() == DType::f32, node.describe(), ": cpu kernel takes f32 only");
  OCTET_CHECK(out[0]->dtype() == DType::f32, node.describe(), ": cpu kernel takes f32 only");
}

// ---- unary --------------------------------------------------------------------------------------------

class UnaryK final : public Kernel {
 public:
  explicit UnaryK(const Node& n) : node_(n), op_(n.op) {
    switch (op_) {
      case OpType::LeakyRelu: alpha_ = n.attr_f("alpha", 0.01f); break;
      case OpType::Elu: alpha_ = n.attr_f("alpha", 1.f); break;
      case OpType::HardSigmoid: alpha_ = n.attr_f("alpha", 0.2f), beta_ = n.attr_f("beta", 0.5f); break;
      case OpType::Gelu: tanh_gelu_ = n.attr_s("approximate", "none") == "tanh"; break;
      default: break;
    }
  }
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    if (op_ != OpType::Identity) check_f32(in, out, op_ == OpType::Clip ? 3 : 1, node_);
    OCTET_CHECK(in[0]->nbytes() == out[0]->nbytes(), node_.describe(), ": output size differs from the input");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    if (op_ == OpType::Identity || op_ == OpType::Dropout) {
      const char* x = static_cast<const char*>(in[0]->raw());
      char* y = static_cast<char*>(out[0]->raw());
      if (x != y) parallel_range(static_cast<int64_t>(in[0]->nbytes()), 4 * kMinCheap,
                                 [&](int64_t b, int64_t e) { std::memcpy(y + b, x + b, static_cast<size_t>(e - b)); });
      return;
    }
    const float* x = in[0]->data<float>();
    float* y = out[0]->data<float>();
    const int64_t n = in[0]->numel();
    const EwRowKernels& k = ew_row_kernels();
    auto cheap = [&](auto f) { parallel_range(n, kMinCheap, [&](int64_t b, int64_t e) { f(x + b, y + b, e - b); }); };
    // The ref functor's expression (elementwise.cpp) per element, threaded.
    auto transc = [&](auto f) {
      parallel_range(n, kMinTransc, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
      });
    };
    switch (op_) {
      case OpType::Relu: return cheap(k.relu);
      case OpType::Neg: return cheap(k.neg);
      case OpType::Abs: return cheap(k.abs);
      case OpType::Sqrt: return cheap(k.sqrt);
      case OpType::HardSwish: return cheap(k.hard_swish);
      case OpType::LeakyRelu:
        return cheap([&](const float* a, float* b, int64_t m) { k.leaky_relu(a, b, m, alpha_); });
      case OpType::HardSigmoid:
        return cheap([&](const float* a, float* b, int64_t m) { k.hard_sigmoid(a, b, m, alpha_, beta_); });
      case OpType::Clip: {
        // Bounds as ref_Clip reads them: scalar inputs 1 and 2, else the opset < 11 attributes, else none.
        auto bound = [&](size_t i, const char* attr, float def) {
          if (i < in.size() && in[i]) return in[i]->data<float>()[0];
          return node_.has_attr(attr) ? node_.attr_f(attr, 0) : def;
        };
        const float lo = bound(1, "min", std::numeric_limits<float>::lowest());
        const float hi = bound(2, "max", std::numeric_limits<float>::max());
        return cheap([&](const float* a, float* b, int64_t m) { k.clip(a, b, m, lo, hi); });
      }
      case OpType::Sigmoid: return transc([](float v) { return 1.f / (1.f + std::exp(-v)); });
      case OpType::Tanh: return transc([](float v) { return std::tanh(v); });
      case OpType::Erf: return transc([](float v) { return std::erf(v); });
      case OpType::Exp: return transc([](float v) { return std::exp(v); });
      case OpType::Softplus:
        return transc([](float v) { return v > 0.f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
      case OpType::Mish:
        return transc([](float v) {
          return v * std::tanh(v > 0.f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)));
        });
      case OpType::Elu: {
        const float al = alpha_;
        return transc([al](float v) { return v >= 0.f ? v : al * (std::exp(v) - 1.f); });
      }
      case OpType::Gelu:
        if (tanh_gelu_)
          return transc([](float v) {
            return 0.5f * v * (1.f + std::tanh(float(0.7978845608028654) * (v + float(0.044715) * v * v * v)));
          });
        // float(double literal), as the ref's T(...): a float literal could round differently.
        return transc([](float v) { return 0.5f * v * (1.f + std::erf(v / float(1.4142135623730951))); });
      default: fail(node_.describe(), ": no cpu unary kernel");
    }
  }

 private:
  Node node_;
  OpType op_;
  float alpha_ = 0, beta_ = 0;
  bool tanh_gelu_ = false;
};

// ---- binary -------------------------------------------------------------------------------------------

EwBin bin_of(OpType op) {
  switch (op) {
    case OpType::Add: return EwBin::Add;
    case OpType::Sub: return EwBin::Sub;
    case OpType::Mul: return EwBin::Mul;
    case OpType::Div: return EwBin::Div;
    case OpType::Min: return EwBin::Min;
    default: return EwBin::Max;
  }
}

// Broadcasting binary op. prepare() right-aligns both input shapes to the output, drops size-1 output dims
// and merges neighbouring dims that are contiguous (or broadcast) in both inputs alike, so that the same-shape,
// scalar, per-channel NHWC ([C] or [N,1,1,C] against [N,H,W,C]) and per-channel NCHW ([C,1,1] against
// [N,C,H,W]) cases become at most three dims with a VV, VS or SV innermost run (NCHW per-channel: [N, C, HW]
// with b scalar per row). Every other broadcast takes the same walk, with shorter runs.
class BinaryK final : public Kernel {
  struct Dim { int64_t size, sa, sb; };

 public:
  explicit BinaryK(const Node& n) : node_(n), bin_(bin_of(n.op)), post_(n.op == OpType::Add ? n.post : PostOp{}) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    check_f32(in, out, 2, node_);
    const Shape& o = out[0]->shape();
    const size_t r = o.size();
    std::vector<Dim> dims;  // outer to inner, size-1 dims dropped
    std::vector<int64_t> st[2];
    for (int k = 0; k < 2; ++k) {
      const Shape& s = in[k]->shape();
      OCTET_CHECK(s.size() <= r, node_.describe(), ": input rank exceeds the output's");
      st[k].assign(r, 0);
      int64_t acc = 1;
      for (size_t d = s.size(); d-- > 0;) {
        const size_t od = d + (r - s.size());
        OCTET_CHECK(s[d] == o[od] || s[d] == 1, node_.describe(), ": shapes do not broadcast");
        if (s[d] != 1) st[k][od] = acc;
        acc *= s[d];
      }
    }
    for (size_t d = 0; d < r; ++d)
      if (o[d] != 1) dims.push_back({o[d], st[0][d], st[1][d]});
    // Merge from the innermost dim outwards: an outer dim joins the run inside it when, for both inputs,
    // its stride is the inner stride times the inner size (both contiguous, or both broadcast).
    std::vector<Dim> c;  // inner-first
    for (size_t d = dims.size(); d-- > 0;) {
      const Dim& e = dims[d];
      if (!c.empty() && e.sa == c.back().sa * c.back().size && e.sb == c.back().sb * c.back().size)
        c.back().size *= e.size;
      else
        c.push_back(e);
    }
    inner_ = c.empty() ? Dim{1, 0, 0} : c[0];
    outer_.assign(c.begin() + (c.empty() ? 0 : 1), c.end());
    // outer_ is inner-first; the innermost run has unit or zero strides.
    mode_ = inner_.sa && inner_.sb ? EwMode::VV : inner_.sa ? EwMode::VS : inner_.sb ? EwMode::SV : EwMode::VV;
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const EwRowKernels& k = ew_row_kernels();
    const EwBinaryFn fn = k.binary[static_cast<int>(bin_)][static_cast<int>(mode_)];
    const float* a = in[0]->data<float>();
    const float* b = in[1]->data<float>();
    float* y = out[0]->data<float>();
    const int64_t total = out[0]->numel(), n = inner_.size;
    const size_t nd = outer_.size();
    parallel_range(total, kMinCheap, [&](int64_t begin, int64_t end) {
      // Multi-index of the row holding `begin` (outer dims, inner-first).
      int64_t idx[8];
      std::vector<int64_t> idx_heap;
      int64_t* ix = idx;
      if (nd > 8) {
        idx_heap.assign(nd, 0);  // rank > 8 after merging: rare, and outside the hot row loop
        ix = idx_heap.data();
      }
      int64_t row = begin / n, off = begin % n, oa = 0, ob = 0;
      for (size_t d = 0; d < nd; ++d) {
        ix[d] = row % outer_[d].size;
        row /= outer_[d].size;
        oa += ix[d] * outer_[d].sa;
        ob += ix[d] * outer_[d].sb;
      }
      for (int64_t pos = begin; pos < end;) {
        const int64_t len = std::min(n - off, end - pos);
        fn(a + oa + off * inner_.sa, b + ob + off * inner_.sb, y + pos, len);
        if (post_.act != Activation::None) activate(k, y + pos, len);
        pos += len;
        off = 0;
        for (size_t d = 0; d < nd; ++d) {
          oa += outer_[d].sa;
          ob += outer_[d].sb;
          if (++ix[d] < outer_[d].size) break;
          oa -= outer_[d].sa * outer_[d].size;
          ob -= outer_[d].sb * outer_[d].size;
          ix[d] = 0;
        }
      }
    });
  }

 private:
  // apply_activation (ref.cpp) over y[0, n), in place.
  void activate(const EwRowKernels& k, float* y, int64_t n) const {
    switch (post_.act) {
      case Activation::Relu: k.relu(y, y, n); break;
      case Activation::Clip: k.clamp(y, y, n, post_.alpha, post_.beta); break;
      case Activation::LeakyRelu: k.leaky_relu(y, y, n, post_.alpha); break;
      case Activation::HardSwish: k.hard_swish(y, y, n); break;
      case Activation::Sigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-y[i]));
        break;
      case Activation::Silu:
        for (int64_t i = 0; i < n; ++i) y[i] = y[i] / (1.f + std::exp(-y[i]));
        break;
      case Activation::None: break;
    }
  }

  Node node_;
  EwBin bin_;
  PostOp post_;
  Dim inner_{1, 0, 0};
  std::vector<Dim> outer_;  // inner-first
  EwMode mode_ = EwMode::VV;
};

// ---- Softmax / LogSoftmax -----------------------------------------------------------------------------

// ref_Softmax's arithmetic (norm.cpp) per row: max and sum in double, exp(double) once per element (kept in a
// per-thread scratch row instead of being recomputed), one rounding to float.
template <bool Log>
class SoftmaxK final : public Kernel {
 public:
  explicit SoftmaxK(const Node& n) : node_(n) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    check_f32(in, out, 1, node_);
    const Tensor& x = *in[0];
    const bool coerce = node_.attr_i("coerce_2d", 0) == 1;
    const int r = x.rank();
    const int axis = normalize_axis(node_, node_.attr_i("axis", coerce ? 1 : -1), r);
    auto prod = [&](int from, int to) {
      int64_t p = 1;
      for (int i = from; i < to; ++i) p *= x.dim(i);
      return p;
    };
    outer_ = prod(0, axis);
    n_ = coerce ? prod(axis, r) : (r ? x.dim(axis) : 1);
    inner_ = coerce ? 1 : prod(axis + 1, r);
    threads_ = omp_get_max_threads();
    scratch_.assign(static_cast<size_t>(threads_ * n_), 0.0);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const float* xs = in[0]->data<float>();
    float* ys = out[0]->data<float>();
    const int64_t rows = outer_ * inner_, n = n_, inner = inner_;
    const bool par = rows > 1 && rows * n >= 2 * kMinTransc && !omp_in_parallel();
#pragma omp parallel for schedule(static) num_threads(threads_) if (par)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t o = row / inner, i = row % inner;
      const float* p = xs + o * n * inner + i;
      float* q = ys + o * n * inner + i;
      double* e = scratch_.data() + static_cast<int64_t>(omp_get_thread_num()) * n;
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, static_cast<double>(p[k * inner]));
      for (int64_t k = 0; k < n; ++k) {
        e[k] = std::exp(static_cast<double>(p[k * inner]) - mx);
        sum += e[k];
      }
      if constexpr (Log) {
        const double log_sum = std::log(sum);
        for (int64_t k = 0; k < n; ++k) q[k * inner] = static_cast<float>(static_cast<double>(p[k * inner]) - mx - log_sum);
      } else {
        for (int64_t k = 0; k < n; ++k) q[k * inner] = static_cast<float>(e[k] / sum);
      }
    }
  }

 private:
  Node node_;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
  int threads_ = 1;
  std::vector<double> scratch_;
};

// ---- LayerNormalization -------------------------------------------------------------------------------

// ref_LayerNormalization (norm.cpp) row by row: mean and population variance in double in element order,
// y = (x - mean) * inv * scale + bias in double, one rounding. Scale and bias must broadcast to the normalized
// dims as a suffix (after dropping leading 1s): then element k of a row uses parameter k % numel; any other
// broadcast is refused in prepare() (the ref kernel runs it).
class LayerNormK final : public Kernel {
 public:
  explicit LayerNormK(const Node& n) : node_(n), eps_(n.attr_f("epsilon", 1e-5f)) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    check_f32(in, out, 3, node_);
    const Tensor& x = *in[0];
    const int axis = normalize_axis(node_, node_.attr_i("axis", -1), x.rank());
    n_ = 1;
    outer_ = 1;
    for (int d = 0; d < x.rank(); ++d) (d < axis ? outer_ : n_) *= x.dim(d);
    for (size_t i = 1; i < 3; ++i) {
      if (i >= in.size() || !in[i]) continue;
      const Shape& s = in[i]->shape();
      size_t lead = 0;
      while (lead < s.size() && s[lead] == 1) ++lead;
      const size_t m = s.size() - lead;
      OCTET_CHECK(m <= static_cast<size_t>(x.rank() - axis), node_.describe(), ": parameter rank");
      for (size_t j = 0; j < m; ++j)
        OCTET_CHECK(s[lead + j] == x.dim(x.rank() - static_cast<int>(m) + static_cast<int>(j)), node_.describe(),
                    ": parameter shape is not a suffix of the normalized dims");
    }
    for (size_t o = 1; o < out.size(); ++o)
      OCTET_CHECK(!out[o] || out[o]->dtype() == DType::f32, node_.describe(), ": f32 statistics only");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const float* xs = in[0]->data<float>();
    float* ys = out[0]->data<float>();
    const float* sc = in.size() > 1 && in[1] ? in[1]->data<float>() : nullptr;
    const float* bi = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
    const int64_t ms = sc ? in[1]->numel() : 1, mb = bi ? in[2]->numel() : 1;
    float* mean_out = out.size() > 1 && out[1] ? out[1]->data<float>() : nullptr;
    float* inv_out = out.size() > 2 && out[2] ? out[2]->data<float>() : nullptr;
    const int64_t n = n_;
    const double eps = eps_;
    const bool par = outer_ > 1 && outer_ * n >= 2 * kMinTransc && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (par)
    for (int64_t o = 0; o < outer_; ++o) {
      const float* x = xs + o * n;
      float* y = ys + o * n;
      double mean = 0, var = 0;
      for (int64_t k = 0; k < n; ++k) mean += static_cast<double>(x[k]);
      mean /= static_cast<double>(n);
      for (int64_t k = 0; k < n; ++k) var += (static_cast<double>(x[k]) - mean) * (static_cast<double>(x[k]) - mean);
      var /= static_cast<double>(n);
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t k = 0; k < n; ++k) {
        const double s = sc ? static_cast<double>(sc[k % ms]) : 1.0, b = bi ? static_cast<double>(bi[k % mb]) : 0.0;
        y[k] = static_cast<float>((static_cast<double>(x[k]) - mean) * inv * s + b);
      }
      if (mean_out) mean_out[o] = static_cast<float>(mean);
      if (inv_out) inv_out[o] = static_cast<float>(inv);
    }
  }

 private:
  Node node_;
  float eps_;
  int64_t n_ = 1, outer_ = 1;
};

// ---- BatchNormalization (NCHW, inference) -------------------------------------------------------------

// ref_BatchNormalization (conv.cpp): per (n, c) plane, sd = sqrt(var + eps) in float, then
// y = (x - mean) / sd * scale + shift element by element (the row kernel, same operations).
class BatchNormK final : public Kernel {
 public:
  explicit BatchNormK(const Node& n) : node_(n), eps_(n.attr_f("epsilon", 1e-5f)) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    check_f32(in, out, 5, node_);
    OCTET_CHECK(in.size() == 5 && in[0]->rank() >= 2, node_.describe(), ": needs X [N, C, ...] and 4 parameters");
    for (size_t i = 1; i < 5; ++i)
      OCTET_CHECK(in[i] && in[i]->numel() == in[0]->dim(1), node_.describe(), ": parameters need C values");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor& X = *in[0];
    const float* scale = in[1]->data<float>();
    const float* shift = in[2]->data<float>();
    const float* mean = in[3]->data<float>();
    const float* var = in[4]->data<float>();
    const int64_t C = X.dim(1), NC = X.dim(0) * C, plane = NC ? X.numel() / NC : 0;
    const float* xs = X.data<float>();
    float* ys = out[0]->data<float>();
    const float eps = eps_;
    const EwRowKernels& k = ew_row_kernels();
    // Planes in parallel when there are enough of them; else one plane's elements split among threads.
    auto planes = [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const int64_t c = nc % C;
        k.batchnorm(xs + nc * plane, ys + nc * plane, plane, mean[c], std::sqrt(var[c] + eps), scale[c], shift[c]);
      }
    };
    const int64_t per_plane = std::max<int64_t>(1, kMinCheap / std::max<int64_t>(plane, 1));
    parallel_range(NC, per_plane, planes, 1);
    for (size_t o = 1; o < out.size() && o < 3; ++o)
      if (out[o]) std::memcpy(out[o]->raw(), in[o + 2]->raw(), static_cast<size_t>(C) * sizeof(float));
  }

 private:
  Node node_;
  float eps_;
};

bool is_unary(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::LeakyRelu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid:
    case OpType::HardSwish: case OpType::Tanh: case OpType::Gelu: case OpType::Erf: case OpType::Exp:
    case OpType::Neg: case OpType::Abs: case OpType::Sqrt: case OpType::Identity: case OpType::Dropout:
    case OpType::Softplus: case OpType::Mish: case OpType::Elu:
      return true;
    default: return false;
  }
}

bool is_binary(OpType op) {
  return op == OpType::Add || op == OpType::Sub || op == OpType::Mul || op == OpType::Div || op == OpType::Min ||
         op == OpType::Max;
}

bool f32(const Graph& g, int v) { return v >= 0 && g.value(v).dtype == DType::f32; }

}  // namespace

bool eltwise_supported(const Graph& g, const Node& n) {
  if (n.inputs.empty() || n.outputs.empty() || n.inputs[0] < 0) return false;
  if (is_unary(n.op)) {
    if (n.outputs.size() != 1) return false;  // Dropout's mask output stays on ref
    if (n.op == OpType::Identity) return true;
    if (!f32(g, n.inputs[0]) || !f32(g, n.outputs[0])) return false;
    if (n.op == OpType::Clip)
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (n.inputs[i] >= 0 && !f32(g, n.inputs[i])) return false;
    return true;
  }
  if (is_binary(n.op))
    return n.inputs.size() == 2 && n.outputs.size() == 1 && f32(g, n.inputs[0]) && f32(g, n.inputs[1]) &&
           f32(g, n.outputs[0]) && (n.op == OpType::Add || n.post.act == Activation::None);
  switch (n.op) {
    case OpType::Softmax: case OpType::LogSoftmax: return n.outputs.size() == 1 && f32(g, n.inputs[0]);
    case OpType::LayerNormalization:
      for (size_t i = 1; i < n.inputs.size() && i < 3; ++i)
        if (n.inputs[i] >= 0 && !f32(g, n.inputs[i])) return false;
      return n.outputs.size() <= 3 && f32(g, n.inputs[0]);
    case OpType::BatchNormalization:
      if (n.inputs.size() != 5 || n.outputs.size() > 3) return false;
      for (int v : n.inputs)
        if (!f32(g, v)) return false;
      return true;
    default: return false;
  }
}

std::unique_ptr<Kernel> make_eltwise(const Graph&, const Node& n) {
  if (is_unary(n.op)) return std::make_unique<UnaryK>(n);
  if (is_binary(n.op)) return std::make_unique<BinaryK>(n);
  switch (n.op) {
    case OpType::Softmax: return std::make_unique<SoftmaxK<false>>(n);
    case OpType::LogSoftmax: return std::make_unique<SoftmaxK<true>>(n);
    case OpType::LayerNormalization: return std::make_unique<LayerNormK>(n);
    default: return std::make_unique<BatchNormK>(n);
  }
}

}  // namespace octet::cpu
