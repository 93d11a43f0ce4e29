// cpu kernels of the element-wise INT8 ops (contracts: src/ir/qops.h): Quantize (optionally
// NCHW f32 -> NHWC i8), Dequantize (optionally NHWC i8 -> NCHW f32), QAdd and QConcat. The arithmetic is
// in the row kernels (qelementwise.h: AVX-512 or the scalar twins); this file splits tensors into rows and
// threads them with OpenMP. Layout transposes go through a 16-channel x 64-pixel tile on the stack so both
// sides are read and written in runs.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "ir/infer.h"
#include "ir/qops.h"
#include "quant/quant.h"

namespace octet::cpu {

namespace {

constexpr int64_t kChunk = 16384;  // elements per OpenMP task of the flat loops

// Runs f(begin, end) over [0, n) in kChunk pieces, in parallel when there is more than one piece.
template <typename F>
void parallel_chunks(int64_t n, F&& f) {
  const int64_t pieces = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (pieces > 1)
  for (int64_t p = 0; p < pieces; ++p) f(p * kChunk, std::min(n, (p + 1) * kChunk));
}

constexpr int64_t kTileC = 16, kTileW = 64;

class QuantizeK final : public Kernel {
 public:
  explicit QuantizeK(const Node& n) : scale_(n.attr_f("scale", 1.f)), to_nhwc_(n.attr_i("to_nhwc", 0) != 0) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    OCTET_CHECK(!to_nhwc_ || in[0]->rank() == 4, "to_nhwc needs a 4-D input");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    const float* x = in[0]->data<float>();
    int8_t* y = out[0]->data<int8_t>();
    if (!to_nhwc_) {
      parallel_chunks(in[0]->numel(), [&](int64_t b, int64_t e) { k.quantize_f32_s8(x + b, y + b, e - b, scale_); });
      return;
    }
    const int64_t N = in[0]->dim(0), C = in[0]->dim(1), H = in[0]->dim(2), W = in[0]->dim(3);
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h) {
        int8_t tile[kTileC][kTileW];
        for (int64_t w0 = 0; w0 < W; w0 += kTileW) {
          const int64_t wb = std::min(kTileW, W - w0);
          for (int64_t c0 = 0; c0 < C; c0 += kTileC) {
            const int64_t cb = std::min(kTileC, C - c0);
            for (int64_t c = 0; c < cb; ++c)
              k.quantize_f32_s8(x + ((n * C + c0 + c) * H + h) * W + w0, tile[c], wb, scale_);
            int8_t* dst = y + ((n * H + h) * W + w0) * C + c0;
            for (int64_t w = 0; w < wb; ++w)
              for (int64_t c = 0; c < cb; ++c) dst[w * C + c] = tile[c][w];
          }
        }
      }
  }

 private:
  float scale_;
  bool to_nhwc_;
};

class DequantizeK final : public Kernel {
 public:
  explicit DequantizeK(const Node& n)
      : scale_(n.attr_f("scale", 1.f)), to_nchw_(n.attr_i("to_nchw", 0) != 0), zp_(zero_point_attr(n, "zero_point")) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    OCTET_CHECK(!to_nchw_ || in[0]->rank() == 4, "to_nchw needs a 4-D input");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    const int8_t* x = in[0]->data<int8_t>();
    float* y = out[0]->data<float>();
    if (zp_ != 0) {  // a zero point (only where an FP32 layer reads an asymmetric tensor): plain loops
      if (!to_nchw_) {
        parallel_chunks(in[0]->numel(), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = quant::dequantize_zp(x[i], zp_, scale_);
        });
        return;
      }
      const int64_t N = in[0]->dim(0), HW = in[0]->dim(1) * in[0]->dim(2), C = in[0]->dim(3);
#pragma omp parallel for schedule(static) collapse(2)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = 0; p < HW; ++p)
            y[(n * C + c) * HW + p] = quant::dequantize_zp(x[(n * HW + p) * C + c], zp_, scale_);
      return;
    }
    if (!to_nchw_) {
      parallel_chunks(in[0]->numel(), [&](int64_t b, int64_t e) { k.dequantize_s8_f32(x + b, y + b, e - b, scale_); });
      return;
    }
    const int64_t N = in[0]->dim(0), H = in[0]->dim(1), W = in[0]->dim(2), C = in[0]->dim(3);
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h) {
        int8_t tile[kTileC][kTileW];
        for (int64_t w0 = 0; w0 < W; w0 += kTileW) {
          const int64_t wb = std::min(kTileW, W - w0);
          for (int64_t c0 = 0; c0 < C; c0 += kTileC) {
            const int64_t cb = std::min(kTileC, C - c0);
            const int8_t* src = x + ((n * H + h) * W + w0) * C + c0;
            for (int64_t w = 0; w < wb; ++w)
              for (int64_t c = 0; c < cb; ++c) tile[c][w] = src[w * C + c];
            for (int64_t c = 0; c < cb; ++c)
              k.dequantize_s8_f32(tile[c], y + ((n * C + c0 + c) * H + h) * W + w0, wb, scale_);
          }
        }
      }
  }

 private:
  float scale_;
  bool to_nchw_;
  int32_t zp_ = 0;
};

class QAddK final : public Kernel {
 public:
  explicit QAddK(const Node& n)
      : sa_(n.attr_f("scale_a", 1.f)), sb_(n.attr_f("scale_b", 1.f)), lo_(n.attr_f("act_lo", quant::kNoLo)),
        hi_(n.attr_f("act_hi", quant::kNoHi)) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    OCTET_CHECK(in[0]->shape() == in[1]->shape(), "QAdd does not broadcast");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    const int8_t* a = in[0]->data<int8_t>();
    const int8_t* b = in[1]->data<int8_t>();
    int8_t* y = out[0]->data<int8_t>();
    parallel_chunks(out[0]->numel(), [&](int64_t s, int64_t e) { k.add_s8(a + s, b + s, y + s, e - s, sa_, sb_, lo_, hi_); });
  }

 private:
  float sa_, sb_, lo_, hi_;
};

