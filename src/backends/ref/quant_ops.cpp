#include "backends/ref/ref.h"

namespace octet {

void ref_QuantizeLinear(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_DequantizeLinear(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }

}  // namespace octet
