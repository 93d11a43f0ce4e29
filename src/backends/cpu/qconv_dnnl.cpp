// QConv on oneDNN's int8 convolution (contract: src/ir/qops.h): src s8 NHWC, weights s8 reordered
// once per shape from the OIHW / GOIHW constant into the primitive's layout, bias f32 (accumulator units), dst s8 NHWC with
// per-output-channel output scales, residual as a sum post-op (the residual is copied into dst first), then
// clip_v2(act_lo, act_hi) when either bound is finite.
//
// Bit-exactness with quant::requantize[_residual] (checked by tests/ops/backend_harness_test.cpp):
// - oneDNN 2.6's int8 jit kernels compute  v = float(acc) + bias  (vcvtdq2ps, vaddps with the f32 bias),
//   then v *= scale[k] (vmulps), then the sum post-op  v = fma(float(dst_prev), sum_scale, v)  (vfmadd231ps;
//   a plain vaddps when the scale is 1, the same value), clip (vmaxps/vminps), saturate to [-128, 127],
//   and vcvtps2dq with the default round-to-nearest-even: quant.h's (float(acc) + bias) * mult, then
//   fmaf(residual_scale, r, v), clamp, round-half-even, saturate -- the same operations in the same order.
// - A fused non-linear activation (act attribute) always takes the s32 + own-epilogue route below
//   (requant_act_s32_s8: quant::requantize_act, whose exp oneDNN's eltwise post-ops do not reproduce), and so
//   does its residual, added after the activation (quant::requantize_act_residual: eltwise then sum, the order
//   of oneDNN's post-op list, but with quant.h's exp and one rounding).
// - BackendOptions::qconv_epilogue (OCTET_QCONV_EPILOGUE=1) runs oneDNN with an s32 dst (no bias, scales or post-ops) followed by our own
//   requantize pass (requant_s32_s8, qelementwise.h): the second route to the same bits, kept for tests.
// - s8 sources: oneDNN's VNNI kernels shift src by +128 to u8 and subtract a weight compensation in int32
//   (exact). Without VNNI, oneDNN halves the weights (scale_adjust 0.5) to avoid vpmaddubsw saturation, which
//   is not exact: prepare() refuses that layout and the node falls back to the reference kernel.
// - x_zero_point (quant.h): oneDNN's source zero point (a runtime s32 argument), whose semantics are QConv's:
//   acc = sum w * (x - zp) in int32, with a padded tap counting as the zero point (it adds nothing; oneDNN
//   subtracts a padding compensation per border position), before the float epilogue. Checked bit for bit
//   against ref on padded, strided, grouped and depthwise shapes, both routes (backend_harness_test.cpp).
// - BackendOptions::verbose (OCTET_CPU_VERBOSE=1) prints the oneDNN implementation picked for each int8 primitive (pd.impl_info_str())
//   at prepare; last_dnnl_impl() returns it for tests.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "ir/qops.h"
#include "quant/quant.h"

namespace octet::cpu {

namespace {

std::mutex g_impl_mu;
std::string g_last_impl;

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

}  // namespace

void note_dnnl_impl(const char* op, const std::string& impl, bool verbose) {
  {
    std::lock_guard<std::mutex> lk(g_impl_mu);
    g_last_impl = impl;
  }
  if (verbose) std::fprintf(stderr, "octet cpu: %s -> oneDNN %s\n", op, impl.c_str());
}

std::string last_dnnl_impl() {
  std::lock_guard<std::mutex> lk(g_impl_mu);
  return g_last_impl;
}


void epilogue_rows(const QEpilogue& ep, const int32_t* acc, const float* bias, const int8_t* residual, int64_t rows,
                   int64_t k, int8_t* y) {
  const QRowKernels& kr = q_row_kernels();
  const float* mult = ep.multiplier.data();
  if (ep.act != quant::Act::None) {
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < rows; ++p)
      kr.requant_act_s32_s8(acc + p * k, bias, mult, static_cast<int>(ep.act), ep.act_alpha, ep.inv_out_scale, ep.out_add,
                            residual ? residual + p * k : nullptr, ep.residual_scale, k, y + p * k);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < rows; ++p)
    kr.requant_s32_s8(acc + p * k, bias, mult, residual ? residual + p * k : nullptr, ep.residual_scale, ep.act_lo,
                      ep.act_hi, k, y + p * k);
}

