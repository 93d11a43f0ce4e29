// Reference kernels (placeholder, being filled in).
#include "backends/ref/ref.h"
namespace octet {
void ref_MaxPool(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_AveragePool(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_GlobalAveragePool(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_GlobalMaxPool(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
}  // namespace octet
