#include "ir/infer.h"

namespace octet {

void infer_Where(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Flatten(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Reshape(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Transpose(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Concat(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Split(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Slice(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Squeeze(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Unsqueeze(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Gather(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Shape(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Cast(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Constant(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_ConstantOfShape(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Expand(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Tile(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Range(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Pad(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_Resize(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_QuantizeLinear(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }
void infer_DequantizeLinear(InferCtx& c) { fail(c.node.describe(), ": shape inference not implemented yet"); }

}  // namespace octet
