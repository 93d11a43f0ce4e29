// The quantization pass holds a tensor that only an int8 Concat reads at the Concat's output scale
// (QuantizeOptions::concat_inputs_at_output_scale): one rounding instead of a rounding and a rescale. Tensors
// other layers also read, Concats kept FP32 and Concats read only in FP32 keep the tensors' own scales.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "passes/quantize.h"
#include "runtime/plan.h"
#include "graph_util.h"
#include "test_util.h"
#include "model/int8_check.h"

using namespace octet;
using test::int8_scale_of;

namespace {

Node node(OpType op, const std::string& name, std::vector<int> in, int out) {
  return test_node(op, name, std::move(in), out);
}

// x -> conv a (read only by the concat), conv b (read by the concat and by conv "side"); cat = Concat(a, b);
// conv e reads cat (or, with cat_is_output, cat is a graph output read by nobody). Outputs: e (or cat), side.
Graph make_graph(bool cat_is_output) {
  Graph g;
  const int x = add_graph_input(g, "x", {1, 3, 7, 9});
  std::vector<Node> nodes;
  auto conv = [&](const std::string& name, int in, int64_t cin, int64_t k, uint32_t seed, float wr = 0.5f) {
    Node c = node(OpType::Conv, name, {in, g.add_constant(name + "_w", test::random_f32({k, cin, 3, 3}, seed, -wr, wr))},
                  g.add_value(name + "_y"));
    c.attrs["pads"] = attr_ints({1, 1, 1, 1});
    nodes.push_back(c);
    return c.outputs[0];
  };
  const int a = conv("a", x, 3, 5, 1, 0.2f), b = conv("b", x, 3, 4, 2);
  Node cat = node(OpType::Concat, "cat", {a, b}, g.add_value("cat_y"));
  cat.attrs["axis"] = attr_i(1);
  nodes.push_back(cat);
  const int side = conv("side", b, 4, 3, 3);
  g.outputs = {side};
  if (cat_is_output) {
    g.outputs.push_back(cat.outputs[0]);
  } else {
    g.outputs.push_back(conv("e", cat.outputs[0], 9, 2, 4));
  }
  g.nodes = nodes;
  g.finalize();
  return g;
}

const std::map<std::string, float> kAmax = {{"x", 2.f},      {"a_y", 1.f},    {"b_y", 3.f}, {"cat_y", 4.f},
                                            {"side_y", 5.f}, {"e_y", 5.f}};

const Node& find_node(const Graph& g, OpType op) {
  auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [op](const Node& n) { return n.op == op; });
  EXPECT_NE(it, g.nodes.end()) << op_name(op);
  return *it;
}


}  // namespace

TEST(ConcatScale, InputReadOnlyByTheConcatTakesItsScale) {
  for (bool on : {true, false}) {
    SCOPED_TRACE(on ? "on (default)" : "off");
    Graph g = make_graph(false);
    QuantizeOptions o;
    EXPECT_TRUE(o.concat_inputs_at_output_scale);  // the default
    o.concat_inputs_at_output_scale = on;
    QuantizeReport r = quantize_graph(g, kAmax, o);
    const std::vector<float> s = find_node(g, OpType::QConcat).attr_floats("scales");
    ASSERT_EQ(s.size(), 2u);
    // a: read only by the concat -> held at cat's scale (a copy); b: also read by "side" -> its own scale.
    EXPECT_EQ(s[0], on ? 1.f : (1.f / 127.f) / (4.f / 127.f));
    EXPECT_EQ(s[1], (3.f / 127.f) / (4.f / 127.f));
    EXPECT_EQ(int8_scale_of(g, r, "a_y"), (on ? 4.f : 1.f) / 127.f);
    EXPECT_EQ(int8_scale_of(g, r, "b_y"), 3.f / 127.f);
    // a's own amax is then not used: refinement need not try it.
    const bool a_used = std::count(r.scaled_tensors.begin(), r.scaled_tensors.end(), "a_y") > 0;
    EXPECT_EQ(a_used, !on);
  }
}

TEST(ConcatScale, Fp32ConcatOrFp32ReaderKeepsTheInputsScales) {
  {
    SCOPED_TRACE("concat requested FP32");
    Graph g = make_graph(false);
    QuantizeOptions o;
    o.fp32_layers = {"cat"};
    QuantizeReport r = quantize_graph(g, kAmax, o);
    EXPECT_EQ(int8_scale_of(g, r, "a_y"), 1.f / 127.f);
  }
  {
    SCOPED_TRACE("concat output read only in FP32 (a graph output)");
    Graph g = make_graph(true);
    QuantizeReport r = quantize_graph(g, kAmax, {});
    EXPECT_EQ(int8_scale_of(g, r, "a_y"), 1.f / 127.f);
    EXPECT_TRUE(std::none_of(g.nodes.begin(), g.nodes.end(), [](const Node& n) { return n.op == OpType::QConcat; }));
  }
}

TEST(ConcatScale, CpuEqualsRefAndStaysNearFp32) {
  Graph g = make_graph(false);
  Tensor in = test::random_f32({1, 3, 7, 9}, 9, -2.f, 2.f);
  // Calibrated on this input: every tensor's absmax.
  std::vector<std::string> names;
  for (const auto& [name, unused] : kAmax) names.push_back(name);
  const std::map<std::string, float> amax = test::absmax_of(g, {in}, names);
  EXPECT_LT(amax.at("a_y"), amax.at("cat_y"));  // so that holding a at cat's scale is a real change
  // Near FP32: within 3% of the output's range (a few int8 steps; nothing clipped).
  test::expect_int8_cpu_equals_ref_near_fp32(g, {in}, amax, 0.03);
}