namespace {

class QConvDnnl final : public Kernel {
 public:
  QConvDnnl(const Graph& g, const Node& n, const BackendOptions& opt) : node_(n), verbose_(opt.verbose) {
    w_ = g.const_of(n.inputs[1]);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) b_ = g.const_of(n.inputs[2]);
    residual_ = n.inputs.size() > 3 && n.inputs[3] >= 0;
    ep_ = QEpilogue::of(n);
    xzp_ = zero_point_attr(n, "x_zero_point");
    // A non-linear activation runs in our epilogue (oneDNN's exp is not quant::exp_approx).
    fused_ = !opt.qconv_epilogue && ep_.act == quant::Act::None;
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Shape& x = in[0]->shape();  // N H W C
    const Shape& y = out[0]->shape();  // N OH OW K
    OCTET_CHECK(x.size() == 4 && y.size() == 4, "QConv: 4-D NHWC only");
    const int64_t group = node_.attr_i("group", 1);
    const auto st = node_.attr_ints("strides", {1, 1}), pads = node_.attr_ints("pads", {0, 0, 0, 0}),
               dil = node_.attr_ints("dilations", {1, 1});
    OCTET_CHECK(st.size() == 2 && pads.size() == 4 && dil.size() == 2, "QConv: attributes");
    const int64_t K = w_.dim(0), kh = w_.dim(2), kw = w_.dim(3);
    memory::dims strides{st[0], st[1]}, dl{dil[0] - 1, dil[1] - 1}, pl{pads[0], pads[1]};
    // Right/bottom padding as oneDNN wants it: what the output size actually reaches.
    memory::dims pr{(y[1] - 1) * st[0] + (kh - 1) * dil[0] + 1 - x[1] - pads[0],
                    (y[2] - 1) * st[1] + (kw - 1) * dil[1] + 1 - x[2] - pads[1]};
    memory::dims wd = to_dims(w_.shape());
    if (group > 1) {
      wd[0] /= group;
      wd.insert(wd.begin(), group);
    }
    // The s32 route runs a few images at a time (a divisor of N) so that its s32 buffer stays in L2 between the
    // convolution and the epilogue that reads it back (about 1 MiB; at least one image).
    step_ = x[0];
    if (!fused_) {
      const int64_t per_image = y[1] * y[2] * y[3] * static_cast<int64_t>(sizeof(int32_t));
      for (step_ = x[0]; step_ > 1 && (x[0] % step_ != 0 || step_ * per_image > (int64_t{1} << 20));) --step_;
    }
    memory::desc src({step_, x[3], x[1], x[2]}, dt::s8, tag::nhwc);
    memory::desc dst({step_, y[3], y[1], y[2]}, fused_ ? dt::s8 : dt::s32, tag::nhwc);
    memory::desc wany(wd, dt::s8, tag::any);
    memory::desc bias = b_.defined() && fused_ ? memory::desc({K}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                      wany, bias, dst, strides, dl, pl, pr);
    dnnl::primitive_attr attr;
    if (xzp_ != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (fused_) {
      attr.set_output_scales(1 << 1, ep_.multiplier);
      dnnl::post_ops po;
      if (residual_) po.append_sum(ep_.residual_scale);
      if (ep_.act_lo != quant::kNoLo || ep_.act_hi != quant::kNoHi)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip_v2, ep_.act_lo, ep_.act_hi);
      attr.set_post_ops(po);
    }
    pd_ = dnnl::convolution_forward::primitive_desc(d, attr, engine());
    note_dnnl_impl(group > 1 && group == K && group == x[3] ? (fused_ ? "QConv(depthwise)" : "QConv(depthwise, s32 + epilogue)")
                                                            : (fused_ ? "QConv" : "QConv(s32 + epilogue)"),
                   pd_.impl_info_str(), verbose_);
    {
      const auto& ex = pd_.weights_desc().data.extra;
      OCTET_CHECK(!(ex.flags & dnnl_memory_extra_flag_scale_adjust) || ex.scale_adjust == 1.f,
                  "oneDNN int8 weights with scale_adjust ", ex.scale_adjust);
    }
    prim_ = dnnl::convolution_forward(pd_);
    memory wsrc(memory::desc(wd, dt::s8, group > 1 ? tag::goihw : tag::oihw), engine(), const_cast<void*>(w_.raw()));
    wmem_ = memory(pd_.weights_desc(), engine());
    dnnl::reorder(wsrc, wmem_).execute(stream(), wsrc, wmem_);
    if (!bias.is_zero()) bmem_ = memory(bias, engine(), const_cast<void*>(b_.raw()));
    smem_ = memory(src, engine(), nullptr);
    if (!fused_) {
      acc_.resize(static_cast<size_t>(numel(y) / x[0] * step_));
      dmem_ = memory(dst, engine(), acc_.data());
    } else {
      dmem_ = memory(dst, engine(), nullptr);
    }
    // The argument map once: its memory objects share state with smem_/dmem_, whose handles run() sets.
    args_ = {{DNNL_ARG_SRC, smem_}, {DNNL_ARG_WEIGHTS, wmem_}, {DNNL_ARG_DST, dmem_}};
    if (bmem_) args_[DNNL_ARG_BIAS] = bmem_;
    if (xzp_ != 0) {
      zpmem_ = memory(memory::desc({1}, dt::s32, tag::x), engine(), &xzp_);
      args_[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zpmem_;
    }
    stream().wait();
  }

