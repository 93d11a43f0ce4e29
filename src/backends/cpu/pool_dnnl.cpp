// FP32 MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool on oneDNN pooling, NCHW.
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernels.h"
#include "ir/window.h"

namespace octet::cpu {

namespace {

using dnnl::memory;
using dt = memory::data_type;

class PoolF32 final : public Kernel {
 public:
  explicit PoolF32(const Node& n) : node_(n) {}

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    Shape x = in[0]->shape(), y = out[0]->shape();
    OCTET_CHECK(x.size() >= 3 && x.size() <= 5, "rank");
    memory::dims k, strides, pl, pr;
    bool nhwc = node_.op == OpType::PoolNhwc;
    bool global = node_.op == OpType::GlobalAveragePool || node_.op == OpType::GlobalMaxPool ||
                  (nhwc && node_.attr_i("global", 0));
    if (nhwc) {
      x = {x[0], x[3], x[1], x[2]};  // logical N, C, H, W for oneDNN; the tag says channels-last
      y = {y[0], y[3], y[1], y[2]};
    }
    if (nhwc && !global) {
      auto ks = node_.attr_ints("kernel"), s = node_.attr_ints("strides"), p = node_.attr_ints("pads"),
           d = node_.attr_ints("dilations", {1, 1});
      for (size_t i = 0; i < 2; ++i) {
        OCTET_CHECK(d[i] == 1, "dilated pooling");
        k.push_back(ks[i]);
        strides.push_back(s[i]);
        pl.push_back(p[i]);
        // oneDNN wants the end padding that yields the output size; ceil_mode windows were resolved already.
        pr.push_back((y[i + 2] - 1) * s[i] + ks[i] - x[i + 2] - p[i]);
        OCTET_CHECK(!(node_.attr_s("mode", "max") == "avg" && node_.attr_i("count_include_pad", 0) && pr.back() != p[i + 2]),
                    "ceil_mode with count_include_pad");
      }
    } else if (global) {
      for (size_t i = 2; i < x.size(); ++i) {
        k.push_back(x[i]);
        strides.push_back(1);
        pl.push_back(0);
        pr.push_back(0);
      }
    } else {
      Shape ks = node_.attr_ints("kernel_shape");
      Window w = forward_window(node_, x, ks, true);
      for (int i = 0; i < w.spatial_rank(); ++i) {
        size_t u = static_cast<size_t>(i);
        OCTET_CHECK(w.dilations[u] == 1, "dilated pooling");
        k.push_back(w.kernel[u]);
        strides.push_back(w.strides[u]);
        pl.push_back(w.pad_begin[u]);
        pr.push_back((w.out[u] - 1) * w.strides[u] + w.kernel[u] - w.in[u] - w.pad_begin[u]);
        // Extra end padding (ceil_mode) would be counted by count_include_pad: leave that case to ref.
        OCTET_CHECK(!(node_.op == OpType::AveragePool && node_.attr_i("count_include_pad", 0) &&
                      pr.back() != w.pad_end[u]),
                    "ceil_mode with count_include_pad");
      }
    }
    bool is_max = node_.op == OpType::MaxPool || node_.op == OpType::GlobalMaxPool ||
                  (nhwc && node_.attr_s("mode", "max") == "max");
    auto alg = is_max ? dnnl::algorithm::pooling_max
               : node_.attr_i("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                                       : dnnl::algorithm::pooling_avg_exclude_padding;
    auto plain = nhwc ? memory::format_tag::nhwc : x.size() == 4 ? memory::format_tag::nchw : x.size() == 3 ? memory::format_tag::ncw
                                                                           : memory::format_tag::ncdhw;
    memory::desc src(to_dims(x), dt::f32, plain), dst(to_dims(y), dt::f32, plain);
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, dst, strides, k, pl, pr);
    pd_ = dnnl::pooling_forward::primitive_desc(d, engine());
    prim_ = dnnl::pooling_forward(pd_);
    smem_ = memory(src, engine(), nullptr);
    dmem_ = memory(dst, engine(), nullptr);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    smem_.set_data_handle(const_cast<void*>(in[0]->raw()));
    dmem_.set_data_handle(out[0]->raw());
    prim_.execute(stream(), {{DNNL_ARG_SRC, smem_}, {DNNL_ARG_DST, dmem_}});
    stream().wait();
  }

 private:
  Node node_;
  dnnl::pooling_forward::primitive_desc pd_;
  dnnl::pooling_forward prim_;
  memory smem_, dmem_;
};

}  // namespace

bool pool_supported(const Graph& g, const Node& n) {
  return n.outputs.size() == 1 && g.value(n.inputs[0]).dtype == DType::f32;
}

std::unique_ptr<Kernel> make_pool(const Graph&, const Node& n) { return std::make_unique<PoolF32>(n); }

}  // namespace octet::cpu
