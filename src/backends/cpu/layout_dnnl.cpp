// ToNhwc / ToNchw (any of f32, i8, u8) as oneDNN reorders: NCHW <-> channels-last transposes.
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"

namespace octet::cpu {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

memory::data_type dnnl_type(DType t) {
  switch (t) {
    case DType::f32: return memory::data_type::f32;
    case DType::i8: return memory::data_type::s8;
    case DType::u8: return memory::data_type::u8;
    case DType::i32: return memory::data_type::s32;
    default: fail("no oneDNN type for ", dtype_name(t));
  }
}

class Transpose4 final : public Kernel {
 public:
  explicit Transpose4(const Node& n) : to_nhwc_(n.op == OpType::ToNhwc) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>&) override {
    const Shape& x = in[0]->shape();
    // Logical dims N, C, H, W; source and destination differ only in the format tag.
    memory::dims d = to_nhwc_ ? memory::dims{x[0], x[1], x[2], x[3]} : memory::dims{x[0], x[3], x[1], x[2]};
    auto t = dnnl_type(in[0]->dtype());
    memory::desc src(d, t, to_nhwc_ ? tag::nchw : tag::nhwc), dst(d, t, to_nhwc_ ? tag::nhwc : tag::nchw);
    smem_ = memory(src, engine(), nullptr);
    dmem_ = memory(dst, engine(), nullptr);
    prim_ = dnnl::reorder(smem_, dmem_);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    dmem_.set_data_handle(out[0]->raw());
    prim_.execute(stream(), smem_, dmem_);
    stream().wait();
  }

 private:
  bool to_nhwc_;
  memory smem_, dmem_;
  dnnl::reorder prim_;
};

}  // namespace

bool layout_supported(const Graph& g, const Node& n) { return true; }
std::unique_ptr<Kernel> make_layout(const Graph&, const Node& n) { return std::make_unique<Transpose4>(n); }

}  // namespace octet::cpu
