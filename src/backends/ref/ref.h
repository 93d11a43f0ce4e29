// The reference backend: plain loops for every op in ops.inc. It defines correctness — every fast kernel
// is tested against it — and it also folds constants while a plan is built.
//
// Contract of a `ref_<Op>` function: outputs are allocated by the caller with the dtype and shape that
// `infer_<Op>` computed; the kernel reads node attributes and fills the outputs. Inputs are dense row-major
// (NCHW for 4-D). Omitted optional inputs are nullptr. Post-ops set by fusion (Node::post) are applied by
// the ops that can carry them (Conv, ConvTranspose, Gemm, MatMul, Add).
#pragma once

#include <vector>

#include "ir/graph.h"

namespace octet {

struct OpArgs {
  const Node& node;
  std::vector<const Tensor*> in;
  std::vector<Tensor*> out;

  bool has(int i) const { return i < static_cast<int>(in.size()) && in[static_cast<size_t>(i)] != nullptr; }
  const Tensor& input(int i) const { return *in[static_cast<size_t>(i)]; }
  Tensor& output(int i) const { return *out[static_cast<size_t>(i)]; }
};

using RefFn = void (*)(const OpArgs&);
RefFn ref_fn(OpType op);

#define OCTET_OP(name, group) void ref_##name(const OpArgs&);
#include "ir/ops.inc"
#undef OCTET_OP

// Applies n.post.act to one value (the scalar definition the fast kernels must match).
float apply_activation(const PostOp& p, float v);

}  // namespace octet

namespace octet {
// Infers shapes and runs the reference kernel on fully known inputs (constant folding).
// Absent optional inputs are nullptr.
std::vector<Tensor> ref_evaluate(const Node& n, const std::vector<const Tensor*>& in);
}  // namespace octet
