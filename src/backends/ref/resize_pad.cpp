#include "backends/ref/ref.h"

namespace octet {

void ref_Pad(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Resize(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }

}  // namespace octet
