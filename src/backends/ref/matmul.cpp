// Reference kernels (placeholder, being filled in).
#include "backends/ref/ref.h"
namespace octet {
void ref_Gemm(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_MatMul(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
}  // namespace octet
