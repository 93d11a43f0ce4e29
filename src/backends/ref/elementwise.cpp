// Stubs (being implemented).
#include "backends/ref/ref.h"

namespace octet {

void ref_Relu(const OpArgs&) { fail("ref_Relu: not implemented yet"); }
void ref_LeakyRelu(const OpArgs&) { fail("ref_LeakyRelu: not implemented yet"); }
void ref_Clip(const OpArgs&) { fail("ref_Clip: not implemented yet"); }
void ref_Sigmoid(const OpArgs&) { fail("ref_Sigmoid: not implemented yet"); }
void ref_HardSigmoid(const OpArgs&) { fail("ref_HardSigmoid: not implemented yet"); }
void ref_HardSwish(const OpArgs&) { fail("ref_HardSwish: not implemented yet"); }
void ref_Tanh(const OpArgs&) { fail("ref_Tanh: not implemented yet"); }
void ref_Gelu(const OpArgs&) { fail("ref_Gelu: not implemented yet"); }
void ref_Mish(const OpArgs&) { fail("ref_Mish: not implemented yet"); }
void ref_Elu(const OpArgs&) { fail("ref_Elu: not implemented yet"); }
void ref_Softplus(const OpArgs&) { fail("ref_Softplus: not implemented yet"); }
void ref_Erf(const OpArgs&) { fail("ref_Erf: not implemented yet"); }
void ref_Exp(const OpArgs&) { fail("ref_Exp: not implemented yet"); }
void ref_Log(const OpArgs&) { fail("ref_Log: not implemented yet"); }
void ref_Neg(const OpArgs&) { fail("ref_Neg: not implemented yet"); }
void ref_Abs(const OpArgs&) { fail("ref_Abs: not implemented yet"); }
void ref_Sqrt(const OpArgs&) { fail("ref_Sqrt: not implemented yet"); }
void ref_Reciprocal(const OpArgs&) { fail("ref_Reciprocal: not implemented yet"); }
void ref_Floor(const OpArgs&) { fail("ref_Floor: not implemented yet"); }
void ref_Ceil(const OpArgs&) { fail("ref_Ceil: not implemented yet"); }
void ref_Not(const OpArgs&) { fail("ref_Not: not implemented yet"); }
void ref_Identity(const OpArgs&) { fail("ref_Identity: not implemented yet"); }
void ref_Dropout(const OpArgs&) { fail("ref_Dropout: not implemented yet"); }
void ref_Add(const OpArgs&) { fail("ref_Add: not implemented yet"); }
void ref_Sub(const OpArgs&) { fail("ref_Sub: not implemented yet"); }
void ref_Mul(const OpArgs&) { fail("ref_Mul: not implemented yet"); }
void ref_Div(const OpArgs&) { fail("ref_Div: not implemented yet"); }
void ref_Pow(const OpArgs&) { fail("ref_Pow: not implemented yet"); }
void ref_Min(const OpArgs&) { fail("ref_Min: not implemented yet"); }
void ref_Max(const OpArgs&) { fail("ref_Max: not implemented yet"); }
void ref_Equal(const OpArgs&) { fail("ref_Equal: not implemented yet"); }
void ref_Greater(const OpArgs&) { fail("ref_Greater: not implemented yet"); }
void ref_Less(const OpArgs&) { fail("ref_Less: not implemented yet"); }
void ref_And(const OpArgs&) { fail("ref_And: not implemented yet"); }
void ref_Or(const OpArgs&) { fail("ref_Or: not implemented yet"); }

}  // namespace octet
