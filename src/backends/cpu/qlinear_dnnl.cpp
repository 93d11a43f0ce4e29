// QLinear on oneDNN's int8 matmul (contract: src/ir/qops.h): x s8 flattened to [M, K], weights
// s8 [N, K] (a transposed [K, N] view) reordered once per shape into the primitive's layout, bias f32,
// y s8 [M, N] with per-N output scales and clip_v2(act_lo, act_hi) when a bound is finite.
// Exactness argument and the s32 + own-epilogue path (BackendOptions::qconv_epilogue): see qconv_dnnl.cpp.
#include <cstring>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "ir/qops.h"
#include "quant/quant.h"

namespace octet::cpu {

// Our epilogue over `rows` rows of k accumulators (qconv_dnnl.cpp).
void epilogue_rows(const QEpilogue& ep, const int32_t* acc, const float* bias, const int8_t* residual, int64_t rows,
                   int64_t k, int8_t* y);

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

class QLinearDnnl final : public Kernel {
 public:
  QLinearDnnl(const Graph& g, const Node& n, const BackendOptions& opt) : node_(n), verbose_(opt.verbose) {
    w_ = g.const_of(n.inputs[1]);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) b_ = g.const_of(n.inputs[2]);
    ep_ = QEpilogue::of(n);
    fused_ = !opt.qconv_epilogue && ep_.act == quant::Act::None;  // non-linear activation: own epilogue (qconv_dnnl.cpp)
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const int64_t N = w_.dim(0), K = w_.dim(1);
    OCTET_CHECK(in[0]->rank() >= 1 && in[0]->dim(-1) == K, "QLinear: x's last dim must be K");
    const int64_t M = in[0]->numel() / K;
    memory::desc src({M, K}, dt::s8, tag::ab);
    memory::desc wany({K, N}, dt::s8, tag::any);
    memory::desc dst({M, N}, fused_ ? dt::s8 : dt::s32, tag::ab);
    memory::desc bias = b_.defined() && fused_ ? memory::desc({1, N}, dt::f32, tag::ab) : memory::desc();
    dnnl::matmul::desc d(src, wany, bias, dst);
    dnnl::primitive_attr attr;
    if (fused_) {
      attr.set_output_scales(1 << 1, ep_.multiplier);
      dnnl::post_ops po;
      if (ep_.act_lo != quant::kNoLo || ep_.act_hi != quant::kNoHi)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip_v2, ep_.act_lo, ep_.act_hi);
      attr.set_post_ops(po);
    }
    pd_ = dnnl::matmul::primitive_desc(d, attr, engine());
    note_dnnl_impl("QLinear", pd_.impl_info_str(), verbose_);
    {
      const auto& ex = pd_.weights_desc().data.extra;
      OCTET_CHECK(!(ex.flags & dnnl_memory_extra_flag_scale_adjust) || ex.scale_adjust == 1.f,
                  "oneDNN int8 weights with scale_adjust ", ex.scale_adjust);
    }
    prim_ = dnnl::matmul(pd_);
    memory wsrc(memory::desc({K, N}, dt::s8, tag::ba), engine(), const_cast<void*>(w_.raw()));
    wmem_ = memory(pd_.weights_desc(), engine());
    dnnl::reorder(wsrc, wmem_).execute(stream(), wsrc, wmem_);
    if (!bias.is_zero()) bmem_ = memory(bias, engine(), const_cast<void*>(b_.raw()));
    smem_ = memory(src, engine(), nullptr);
    if (!fused_) {
      acc_.resize(static_cast<size_t>(M * N));
      dmem_ = memory(dst, engine(), acc_.data());
    } else {
      dmem_ = memory(dst, engine(), nullptr);
    }
    // The argument map once: its memory objects share state with smem_/dmem_, whose handles run() sets.
    args_ = {{DNNL_ARG_SRC, smem_}, {DNNL_ARG_WEIGHTS, wmem_}, {DNNL_ARG_DST, dmem_}};
    if (bmem_) args_[DNNL_ARG_BIAS] = bmem_;
    stream().wait();
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    if (fused_) dmem_.set_data_handle(out[0]->raw());
    prim_.execute(stream(), args_);
    stream().wait();
    if (fused_) return;
    const int64_t N = w_.dim(0), M = out[0]->numel() / N;
    epilogue_rows(ep_, acc_.data(), b_.defined() ? b_.data<float>() : nullptr, nullptr, M, N, out[0]->data<int8_t>());
  }

 private:
  Node node_;
  Tensor w_, b_;
  bool fused_ = true;
  QEpilogue ep_;
  bool verbose_ = false;
  std::vector<int32_t> acc_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  memory wmem_, bmem_, smem_, dmem_;
  std::unordered_map<int, memory> args_;
};

}  // namespace

bool qlinear_supported(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1 || g.value(n.inputs[0]).dtype != DType::i8) return false;
  if (!g.is_const(n.inputs[1])) return false;
  const Tensor& w = g.const_of(n.inputs[1]);
  if (w.dtype() != DType::i8 || w.rank() != 2) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    if (!g.is_const(n.inputs[2])) return false;
    const Tensor& b = g.const_of(n.inputs[2]);
    if (b.dtype() != DType::f32 || b.numel() != w.dim(0)) return false;
  }
  return static_cast<int64_t>(n.attr_floats("multiplier").size()) == w.dim(0);
}

std::unique_ptr<Kernel> make_qlinear(const Graph& g, const Node& n, const BackendOptions& opt) {
  return std::make_unique<QLinearDnnl>(g, n, opt);
}

}  // namespace octet::cpu
