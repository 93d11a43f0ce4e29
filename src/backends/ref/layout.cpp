// Reference kernels of the internal channels-last ops: transpose to NCHW, run the NCHW reference kernel of
// the equivalent ONNX op, transpose back. Slow and obviously right — the oracle for the cpu kernels.
#include <cstring>

#include "backends/ref/ref.h"
#include "ir/infer.h"

namespace octet {

namespace {

// dst[n, perm-order] from src; perm maps dst dims to src dims (4-D, any dtype).
void transpose4(const Tensor& src, Tensor& dst, const int perm[4]) {
  const Shape& s = src.shape();
  size_t es = dtype_size(src.dtype());
  int64_t sstride[4] = {s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
  const Shape& d = dst.shape();
  const char* in = static_cast<const char*>(src.raw());
  char* out = static_cast<char*>(dst.raw());
  int64_t i = 0;
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b)
      for (int64_t c = 0; c < d[2]; ++c)
        for (int64_t e = 0; e < d[3]; ++e, ++i) {
          int64_t idx[4] = {a, b, c, e};
          int64_t off = 0;
          for (int k = 0; k < 4; ++k) off += idx[k] * sstride[perm[k]];
          std::memcpy(out + i * static_cast<int64_t>(es), in + off * static_cast<int64_t>(es), es);
        }
}

constexpr int kToNhwc[4] = {0, 2, 3, 1};
constexpr int kToNchw[4] = {0, 3, 1, 2};

Tensor to_nchw(const Tensor& x) {
  const Shape& s = x.shape();
  Tensor t(x.dtype(), {s[0], s[3], s[1], s[2]});
  transpose4(x, t, kToNchw);
  return t;
}

// Runs the NCHW op `n` on NCHW copies of the NHWC inputs (those in `nhwc`), writing NHWC output 0.
void run_as_nchw(const Node& n, const OpArgs& a, const std::vector<bool>& nhwc) {
  std::vector<Tensor> keep;
  keep.reserve(a.in.size());  // pointers into `keep` are taken as it grows
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < a.in.size(); ++i) {
    if (!a.in[i] || !nhwc[i]) {
      ins.push_back(a.in[i]);
      continue;
    }
    keep.push_back(to_nchw(*a.in[i]));
    ins.push_back(&keep.back());
  }
  std::vector<Tensor> outs = ref_evaluate(n, ins);
  transpose4(outs[0], a.output(0), kToNhwc);
}

}  // namespace

void ref_ToNhwc(const OpArgs& a) { transpose4(a.input(0), a.output(0), kToNhwc); }
void ref_ToNchw(const OpArgs& a) { transpose4(a.input(0), a.output(0), kToNchw); }

void ref_ConvNhwc(const OpArgs& a) {
  Node n = a.node;
  n.op = OpType::Conv;
  n.attrs.erase("mode");
  std::vector<bool> nhwc(a.in.size(), false);
  nhwc[0] = true;
  if (a.in.size() > 3) nhwc[3] = true;  // residual
  run_as_nchw(n, a, nhwc);
}

void ref_PoolNhwc(const OpArgs& a) {
  Node n = a.node;
  bool max = n.attr_s("mode", "max") == "max";
  if (n.attr_i("global", 0)) {
    n.op = max ? OpType::GlobalMaxPool : OpType::GlobalAveragePool;
  } else {
    n.op = max ? OpType::MaxPool : OpType::AveragePool;
    n.attrs["kernel_shape"] = n.attrs.at("kernel");
    if (!max) n.attrs.erase("dilations");
  }
  run_as_nchw(n, a, std::vector<bool>{true});
}

}  // namespace octet
