#include <cmath>

#include "passes/passes.h"

namespace octet {

namespace {

bool is_conv(OpType op) { return op == OpType::Conv || op == OpType::ConvTranspose; }

// Output channels of a Conv (W [M, C/group, k...]) or ConvTranspose (W [C, M/group, k...]) with weights w.
int64_t out_channels(const Node& conv, const Tensor& w) {
  return conv.op == OpType::ConvTranspose ? w.dim(1) * conv.attr_i("group", 1) : w.dim(0);
}
// The output channel weight element e (flat index into w) contributes to.
int64_t out_channel_of(const Node& conv, const Tensor& w, int64_t e) {
  if (conv.op != OpType::ConvTranspose) return e / (w.numel() / w.dim(0));
  const int64_t G = conv.attr_i("group", 1), C = w.dim(0), Mg = w.dim(1), taps = w.numel() / (C * Mg);
  return e / (Mg * taps) / (C / G) * Mg + e / taps % Mg;
}

// Conv (constant W, optional constant B) whose only reader is a BatchNormalization with constant params.
bool matches(const Graph& g, const std::vector<std::vector<int>>& consumers, const Node& conv, const Node& bn) {
  if (!is_conv(conv.op) || bn.op != OpType::BatchNormalization) return false;
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
  if (w.dtype() != DType::f32 || w.rank() < 3) return false;
  if (conv.op == OpType::ConvTranspose && (conv.attr_i("group", 1) < 1 || w.dim(0) % conv.attr_i("group", 1) != 0))
    return false;
  int64_t m = out_channels(conv, w);
  for (int i = 1; i < 5; ++i)
    if (g.const_of(bn.inputs[static_cast<size_t>(i)]).numel() != m) return false;
  return true;
}

void apply(Graph& g, const std::vector<std::vector<int>>& consumers, Node& conv, Node& bn) {
  const Tensor& w = g.const_of(conv.inputs[1]);
  int64_t m = out_channels(conv, w);
  auto gamma = g.const_of(bn.inputs[1]).to_f32(), beta = g.const_of(bn.inputs[2]).to_f32();
  auto mean = g.const_of(bn.inputs[3]).to_f32(), var = g.const_of(bn.inputs[4]).to_f32();
  float eps = bn.attr_f("epsilon", 1e-5f);
  Tensor nw = w.clone();
  Tensor nb(DType::f32, {m});
  bool has_b = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
  std::vector<float> b = has_b ? g.const_of(conv.inputs[2]).to_f32() : std::vector<float>(static_cast<size_t>(m), 0.f);
  std::vector<double> scale(static_cast<size_t>(m));
  for (int64_t k = 0; k < m; ++k) {
    size_t kk = static_cast<size_t>(k);
    // double for the scale: the folded weights are what every backend (and calibration) sees.
    double s = static_cast<double>(gamma[kk]) / std::sqrt(static_cast<double>(var[kk]) + eps);
    scale[kk] = s;
    nb.data<float>()[k] = static_cast<float>((b[kk] - mean[kk]) * s + beta[kk]);
  }
  for (int64_t e = 0; e < w.numel(); ++e)
    nw.data<float>()[e] = static_cast<float>(w.data<float>()[e] * scale[static_cast<size_t>(out_channel_of(conv, w, e))]);
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

// Per-output-channel values of constant `c` read as an operand broadcast against a Conv output of rank `rank`
// with m channels (scalar, or a shape that is 1 everywhere but the channel axis), or empty when it is not one.
std::vector<float> per_channel(const Graph& g, int c, int64_t m, int64_t rank) {
  if (c < 0 || !g.is_const(c) || g.const_of(c).dtype() != DType::f32) return {};
  const Tensor& t = g.const_of(c);
  std::vector<float> v = t.to_f32();
  if (t.numel() == 1) return std::vector<float>(static_cast<size_t>(m), v[0]);
  if (t.numel() != m || t.rank() > rank) return {};
  const int64_t ch = 1 - (rank - t.rank());  // the channel axis (1 of the output) in t's dimensions
  if (ch < 0) return {};
  for (int64_t d = 0; d < t.rank(); ++d)
    if (t.dim(d) != (d == ch ? m : 1)) return {};
  return v;
}

// Conv -> Mul(per-channel constant) and/or -> Add(per-channel constant): a BatchNormalization exported as
// arithmetic (paddle2onnx, PP-OCR), folded into the conv's weights and bias like a BatchNormalization, so the
// activation after it fuses into the conv. Repeats until nothing changes.
int fold_channel_affine(Graph& g) {
  int folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    auto consumers = g.consumers();
    std::vector<int> producer(g.values.size(), -1);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (int o : g.nodes[i].outputs) producer[static_cast<size_t>(o)] = static_cast<int>(i);
    for (Node& op : g.nodes) {
      if ((op.op != OpType::Mul && op.op != OpType::Add) || op.inputs.size() != 2 || op.outputs.size() != 1) continue;
      for (int side = 0; side < 2; ++side) {
        const int y = op.inputs[static_cast<size_t>(side)], c = op.inputs[static_cast<size_t>(1 - side)];
        const int p = y >= 0 ? producer[static_cast<size_t>(y)] : -1;
        if (p < 0) continue;
        Node& conv = g.nodes[static_cast<size_t>(p)];
        if (!is_conv(conv.op) || conv.outputs.size() != 1 || conv.outputs[0] != y) continue;
        if (consumers[static_cast<size_t>(y)].size() != 1 || g.is_graph_output(y)) continue;
        if (conv.post.act != Activation::None || conv.post.residual_input >= 0) continue;
        if (conv.inputs.size() < 2 || !g.is_const(conv.inputs[1]) ||
            (conv.inputs.size() > 2 && conv.inputs[2] >= 0 && !g.is_const(conv.inputs[2])))
          continue;
        const Tensor& w = g.const_of(conv.inputs[1]);
        if (w.dtype() != DType::f32 || w.rank() < 3) continue;
        if (conv.op == OpType::ConvTranspose && (conv.attr_i("group", 1) < 1 || w.dim(0) % conv.attr_i("group", 1) != 0))
          continue;
        const int64_t m = out_channels(conv, w);
        std::vector<float> k = per_channel(g, c, m, w.rank());
        if (k.empty()) continue;
        const bool has_b = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
        std::vector<float> b = has_b ? g.const_of(conv.inputs[2]).to_f32() : std::vector<float>(static_cast<size_t>(m), 0.f);
        Tensor nb(DType::f32, {m});
        Tensor nw = op.op == OpType::Mul ? w.clone() : w;
        for (int64_t j = 0; j < m; ++j) {
          const size_t jj = static_cast<size_t>(j);
          nb.data<float>()[j] = op.op == OpType::Mul ? b[jj] * k[jj] : b[jj] + k[jj];
        }
        if (op.op == OpType::Mul)
          for (int64_t e = 0; e < w.numel(); ++e)
            nw.data<float>()[e] = w.data<float>()[e] * k[static_cast<size_t>(out_channel_of(conv, w, e))];
        conv.inputs.resize(3);
        if (op.op == OpType::Mul)
          conv.inputs[1] = g.add_constant(g.unique_name(g.value(conv.inputs[1]).name + "_affine"), nw);
        conv.inputs[2] = g.add_constant(g.unique_name(conv.name + "_bias_affine"), nb);
        // No fused_names entry: the affine is part of the conv's linear op now (the quantizer counts fused_names
        // as fused activation / residual nodes).
        conv.outputs[0] = op.outputs[0];
        op.outputs.clear();
        op.inputs.clear();
        ++folded;
        changed = true;
        break;
      }
      if (changed) break;  // producers and consumers changed: recompute
    }
    if (changed) {
      std::vector<Node> kept;
      for (Node& n : g.nodes)
        if (!n.outputs.empty()) kept.push_back(std::move(n));
      g.nodes = std::move(kept);
    }
  }
  return folded;
}

}  // namespace

namespace {

int fold_batchnorm_nodes(Graph& g) {
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

}  // namespace

// A BatchNormalization after a conv's folded bias Add (paddle2onnx's ConvTranspose -> Add(bias) -> BN) folds on
// the second round.
int fold_batchnorm(Graph& g) {
  int total = 0;
  for (int round = 0; round < 4; ++round) {
    const int n = fold_batchnorm_nodes(g) + fold_channel_affine(g);
    total += n;
    if (n == 0) break;
  }
  return total;
}

}  // namespace octet
