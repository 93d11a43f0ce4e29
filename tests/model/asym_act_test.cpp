// Zero points for SiLU outputs (QuantizeOptions::asymmetric_activations, quant.h): a SiLU output whose every reader
// takes a zero point (a conv, an average pool, a squeeze-excitation Mul) is stored over [kSiluMin, amax] with a zero
// point (its QConv writes out_zero_point, the reading QConvs / QAvgPools / QMulGates take x_zero_point, an FP32 reader
// a Dequantize with zero_point); one read by another op (MaxPool) stays symmetric. The SE product of such a tensor
// and a Sigmoid gate keeps its lower bound and gets a zero point of its own. The plans run bit for bit alike on ref
// and cpu, near FP32, and survive a plan file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

#include "passes/passes.h"
#include "passes/quantize.h"
#include "runtime/plan.h"
#include "runtime/plan_file.h"
#include "graph_util.h"
#include "test_util.h"
#include "model/int8_check.h"

using namespace octet;

namespace {

// x [1,5,9,7] -> c1 (3x3, 6 ch) -> SiLU = m1; m1 -> dw (3x3 depthwise, stride 2) -> SiLU = m2 -> MaxPool 2x2
// = gap_y -> head (1x1, 3 ch) = head_y (output); m1 -> side (1x1, 4 ch) = side_y (output). m1 is read by two convs
// only; m2 by a max pool (no zero-point support).
Graph make_graph() {
  Graph g;
  const int x = add_graph_input(g, "x", {1, 5, 9, 7});
  test::ConvGraphNodes b{g, {}};
  std::vector<Node>& nodes = b.nodes;
  const int m1 = b.silu("c1", b.conv("c1", x, 5, 6, 3, 1, 1, 1, 0.4f));
  const int m2 = b.silu("dw", b.conv("dw", m1, 6, 6, 3, 2, 6, 3, 0.6f));
  Node gap = test_node(OpType::MaxPool, "gap", {m2}, g.add_value("gap_y"));
  gap.attrs["kernel_shape"] = attr_ints({2, 2});
  gap.attrs["strides"] = attr_ints({2, 2});
  nodes.push_back(gap);
  const int head = b.conv("head", gap.outputs[0], 6, 3, 1, 1, 1, 7, 0.5f);
  const int side = b.conv("side", m1, 6, 4, 1, 1, 1, 5, 0.5f);
  g.outputs = {head, side};
  g.nodes = nodes;
  g.finalize();
  return g;
}

const std::map<std::string, float> kAmax = {{"x", 2.f},     {"c1_m", 1.5f},  {"dw_y", 3.f},
                                            {"dw_m", 1.2f},  {"gap_y", 0.6f}, {"side_y", 2.f},
                                            {"head_y", 1.f}};

QuantizeReport quantize(Graph& g, const QuantizeOptions& o) { return test::fuse_and_quantize(g, kAmax, o); }
int32_t zero_point_of(const Graph& g, const QuantizeReport& r, const std::string& name) {
  for (const auto& t : r.int8_tensors)
    if (g.value(t.of).name == name) return t.zero_point;
  return 0;
}

}  // namespace

TEST(AsymmetricActivations, SiluReadOnlyByConvsGetsAZeroPoint) {
  Graph g = make_graph();
  QuantizeOptions o;
  EXPECT_TRUE(o.asymmetric_activations);  // the default
  QuantizeReport r = quantize(g, o);
  float s = 0.f;
  int32_t zp = 0;
  ASSERT_TRUE(quant::asym_range(quant::kSiluMin, 1.5f, s, zp));
  EXPECT_EQ(zp, -128 + 40);  // s = 1.77846 / 255, round(0.27846 / s) = round(39.93)
  const Node* c1 = node_named(g, "c1");
  const Node* dw = node_named(g, "dw");
  const Node* side = node_named(g, "side");
  ASSERT_TRUE(c1 && dw && side);
  ASSERT_EQ(c1->op, OpType::QConv);
  EXPECT_EQ(c1->attr_i("out_zero_point", 0), zp);
  EXPECT_EQ(c1->attr_f("out_scale", 0.f), s);
  EXPECT_EQ(test::int8_scale_of(g, r, "c1_m"), s);
  EXPECT_EQ(zero_point_of(g, r, "c1_m"), zp);
  for (const Node* reader : {dw, side}) {
    ASSERT_EQ(reader->op, OpType::QConv) << reader->name;
    EXPECT_EQ(reader->attr_i("x_zero_point", 0), zp) << reader->name;
  }
  // dw's SiLU output is read by a MaxPool (no zero-point support): symmetric.
  EXPECT_EQ(dw->attr_i("out_zero_point", 0), 0);
  EXPECT_EQ(zero_point_of(g, r, "dw_m"), 0);
  EXPECT_EQ(c1->attr_i("x_zero_point", 0), 0);
}

