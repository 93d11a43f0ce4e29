#include "backends/ref/ref.h"

namespace octet {

void ref_Where(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Flatten(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Reshape(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Transpose(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Concat(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Split(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Slice(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Squeeze(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Unsqueeze(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Gather(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Shape(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Cast(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Constant(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_ConstantOfShape(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Expand(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Tile(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }
void ref_Range(const OpArgs& a) { fail(a.node.describe(), ": not implemented yet"); }

}  // namespace octet
