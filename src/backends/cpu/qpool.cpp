// cpu kernels of QMaxPool and QAvgPool (contracts: src/ir/qops.h), NHWC int8. Each output pixel's
// window is clipped to the input here (padding never takes part: it never wins a max and is not summed),
// and the channel vector of the pixel goes to a row kernel (qelementwise.h) that loops over the valid
// pixels. Threads split output rows (n, oh); global pooling splits (n, 256-channel blocks).
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "ir/qops.h"

namespace octet::cpu {

namespace {

// Valid taps j in [0, k) of a window starting at `start` with step `dil` over an input of length `len`.
struct Taps {
  int64_t first = 0, count = 0;
};
Taps clip_taps(int64_t start, int64_t k, int64_t dil, int64_t len) {
  Taps t;
  t.first = start >= 0 ? 0 : (-start + dil - 1) / dil;
  const int64_t end = start >= len ? 0 : std::min(k, (len - 1 - start) / dil + 1);  // one past the last valid tap
  t.count = std::max<int64_t>(0, end - t.first);
  return t;
}

// Taps j in [0, k) with start + j * dil < end (the window starts inside the padded input in floor mode).
int64_t padded_taps(int64_t start, int64_t k, int64_t dil, int64_t end) {
  return start >= end ? 0 : std::min(k, (end - 1 - start) / dil + 1);
}

class QPoolK final : public Kernel {
 public:
  explicit QPoolK(const Node& n)
      : max_(n.op == OpType::QMaxPool), global_(!max_ && n.attr_i("global", 0) != 0),
        include_pad_(n.attr_i("count_include_pad", 0) != 0), mult_(n.attr_f("multiplier", 1.f)),
        zp_(max_ ? 0 : zero_point_attr(n, "x_zero_point")) {
    if (!global_) {
      kernel_ = n.attr_ints("kernel");
      strides_ = n.attr_ints("strides", {1, 1});
      pads_ = n.attr_ints("pads", {0, 0, 0, 0});
      dil_ = n.attr_ints("dilations", {1, 1});
    }
  }
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    OCTET_CHECK(in[0]->rank() == 4 && out[0]->rank() == 4, "QPool: 4-D NHWC only");
    OCTET_CHECK(global_ || (kernel_.size() == 2 && strides_.size() == 2 && pads_.size() == 4 && dil_.size() == 2),
                "QPool: attributes");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const QRowKernels& k = q_row_kernels();
    const int8_t* x = in[0]->data<int8_t>();
    int8_t* y = out[0]->data<int8_t>();
    const int64_t N = in[0]->dim(0), H = in[0]->dim(1), W = in[0]->dim(2), C = in[0]->dim(3);
    const int64_t OH = out[0]->dim(1), OW = out[0]->dim(2);
    if (global_) {
      constexpr int64_t kCb = 256;
      const int64_t cblocks = (C + kCb - 1) / kCb;
      const int32_t count = static_cast<int32_t>(H * W);
#pragma omp parallel for schedule(static) collapse(2)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t cb = 0; cb < cblocks; ++cb) {
          const int64_t c0 = cb * kCb, c = std::min(kCb, C - c0);
          const int8_t* x0 = x + n * H * W * C + c0;
          int8_t* yp = y + n * C + c0;
          if (max_) k.maxpool_s8(x0, H, W, W * C, C, c, yp);
          else k.avgpool_s8(x0, H, W, W * C, C, c, count, -count * zp_, mult_, yp);
        }
      return;
    }
    const int64_t kh = kernel_[0], kw = kernel_[1], sh = strides_[0], sw = strides_[1];
    const int64_t pt = pads_[0], pl = pads_[1], pb = pads_[2], pr = pads_[3], dh = dil_[0], dw = dil_[1];
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = oh * sh - pt;
        const Taps th = clip_taps(h0, kh, dh, H);
        // count_include_pad counts the taps inside the padded input [-pt, H + pb) (all of them in floor mode).
        const int64_t ch_pad = padded_taps(h0, kh, dh, H + pb);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = ow * sw - pl;
          const Taps tw = clip_taps(w0, kw, dw, W);
          int8_t* yp = y + ((n * OH + oh) * OW + ow) * C;
          const bool any = th.count > 0 && tw.count > 0;
          const int8_t* x0 = any ? x + ((n * H + h0 + th.first * dh) * W + w0 + tw.first * dw) * C : x;
          const int64_t nh = any ? th.count : 0, nw = any ? tw.count : 0;
          if (max_) {
            k.maxpool_s8(x0, nh, nw, dh * W * C, dw * C, C, yp);
          } else {
            const int64_t cw_pad = padded_taps(w0, kw, dw, W + pr);
            const int32_t count = static_cast<int32_t>(include_pad_ ? ch_pad * cw_pad : nh * nw);
            // A window with nothing to count averages to 0 (the row kernel's sum 0 * (m / 0) = NaN -> 0 too,
            // but say it here).
            if (count == 0) std::fill(yp, yp + C, int8_t{0});
            else k.avgpool_s8(x0, nh, nw, dh * W * C, dw * C, C, count, static_cast<int32_t>(-nh * nw * zp_), mult_, yp);
          }
        }
      }
  }

 private:
  bool max_, global_, include_pad_;
  float mult_;
  int32_t zp_;  // QAvgPool's x_zero_point: each valid tap adds x - zp
  std::vector<int64_t> kernel_, strides_, pads_, dil_;
};

}  // namespace

bool qpool_supported(const Graph& g, const Node& n) {
  return (n.op == OpType::QMaxPool || n.op == OpType::QAvgPool) && n.inputs.size() == 1 && n.outputs.size() == 1 &&
         g.value(n.inputs[0]).dtype == DType::i8;
}

std::unique_ptr<Kernel> make_qpool(const Graph&, const Node& n) { return std::make_unique<QPoolK>(n); }

}  // namespace octet::cpu
