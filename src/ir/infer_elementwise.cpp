// Stubs (being implemented).
#include "ir/infer.h"

namespace octet {

void infer_Relu(InferCtx&) { fail("infer_Relu: not implemented yet"); }
void infer_LeakyRelu(InferCtx&) { fail("infer_LeakyRelu: not implemented yet"); }
void infer_Clip(InferCtx&) { fail("infer_Clip: not implemented yet"); }
void infer_Sigmoid(InferCtx&) { fail("infer_Sigmoid: not implemented yet"); }
void infer_HardSigmoid(InferCtx&) { fail("infer_HardSigmoid: not implemented yet"); }
void infer_HardSwish(InferCtx&) { fail("infer_HardSwish: not implemented yet"); }
void infer_Tanh(InferCtx&) { fail("infer_Tanh: not implemented yet"); }
void infer_Gelu(InferCtx&) { fail("infer_Gelu: not implemented yet"); }
void infer_Mish(InferCtx&) { fail("infer_Mish: not implemented yet"); }
void infer_Elu(InferCtx&) { fail("infer_Elu: not implemented yet"); }
void infer_Softplus(InferCtx&) { fail("infer_Softplus: not implemented yet"); }
void infer_Erf(InferCtx&) { fail("infer_Erf: not implemented yet"); }
void infer_Exp(InferCtx&) { fail("infer_Exp: not implemented yet"); }
void infer_Log(InferCtx&) { fail("infer_Log: not implemented yet"); }
void infer_Neg(InferCtx&) { fail("infer_Neg: not implemented yet"); }
void infer_Abs(InferCtx&) { fail("infer_Abs: not implemented yet"); }
void infer_Sqrt(InferCtx&) { fail("infer_Sqrt: not implemented yet"); }
void infer_Reciprocal(InferCtx&) { fail("infer_Reciprocal: not implemented yet"); }
void infer_Floor(InferCtx&) { fail("infer_Floor: not implemented yet"); }
void infer_Ceil(InferCtx&) { fail("infer_Ceil: not implemented yet"); }
void infer_Not(InferCtx&) { fail("infer_Not: not implemented yet"); }
void infer_Identity(InferCtx&) { fail("infer_Identity: not implemented yet"); }
void infer_Dropout(InferCtx&) { fail("infer_Dropout: not implemented yet"); }
void infer_Add(InferCtx&) { fail("infer_Add: not implemented yet"); }
void infer_Sub(InferCtx&) { fail("infer_Sub: not implemented yet"); }
void infer_Mul(InferCtx&) { fail("infer_Mul: not implemented yet"); }
void infer_Div(InferCtx&) { fail("infer_Div: not implemented yet"); }
void infer_Pow(InferCtx&) { fail("infer_Pow: not implemented yet"); }
void infer_Min(InferCtx&) { fail("infer_Min: not implemented yet"); }
void infer_Max(InferCtx&) { fail("infer_Max: not implemented yet"); }
void infer_Equal(InferCtx&) { fail("infer_Equal: not implemented yet"); }
void infer_Greater(InferCtx&) { fail("infer_Greater: not implemented yet"); }
void infer_Less(InferCtx&) { fail("infer_Less: not implemented yet"); }
void infer_And(InferCtx&) { fail("infer_And: not implemented yet"); }
void infer_Or(InferCtx&) { fail("infer_Or: not implemented yet"); }
void infer_ArgMax(InferCtx&) { fail("infer_ArgMax: not implemented yet"); }
void infer_ReduceMean(InferCtx&) { fail("infer_ReduceMean: not implemented yet"); }
void infer_ReduceMax(InferCtx&) { fail("infer_ReduceMax: not implemented yet"); }
void infer_ReduceMin(InferCtx&) { fail("infer_ReduceMin: not implemented yet"); }
void infer_ReduceSum(InferCtx&) { fail("infer_ReduceSum: not implemented yet"); }
void infer_TopK(InferCtx&) { fail("infer_TopK: not implemented yet"); }
void infer_Softmax(InferCtx&) { fail("infer_Softmax: not implemented yet"); }
void infer_LogSoftmax(InferCtx&) { fail("infer_LogSoftmax: not implemented yet"); }
void infer_LayerNormalization(InferCtx&) { fail("infer_LayerNormalization: not implemented yet"); }
void infer_InstanceNormalization(InferCtx&) { fail("infer_InstanceNormalization: not implemented yet"); }

}  // namespace octet