TEST(AsymmetricActivations, OffFp32ReaderAndKeptPairs) {
  {
    SCOPED_TRACE("option off");
    Graph g = make_graph();
    QuantizeOptions o;
    o.asymmetric_activations = false;
    quantize(g, o);
    for (const Node& n : g.nodes) {
      EXPECT_EQ(n.attr_i("out_zero_point", 0), 0) << n.name;
      EXPECT_EQ(n.attr_i("x_zero_point", 0), 0) << n.name;
    }
    EXPECT_EQ(node_named(g, "c1")->attr_f("out_scale", 0.f), 1.5f / 127.f);
  }
  {
    SCOPED_TRACE("a Q/DQ model's pair on the SiLU output (keep_rounded)");
    Graph g = make_graph();
    const std::set<std::string> keep = {"c1_m"};
    QuantizeOptions o;
    o.keep_rounded = &keep;
    quantize(g, o);
    EXPECT_EQ(node_named(g, "c1")->attr_i("out_zero_point", 0), 0);
  }
  {
    SCOPED_TRACE("a reading conv requested FP32: it reads a Dequantize with the zero point");
    Graph g = make_graph();
    QuantizeOptions o;
    o.fp32_layers = {"side"};
    QuantizeReport r = quantize(g, o);
    const int32_t zp = zero_point_of(g, r, "c1_m");
    EXPECT_NE(zp, 0);
    const Node* side = node_named(g, "side");
    ASSERT_NE(side, nullptr);
    EXPECT_EQ(side->op, OpType::Conv);
    auto dq = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) {
      return n.op == OpType::Dequantize && g.value(n.outputs[0]).name == "c1_m";
    });
    ASSERT_NE(dq, g.nodes.end());
    EXPECT_EQ(dq->attr_i("zero_point", 0), zp);
  }
}

// ref and cpu bit for bit, near FP32; with the side conv kept FP32 too (the Dequantize with a zero point).
TEST(AsymmetricActivations, CpuEqualsRefAndStaysNearFp32) {
  Graph g = make_graph();
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  std::vector<std::string> names;
  for (const auto& [name, unused] : kAmax)
    if (name != "dw_y") names.push_back(name);  // fused away in the FP32 plan
  auto amax = test::absmax_of(g, {in}, names);
  amax["dw_y"] = kAmax.at("dw_y");
  test::expect_int8_cpu_equals_ref_near_fp32(g, {in}, amax, 0.03, [](const Plan& plan, const char* backend) {
    int zps = 0;
    for (const Node& n : plan.graph().nodes) zps += n.attr_i("x_zero_point", 0) != 0;
    EXPECT_EQ(zps, 2) << backend;
  });
  // The side conv in FP32: it reads c1_m through a Dequantize with the zero point.
  Graph g2 = make_graph();
  g2.nodes.back().name = "side";
  PlanOptions o;
  o.fp32_layers = {"side"};
  std::vector<std::vector<Tensor>> outs;
  for (const char* backend : {"ref", "cpu"}) {
    o.backend = backend;
    o.int8_amax = amax;
    auto plan = Plan::build(g2, o);
    int dqs = 0;
    for (const Node& n : plan->graph().nodes) dqs += n.op == OpType::Dequantize && n.attr_i("zero_point", 0) != 0;
    EXPECT_EQ(dqs, 1) << backend;
    std::vector<Tensor> y;
    for (const Tensor& t : plan->run({in})) y.push_back(t.clone());
    outs.push_back(std::move(y));
  }
  ASSERT_EQ(outs[0].size(), 2u);
  EXPECT_EQ(0, std::memcmp(outs[0][0].raw(), outs[1][0].raw(), outs[0][0].nbytes())) << "fp32 side, int8 output";
  for (int64_t k = 0; k < outs[0][1].numel(); ++k)  // side_y: an FP32 conv (oneDNN vs ref) of the dequantized c1_m
    EXPECT_NEAR(outs[0][1].data<float>()[k], outs[1][1].data<float>()[k], 1e-4f) << "fp32 side, element " << k;
}

