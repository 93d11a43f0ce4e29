// The quantization pass takes x + SiLU(conv(...)) (YOLOX's bottleneck) into the QConv's epilogue
// (QuantizeOptions::residual_after_activation): the residual is added after the activation and the sum rounded
// once, at the Add's scale (quant::requantize_act_residual), instead of a QConv rounding the SiLU output and a QAdd
// rounding the sum. Not when the SiLU output has another reader, the Add is requested FP32, or the option is off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "passes/passes.h"
#include "passes/quantize.h"
#include "runtime/plan.h"
#include "graph_util.h"
#include "test_util.h"
#include "model/int8_check.h"

using namespace octet;
using test::int8_scale_of;

namespace {

// x [1,5,9,7] -> c1 (3x3, 6 ch) -> SiLU -> c2 (1x1, 5 ch) -> SiLU = m2; a = Add(x, m2) -> e (3x3 stride 2, 3 ch).
// With m2_read_elsewhere, a 1x1 conv "side" reads m2 too (a second graph output).
Graph make_graph(bool m2_read_elsewhere) {
  Graph g;
  const int x = add_graph_input(g, "x", {1, 5, 9, 7});
  test::ConvGraphNodes b{g, {}};
  std::vector<Node>& nodes = b.nodes;
  const int m1 = b.silu("c1", b.conv("c1", x, 5, 6, 3, 1, 1, 1, 0.4f));
  const int m2 = b.silu("c2", b.conv("c2", m1, 6, 5, 1, 1, 1, 3, 0.5f));
  Node add = test_node(OpType::Add, "add", {x, m2}, g.add_value("a"));
  nodes.push_back(add);
  g.outputs = {b.conv("e", add.outputs[0], 5, 3, 3, 2, 1, 5, 0.3f)};
  if (m2_read_elsewhere) g.outputs.push_back(b.conv("side", m2, 5, 2, 1, 1, 1, 7, 0.5f));
  g.nodes = nodes;
  g.finalize();
  return g;
}

const std::map<std::string, float> kAmax = {{"x", 2.f}, {"c1_m", 1.5f}, {"c2_m", 1.f}, {"a", 2.5f},
                                            {"e_y", 3.f}, {"side_y", 2.f}};

QuantizeReport quantize(Graph& g, const QuantizeOptions& o) { return test::fuse_and_quantize(g, kAmax, o); }
bool has_op(const Graph& g, OpType op) {
  return std::any_of(g.nodes.begin(), g.nodes.end(), [op](const Node& n) { return n.op == op; });
}

}  // namespace

TEST(ResidualAfterActivation, AddAfterSiluFusesIntoTheConv) {
  Graph g = make_graph(false);
  QuantizeOptions o;
  EXPECT_TRUE(o.residual_after_activation);  // the default
  QuantizeReport r = quantize(g, o);
  EXPECT_FALSE(has_op(g, OpType::QAdd));
  const Node* c2 = node_named(g, "c2");
  ASSERT_NE(c2, nullptr);
  ASSERT_EQ(c2->op, OpType::QConv);
  ASSERT_EQ(c2->inputs.size(), 4u);
  EXPECT_EQ(c2->attr_i("act", 0), static_cast<int64_t>(quant::Act::Silu));
  EXPECT_EQ(c2->attr_f("out_scale", 0.f), 2.5f / 127.f);                       // the Add's output scale
  EXPECT_EQ(c2->attr_f("residual_scale", 0.f), (2.f / 127.f) / (2.5f / 127.f));  // s_x / s_a
  EXPECT_EQ(g.value(c2->inputs[3]).name, "x::int8");
  EXPECT_EQ(g.value(c2->outputs[0]).name, "a::int8");
  EXPECT_EQ(int8_scale_of(g, r, "a"), 2.5f / 127.f);
  EXPECT_EQ(int8_scale_of(g, r, "c2_m"), 0.f);  // the SiLU output is never produced
  EXPECT_EQ(std::count(r.scaled_tensors.begin(), r.scaled_tensors.end(), "c2_m"), 0);
  // c1's SiLU output feeds a conv, not an Add: unchanged.
  const Node* c1 = node_named(g, "c1");
  ASSERT_NE(c1, nullptr);
  EXPECT_TRUE(c1->inputs.size() < 4 || c1->inputs[3] < 0);
  auto line = std::find_if(r.lines.begin(), r.lines.end(), [](const auto& l) { return l.node == "add"; });
  ASSERT_NE(line, r.lines.end());
  EXPECT_EQ(line->precision, "int8");
  EXPECT_NE(line->why.find("fused into 'c2'"), std::string::npos) << line->why;
}

TEST(ResidualAfterActivation, NotFusedWhenSiluReadElsewhereFp32OrOff) {
  auto expect_qadd = [](Graph& g) {
    EXPECT_TRUE(has_op(g, OpType::QAdd));
    const Node* c2 = node_named(g, "c2");
    ASSERT_NE(c2, nullptr);
    ASSERT_EQ(c2->op, OpType::QConv);
    EXPECT_TRUE(c2->inputs.size() < 4 || c2->inputs[3] < 0);
    EXPECT_EQ(c2->attr_f("out_scale", 0.f), 1.f / 127.f);  // its own SiLU output's scale
  };
  {
    SCOPED_TRACE("SiLU output also read by another conv");
    Graph g = make_graph(true);
    quantize(g, {});
    expect_qadd(g);
  }
  {
    SCOPED_TRACE("option off");
    Graph g = make_graph(false);
    QuantizeOptions o;
    o.residual_after_activation = false;
    quantize(g, o);
    expect_qadd(g);
  }
  {
    SCOPED_TRACE("SiLU output has a Q/DQ pair in the model (keep_rounded)");
    Graph g = make_graph(false);
    const std::set<std::string> keep = {"c2_m"};
    QuantizeOptions o;
    o.keep_rounded = &keep;
    quantize(g, o);
    expect_qadd(g);
  }
  {
    SCOPED_TRACE("Add requested FP32");
    Graph g = make_graph(false);
    QuantizeOptions o;
    o.fp32_layers = {"add"};
    quantize(g, o);
    EXPECT_FALSE(has_op(g, OpType::QAdd));
    const Node* c2 = node_named(g, "c2");
    ASSERT_NE(c2, nullptr);
    EXPECT_TRUE(c2->inputs.size() < 4 || c2->inputs[3] < 0);
    const Node* add = node_named(g, "add");
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(add->op, OpType::Add);
  }
}

// The whole graph on ref and cpu: bit for bit the same, near FP32, and the fused plan has no QAdd.
TEST(ResidualAfterActivation, CpuEqualsRefAndStaysNearFp32) {
  Graph g = make_graph(false);
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  std::vector<std::string> names;
  for (const auto& [name, unused] : kAmax)
    if (name != "side_y") names.push_back(name);
  test::expect_int8_cpu_equals_ref_near_fp32(g, {in}, test::absmax_of(g, {in}, names), 0.03,
                                             [](const Plan& plan, const char* backend) {
                                               EXPECT_FALSE(has_op(plan.graph(), OpType::QAdd)) << backend;
                                             });
}