class QMulGateK final : public Kernel {
 public:
  explicit QMulGateK(const Node& n)
      : ratio_(n.attr_f("scale", 1.f)), hard_(n.attr_i("gate_act", 0) == 1), alpha_(n.attr_f("gate_alpha", 0.2f)),
        beta_(n.attr_f("gate_beta", 0.5f)), xzp_(zero_point_attr(n, "x_zero_point")),
        yzp_(zero_point_attr(n, "out_zero_point")) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor& x = *in[0];
    OCTET_CHECK(x.rank() == 4, "QMulGate: 4-D NHWC input");
    per_image_ = in[1]->numel() == x.dim(0) * x.dim(3);
    m_.resize(static_cast<size_t>(x.dim(0) * x.dim(3)));
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    const int64_t N = in[0]->dim(0), HW = in[0]->dim(1) * in[0]->dim(2), C = in[0]->dim(3);
    const float* g = in[1]->data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const float gv = g[per_image_ ? n * C + c : c];
        m_[static_cast<size_t>(n * C + c)] = quant::gate_multiplier(hard_ ? quant::hard_sigmoid(gv, alpha_, beta_) : gv, ratio_);
      }
    const int8_t* x = in[0]->data<int8_t>();
    int8_t* y = out[0]->data<int8_t>();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < N * HW; ++p) k.rescale_ch_s8(x + p * C, m_.data() + p / HW * C, y + p * C, C, xzp_, yzp_);
  }

 private:
  float ratio_;
  bool hard_;
  float alpha_, beta_;
  int32_t xzp_, yzp_;
  bool per_image_ = true;
  std::vector<float> m_;
};

class QConcatK final : public Kernel {
 public:
  explicit QConcatK(const Node& n)
      : node_(n), scales_(n.attr_floats("scales", std::vector<float>(n.inputs.size(), 1.f))) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor& y = *out[0];
    OCTET_CHECK(scales_.size() == in.size(), "QConcat: one scale per input");
    const int axis = normalize_axis(node_, node_.attr_i("axis", 0), y.rank());
    outer_ = 1;
    for (int d = 0; d < axis; ++d) outer_ *= y.dim(d);
    int64_t inner = 1;
    for (int d = axis + 1; d < y.rank(); ++d) inner *= y.dim(d);
    row_.clear();
    for (const Tensor* t : in) row_.push_back(t->dim(axis) * inner);
    yrow_ = y.dim(axis) * inner;
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    int8_t* y = out[0]->data<int8_t>();
    auto piece = [&](size_t i, int64_t o, int64_t b, int64_t e, int64_t off) {
      const int8_t* x = in[i]->data<int8_t>() + o * row_[i];
      int8_t* d = y + o * yrow_ + off;
      if (scales_[i] == 1.f) std::memcpy(d + b, x + b, static_cast<size_t>(e - b));  // rescale by 1 is a copy
      else k.rescale_s8(x + b, d + b, e - b, scales_[i]);
    };
    if (outer_ >= 16) {
#pragma omp parallel for schedule(static)
      for (int64_t o = 0; o < outer_; ++o)
        for (size_t i = 0, off = 0; i < in.size(); off += static_cast<size_t>(row_[i]), ++i)
          piece(i, o, 0, row_[i], static_cast<int64_t>(off));
      return;
    }
    for (int64_t o = 0; o < outer_; ++o)
      for (size_t i = 0, off = 0; i < in.size(); off += static_cast<size_t>(row_[i]), ++i)
        parallel_chunks(row_[i], [&](int64_t b, int64_t e) { piece(i, o, b, e, static_cast<int64_t>(off)); });
  }

 private:
  Node node_;
  std::vector<float> scales_;
  std::vector<int64_t> row_;
  int64_t outer_ = 1, yrow_ = 0;
};

}  // namespace

bool qelementwise_supported(const Graph& g, const Node& n) {
  if (n.outputs.size() != 1) return false;
  if (n.op == OpType::QMulGate)
    return n.inputs.size() == 2 && n.inputs[0] >= 0 && n.inputs[1] >= 0 && g.value(n.inputs[0]).dtype == DType::i8 &&
           g.value(n.inputs[1]).dtype == DType::f32;
  const DType want = n.op == OpType::Quantize ? DType::f32 : DType::i8;
  for (int v : n.inputs)
    if (v < 0 || g.value(v).dtype != want) return false;
  switch (n.op) {
    case OpType::Quantize: case OpType::Dequantize: return n.inputs.size() == 1;
    case OpType::QAdd: return n.inputs.size() == 2;
    case OpType::QConcat:
      return !n.inputs.empty() && (!n.has_attr("scales") || n.attr_floats("scales").size() == n.inputs.size());
    default: return false;
  }
}

std::unique_ptr<Kernel> make_qelementwise(const Graph&, const Node& n) {
  switch (n.op) {
    case OpType::Quantize: return std::make_unique<QuantizeK>(n);
    case OpType::Dequantize: return std::make_unique<DequantizeK>(n);
    case OpType::QAdd: return std::make_unique<QAddK>(n);
    case OpType::QMulGate: return std::make_unique<QMulGateK>(n);
    default: return std::make_unique<QConcatK>(n);
  }
}

}  // namespace octet::cpu