TEST(AsymmetricActivations, PlanFileRoundTrip) {
  Graph g = make_graph();
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  PlanOptions o;
  o.backend = "cpu";
  o.int8_amax = kAmax;
  auto plan = Plan::build(g, o);
  std::vector<Tensor> want;
  for (const Tensor& t : plan->run({in})) want.push_back(t.clone());
  const std::string path =
      (std::filesystem::temp_directory_path() / ("octet_asym_test_" + std::to_string(::getpid()) + ".plan")).string();
  save_plan(*plan, path);
  EXPECT_EQ(read_plan_file(path).header.format_version, kPlanFormatVersionZeroPoints);
  auto loaded = load_plan_file(path);
  int zps = 0;
  for (const Node& n : loaded->graph().nodes) zps += n.attr_i("x_zero_point", 0) != 0 || n.attr_i("out_zero_point", 0) != 0;
  EXPECT_EQ(zps, 3);  // c1 writes one, dw and side read it
  std::vector<Tensor> got = loaded->run({in});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].nbytes(), want[i].nbytes());
    EXPECT_EQ(0, std::memcmp(got[i].raw(), want[i].raw(), want[i].nbytes())) << "output " << i;
  }
  std::filesystem::remove(path);
}

// A rescalable plan (the refinement's trial plans) updated to other amax values computes what a fresh build with
// them does, the zero points included (here c1_m's range changes, and with amax 0.2 it has none at all: no better
// than symmetric).
TEST(AsymmetricActivations, RescaledPlanEqualsFreshBuild) {
  Graph g = make_graph();
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  PlanOptions o;
  o.backend = "cpu";
  o.int8_amax = kAmax;
  o.rescalable = true;
  auto plan = Plan::build(g, o);
  for (float c1 : {2.5f, 0.2f, 1.5f}) {
    SCOPED_TRACE(c1);
    std::map<std::string, float> amax = kAmax;
    amax["c1_m"] = c1;
    plan->update_int8_amax(amax);
    PlanOptions f = o;
    f.rescalable = false;
    f.int8_amax = amax;
    auto fresh = Plan::build(g, f);
    int zps = 0;
    for (const Node& n : fresh->graph().nodes) zps += n.attr_i("out_zero_point", 0) != 0;
    EXPECT_EQ(zps, c1 > -quant::kSiluMin ? 1 : 0);
    std::vector<Tensor> want;
    for (const Tensor& t : fresh->run({in})) want.push_back(t.clone());
    std::vector<Tensor> got = plan->run({in});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(0, std::memcmp(got[i].raw(), want[i].raw(), want[i].nbytes())) << "output " << i;
  }
}

