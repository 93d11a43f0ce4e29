#include "backends/ref/propagate.h"

#include <sstream>

#include "backends/ref/ref.h"

namespace octet {

namespace {

// Every shape the plan will allocate for: dims >= 0 and a byte size that fits in 64 bits (a fixed batch of
// 2^62 wrapped around to a tiny buffer before, then crashed).
void check_shape(const Shape& s, DType dt, const std::string& who) {
  if (checked_nbytes(s, dtype_size(dt)) >= 0) return;
  for (int64_t d : s)
    if (d < 0) fail(who, " has a negative dimension in shape ", shape_str(s));
  fail(who, " has shape ", shape_str(s), ": too large, its size in bytes overflows a 64-bit integer");
}

}  // namespace

Propagation propagate(const Graph& g, const std::vector<Shape>& input_shapes) {
  OCTET_CHECK(input_shapes.size() == g.inputs.size(), "the model has ", g.inputs.size(), " inputs, ",
              input_shapes.size(), " shapes given");
  size_t nv = g.values.size();
  Propagation p;
  p.dtype.assign(nv, DType::f32);
  p.shape.assign(nv, Shape{});
  p.data.assign(nv, Tensor());
  p.known.assign(nv, 0);
  std::vector<TensorInfo> info(nv);
  auto set_known = [&](size_t v, const Tensor& t) {
    p.data[v] = t;
    p.known[v] = 1;
    info[v].dtype = p.dtype[v] = t.dtype();
    info[v].shape = p.shape[v] = t.shape();
    info[v].value = &p.data[v];
  };
  for (size_t v = 0; v < nv; ++v)
    if (g.values[v].constant) set_known(v, *g.values[v].constant);
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value& val = g.value(g.inputs[i]);
    const Shape& s = input_shapes[i];
    if (val.has_declared_shape) {
      bool ok = s.size() == val.declared.size();
      for (size_t d = 0; ok && d < s.size(); ++d) ok = val.declared[d].value < 0 || val.declared[d].value == s[d];
      if (!ok) {
        std::ostringstream want;
        for (size_t d = 0; d < val.declared.size(); ++d)
          want << (d ? "x" : "")
               << (val.declared[d].value >= 0 ? std::to_string(val.declared[d].value) : val.declared[d].symbol);
        fail("input '", val.name, "' expects ", want.str(), ", got ", shape_str(s));
      }
    }
    check_shape(s, val.dtype, "input '" + val.name + "'");
    size_t v = static_cast<size_t>(g.inputs[i]);
    info[v].dtype = p.dtype[v] = val.dtype;
    info[v].shape = p.shape[v] = s;
  }
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    InferCtx ctx{n, {}, {}};
    bool all_known = true;
    for (int in : n.inputs) {
      ctx.in.push_back(in < 0 ? nullptr : &info[static_cast<size_t>(in)]);
      if (in >= 0) all_known = all_known && p.known[static_cast<size_t>(in)];
    }
    ctx.out.resize(n.outputs.size());
    infer_fn(n.op)(ctx);
    for (size_t o = 0; o < n.outputs.size(); ++o)
      check_shape(ctx.out[o].folded ? ctx.out[o].folded->shape() : ctx.out[o].shape, ctx.out[o].dtype,
                  n.describe() + ": output '" + g.value(n.outputs[o]).name + "'");
    bool all_folded = true;
    for (auto& o : ctx.out) all_folded = all_folded && o.folded.has_value();
    if (all_known || all_folded) {
      std::vector<Tensor> outs;
      if (all_folded) {
        for (auto& o : ctx.out) outs.push_back(*o.folded);
      } else {
        std::vector<const Tensor*> ins;
        for (int in : n.inputs) ins.push_back(in < 0 ? nullptr : &p.data[static_cast<size_t>(in)]);
        outs = ref_evaluate(n, ins);
      }
      for (size_t o = 0; o < n.outputs.size(); ++o) set_known(static_cast<size_t>(n.outputs[o]), outs[o]);
      continue;
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      size_t v = static_cast<size_t>(n.outputs[o]);
      info[v].dtype = p.dtype[v] = ctx.out[o].dtype;
      info[v].shape = p.shape[v] = ctx.out[o].shape;
    }
    p.exec.push_back(static_cast<int>(ni));
  }
  return p;
}

}  // namespace octet