  // The fused path's dst starts as a copy of the residual: sharing the residual's buffer saves the copy.
  // (The s32 + epilogue path reads each residual element before it writes y at the same index: also in-place safe.)
  int inplace_input() const override { return residual_ ? 3 : -1; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor* r = residual_ ? in[3] : nullptr;
    if (fused_) {
      // The sum post-op accumulates into dst: start it from the residual (already there when in place).
      if (r && r->raw() != out[0]->raw()) std::memcpy(out[0]->raw(), r->raw(), out[0]->nbytes());
      dmem_.set_data_handle(out[0]->raw());
    }
    if (fused_) {
      smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
      prim_.execute(stream(), args_);
      stream().wait();
      return;
    }
    // s32 route: step_ images at a time, each followed by our epilogue (one row of K channels per output pixel).
    const int64_t N = in[0]->dim(0), K = out[0]->dim(3), P = out[0]->numel() / K / N * step_;
    const int64_t x_step = in[0]->numel() / N * step_;
    const float* bias = b_.defined() ? b_.data<float>() : nullptr;
    for (int64_t n0 = 0; n0 < N; n0 += step_) {
      smem_.set_data_handle(const_cast<int8_t*>(in[0]->data<int8_t>()) + n0 / step_ * x_step);
      prim_.execute(stream(), args_);
      stream().wait();
      const int64_t first = n0 / step_ * P * K;  // offset of this step's output (and residual)
      epilogue_rows(ep_, acc_.data(), bias, r ? r->data<int8_t>() + first : nullptr, P, K,
                    out[0]->data<int8_t>() + first);
    }
  }

 private:
  Node node_;
  Tensor w_, b_;
  bool residual_ = false, fused_ = true;
  int64_t step_ = 1;  // images per oneDNN call (the s32 route; all of them when fused)
  int32_t xzp_ = 0;   // x_zero_point (zpmem_ points at it)
  QEpilogue ep_;
  bool verbose_ = false;
  std::vector<int32_t> acc_;  // s32 dst of the epilogue path
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  memory wmem_, bmem_, smem_, dmem_, zpmem_;
  std::unordered_map<int, memory> args_;
};

}  // namespace

bool qconv_supported(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1 || g.value(n.inputs[0]).dtype != DType::i8) return false;
  if (!g.is_const(n.inputs[1])) return false;
  const Tensor& w = g.const_of(n.inputs[1]);
  if (w.dtype() != DType::i8 || w.rank() != 4) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    if (!g.is_const(n.inputs[2])) return false;
    const Tensor& b = g.const_of(n.inputs[2]);
    if (b.dtype() != DType::f32 || b.numel() != w.dim(0)) return false;
  }
  if (n.inputs.size() > 3 && n.inputs[3] >= 0 && g.value(n.inputs[3]).dtype != DType::i8) return false;
  return static_cast<int64_t>(n.attr_floats("multiplier").size()) == w.dim(0);
}

std::unique_ptr<Kernel> make_qconv(const Graph& g, const Node& n, const BackendOptions& opt) {
  return std::make_unique<QConvDnnl>(g, n, opt);
}

}  // namespace octet::cpu
