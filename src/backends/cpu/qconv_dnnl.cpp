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
// - Bands (BackendOptions::qconv_band_bytes): where one image's s32 output is larger than L2 (yolox's 208² and
//   104² layers), the s32 route splits each image into bands of output rows and deals them to the threads; a
//   thread runs oneDNN on its band alone (sequential inside octet's parallel region, its own memories, stream
//   and user scratchpad) and then the epilogue on the band's accumulators while they are in its core's L2. The
//   accumulators are the same integers (a band is the same convolution on the input rows it reads, padded only
//   where it reaches the image's border), the epilogue is per element: bit-exact (HarnessInt8.BandedQConv).
// - s8 sources: oneDNN's VNNI kernels shift src by +128 to u8 and subtract a weight compensation in int32
//   (exact). Without VNNI, oneDNN halves the weights (scale_adjust 0.5) to avoid vpmaddubsw saturation, which
//   is not exact: prepare() refuses that layout and the node falls back to the reference kernel.
// - x_zero_point (quant.h): oneDNN's source zero point (a runtime s32 argument), whose semantics are QConv's:
//   acc = sum w * (x - zp) in int32, with a padded tap counting as the zero point (it adds nothing; oneDNN
//   subtracts a padding compensation per border position), before the float epilogue. Checked bit for bit
//   against ref on padded, strided, grouped and depthwise shapes, both routes (backend_harness_test.cpp).
// - BackendOptions::verbose (OCTET_CPU_VERBOSE=1) prints the oneDNN implementation picked for each int8 primitive (pd.impl_info_str())
//   at prepare; last_dnnl_impl() returns it for tests.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <omp.h>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "ir/qops.h"
#include "quant/quant.h"

