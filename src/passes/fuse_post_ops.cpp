// Conv/ConvTranspose/Gemm/MatMul [-> Add(residual)] [-> activation], and Add -> activation. The activation may
// be SiLU written as Mul(y, Sigmoid(y)) (EfficientNet, YOLO), which becomes Activation::Silu.
//
// The residual Add is fused only when both of its inputs have the same shape (checked with shapes
// propagated at batch 1 when the model declares its input shapes; without them no residual fusion).
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "passes/passes.h"
#include "backends/ref/propagate.h"

namespace octet {

namespace {

bool can_carry_post(OpType op) {
  return op == OpType::Conv || op == OpType::ConvTranspose || op == OpType::Gemm || op == OpType::MatMul ||
         op == OpType::Add;
}

// The activation `n` would become, if it is one we fuse.
bool as_activation(const Graph& g, const Node& n, PostOp& p) {
  switch (n.op) {
    case OpType::Relu: p.act = Activation::Relu; return true;
    case OpType::Sigmoid: p.act = Activation::Sigmoid; return true;
    case OpType::HardSwish: p.act = Activation::HardSwish; return true;
    case OpType::LeakyRelu:
      p.act = Activation::LeakyRelu;
      p.alpha = n.attr_f("alpha", 0.01f);
      return true;
    case OpType::Clip: {
      float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
      for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
        int v = n.inputs[i];
        if (v < 0) continue;
        if (!g.is_const(v) || g.const_of(v).dtype() != DType::f32 || g.const_of(v).numel() != 1) return false;
        (i == 1 ? lo : hi) = g.const_of(v).data<float>()[0];
      }
      p.act = Activation::Clip;
      p.alpha = lo;
      p.beta = hi;
      return true;
    }
    default: return false;
  }
}

struct Fuser {
  Graph& g;
  std::vector<std::vector<int>> consumers;
  std::vector<int> producer;
  const Propagation* shapes;  // may be null
  bool int8;
  const std::set<std::string>* keep;  // may be null

  bool kept(int v) const { return keep && keep->count(g.value(v).name); }

  void refresh() {
    consumers = g.consumers();
    producer.assign(g.values.size(), -1);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (int o : g.nodes[i].outputs) producer[static_cast<size_t>(o)] = static_cast<int>(i);
  }
  // The single node reading n's only output, when that output is not a graph output.
  Node* sole_consumer(const Node& n) {
    if (n.outputs.size() != 1) return nullptr;
    int y = n.outputs[0];
    if (g.is_graph_output(y) || consumers[static_cast<size_t>(y)].size() != 1) return nullptr;
    Node& c = g.nodes[static_cast<size_t>(consumers[static_cast<size_t>(y)][0])];
    return c.outputs.empty() ? nullptr : &c;
  }
  void absorb(Node& n, Node& next) {
    n.post.fused_names.push_back(g.value(n.outputs[0]).name);
    n.post.fused_nodes.push_back(next.name);
    n.outputs[0] = next.outputs[0];
    next.outputs.clear();
    next.inputs.clear();
  }
  // SiLU written as Mul(y, Sigmoid(y)) after n (either Mul operand order): the Sigmoid and the Mul, when y and
  // the Sigmoid's output are read by nothing else and are not graph outputs.
  std::pair<Node*, Node*> silu_after(const Node& n) {
    if (n.outputs.size() != 1) return {nullptr, nullptr};
    const int y = n.outputs[0];
    const auto& cy = consumers[static_cast<size_t>(y)];
    if (g.is_graph_output(y) || cy.size() != 2) return {nullptr, nullptr};
    for (int k = 0; k < 2; ++k) {
      Node& sig = g.nodes[static_cast<size_t>(cy[static_cast<size_t>(k)])];
      Node& mul = g.nodes[static_cast<size_t>(cy[static_cast<size_t>(1 - k)])];
      if (sig.op != OpType::Sigmoid || sig.inputs.size() != 1 || sig.outputs.size() != 1 ||
          sig.post.act != Activation::None)
        continue;
      const int s = sig.outputs[0];
      if (g.is_graph_output(s) || kept(s) || consumers[static_cast<size_t>(s)].size() != 1) continue;
      if (mul.op != OpType::Mul || mul.inputs.size() != 2 || mul.outputs.size() != 1 ||
          mul.post.act != Activation::None || mul.post.residual_input >= 0)
        continue;
      if ((mul.inputs[0] == y && mul.inputs[1] == s) || (mul.inputs[0] == s && mul.inputs[1] == y)) return {&sig, &mul};
    }
    return {nullptr, nullptr};
  }
  // Whether activation `a` may be fused onto n: anything in an FP32 plan; in an INT8 plan what the INT8
  // epilogue applies (quant.h): Relu/Clip everywhere, the non-linear ones only on a conv/matmul without a
  // fused residual (QAdd and the residual epilogue clamp only).
  bool allowed(const Node& n, Activation a) const {
    if (!int8 || a == Activation::Relu || a == Activation::Clip) return true;
    return n.op != OpType::Add && n.post.residual_input < 0;
  }

