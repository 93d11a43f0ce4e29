#include <cmath>

#include "passes/passes.h"

namespace octet {

namespace {

// Conv (constant W, optional constant B) whose only reader is a BatchNormalization with constant params.
bool matches(const Graph& g, const std::vector<std::vector<int>>& consumers, const Node& conv, const Node& bn) {
  if (conv.op != OpType::Conv || bn.op != OpType::BatchNormalization) return false;
  if (bn.inputs.size() < 5 || bn.inputs[0] != conv.outputs[0]) return false;
  int y = conv.outputs[0];
  if (consumers[static_cast<size_t>(y)].size() != 1 || g.is_graph_output(y)) return false;
  if (conv.post.act != Activation::None || conv.post.residual_input >= 0) return false;
  if (!g.is_const(conv.inputs[1]) || (conv.inputs.size() > 2 && conv.inputs[2] >= 0 && !g.is_const(conv.inputs[2])))
    return false;
  if (bn.outputs.size() > 1 || bn.attr_i("training_mode", 0) != 0) return false;
  for (int i = 1; i < 5; ++i)
    if (!g.is_const(bn.inputs[static_cast<size_t>(i)]) || g.const_of(bn.inputs[static_cast<size_t>(i)]).dtype() != DType::f32)
      return false;
  const Tensor& w = g.const_of(conv.inputs[1]);
  int64_t m = w.dim(0);
  if (w.dtype() != DType::f32) return false;
  for (int i = 1; i < 5; ++i)
    if (g.const_of(bn.inputs[static_cast<size_t>(i)]).numel() != m) return false;
  return true;
}

void apply(Graph& g, const std::vector<std::vector<int>>& consumers, Node& conv, Node& bn) {
  const Tensor& w = g.const_of(conv.inputs[1]);
  int64_t m = w.dim(0), per = w.numel() / m;
  auto gamma = g.const_of(bn.inputs[1]).to_f32(), beta = g.const_of(bn.inputs[2]).to_f32();
  auto mean = g.const_of(bn.inputs[3]).to_f32(), var = g.const_of(bn.inputs[4]).to_f32();
  float eps = bn.attr_f("epsilon", 1e-5f);
  Tensor nw = w.clone();
  Tensor nb(DType::f32, {m});
  bool has_b = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
  std::vector<float> b = has_b ? g.const_of(conv.inputs[2]).to_f32() : std::vector<float>(static_cast<size_t>(m), 0.f);
  for (int64_t k = 0; k < m; ++k) {
    size_t kk = static_cast<size_t>(k);
    // double for the scale: the folded weights are what every backend (and calibration) sees.
    double s = static_cast<double>(gamma[kk]) / std::sqrt(static_cast<double>(var[kk]) + eps);
    for (int64_t j = 0; j < per; ++j) nw.data<float>()[k * per + j] = static_cast<float>(w.data<float>()[k * per + j] * s);
    nb.data<float>()[k] = static_cast<float>((b[kk] - mean[kk]) * s + beta[kk]);
  }
  conv.inputs.resize(3);
  const int old_w = conv.inputs[1];
  conv.inputs[1] = g.add_constant(g.unique_name(g.value(conv.inputs[1]).name + "_bnfolded"), nw);
  conv.inputs[2] = g.add_constant(g.unique_name(conv.name + "_bias_bnfolded"), nb);
  conv.post.fused_names.push_back(g.value(conv.outputs[0]).name);
  conv.outputs[0] = bn.outputs[0];
  bn.outputs.clear();  // marks bn dead
  // The unfolded weights, when this conv was their only reader: release them now rather than after the
  // pass, so a model's two FP32 copies never coexist in full.
  if (consumers[static_cast<size_t>(old_w)].size() == 1 && !g.is_graph_output(old_w)) g.value(old_w).constant.reset();
}

}  // namespace

int fold_batchnorm(Graph& g) {
  auto consumers = g.consumers();
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int o : g.nodes[i].outputs) producer[static_cast<size_t>(o)] = static_cast<int>(i);
  int folded = 0;
  for (Node& bn : g.nodes) {
    if (bn.op != OpType::BatchNormalization || bn.inputs.empty() || bn.outputs.empty()) continue;
    int p = producer[static_cast<size_t>(bn.inputs[0])];
    if (p < 0) continue;
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (!matches(g, consumers, conv, bn)) continue;
    apply(g, consumers, conv, bn);
    ++folded;
  }
  std::vector<Node> kept;
  for (Node& n : g.nodes)
    if (!n.outputs.empty()) kept.push_back(std::move(n));
  g.nodes = std::move(kept);
  return folded;
}

}  // namespace octet
