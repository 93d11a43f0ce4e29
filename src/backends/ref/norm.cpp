// Stubs (being implemented).
#include "backends/ref/ref.h"

namespace octet {

void ref_Softmax(const OpArgs&) { fail("ref_Softmax: not implemented yet"); }
void ref_LogSoftmax(const OpArgs&) { fail("ref_LogSoftmax: not implemented yet"); }
void ref_LayerNormalization(const OpArgs&) { fail("ref_LayerNormalization: not implemented yet"); }
void ref_InstanceNormalization(const OpArgs&) { fail("ref_InstanceNormalization: not implemented yet"); }

}  // namespace octet
