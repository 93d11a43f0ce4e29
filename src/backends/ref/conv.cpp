// Reference kernels (placeholder, being filled in).
#include "backends/ref/ref.h"
namespace octet {
void ref_Conv(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_ConvTranspose(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_BatchNormalization(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_PRelu(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
}  // namespace octet
