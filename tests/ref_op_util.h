// One reference op run on its own, as a plan would run it (infer_X for the output, then ref_X): the oracle
// that the op-level tests of every backend compare against. Header-only: only test binaries that link the
// ref backend include it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backends/ref/ref.h"
#include "ir/infer.h"

namespace octet::test {

inline Node make_node(OpType op, std::map<std::string, Attr> attrs = {}) {
  Node n;
  n.op = op;
  n.name = std::string("t_") + op_name(op);
  n.attrs = std::move(attrs);
  n.outputs.push_back(0);
  return n;
}

// infer_X then ref_X; nullptr inputs are omitted optional inputs.
inline Tensor run_ref(const Node& n, std::vector<const Tensor*> in) {
  std::vector<TensorInfo> infos(in.size());
  InferCtx ctx{n, {}, {}};
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i]) infos[i] = TensorInfo{in[i]->dtype(), in[i]->shape(), in[i], {}};
    ctx.in.push_back(in[i] ? &infos[i] : nullptr);
  }
  ctx.out.resize(1);
  infer_fn(n.op)(ctx);
  Tensor y(ctx.out[0].dtype, ctx.out[0].shape);
  ref_fn(n.op)(OpArgs{n, in, {&y}});
  return y;
}

}  // namespace octet::test
