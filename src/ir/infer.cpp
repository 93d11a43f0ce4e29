#include "ir/infer.h"

#include <algorithm>

namespace octet {

namespace {
constexpr InferFn kInfer[] = {
#define OCTET_OP(name, group) &infer_##name,
#include "ir/ops.inc"
#undef OCTET_OP
};
static_assert(sizeof(kInfer) / sizeof(kInfer[0]) == kOpCount);
}  // namespace

InferFn infer_fn(OpType op) { return kInfer[static_cast<int>(op)]; }

const TensorInfo& InferCtx::input(int i) const {
  OCTET_CHECK(has(i), node.describe(), ": required input ", i, " is missing");
  return *in[static_cast<size_t>(i)];
}

const Tensor& InferCtx::const_input(int i, const char* what) const {
  const TensorInfo& t = input(i);
  OCTET_CHECK(t.value != nullptr, node.describe(), ": its ", what,
              " (input ", i, ") is computed from data at run time; octet needs it known when the plan is built");
  return *t.value;
}

Shape broadcast_shapes(const Node& n, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    OCTET_CHECK(da == db || da == 1 || db == 1, n.describe(), ": shapes ", shape_str(a), " and ", shape_str(b),
                " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_axis(const Node& n, int64_t axis, int rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  OCTET_CHECK(a >= 0 && a < std::max(rank, 1), n.describe(), ": axis ", axis, " is out of range for rank ", rank);
  return static_cast<int>(a);
}

void infer_same_as_input0(InferCtx& c) {
  const TensorInfo& x = c.input(0);
  for (auto& o : c.out) {
    o.dtype = x.dtype;
    o.shape = x.shape;
  }
}

}  // namespace octet
