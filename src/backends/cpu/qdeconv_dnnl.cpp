// QConvTranspose on oneDNN's int8 deconvolution (contract: src/ir/qops.h): src s8 NHWC, weights s8 reordered once
// per shape from the ONNX [C, K/group, kh, kw] constant (oneDNN's iohw / giohw) into the primitive's layout, dst
// s32 NHWC without bias, scales or post-ops, then octet's own epilogue (epilogue_rows: quant::epilogue per value,
// the same row kernels as QConv's s32 route). The int32 sums are exact in any order, so the result is
// bit-identical to ref_QConvTranspose; a weights layout with oneDNN's scale_adjust (no VNNI: halved weights,
// not exact) is refused at prepare and the node falls back to the reference kernel.
#include <vector>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "ir/qops.h"

namespace octet::cpu {

void epilogue_rows(const QEpilogue& ep, const int32_t* acc, const float* bias, const int8_t* residual, int64_t rows,
                   int64_t k, int8_t* y);

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

class QDeconvDnnl final : public Kernel {
 public:
  QDeconvDnnl(const Graph& g, const Node& n, const BackendOptions& opt) : node_(n), verbose_(opt.verbose) {
    w_ = g.const_of(n.inputs[1]);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) b_ = g.const_of(n.inputs[2]);
    ep_ = QEpilogue::of(n);
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Shape& x = in[0]->shape();   // N H W C
    const Shape& y = out[0]->shape();  // N OH OW K
    OCTET_CHECK(x.size() == 4 && y.size() == 4, "QConvTranspose: 4-D NHWC only");
    const int64_t group = node_.attr_i("group", 1);
    const auto st = node_.attr_ints("strides", {1, 1}), pads = node_.attr_ints("pads", {0, 0, 0, 0}),
               dil = node_.attr_ints("dilations", {1, 1});
    const int64_t C = w_.dim(0), Kg = w_.dim(1), kh = w_.dim(2), kw = w_.dim(3);
    memory::dims wd = group > 1 ? memory::dims{group, Kg, C / group, kh, kw} : memory::dims{Kg, C, kh, kw};
    memory::desc src({x[0], x[3], x[1], x[2]}, dt::s8, tag::nhwc);
    memory::desc dst({y[0], y[3], y[1], y[2]}, dt::s32, tag::nhwc);
    memory::desc wany(wd, dt::s8, tag::any);
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, src,
                                        wany, dst, {st[0], st[1]}, {dil[0] - 1, dil[1] - 1}, {pads[0], pads[1]},
                                        {pads[2], pads[3]});
    pd_ = dnnl::deconvolution_forward::primitive_desc(d, engine());
    note_dnnl_impl("QConvTranspose(s32 + epilogue)", pd_.impl_info_str(), verbose_);
    const auto& ex = pd_.weights_desc().data.extra;
    OCTET_CHECK(!(ex.flags & dnnl_memory_extra_flag_scale_adjust) || ex.scale_adjust == 1.f,
                "oneDNN int8 deconvolution weights with scale_adjust ", ex.scale_adjust);
    prim_ = dnnl::deconvolution_forward(pd_);
    // ONNX's [C, K/group, kh, kw] is oneDNN's iohw (giohw per group: [G, K/G, C/G, kh, kw] read as i-major).
    memory wsrc(memory::desc(wd, dt::s8, group > 1 ? tag::giohw : tag::iohw), engine(), const_cast<void*>(w_.raw()));
    wmem_ = memory(pd_.weights_desc(), engine());
    dnnl::reorder(wsrc, wmem_).execute(stream(), wsrc, wmem_);
    acc_.resize(static_cast<size_t>(numel(y)));
    smem_ = memory(src, engine(), nullptr);
    dmem_ = memory(dst, engine(), acc_.data());
    args_ = {{DNNL_ARG_SRC, smem_}, {DNNL_ARG_WEIGHTS, wmem_}, {DNNL_ARG_DST, dmem_}};
    stream().wait();
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    prim_.execute(stream(), args_);
    stream().wait();
    const int64_t K = out[0]->dim(3);
    epilogue_rows(ep_, acc_.data(), b_.defined() ? b_.data<float>() : nullptr, nullptr, out[0]->numel() / K, K,
                  out[0]->data<int8_t>());
  }

 private:
  Node node_;
  Tensor w_, b_;
  QEpilogue ep_;
  bool verbose_ = false;
  std::vector<int32_t> acc_;
  dnnl::deconvolution_forward::primitive_desc pd_;
  dnnl::deconvolution_forward prim_;
  memory wmem_, smem_, dmem_;
  std::unordered_map<int, memory> args_;
};

}  // namespace

bool qdeconv_supported(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1 || g.value(n.inputs[0]).dtype != DType::i8) return false;
  if (!g.is_const(n.inputs[1])) return false;
  const Tensor& w = g.const_of(n.inputs[1]);
  if (w.dtype() != DType::i8 || w.rank() != 4) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !g.is_const(n.inputs[2])) return false;
  if (n.inputs.size() > 3 && n.inputs[3] >= 0) return false;
  return static_cast<int64_t>(n.attr_floats("multiplier").size()) == w.dim(1) * n.attr_i("group", 1);
}

std::unique_ptr<Kernel> make_qdeconv(const Graph& g, const Node& n, const BackendOptions& opt) {
  return std::make_unique<QDeconvDnnl>(g, n, opt);
}

}  // namespace octet::cpu
