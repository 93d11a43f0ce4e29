// FP32 MatMul and Gemm on oneDNN's matmul primitive (batch dims broadcast, transposes by strides),
// with bias, residual (sum) and activation fused.
#include <cstring>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"

namespace octet::cpu {

namespace {

using dnnl::memory;
using dt = memory::data_type;

// Plain row-major desc for `s`, optionally with the last two dims swapped in memory (a transposed view).
memory::desc md(const Shape& s, bool transposed = false) {
  memory::dims dims = to_dims(s), strides(s.size());
  int64_t st = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    strides[static_cast<size_t>(i)] = st;
    st *= s[static_cast<size_t>(i)];
  }
  if (transposed) {
    size_t r = s.size();
    // memory holds [..., cols, rows]; logical dims are [..., rows, cols]
    strides[r - 1] = s[r - 2];
    strides[r - 2] = 1;
  }
  return memory::desc(dims, dt::f32, strides);
}

Shape pad_rank(const Shape& s, size_t r) {
  Shape o(r - s.size(), 1);
  o.insert(o.end(), s.begin(), s.end());
  return o;
}

class MatMulF32 final : public Kernel {
 public:
  MatMulF32(const Graph& g, const Node& n) : node_(n), gemm_(n.op == OpType::Gemm) {
    if (gemm_ && n.inputs.size() > 2 && n.inputs[2] >= 0) bias_ = g.const_of(n.inputs[2]);
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    Shape a = in[0]->shape(), b = in[1]->shape(), y = out[0]->shape();
    OCTET_CHECK(b.size() >= 2, "1-D right operand");  // prepare() failures fall back to ref
    bool ta = false, tb = false;
    if (gemm_) {
      ta = node_.attr_i("transA", 0) != 0;
      tb = node_.attr_i("transB", 0) != 0;
      if (ta) std::swap(a[0], a[1]);
      if (tb) std::swap(b[0], b[1]);
    }
    size_t r = std::max(a.size(), b.size());
    a = pad_rank(a, r);
    b = pad_rank(b, r);
    y = pad_rank(y, r);
    memory::desc amd = md(a, ta), bmd = md(b, tb), ymd = md(y);
    memory::desc bias_md;
    if (bias_.defined()) bias_md = md(pad_rank({y.back()}, r));
    dnnl::matmul::desc d(amd, bmd, bias_md, ymd);
    dnnl::post_ops po;
    if (node_.post.residual_input >= 0) po.append_sum(1.f);
    append_activation(po, node_.post);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    pd_ = dnnl::matmul::primitive_desc(d, attr, engine());
    prim_ = dnnl::matmul(pd_);
    amem_ = memory(amd, engine(), nullptr);
    bmem_ = memory(bmd, engine(), nullptr);
    ymem_ = memory(ymd, engine(), nullptr);
    if (bias_.defined()) biasmem_ = memory(bias_md, engine(), const_cast<void*>(bias_.raw()));
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    if (node_.post.residual_input >= 0)
      std::memcpy(out[0]->raw(), in[static_cast<size_t>(node_.post.residual_input)]->raw(), out[0]->nbytes());
    amem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    bmem_.set_data_handle(const_cast<void*>(in[1]->raw()));
    ymem_.set_data_handle(out[0]->raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, amem_}, {DNNL_ARG_WEIGHTS, bmem_}, {DNNL_ARG_DST, ymem_}};
    if (bias_.defined()) args[DNNL_ARG_BIAS] = biasmem_;
    prim_.execute(stream(), args);
    stream().wait();
  }

 private:
  Node node_;
  bool gemm_;
  Tensor bias_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  memory amem_, bmem_, ymem_, biasmem_;
};

}  // namespace

bool matmul_supported(const Graph& g, const Node& n) {
  if (!activation_supported(n.post)) return false;
  for (int i = 0; i < 2; ++i)
    if (g.value(n.inputs[static_cast<size_t>(i)]).dtype != DType::f32) return false;
  if (n.op == OpType::Gemm) {
    if (n.attr_f("alpha", 1.f) != 1.f) return false;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      if (!g.is_const(n.inputs[2]) || n.attr_f("beta", 1.f) != 1.f) return false;
      const Tensor& c = g.const_of(n.inputs[2]);
      // A bias over N: shape [N] or [1, N]. (The N itself is checked by shape inference.)
      if (c.dtype() != DType::f32 || c.rank() > 2 || (c.rank() == 2 && c.dim(0) != 1) || c.rank() == 0) return false;
    }
    return true;
  }
  // MatMul: both operands at least 2-D (1-D promotion stays on ref), at most 5-D.
  // Ranks are only known after propagation for non-constant inputs; the kernel falls back if oneDNN refuses.
  if (g.is_const(n.inputs[1]) && (g.const_of(n.inputs[1]).rank() < 2 || g.const_of(n.inputs[1]).rank() > 5)) return false;
  return true;
}

std::unique_ptr<Kernel> make_matmul(const Graph& g, const Node& n) { return std::make_unique<MatMulF32>(g, n); }

}  // namespace octet::cpu
