// QResize on NHWC int8 (contract: src/ir/qops.h). The per-axis tables (ir/qresize.h) are built once per shape at
// prepare; run copies whole pixels (nearest: one memcpy of C bytes, and a whole output row copied from the row
// above when both read the same source row) or blends 2 x 2 pixels channel by channel with quant::lerp2d
// (linear), rows in parallel. Bit-identical to ref_QResize: the same tables and the same scalar function.
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#include "ir/qresize.h"
#include "quant/quant.h"

namespace octet::cpu {

namespace {

class QResizeK final : public Kernel {
 public:
  explicit QResizeK(const Node& n) : node_(n), linear_(qresize_linear(n)) {}

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Shape& x = in[0]->shape();
    const Shape& y = out[0]->shape();
    OCTET_CHECK(x.size() == 4 && y.size() == 4, "QResize: 4-D NHWC only");
    const std::vector<float> sc = node_.attr_floats("scales");
    th_ = qresize_axis(node_, x[1], y[1], sc[0]);
    tw_ = qresize_axis(node_, x[2], y[2], sc[1]);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor& X = *in[0];
    const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2), C = X.dim(3);
    const int64_t OH = out[0]->dim(1), OW = out[0]->dim(2);
    const int8_t* x = X.data<int8_t>();
    int8_t* y = out[0]->data<int8_t>();
    const int64_t row = OW * C;
    if (!linear_) {
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < N * OH; ++r) {
        const int64_t n = r / OH, oh = r % OH;
        int8_t* yr = y + r * row;
        const int8_t* xr = x + (n * H + th_.i0[static_cast<size_t>(oh)]) * W * C;
        for (int64_t ow = 0; ow < OW; ++ow) std::memcpy(yr + ow * C, xr + tw_.i0[static_cast<size_t>(ow)] * C, static_cast<size_t>(C));
      }
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N * OH; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      const size_t h = static_cast<size_t>(oh);
      const int8_t* x0 = x + (n * H + th_.i0[h]) * W * C;
      const int8_t* x1 = x + (n * H + th_.i1[h]) * W * C;
      const float wy = th_.w1[h];
      int8_t* yr = y + r * row;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const size_t w = static_cast<size_t>(ow);
        const int8_t *a = x0 + tw_.i0[w] * C, *b = x0 + tw_.i1[w] * C, *c = x1 + tw_.i0[w] * C, *d = x1 + tw_.i1[w] * C;
        const float wx = tw_.w1[w];
        int8_t* yp = yr + ow * C;
        for (int64_t ch = 0; ch < C; ++ch) yp[ch] = quant::lerp2d(a[ch], b[ch], c[ch], d[ch], wx, wy);
      }
    }
  }

 private:
  Node node_;
  bool linear_;
  ResizeAxisTable th_, tw_;
};

}  // namespace

bool qresize_supported(const Graph& g, const Node& n) {
  return n.inputs.size() == 1 && n.outputs.size() == 1 && g.value(n.inputs[0]).dtype == DType::i8;
}

std::unique_ptr<Kernel> make_qresize(const Graph&, const Node& n) { return std::make_unique<QResizeK>(n); }

}  // namespace octet::cpu
