// The fast x86 backend: oneDNN for Conv, MatMul/Gemm and pooling (FP32) and for QConv/QLinear/QConvTranspose (INT8), own
// AVX-512 kernels for the other INT8 ops (Quantize, Dequantize, QAdd, QMaxPool, QAvgPool, QConcat); everything
// else runs the reference kernels (the plan reports which). A kernel whose shape-dependent setup oneDNN refuses falls back to the
// reference kernel for that shape instead of failing; so does one whose data input or an output is empty
// (0 elements).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/eltwise.h"
#include "backends/cpu/kernels.h"
#include "backends/ref/ref.h"

#include <cstdlib>

namespace octet {

namespace {

class FallbackKernel final : public Kernel {
 public:
  FallbackKernel(std::unique_ptr<Kernel> fast, const Node& n, bool strict)
      : fast_(std::move(fast)), ref_(make_ref_backend()->create({}, n)), strict_(strict) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    use_ref_ = false;
    why_.clear();
    // oneDNN divides by the sizes of its tensors (SIGFPE on a batch of 0): an empty data input or output, which
    // needs no work or only a fill, takes the reference kernel. (Only input 0: an empty optional input such as
    // Resize's roi is no reason to leave the fast kernel.)
    if (!in.empty() && in[0] && in[0]->numel() == 0) use_ref_ = true;
    for (const Tensor* t : out)
      if (t && t->numel() == 0) use_ref_ = true;
    if (use_ref_) {
      why_ = "empty tensor";
      return;
    }
    try {
      fast_->prepare(in, out);
    } catch (const std::exception& e) {
      // BackendOptions::strict (OCTET_CPU_STRICT=1) turns the silent fallback into an error (the op harness uses
      // it to prove that the fast kernel ran).
      if (strict_) throw;
      use_ref_ = true;
      why_ = std::string("the cpu kernel's setup failed: ") + e.what();
    }
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    (use_ref_ ? ref_ : fast_)->run(in, out);
  }
  // Asked before prepare(), so the reference twin must be in-place safe for the same input too (ref QConv
  // reads residual[o] right before it writes y[o]).
  int inplace_input() const override { return fast_->inplace_input(); }
  std::string fallback_reason() const override { return why_; }

 private:
  std::unique_ptr<Kernel> fast_, ref_;
  bool strict_ = false;
  bool use_ref_ = false;
  std::string why_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& o) : opt_(o) {}
  const char* name() const override { return "cpu"; }
  Layout preferred_layout() const override { return Layout::NHWC; }
  bool supports(const Graph& g, const Node& n) const override {
    switch (n.op) {
      case OpType::Conv: case OpType::ConvNhwc: return cpu::conv_supported(g, n);
      case OpType::ToNhwc: case OpType::ToNchw: return cpu::layout_supported(g, n);
      case OpType::PoolNhwc: return cpu::pool_supported(g, n);
      case OpType::MatMul: case OpType::Gemm: return cpu::matmul_supported(g, n);
      case OpType::MaxPool: case OpType::AveragePool: case OpType::GlobalAveragePool: case OpType::GlobalMaxPool:
        return cpu::pool_supported(g, n);
      case OpType::QConv: return cpu::qconv_supported(g, n);
      case OpType::QLinear: return cpu::qlinear_supported(g, n);
      case OpType::QConvTranspose: return cpu::qdeconv_supported(g, n);
      case OpType::QResize: return cpu::qresize_supported(g, n);
      case OpType::Quantize: case OpType::Dequantize: case OpType::QAdd: case OpType::QConcat: case OpType::QMulGate:
        return cpu::qelementwise_supported(g, n);
      case OpType::QMaxPool: case OpType::QAvgPool: return cpu::qpool_supported(g, n);
      default: return cpu::eltwise_supported(g, n) || cpu::movement_supported(g, n);  // eltwise.h
    }
  }
  std::unique_ptr<Kernel> create(const Graph& g, const Node& n) const override {
    std::unique_ptr<Kernel> k;
    switch (n.op) {
      case OpType::Conv: case OpType::ConvNhwc: k = cpu::make_conv(g, n); break;
      case OpType::ToNhwc: case OpType::ToNchw: k = cpu::make_layout(g, n); break;
      case OpType::PoolNhwc: k = cpu::make_pool(g, n); break;
      case OpType::MatMul: case OpType::Gemm: k = cpu::make_matmul(g, n); break;
      case OpType::QConv: k = cpu::make_qconv(g, n, opt_); break;
      case OpType::QLinear: k = cpu::make_qlinear(g, n, opt_); break;
      case OpType::QConvTranspose: k = cpu::make_qdeconv(g, n, opt_); break;
      case OpType::QResize: k = cpu::make_qresize(g, n); break;
      case OpType::Quantize: case OpType::Dequantize: case OpType::QAdd: case OpType::QConcat: case OpType::QMulGate:
        k = cpu::make_qelementwise(g, n);
        break;
      case OpType::QMaxPool: case OpType::QAvgPool: k = cpu::make_qpool(g, n); break;
      default:
        if (cpu::eltwise_supported(g, n)) k = cpu::make_eltwise(g, n);
        else if (cpu::movement_supported(g, n)) k = cpu::make_movement(g, n);
        else k = cpu::make_pool(g, n);
        break;
    }
    return std::make_unique<FallbackKernel>(std::move(k), n, opt_.strict);
  }

 private:
  BackendOptions opt_;
};;

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) { return std::make_unique<CpuBackend>(options); }

namespace {
const bool kRegistered = (register_backend("cpu", make_cpu_backend), true);
}  // namespace

}  // namespace octet

// Referenced by octet_cpu's link option (-Wl,--undefined=...), so that every program linking octet_cpu keeps
// this object file and its registration above.
extern "C" {
extern const int octet_cpu_backend_anchor;
const int octet_cpu_backend_anchor = 1;
}

namespace octet {

}  // namespace octet