  bool same_shape(int a, int b) const {
    if (!shapes) return false;
    return shapes->shape[static_cast<size_t>(a)] == shapes->shape[static_cast<size_t>(b)] &&
           shapes->dtype[static_cast<size_t>(a)] == DType::f32 && shapes->dtype[static_cast<size_t>(b)] == DType::f32;
  }

  int run() {
    int removed = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node& n = g.nodes[i];
      if (n.outputs.empty() || !can_carry_post(n.op) || n.post.act != Activation::None) continue;
      if (kept(n.outputs[0])) continue;
      // Residual: Conv/MatMul output read only by an Add whose other input has the same shape.
      if ((n.op == OpType::Conv || n.op == OpType::MatMul) && n.post.residual_input < 0) {
        Node* add = sole_consumer(n);
        if (add && add->op == OpType::Add && add->inputs.size() == 2 && add->post.act == Activation::None &&
            add->post.residual_input < 0) {
          int other = add->inputs[0] == n.outputs[0] ? add->inputs[1] : add->inputs[0];
          if (add->inputs[0] != add->inputs[1] && !g.is_const(other) && same_shape(other, n.outputs[0])) {
            n.inputs.resize(std::max<size_t>(n.inputs.size(), n.op == OpType::Conv ? 3 : 2), kNoValue);
            n.inputs.push_back(other);
            n.post.residual_input = static_cast<int>(n.inputs.size()) - 1;
            absorb(n, *add);
            ++removed;
            refresh();
          }
        }
      }
      if (kept(n.outputs[0])) continue;  // the Add absorbed above produces a kept tensor
      if (n.op != OpType::Add && allowed(n, Activation::Silu)) {
        if (auto [sig, mul] = silu_after(n); mul) {  // the Mul output may be kept: the fused conv writes it
          n.post.act = Activation::Silu;
          n.post.fused_names.push_back(g.value(n.outputs[0]).name);  // pre-activation, then the Sigmoid's output
          n.post.fused_names.push_back(g.value(sig->outputs[0]).name);
          n.post.fused_nodes.push_back(sig->name);
          n.post.fused_nodes.push_back(mul->name);
          n.outputs[0] = mul->outputs[0];
          for (Node* gone : {sig, mul}) {
            gone->outputs.clear();
            gone->inputs.clear();
          }
          removed += 2;
          refresh();
          continue;
        }
      }
      Node* act = sole_consumer(n);
      PostOp p;
      if (act && act->inputs.size() >= 1 && act->inputs[0] == n.outputs[0] && as_activation(g, *act, p) &&
          allowed(n, p.act)) {
        n.post.act = p.act;
        n.post.alpha = p.alpha;
        n.post.beta = p.beta;
        absorb(n, *act);
        ++removed;
        refresh();
      }
    }
    std::vector<Node> kept;
    for (Node& n : g.nodes)
      if (!n.outputs.empty()) kept.push_back(std::move(n));
    g.nodes = std::move(kept);
    return removed;
  }
};

