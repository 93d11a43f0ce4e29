#include "backends/cpu/dnnl_util.h"

namespace octet::cpu {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

bool activation_supported(const PostOp& p) {
  dnnl::post_ops po;
  return append_activation(po, p);
}

bool append_activation(dnnl::post_ops& po, const PostOp& p) {
  using A = dnnl::algorithm;
  switch (p.act) {
    case Activation::None: return true;
    case Activation::Relu: po.append_eltwise(1.f, A::eltwise_relu, 0.f, 0.f); return true;
    case Activation::LeakyRelu: po.append_eltwise(1.f, A::eltwise_relu, p.alpha, 0.f); return true;
    // clip_v2 is min(max(x, lo), hi) with both ends inclusive, like ONNX Clip.
    case Activation::Clip: po.append_eltwise(1.f, A::eltwise_clip_v2, p.alpha, p.beta); return true;
    case Activation::Sigmoid: po.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f); return true;
    case Activation::HardSwish: po.append_eltwise(1.f, A::eltwise_hardswish, 0.f, 0.f); return true;
    case Activation::Silu: po.append_eltwise(1.f, A::eltwise_swish, 1.f, 0.f); return true;  // x * sigmoid(1 * x)
  }
  return false;
}

dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

}  // namespace octet::cpu
