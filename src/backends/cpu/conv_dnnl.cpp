// FP32 Conv on oneDNN, for ONNX Conv (NCHW activations) and the internal ConvNhwc (channels-last, explicit
// geometry). Weights are reordered once per shape into the primitive's preferred layout; bias, residual (sum
// post-op) and activation are fused.
#include <cstring>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "ir/window.h"

namespace octet::cpu {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

class ConvF32 final : public Kernel {
 public:
  ConvF32(const Graph& g, const Node& n) : node_(n), nhwc_(n.op == OpType::ConvNhwc) {
    w_ = g.const_of(n.inputs[1]);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) b_ = g.const_of(n.inputs[2]);
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    Shape x = in[0]->shape(), y = out[0]->shape();
    memory::dims strides, dil, pl, pr;
    if (nhwc_) {
      // Logical dims for oneDNN are always N, C, H, W; the format tag says the memory is channels-last.
      x = {x[0], x[3], x[1], x[2]};
      y = {y[0], y[3], y[1], y[2]};
      auto s = node_.attr_ints("strides"), d = node_.attr_ints("dilations"), p = node_.attr_ints("pads");
      for (int i = 0; i < 2; ++i) {
        strides.push_back(s[static_cast<size_t>(i)]);
        dil.push_back(d[static_cast<size_t>(i)] - 1);  // oneDNN counts dilation from 0
        pl.push_back(p[static_cast<size_t>(i)]);
        pr.push_back(p[static_cast<size_t>(i) + 2]);
      }
    } else {
      Shape k(w_.shape().begin() + 2, w_.shape().end());
      Window win = forward_window(node_, x, k, false);
      for (int i = 0; i < win.spatial_rank(); ++i) {
        size_t u = static_cast<size_t>(i);
        strides.push_back(win.strides[u]);
        dil.push_back(win.dilations[u] - 1);
        pl.push_back(win.pad_begin[u]);
        // The end padding oneDNN needs to produce exactly the ONNX output size (floor division).
        pr.push_back((win.out[u] - 1) * win.strides[u] + win.extent(i) - win.in[u] - win.pad_begin[u]);
      }
    }
    int64_t group = node_.attr_i("group", 1);
    memory::dims wd = to_dims(w_.shape());
    if (group > 1) {
      wd[0] /= group;
      wd.insert(wd.begin(), group);
    }
    tag act = nhwc_ ? tag::nhwc : x.size() == 4 ? tag::nchw : x.size() == 3 ? tag::ncw : tag::ncdhw;
    tag wplain = group > 1 ? (x.size() == 4 ? tag::goihw : x.size() == 3 ? tag::goiw : tag::goidhw)
                           : (x.size() == 4 ? tag::oihw : x.size() == 3 ? tag::oiw : tag::oidhw);
    memory::desc src(to_dims(x), dt::f32, act), dst(to_dims(y), dt::f32, act);
    memory::desc wany(wd, dt::f32, tag::any);
    memory::desc bias = b_.defined() ? memory::desc({w_.dim(0)}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                      wany, bias, dst, strides, dil, pl, pr);
    dnnl::post_ops po;
    if (node_.post.residual_input >= 0) po.append_sum(1.f);
    append_activation(po, node_.post);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    pd_ = dnnl::convolution_forward::primitive_desc(d, attr, engine());
    prim_ = dnnl::convolution_forward(pd_);
    memory wsrc(memory::desc(wd, dt::f32, wplain), engine(), const_cast<void*>(w_.raw()));
    wmem_ = memory(pd_.weights_desc(), engine());
    dnnl::reorder(wsrc, wmem_).execute(stream(), wsrc, wmem_);
    if (b_.defined()) bmem_ = memory(bias, engine(), const_cast<void*>(b_.raw()));
    smem_ = memory(src, engine(), nullptr);
    dmem_ = memory(dst, engine(), nullptr);
    stream().wait();
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    if (node_.post.residual_input >= 0) {
      const Tensor* r = in[static_cast<size_t>(node_.post.residual_input)];
      std::memcpy(out[0]->raw(), r->raw(), out[0]->nbytes());
    }
    smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    dmem_.set_data_handle(out[0]->raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, smem_}, {DNNL_ARG_WEIGHTS, wmem_}, {DNNL_ARG_DST, dmem_}};
    if (b_.defined()) args[DNNL_ARG_BIAS] = bmem_;
    prim_.execute(stream(), args);
    stream().wait();
  }

 private:
  Node node_;
  bool nhwc_;
  Tensor w_, b_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory wmem_, bmem_, smem_, dmem_;
};

}  // namespace

bool conv_supported(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || !g.is_const(n.inputs[1]) || g.const_of(n.inputs[1]).dtype() != DType::f32) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !g.is_const(n.inputs[2])) return false;
  if (g.value(n.inputs[0]).dtype != DType::f32) return false;
  int rank = g.const_of(n.inputs[1]).rank();
  if (n.op == OpType::ConvNhwc && rank != 4) return false;
  return rank >= 3 && rank <= 5 && activation_supported(n.post);
}

std::unique_ptr<Kernel> make_conv(const Graph& g, const Node& n) { return std::make_unique<ConvF32>(g, n); }

}  // namespace octet::cpu