std::optional<Propagation> try_shapes(const Graph& g) {
  std::vector<Shape> shapes;
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    if (!val.has_declared_shape) return std::nullopt;
    Shape s;
    for (size_t i = 0; i < val.declared.size(); ++i) {
      if (val.declared[i].value >= 0) s.push_back(val.declared[i].value);
      else if (i == 0) s.push_back(1);
      else return std::nullopt;
    }
    shapes.push_back(s);
  }
  try {
    return propagate(g, shapes);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// HardSwish exported decomposed (PaddlePaddle's paddle2onnx, PP-OCR): Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6) — or
// Mul(·, 1/6) for the Div — becomes one HardSwish node named as the last one, so that it fuses into the
// producer of x like an ONNX HardSwish (and runs in the INT8 conv epilogue). The intermediate tensors must have
// no other reader. Returns how many were rewritten.
int canonicalize_hardswish(Graph& g, const std::set<std::string>* keep) {
  g.finalize();
  auto consumers = g.consumers();
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int o : g.nodes[i].outputs) producer[static_cast<size_t>(o)] = static_cast<int>(i);
  auto scalar = [&](int v, float& out) {
    if (v < 0 || !g.is_const(v) || g.const_of(v).dtype() != DType::f32 || g.const_of(v).numel() != 1) return false;
    out = g.const_of(v).data<float>()[0];
    return true;
  };
  auto near = [](float a, float b) { return std::fabs(a - b) <= 1e-6f * std::max(1.f, std::fabs(b)); };
  // The node producing v when v is an intermediate read only by one node (not a graph output, not kept).
  auto single_use_producer = [&](int v) -> Node* {
    if (v < 0 || g.is_graph_output(v) || consumers[static_cast<size_t>(v)].size() != 1 || producer[static_cast<size_t>(v)] < 0)
      return nullptr;
    if (keep && keep->count(g.value(v).name)) return nullptr;
    return &g.nodes[static_cast<size_t>(producer[static_cast<size_t>(v)])];
  };
  int rewritten = 0;
  for (Node& last : g.nodes) {
    if (last.inputs.size() != 2 || last.outputs.size() != 1) continue;
    float k = 0.f;
    if (!((last.op == OpType::Div && scalar(last.inputs[1], k) && near(k, 6.f)) ||
          (last.op == OpType::Mul && ((scalar(last.inputs[1], k) && near(k, 1.f / 6.f)) ||
                                      (scalar(last.inputs[0], k) && near(k, 1.f / 6.f))))))
      continue;
    const int m_in = last.op == OpType::Mul && g.is_const(last.inputs[0]) ? last.inputs[1] : last.inputs[0];
    Node* mul = single_use_producer(m_in);
    if (!mul || mul->op != OpType::Mul || mul->inputs.size() != 2) continue;
    for (int side = 0; side < 2; ++side) {
      const int x = mul->inputs[static_cast<size_t>(side)], c = mul->inputs[static_cast<size_t>(1 - side)];
      Node* clip = single_use_producer(c);
      if (!clip || clip->op != OpType::Clip || clip->inputs.size() != 3) continue;
      float lo = 0.f, hi = 0.f;
      if (!scalar(clip->inputs[1], lo) || !scalar(clip->inputs[2], hi) || lo != 0.f || hi != 6.f) continue;
      Node* add = single_use_producer(clip->inputs[0]);
      if (!add || add->op != OpType::Add || add->inputs.size() != 2) continue;
      float three = 0.f;
      const bool ok = (add->inputs[0] == x && scalar(add->inputs[1], three)) ||
                      (add->inputs[1] == x && scalar(add->inputs[0], three));
      if (!ok || three != 3.f || g.is_const(x)) continue;
      last.op = OpType::HardSwish;
      last.inputs = {x};
      last.attrs.clear();
      for (Node* n : {add, clip, mul}) {
        n->inputs.clear();
        n->outputs.clear();
      }
      ++rewritten;
      break;
    }
  }
  if (rewritten) {
    std::vector<Node> kept;
    for (Node& n : g.nodes)
      if (!n.outputs.empty()) kept.push_back(std::move(n));
    g.nodes = std::move(kept);
    g.finalize();
  }
  return rewritten;
}

}  // namespace

int fuse_post_ops(Graph& g, bool int8, const std::set<std::string>* keep) {
  canonicalize_hardswish(g, keep);
  g.finalize();
  auto shapes = try_shapes(g);
  Fuser f{g, {}, {}, shapes ? &*shapes : nullptr, int8, keep};
  f.refresh();
  return f.run();
}

}  // namespace octet
