// Stubs (being implemented).
#include "backends/ref/ref.h"

namespace octet {

void ref_ArgMax(const OpArgs&) { fail("ref_ArgMax: not implemented yet"); }
void ref_ReduceMean(const OpArgs&) { fail("ref_ReduceMean: not implemented yet"); }
void ref_ReduceMax(const OpArgs&) { fail("ref_ReduceMax: not implemented yet"); }
void ref_ReduceMin(const OpArgs&) { fail("ref_ReduceMin: not implemented yet"); }
void ref_ReduceSum(const OpArgs&) { fail("ref_ReduceSum: not implemented yet"); }
void ref_TopK(const OpArgs&) { fail("ref_TopK: not implemented yet"); }

}  // namespace octet