namespace {

// A squeeze-excitation block: x [1,5,9,7] -> c1 (3x3, 6 ch) -> SiLU = m1 -> GlobalAveragePool = gap_y -> se1 (1x1,
// 3 ch) -> SiLU = se1_m -> se2 (1x1, 6 ch) = se2_y [-> Sigmoid = gate]; Mul(m1, gate) = p -> proj (1x1, 4 ch) =
// proj_y (output). m1 is read by the pool and the Mul; p by a conv.
Graph make_se_graph(bool sigmoid_gate) {
  Graph g;
  const int x = add_graph_input(g, "x", {1, 5, 9, 7});
  test::ConvGraphNodes b{g, {}};
  const int m1 = b.silu("c1", b.conv("c1", x, 5, 6, 3, 1, 1, 1, 0.4f));
  Node gap = test_node(OpType::GlobalAveragePool, "gap", {m1}, g.add_value("gap_y"));
  b.nodes.push_back(gap);
  const int se1 = b.silu("se1", b.conv("se1", gap.outputs[0], 6, 3, 1, 1, 1, 11, 0.8f));
  int gate = b.conv("se2", se1, 3, 6, 1, 1, 1, 13, 0.8f);
  if (sigmoid_gate) {
    Node sg = test_node(OpType::Sigmoid, "gate", {gate}, g.add_value("gate_y"));
    b.nodes.push_back(sg);
    gate = sg.outputs[0];
  }
  Node mul = test_node(OpType::Mul, "se_mul", {m1, gate}, g.add_value("p"));
  b.nodes.push_back(mul);
  g.outputs = {b.conv("proj", mul.outputs[0], 6, 4, 1, 1, 1, 17, 0.5f)};
  g.nodes = b.nodes;
  g.finalize();
  return g;
}

const std::map<std::string, float> kSeAmax = {{"x", 2.f},     {"c1_m", 1.5f}, {"gap_y", 0.4f}, {"se1_m", 0.9f},
                                              {"se2_y", 3.f}, {"p", 1.1f},    {"proj_y", 1.f}};

}  // namespace

TEST(AsymmetricActivations, SqueezeExcitationReadsAndWritesZeroPoints) {
  for (bool sigmoid_gate : {true, false}) {
    SCOPED_TRACE(sigmoid_gate ? "Sigmoid gate" : "gate without a bound");
    Graph g = make_se_graph(sigmoid_gate);
    QuantizeReport r = test::fuse_and_quantize(g, kSeAmax);
    float s = 0.f;
    int32_t zp = 0;
    ASSERT_TRUE(quant::asym_range(quant::kSiluMin, 1.5f, s, zp));
    EXPECT_EQ(zero_point_of(g, r, "c1_m"), zp);
    const Node* pool = first_node_of(g, OpType::QAvgPool);
    const Node* gate = first_node_of(g, OpType::QMulGate);
    const Node* proj = node_named(g, "proj");
    ASSERT_TRUE(pool && gate && proj);
    EXPECT_EQ(pool->attr_i("x_zero_point", 0), zp);
    EXPECT_EQ(pool->attr_f("multiplier", 0.f), s / (0.4f / 127.f));  // the pool's output stays symmetric
    EXPECT_EQ(zero_point_of(g, r, "gap_y"), 0);
    EXPECT_EQ(gate->attr_i("x_zero_point", 0), zp);
    float sp = 1.1f / 127.f;
    int32_t zpp = 0;
    if (sigmoid_gate) {  // x * gate with gate in [0, 1] keeps x's lower bound: p over [kSiluMin, 1.1]
      ASSERT_TRUE(quant::asym_range(quant::kSiluMin, 1.1f, sp, zpp));
      EXPECT_NE(zpp, 0);
    }
    EXPECT_EQ(gate->attr_i("out_zero_point", 0), zpp);
    EXPECT_EQ(zero_point_of(g, r, "p"), zpp);
    EXPECT_EQ(test::int8_scale_of(g, r, "p"), sp);
    EXPECT_EQ(gate->attr_f("scale", 0.f), s / sp);
    ASSERT_EQ(proj->op, OpType::QConv);
    EXPECT_EQ(proj->attr_i("x_zero_point", 0), zpp);
  }
}

