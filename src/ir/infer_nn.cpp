// Shape inference for the Nn ops owned here (placeholder, being filled in).
#include "ir/infer.h"
namespace octet {
void infer_Conv(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_ConvTranspose(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_Gemm(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_MatMul(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_BatchNormalization(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_MaxPool(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_AveragePool(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_GlobalAveragePool(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_GlobalMaxPool(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
void infer_PRelu(InferCtx& c) { fail(c.node.describe(), ": not implemented yet"); }
}  // namespace octet
