#include "backends/ref/ref.h"

#include "ir/infer.h"

#include <algorithm>
#include <cmath>

namespace octet {

namespace {
constexpr RefFn kRef[] = {
#define OCTET_OP(name, group) &ref_##name,
#include "ir/ops.inc"
#undef OCTET_OP
};
static_assert(sizeof(kRef) / sizeof(kRef[0]) == kOpCount);
}  // namespace

RefFn ref_fn(OpType op) { return kRef[static_cast<int>(op)]; }

float apply_activation(const PostOp& p, float v) {
  switch (p.act) {
    case Activation::None: return v;
    case Activation::Relu: return v > 0.f ? v : 0.f;
    case Activation::Clip: return std::min(std::max(v, p.alpha), p.beta);
    case Activation::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Activation::HardSwish: return v * std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case Activation::LeakyRelu: return v >= 0.f ? v : v * p.alpha;
    case Activation::Silu: return v / (1.f + std::exp(-v));
  }
  return v;
}

std::vector<Tensor> ref_evaluate(const Node& n, const std::vector<const Tensor*>& in) {
  std::vector<TensorInfo> infos(in.size());
  InferCtx ctx{n, {}, {}};
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i]) {
      ctx.in.push_back(nullptr);
      continue;
    }
    infos[i].dtype = in[i]->dtype();
    infos[i].shape = in[i]->shape();
    infos[i].value = in[i];
    ctx.in.push_back(&infos[i]);
  }
  ctx.out.resize(n.outputs.size());
  infer_fn(n.op)(ctx);
  std::vector<Tensor> outs;
  bool all_folded = true;
  for (auto& o : ctx.out) all_folded = all_folded && o.folded.has_value();
  if (all_folded) {
    for (auto& o : ctx.out) outs.push_back(*o.folded);
    return outs;
  }
  std::vector<Tensor*> optr;
  for (auto& o : ctx.out) outs.emplace_back(o.dtype, o.shape);
  for (auto& t : outs) optr.push_back(&t);
  ref_fn(n.op)(OpArgs{n, in, optr});
  return outs;
}

}  // namespace octet
