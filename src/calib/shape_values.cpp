#include "calib/shape_values.h"

namespace octet {

std::vector<char> shape_arithmetic_values(const Graph& g) {
  std::vector<char> shape(g.values.size(), 0);
  // "known": a constant, or computed from constants and shapes only (folded before run).
  std::vector<char> known(g.values.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) {
    known[v] = g.values[v].constant.has_value();
    if (known[v] && g.values[v].dtype != DType::f32) shape[v] = 1;  // integer initializers: axes, indices, shapes
  }
  for (const Node& n : g.nodes) {  // topological order (Graph::finalize)
    bool index_op = n.op == OpType::Shape || n.op == OpType::ArgMax || n.op == OpType::Equal ||
                    n.op == OpType::Greater || n.op == OpType::Less || n.op == OpType::And || n.op == OpType::Or ||
                    n.op == OpType::Not;
    bool all_known = true, any_shape = false;
    for (int in : n.inputs) {
      if (in < 0) continue;
      all_known = all_known && (known[static_cast<size_t>(in)] || shape[static_cast<size_t>(in)]);
      any_shape = any_shape || shape[static_cast<size_t>(in)];
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const int o = n.outputs[k];
      if (o < 0) continue;
      bool s = index_op || (all_known && any_shape) || g.value(o).dtype != DType::f32;
      if (n.op == OpType::TopK && k == 1) s = true;  // indices
      if (n.op == OpType::Cast) {
        const int64_t to = n.attr_i("to", 1);  // ONNX TensorProto: 1 float, 10 float16, 11 double, 16 bfloat16
        s = s || !(to == 1 || to == 10 || to == 11 || to == 16);
      }
      shape[static_cast<size_t>(o)] = s;
      known[static_cast<size_t>(o)] = all_known;
    }
  }
  return shape;
}

}  // namespace octet
