#include "backends/ref/ref.h"

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
  }
  return v;
}

}  // namespace octet
