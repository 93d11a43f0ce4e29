// Reference kernels of the internal INT8 ops (placeholder; implemented next).
#include "backends/ref/ref.h"

namespace octet {
#define Q(name) \
  void ref_##name(const OpArgs& a) { fail(a.node.describe(), ": reference kernel not implemented yet"); }
Q(Quantize) Q(Dequantize) Q(QConv) Q(QLinear) Q(QAdd) Q(QMaxPool) Q(QAvgPool) Q(QConcat)
#undef Q
}  // namespace octet
