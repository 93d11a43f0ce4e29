// paddle2onnx patterns in PP-OCR: a BatchNormalization exported as Mul/Add by constants after a Conv, and
// HardSwish exported as Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6). The plan folds the first into the conv and turns
// the second into one HardSwish fused into it; the outputs stay those of the unfused reference.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "runtime/plan.h"
#include "graph_util.h"
#include "test_util.h"

using namespace octet;

namespace {

int constant(Graph& g, const std::string& name, const Shape& s, std::vector<float> v) {
  return g.add_constant(name, Tensor::from<float>(s, v));
}

Node node(OpType op, const std::string& name, std::vector<int> in, int out) {
  return test_node(op, name, std::move(in), out);
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

// PP-OCR's detector in small: conv -> HardSwish -> Mul/Add by scalars (PP-LCNet's learnable affine), an FPN
// Resize (nearest, asymmetric, floor) added to a conv, and the head ConvTranspose -> Add(bias) ->
// BatchNormalization -> Relu -> ConvTranspose -> Sigmoid, and an SE block with a HardSigmoid gate. In INT8 every one of them runs int8 (the affine in
// the conv's epilogue, QResize, QAdd, two QConvTranspose with the bias and BN folded in); only the final Sigmoid,
// whose output is the graph's, stays FP32. The cpu plan equals the ref plan bit for bit, and both stay near FP32.
// An SE block's HardSigmoid gate goes into the QMulGate (gate_act). A Mul by a scalar that is not a constant is not
// absorbed.
TEST(PaddlePatterns, DetectorHeadRunsInt8) {
  for (bool const_scale : {true, false}) {
    SCOPED_TRACE(const_scale ? "constant affine" : "affine by an input");
    Graph g;
    const int x = g.add_value("x");
    g.value(x).declared = {Dim{-1, "N"}, Dim{3, ""}, Dim{6, ""}, Dim{10, ""}};
    g.value(x).has_declared_shape = true;
    g.inputs = {x};
    int a_in = -1;
    if (!const_scale) {
      a_in = g.add_value("a");
      g.value(a_in).declared = {Dim{1, ""}};
      g.value(a_in).has_declared_shape = true;
      g.inputs.push_back(a_in);
    }
    std::vector<Node> nodes;
    auto conv = [&](const std::string& name, int in, int64_t cin, int64_t k, uint32_t seed) {
      Node c = node(OpType::Conv, name, {in, g.add_constant(name + "_w", test::random_f32({k, cin, 3, 3}, seed, -0.5f, 0.5f)),
                                         constant(g, name + "_b", {k}, std::vector<float>(static_cast<size_t>(k), 0.1f))},
                    g.add_value(name + "_y"));
      c.attrs["pads"] = attr_ints({1, 1, 1, 1});
      nodes.push_back(c);
      return c.outputs[0];
    };
    const int c1 = conv("c1", x, 3, 8, 1);
    Node hs = node(OpType::HardSwish, "hs", {c1}, g.add_value("hs_y"));
    Node mul = node(OpType::Mul, "lab_mul", {const_scale ? constant(g, "lab_s", {1}, {0.47f}) : a_in, hs.outputs[0]},
                    g.add_value("lab_m"));
    Node add = node(OpType::Add, "lab_add", {mul.outputs[0], constant(g, "lab_t", {1}, {-0.05f})}, g.add_value("lab_y"));
    nodes.insert(nodes.end(), {hs, mul, add});
    // An SE block on the affine's output: GlobalAveragePool -> conv -> HardSigmoid -> Mul(c1, gate) (QMulGate, gate_act).
    Node gap = node(OpType::GlobalAveragePool, "se_gap", {add.outputs[0]}, g.add_value("se_p"));
    Node se_conv = node(OpType::Conv, "se_conv", {gap.outputs[0], g.add_constant("se_w", test::random_f32({8, 8, 1, 1}, 8, -1.f, 1.f))},
                        g.add_value("se_c"));
    Node hsig = node(OpType::HardSigmoid, "se_hsig", {se_conv.outputs[0]}, g.add_value("se_g"));
    hsig.attrs["alpha"] = attr_f(1.f / 6);
    Node gmul = node(OpType::Mul, "se_mul", {add.outputs[0], hsig.outputs[0]}, g.add_value("se_y"));
    nodes.insert(nodes.end(), {gap, se_conv, hsig, gmul});
    Node down = node(OpType::Conv, "down", {gmul.outputs[0], g.add_constant("down_w", test::random_f32({8, 8, 2, 2}, 3, -0.5f, 0.5f))},
                     g.add_value("down_y"));
    down.attrs["strides"] = attr_ints({2, 2});
    nodes.push_back(down);
    Node rs = node(OpType::Resize, "up", {down.outputs[0], kNoValue, constant(g, "up_s", {4}, {1.f, 1.f, 2.f, 2.f})},
                   g.add_value("up_y"));
    rs.attrs["mode"] = attr_s("nearest");
    rs.attrs["coordinate_transformation_mode"] = attr_s("asymmetric");
    rs.attrs["nearest_mode"] = attr_s("floor");
    Node fpn = node(OpType::Add, "fpn_add", {rs.outputs[0], gmul.outputs[0]}, g.add_value("fpn_y"));
    nodes.insert(nodes.end(), {rs, fpn});
    const int c2 = conv("c2", fpn.outputs[0], 8, 6, 4);
    Node ct1 = node(OpType::ConvTranspose, "ct1", {c2, g.add_constant("ct1_w", test::random_f32({6, 4, 2, 2}, 5, -0.5f, 0.5f))},
                    g.add_value("ct1_y"));
    ct1.attrs["strides"] = attr_ints({2, 2});
    Node bias = node(OpType::Add, "ct1_bias", {ct1.outputs[0], constant(g, "ct1_b", {1, 4, 1, 1}, {0.1f, -0.1f, 0.2f, 0.f})},
                     g.add_value("ct1_by"));
    Node bn = node(OpType::BatchNormalization, "bn",
                   {bias.outputs[0], constant(g, "g", {4}, {1.5f, 0.8f, 1.1f, 2.f}), constant(g, "be", {4}, {0.1f, 0.2f, -0.3f, 0.f}),
                    constant(g, "mu", {4}, {0.05f, -0.1f, 0.f, 0.2f}), constant(g, "var", {4}, {0.5f, 1.f, 2.f, 0.7f})},
                   g.add_value("bn_y"));
    Node relu = node(OpType::Relu, "relu", {bn.outputs[0]}, g.add_value("relu_y"));
    Node ct2 = node(OpType::ConvTranspose, "ct2", {relu.outputs[0], g.add_constant("ct2_w", test::random_f32({4, 1, 2, 2}, 6, -0.5f, 0.5f)),
                                                  constant(g, "ct2_b", {1}, {0.05f})},
                    g.add_value("ct2_y"));
    ct2.attrs["strides"] = attr_ints({2, 2});
    Node sig = node(OpType::Sigmoid, "sig", {ct2.outputs[0]}, g.add_value("out"));
    nodes.insert(nodes.end(), {ct1, bias, bn, relu, ct2, sig});
    g.nodes = nodes;
    g.outputs = {sig.outputs[0]};
    g.finalize();

    std::vector<Tensor> in{test::random_f32({1, 3, 6, 10}, 7, -2.f, 2.f)};
    if (!const_scale) in.push_back(Tensor::from<float>({1}, {0.47f}));
    // amax of every tensor of the unfused FP32 graph on this input (what calibration would see, MinMax).
    std::map<std::string, float> amax;
    {
      PlanOptions o;
      o.backend = "ref";
      o.fold_batchnorm = false;
      o.fuse = false;
      auto plan = Plan::build(g, o);
      Plan::Observer obs = [&](int v, const Tensor& t) {
        if (t.dtype() != DType::f32) return;
        float m = 0;
        for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data<float>()[i]));
        amax[plan->graph().value(v).name] = std::max(amax[plan->graph().value(v).name], m);
      };
      plan->run(in, &obs);
    }
    const std::vector<Tensor> ref = run_reference(g, in);
    std::vector<Tensor> outs;
    for (const char* backend : {"ref", "cpu"}) {
      PlanOptions o;
      o.backend = backend;
      o.int8_amax = amax;
      auto plan = Plan::build(g, o);
      std::map<OpType, int> ops;
      const Node* c1q = nullptr;
      for (const Node& n : plan->graph().nodes) {
        ++ops[n.op];
        if (n.name == "c1") c1q = &n;
      }
      ASSERT_NE(c1q, nullptr);
      EXPECT_EQ(c1q->op, OpType::QConv);
      EXPECT_EQ(c1q->has_attr("act_mul"), const_scale) << backend;
      EXPECT_EQ(ops[OpType::QConvTranspose], 2) << backend;
      EXPECT_EQ(ops[OpType::QResize], 1) << backend;
      EXPECT_EQ(ops[OpType::QAdd], 1) << backend;
      EXPECT_EQ(ops[OpType::Resize] + ops[OpType::ConvTranspose] + ops[OpType::BatchNormalization], 0) << backend;
      EXPECT_EQ(ops[OpType::Sigmoid], 1) << backend;                       // the graph output's, FP32
      EXPECT_EQ(ops[OpType::QMulGate], const_scale ? 1 : 0) << backend;
      EXPECT_EQ(ops[OpType::HardSigmoid], const_scale ? 0 : 1) << backend;  // taken into the QMulGate
      // Not absorbed, the affine stays FP32, and so does the SE Mul that reads it (its x is not int8).
      EXPECT_EQ(ops[OpType::Mul] + ops[OpType::Add], const_scale ? 0 : 3) << backend;
      outs.push_back(plan->run(in)[0].clone());
      EXPECT_LT(test::max_abs_error(outs.back(), ref[0]), 0.05) << backend;
    }
    ASSERT_EQ(outs[0].shape(), outs[1].shape());
    EXPECT_EQ(test::max_abs_error(outs[0], outs[1]), 0.0) << "cpu INT8 plan differs from the ref INT8 plan";
  }
}

}  // namespace
