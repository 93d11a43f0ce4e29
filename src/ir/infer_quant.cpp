// Shape inference of the internal INT8 ops (placeholder; implemented next).
#include "ir/infer.h"

namespace octet {
#define Q(name) \
  void infer_##name(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
Q(Quantize) Q(Dequantize) Q(QConv) Q(QLinear) Q(QAdd) Q(QMaxPool) Q(QAvgPool) Q(QConcat)
#undef Q
}  // namespace octet
