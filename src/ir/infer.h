// Shape inference with concrete shapes, one function per op (`infer_<Op>`, generated from ops.inc).
//
// Plans are reshaped for concrete input shapes, so inference works on numbers, not symbols. An input
// whose data is known at that point (an initializer, or a value folded from shapes such as
// Shape -> Gather -> Concat) is visible through TensorInfo::value; ops whose output shape depends on
// data (Reshape, Expand, Slice, Pad, Resize, TopK, ...) read it from there and fail with a message
// naming the node when it is not known. An inference function may also compute an output's data
// outright (Shape does) by setting TensorInfo::folded.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"

namespace octet {

struct TensorInfo {
  DType dtype = DType::f32;
  Shape shape;
  const Tensor* value = nullptr;   // inputs: data, when known before run
  std::optional<Tensor> folded;    // outputs: data computed by inference itself
};

struct InferCtx {
  const Node& node;
  std::vector<const TensorInfo*> in;  // nullptr for an omitted optional input
  std::vector<TensorInfo> out;        // one per node output, to be filled

  int num_inputs() const { return static_cast<int>(in.size()); }
  bool has(int i) const { return i < num_inputs() && in[static_cast<size_t>(i)] != nullptr; }
  const TensorInfo& input(int i) const;          // throws naming the node if missing
  const Tensor& const_input(int i, const char* what) const;  // throws if data unknown
  void set(int i, DType dt, Shape s) {
    out[static_cast<size_t>(i)].dtype = dt;
    out[static_cast<size_t>(i)].shape = std::move(s);
  }
};

using InferFn = void (*)(InferCtx&);
InferFn infer_fn(OpType op);

#define OCTET_OP(name, group) void infer_##name(InferCtx&);
#include "ir/ops.inc"
#undef OCTET_OP

// Helpers shared by the per-op functions.
Shape broadcast_shapes(const Node& n, const Shape& a, const Shape& b);
int normalize_axis(const Node& n, int64_t axis, int rank);  // handles negative axes, throws if out of range
void infer_same_as_input0(InferCtx& c);

}  // namespace octet