namespace octet::cpu {

namespace {

std::mutex g_impl_mu;
std::string g_last_impl, g_last_op;

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

}  // namespace

void note_dnnl_impl(const char* op, const std::string& impl, bool verbose) {
  {
    std::lock_guard<std::mutex> lk(g_impl_mu);
    g_last_impl = impl;
    g_last_op = op;
  }
  if (verbose) std::fprintf(stderr, "octet cpu: %s -> oneDNN %s\n", op, impl.c_str());
}

std::string last_dnnl_impl() {
  std::lock_guard<std::mutex> lk(g_impl_mu);
  return g_last_impl;
}

std::string last_dnnl_op() {
  std::lock_guard<std::mutex> lk(g_impl_mu);
  return g_last_op;
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
  QConvDnnl(const Graph& g, const Node& n, const BackendOptions& opt)
      : node_(n), verbose_(opt.verbose), band_bytes_(opt.qconv_band_bytes) {
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
    group_ = node_.attr_i("group", 1);
    const auto st = node_.attr_ints("strides", {1, 1}), pads = node_.attr_ints("pads", {0, 0, 0, 0}),
               dil = node_.attr_ints("dilations", {1, 1});
    OCTET_CHECK(st.size() == 2 && pads.size() == 4 && dil.size() == 2, "QConv: attributes");
    const int64_t kh = w_.dim(2), kw = w_.dim(3);
    sh_ = st[0], sw_ = st[1], ph_ = pads[0], pw_ = pads[1], dh_ = dil[0], dw_ = dil[1];
    // Right padding as oneDNN wants it: what the output size actually reaches.
    pr_w_ = (y[2] - 1) * sw_ + (kw - 1) * dw_ + 1 - x[2] - pw_;
    wd_ = to_dims(w_.shape());
    if (group_ > 1) {
      wd_[0] /= group_;
      wd_.insert(wd_.begin(), group_);
    }
    prims_.clear();
    bands_.clear();
    const int64_t row_bytes = y[2] * y[3] * static_cast<int64_t>(sizeof(int32_t)), per_image = y[1] * row_bytes;
    // The s32 route runs a few images at a time (a divisor of N) so that its s32 buffer stays in L2 between the
    // convolution and the epilogue that reads it back (about 1 MiB; at least one image).
    step_ = x[0];
    if (!fused_) {
      for (step_ = x[0]; step_ > 1 && (x[0] % step_ != 0 || step_ * per_image > (int64_t{1} << 20));) --step_;
    }
    // One image larger than that: bands of output rows, one oneDNN call and one epilogue each (see plan_bands).
    nthr_ = omp_get_max_threads();
    if (!fused_ && band_bytes_ > 0 && per_image > 2 * band_bytes_) plan_bands(x, y, std::max<int64_t>(1, band_bytes_ / row_bytes));
    if (bands_.empty()) {
      add_prim(step_, x[1], y[1], ph_, (y[1] - 1) * sh_ + (kh - 1) * dh_ + 1 - x[1] - ph_, x, y, false);
    } else {
      step_ = 1;
    }
    if (!fused_ && bands_.empty()) {
      acc_.resize(static_cast<size_t>(step_ * y[1] * y[2] * y[3]));
      prims_[0].dmem.set_data_handle(acc_.data());
    } else if (!bands_.empty()) {
      // One s32 block per thread (the largest band), a cache line apart; each thread's memories point at its own.
      int64_t rows = 0;
      for (const Band& b : bands_) rows = std::max(rows, b.rows);
      band_acc_ = (rows * y[2] * y[3] + 15) / 16 * 16;
      acc_.assign(static_cast<size_t>(nthr_ * band_acc_), 0);
      size_t scratch = 0;
      for (const Prim& p : prims_) scratch = std::max(scratch, p.pd.scratchpad_desc().get_size());
      scratch = (scratch + 63) / 64 * 64;
      scratch_.assign(static_cast<size_t>(nthr_) * scratch + 64, 0);
      uint8_t* sbase = scratch_.data() + (64 - reinterpret_cast<uintptr_t>(scratch_.data()) % 64) % 64;
      t_streams_.clear();
      for (int t = 0; t < nthr_; ++t) t_streams_.emplace_back(engine());
      for (Prim& p : prims_) {
        p.t_smem.clear(), p.t_dmem.clear(), p.t_args.clear();
        for (int t = 0; t < nthr_; ++t) {
          p.t_smem.emplace_back(p.pd.src_desc(), engine(), nullptr);
          p.t_dmem.emplace_back(p.pd.dst_desc(), engine(), acc_.data() + static_cast<size_t>(t) * band_acc_);
          std::unordered_map<int, memory> a = p.args;
          a[DNNL_ARG_SRC] = p.t_smem.back();
          a[DNNL_ARG_DST] = p.t_dmem.back();
          a[DNNL_ARG_SCRATCHPAD] = memory(p.pd.scratchpad_desc(), engine(),
                                           sbase + static_cast<size_t>(t) * scratch);
          p.t_args.push_back(std::move(a));
        }
      }
    }
    std::string what = group_ > 1 && group_ == w_.dim(0) && group_ == x[3]
                           ? (fused_ ? "QConv(depthwise)" : "QConv(depthwise, s32 + epilogue")
                           : (fused_ ? "QConv" : "QConv(s32 + epilogue");
    if (!fused_) what += bands_.empty() ? ")" : ", " + std::to_string(bands_.size()) + " bands of " + std::to_string(bands_[0].rows) + " rows)";
    note_dnnl_impl(what.c_str(), prims_[0].pd.impl_info_str(), verbose_);
    // The other band shapes may pick other implementations: a reference one is noted last (tests look for it).
    for (size_t i = 1; i < prims_.size(); ++i)
      if (std::string(prims_[i].pd.impl_info_str()).find("ref") != std::string::npos)
        note_dnnl_impl("QConv(band)", prims_[i].pd.impl_info_str(), verbose_);
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
      Prim& p = prims_[0];
      p.dmem.set_data_handle(out[0]->raw());
      p.smem.set_data_handle(const_cast<void*>(in[0]->raw()));
      p.prim.execute(stream(), p.args);
      stream().wait();
      return;
    }
    const int64_t N = in[0]->dim(0), K = out[0]->dim(3);
    const int64_t x_image = in[0]->numel() / N, y_image = out[0]->numel() / N;
    const float* bias = b_.defined() ? b_.data<float>() : nullptr;
    const int8_t* xd = in[0]->data<int8_t>();
    const int8_t* rd = r ? r->data<int8_t>() : nullptr;
    int8_t* yd = out[0]->data<int8_t>();
    if (!bands_.empty()) {
      // Bands of output rows of all images, taken by the threads one at a time; each thread runs oneDNN on its band
      // alone (sequential inside this parallel region) into its own s32 block, then the epilogue on it while
      // it is still in its core's L2. Pointers at the band's first input / output (and residual) row, NHWC.
      const int64_t x_row = in[0]->dim(2) * in[0]->dim(3), y_row = out[0]->dim(2) * K, OW = out[0]->dim(2);
      const int64_t nb = static_cast<int64_t>(bands_.size()), total = N * nb;
      const QRowKernels& kr = q_row_kernels();
      const float* mult = ep_.multiplier.data();
      // Dynamic: a thread that the OS takes away for a while (a loaded machine) does not hold the others up.
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthr_)
      for (int64_t i = 0; i < total; ++i) {
        {
          const int t = omp_get_thread_num();
          const int64_t n = i / nb;
          const Band& b = bands_[static_cast<size_t>(i % nb)];
          Prim& p = prims_[static_cast<size_t>(b.prim)];
          p.t_smem[static_cast<size_t>(t)].set_data_handle(const_cast<int8_t*>(xd) + n * x_image + b.in0 * x_row);
          dnnl::stream& s = t_streams_[static_cast<size_t>(t)];
          p.prim.execute(s, p.t_args[static_cast<size_t>(t)]);
          s.wait();
          const int32_t* acc = acc_.data() + static_cast<size_t>(t) * band_acc_;
          const int64_t first = n * y_image + b.r0 * y_row, rows = b.rows * OW;
          const int8_t* res = rd ? rd + first : nullptr;
          int8_t* yb = yd + first;
          if (ep_.act != quant::Act::None) {
            for (int64_t q = 0; q < rows; ++q)
              kr.requant_act_s32_s8(acc + q * K, bias, mult, static_cast<int>(ep_.act), ep_.act_alpha, ep_.inv_out_scale,
                                    ep_.out_add, res ? res + q * K : nullptr, ep_.residual_scale, K, yb + q * K);
          } else {
            for (int64_t q = 0; q < rows; ++q)
              kr.requant_s32_s8(acc + q * K, bias, mult, res ? res + q * K : nullptr, ep_.residual_scale, ep_.act_lo,
                                ep_.act_hi, K, yb + q * K);
          }
        }
      }
      return;
    }
    // s32 route: step_ images at a time, each followed by our epilogue (one row of K channels per output pixel).
    Prim& p = prims_[0];
    for (int64_t n0 = 0; n0 < N; n0 += step_) {
      p.smem.set_data_handle(const_cast<int8_t*>(xd) + n0 * x_image);
      p.prim.execute(stream(), p.args);
      stream().wait();
      const int64_t first = n0 * y_image;  // offset of this step's output (and residual)
      epilogue_rows(ep_, acc_.data(), bias, rd ? rd + first : nullptr, step_ * y_image / K, K, yd + first);
    }
  }

 private:
  // A oneDNN convolution over `n` images of `ih` input rows giving `oh` output rows, with top / bottom padding
  // `pt` / `pb` (the width's padding is the node's).
  struct Prim {
    int64_t ih, oh, pt, pb;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    memory wmem, smem, dmem;
    std::unordered_map<int, memory> args;
    // Bands: per thread (each runs its bands alone, oneDNN sequential inside our parallel region) its own source /
    // destination memories, argument map and scratchpad (user mode: no sharing of the library's).
    std::vector<memory> t_smem, t_dmem;
    std::vector<std::unordered_map<int, memory>> t_args;
  };
  // Output rows [r0, r0 + rows) of an image, reading input rows from in0 with prims_[prim].
  struct Band {
    int64_t r0, rows, in0;
    int prim;
  };

  // Bands of `rows` output rows (the last one may be shorter). Output rows [r0, r1) read input rows
  // [r0*sh - pt, (r1-1)*sh - pt + (kh-1)*dh + 1) clipped to the image; what the clipping removes is the band's
  // own top / bottom padding (the first and last band's; a middle band's halo rows are real data, so oneDNN's
  // zero-point padding compensation happens only where the band really is padded). One primitive per distinct
  // (input rows, output rows, top pad, bottom pad): first / middle / last, and a short last band.
  void plan_bands(const Shape& x, const Shape& y, int64_t rows) {
    const int64_t H = x[1], OH = y[1], kext = (w_.dim(2) - 1) * dh_ + 1;
    if (rows >= OH) return;
    std::vector<Band> bands;
    std::vector<std::array<int64_t, 4>> keys;
    for (int64_t r0 = 0; r0 < OH; r0 += rows) {
      const int64_t r1 = std::min(OH, r0 + rows);
      const int64_t want0 = r0 * sh_ - ph_, want1 = (r1 - 1) * sh_ - ph_ + kext;
      const int64_t in0 = std::max<int64_t>(0, want0), in1 = std::min(H, want1);
      if (in1 <= in0) return;  // a band entirely in the padding: keep the whole image in one call
      const std::array<int64_t, 4> key{in1 - in0, r1 - r0, in0 - want0, want1 - in1};
      int k = 0;
      while (k < static_cast<int>(keys.size()) && keys[static_cast<size_t>(k)] != key) ++k;
      if (k == static_cast<int>(keys.size())) keys.push_back(key);
      bands.push_back({r0, r1 - r0, in0, k});
    }
    for (const auto& key : keys) add_prim(1, key[0], key[1], key[2], key[3], x, y, true);
    bands_ = std::move(bands);
  }

  void add_prim(int64_t n, int64_t ih, int64_t oh, int64_t pt, int64_t pb, const Shape& x, const Shape& y, bool banded) {
    Prim p{ih, oh, pt, pb, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    const int64_t K = w_.dim(0);
    memory::desc src({n, x[3], ih, x[2]}, dt::s8, tag::nhwc);
    memory::desc dst({n, y[3], oh, y[2]}, fused_ ? dt::s8 : dt::s32, tag::nhwc);
    memory::desc wany(wd_, dt::s8, tag::any);
    memory::desc bias = b_.defined() && fused_ ? memory::desc({K}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                      wany, bias, dst, {sh_, sw_}, {dh_ - 1, dw_ - 1}, {pt, pw_}, {pb, pr_w_});
    dnnl::primitive_attr attr;
    if (banded) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (xzp_ != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    if (fused_) {
      attr.set_output_scales(1 << 1, ep_.multiplier);
      dnnl::post_ops po;
      if (residual_) po.append_sum(ep_.residual_scale);
      if (ep_.act_lo != quant::kNoLo || ep_.act_hi != quant::kNoHi)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip_v2, ep_.act_lo, ep_.act_hi);
      attr.set_post_ops(po);
    }
    p.pd = dnnl::convolution_forward::primitive_desc(d, attr, engine());
    {
      const auto& ex = p.pd.weights_desc().data.extra;
      OCTET_CHECK(!(ex.flags & dnnl_memory_extra_flag_scale_adjust) || ex.scale_adjust == 1.f,
                  "oneDNN int8 weights with scale_adjust ", ex.scale_adjust);
    }
    p.prim = dnnl::convolution_forward(p.pd);
    // The weights reordered once per layout (band primitives usually share one).
    for (const Prim& q : prims_)
      if (q.pd.weights_desc() == p.pd.weights_desc()) p.wmem = q.wmem;
    if (!p.wmem) {
      memory wsrc(memory::desc(wd_, dt::s8, group_ > 1 ? tag::goihw : tag::oihw), engine(), const_cast<void*>(w_.raw()));
      p.wmem = memory(p.pd.weights_desc(), engine());
      dnnl::reorder(wsrc, p.wmem).execute(stream(), wsrc, p.wmem);
    }
    p.smem = memory(src, engine(), nullptr);
    p.dmem = memory(dst, engine(), nullptr);
    // The argument map once: its memory objects share state with smem/dmem, whose handles run() sets.
    p.args = {{DNNL_ARG_SRC, p.smem}, {DNNL_ARG_WEIGHTS, p.wmem}, {DNNL_ARG_DST, p.dmem}};
    if (!bias.is_zero()) p.args[DNNL_ARG_BIAS] = memory(bias, engine(), const_cast<void*>(b_.raw()));
    if (xzp_ != 0) {
      zpmem_ = memory(memory::desc({1}, dt::s32, tag::x), engine(), &xzp_);
      p.args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zpmem_;
    }
    prims_.push_back(std::move(p));
  }

  Node node_;
  Tensor w_, b_;
  bool residual_ = false, fused_ = true;
  int64_t step_ = 1;  // images per oneDNN call (the s32 route; all of them when fused)
  int32_t xzp_ = 0;   // x_zero_point (zpmem_ points at it)
  QEpilogue ep_;
  bool verbose_ = false;
  int64_t band_bytes_ = 0;  // BackendOptions::qconv_band_bytes
  int64_t group_ = 1, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0, dh_ = 1, dw_ = 1, pr_w_ = 0;
  memory::dims wd_;
  std::vector<int32_t> acc_;  // s32 dst of the epilogue path (one step of images, or the largest band)
  std::vector<Prim> prims_;   // [0]: the whole image(s), or the first band's shape
  std::vector<Band> bands_;   // empty: no bands
  int nthr_ = 1;              // threads of the banded run (omp_get_max_threads() at prepare)
  int64_t band_acc_ = 0;      // s32 elements per thread's block (bands)
  std::vector<uint8_t> scratch_;  // the band primitives' scratchpads, one per thread
  std::vector<dnnl::stream> t_streams_;
  memory zpmem_;
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
