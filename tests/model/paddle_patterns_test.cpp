// paddle2onnx patterns in PP-OCR: a BatchNormalization exported as Mul/Add by constants after a Conv, and
// HardSwish exported as Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6). The plan folds the first into the conv and turns
// the second into one HardSwish fused into it; the outputs stay those of the unfused reference.
#include <gtest/gtest.h>

#include "runtime/plan.h"
#include "test_util.h"

using namespace octet;

namespace {

int constant(Graph& g, const std::string& name, const Shape& s, std::vector<float> v) {
  return g.add_constant(name, Tensor::from<float>(s, v));
}

Node node(OpType op, const std::string& name, std::vector<int> in, int out) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = {out};
  return n;
}

TEST(PaddlePatterns, AffineAfterConvFoldsAndDecomposedHardSwishFuses) {
  Graph g;
  const int x = g.add_value("x");
  g.value(x).declared = {Dim{-1, "N"}, Dim{2, ""}, Dim{5, ""}, Dim{5, ""}};
  g.value(x).has_declared_shape = true;
  g.inputs = {x};
  Tensor w = test::random_f32({3, 2, 3, 3}, 1);
  const int wv = g.add_constant("w", w), bv = constant(g, "b", {3}, {0.1f, -0.2f, 0.3f});
  Node conv = node(OpType::Conv, "conv", {x, wv, bv}, g.add_value("y"));
  conv.attrs["pads"] = attr_ints({1, 1, 1, 1});
  const int scale = constant(g, "s", {1}, {1.7f});
  const int shift = constant(g, "t", {1, 3, 1, 1}, {0.5f, -1.f, 2.f});
  Node mul = node(OpType::Mul, "affine_mul", {scale, conv.outputs[0]}, g.add_value("ym"));
  Node add = node(OpType::Add, "affine_add", {mul.outputs[0], shift}, g.add_value("ya"));
  const int ya = add.outputs[0];
  Node p3 = node(OpType::Add, "hs_add", {ya, constant(g, "three", {1}, {3.f})}, g.add_value("h1"));
  Node clip = node(OpType::Clip, "hs_clip", {p3.outputs[0], constant(g, "lo", {}, {0.f}), constant(g, "hi", {}, {6.f})},
                   g.add_value("h2"));
  Node m = node(OpType::Mul, "hs_mul", {ya, clip.outputs[0]}, g.add_value("h3"));
  Node div = node(OpType::Div, "hs_div", {m.outputs[0], constant(g, "six", {1}, {6.f})}, g.add_value("out"));
  g.nodes = {conv, mul, add, p3, clip, m, div};
  g.outputs = {div.outputs[0]};
  g.finalize();

  Tensor in = test::random_f32({2, 2, 5, 5}, 2, -2.f, 2.f);
  std::vector<Tensor> ref = run_reference(g, {in});
  for (const char* backend : {"ref", "cpu"}) {
    PlanOptions o;
    o.backend = backend;
    auto plan = Plan::build(g, o);
    int computing = 0;  // besides layout copies: the conv, carrying the HardSwish
    for (const Node& n : plan->graph().nodes) {
      if (n.op == OpType::ToNhwc || n.op == OpType::ToNchw) continue;
      ++computing;
      EXPECT_EQ(n.post.act, Activation::HardSwish) << backend << " " << op_name(n.op);
    }
    EXPECT_EQ(computing, 1) << backend;
    std::vector<Tensor> out = plan->run({in});
    EXPECT_LT(test::max_abs_error(out[0], ref[0]), 1e-4) << backend;
  }
}

}  // namespace