// The SE block with its zero points: ref and cpu bit for bit, near FP32; with the Mul kept FP32, it reads a
// Dequantize with the zero point (the pool still reads the int8 tensor).
TEST(AsymmetricActivations, SqueezeExcitationCpuEqualsRefAndStaysNearFp32) {
  Graph g = make_se_graph(true);
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  std::vector<std::string> names;
  for (const auto& [name, unused] : kSeAmax)
    if (name != "se2_y") names.push_back(name);  // fused into the Sigmoid in the FP32 plan
  auto amax = test::absmax_of(g, {in}, names);
  amax["se2_y"] = kSeAmax.at("se2_y");
  test::expect_int8_cpu_equals_ref_near_fp32(g, {in}, amax, 0.03, [](const Plan& plan, const char* backend) {
    int zps = 0;
    for (const Node& n : plan.graph().nodes)
      if (n.op == OpType::QAvgPool || n.op == OpType::QMulGate) zps += n.attr_i("x_zero_point", 0) != 0;
    EXPECT_EQ(zps, 2) << backend;
  });
  PlanOptions o;
  o.fp32_layers = {"se_mul"};
  o.int8_amax = amax;
  std::vector<Tensor> outs;
  for (const char* backend : {"ref", "cpu"}) {
    o.backend = backend;
    auto plan = Plan::build(g, o);
    int dqs = 0;
    for (const Node& n : plan->graph().nodes) dqs += n.op == OpType::Dequantize && n.attr_i("zero_point", 0) != 0;
    EXPECT_EQ(dqs, 1) << backend;  // c1_m for the Mul
    int pool_zps = 0;
    for (const Node& n : plan->graph().nodes) pool_zps += n.op == OpType::QAvgPool && n.attr_i("x_zero_point", 0) != 0;
    EXPECT_EQ(pool_zps, 1) << backend;
    outs.push_back(plan->run({in})[0].clone());
  }
  const std::vector<Tensor> want = run_reference(g, {in});
  for (int64_t k = 0; k < outs[0].numel(); ++k) {
    EXPECT_NEAR(outs[0].data<float>()[k], outs[1].data<float>()[k], 1e-4f) << k;
    EXPECT_NEAR(outs[0].data<float>()[k], want[0].data<float>()[k], 0.05f) << k;
  }
}

// HardSwish outputs (lower bound -0.375, exact) read by a conv get a zero point the same way; ref and cpu bit for
// bit, near FP32.
TEST(AsymmetricActivations, HardSwishReadByAConv) {
  Graph g;
  const int x = add_graph_input(g, "x", {1, 5, 9, 7});
  test::ConvGraphNodes b{g, {}};
  Node hs = test_node(OpType::HardSwish, "hs", {b.conv("c1", x, 5, 6, 3, 1, 1, 1, 0.6f)}, g.add_value("hs_y"));
  b.nodes.push_back(hs);
  g.outputs = {b.conv("c2", hs.outputs[0], 6, 4, 3, 2, 2, 5, 0.5f)};
  g.nodes = b.nodes;
  g.finalize();
  Tensor in = test::random_f32({1, 5, 9, 7}, 9, -2.f, 2.f);
  auto amax = test::absmax_of(g, {in}, {"x", "hs_y", "c2_y"});
  {
    Graph q = g;
    QuantizeReport r = test::fuse_and_quantize(q, amax);
    float s = 0.f;
    int32_t zp = 0;
    ASSERT_TRUE(quant::asym_range(quant::kHardSwishMin, amax.at("hs_y"), s, zp));
    EXPECT_EQ(zero_point_of(q, r, "hs_y"), zp);
    EXPECT_EQ(test::int8_scale_of(q, r, "hs_y"), s);
    ASSERT_NE(node_named(q, "c2"), nullptr);
    EXPECT_EQ(node_named(q, "c2")->attr_i("x_zero_point", 0), zp);
  }
  test::expect_int8_cpu_equals_ref_near_fp32(g, {in}, amax, 0.03, [](const Plan& plan, const char* backend) {
    int zps = 0;
    for (const Node& n : plan.graph().nodes) zps += n.attr_i("out_zero_point", 0) != 0;
    EXPECT_EQ(zps, 1) << backend;
  });
}
