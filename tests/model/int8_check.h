// Checking a hand-built graph's INT8 plan in the model tests: calibrate it on one input (every named tensor's
// absmax), run it on ref and cpu, and require the two bit for bit equal and near FP32.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "passes/passes.h"
#include "passes/quantize.h"
#include "runtime/plan.h"
#include "graph_util.h"
#include "test_util.h"

namespace octet::test {

// Nodes of a hand-built conv graph: square-kernel convs with "same" padding and seeded random weights / bias, and
// SiLU written as ONNX exports it (Sigmoid + Mul). The nodes collect in `nodes`, in the order they are made.
struct ConvGraphNodes {
  Graph& g;
  std::vector<Node> nodes;
  // conv `name` (k output channels, kh x kh, stride, group) reading `in` (cin channels): its output value
  int conv(const std::string& name, int in, int64_t cin, int64_t k, int64_t kh, int64_t stride, int64_t group,
           uint32_t seed, float wr) {
    Node c = test_node(OpType::Conv, name,
                       {in, g.add_constant(name + "_w", random_f32({k, cin / group, kh, kh}, seed, -wr, wr)),
                        g.add_constant(name + "_b", random_f32({k}, seed + 1, -0.3f, 0.3f))},
                       g.add_value(name + "_y"));
    c.attrs["pads"] = attr_ints({kh / 2, kh / 2, kh / 2, kh / 2});
    c.attrs["strides"] = attr_ints({stride, stride});
    c.attrs["group"] = attr_i(group);
    nodes.push_back(c);
    return c.outputs[0];
  }
  // y * Sigmoid(y): the Mul's output value
  int silu(const std::string& name, int y) {
    Node s = test_node(OpType::Sigmoid, name + "_sig", {y}, g.add_value(name + "_s"));
    Node m = test_node(OpType::Mul, name + "_mul", {y, s.outputs[0]}, g.add_value(name + "_m"));
    nodes.push_back(s);
    nodes.push_back(m);
    return m.outputs[0];
  }
};

// The int8 pipeline's fusion, then the quantization pass with `amax` (what Plan::build does before lowering).
inline QuantizeReport fuse_and_quantize(Graph& g, const std::map<std::string, float>& amax,
                                        const QuantizeOptions& o = {}) {
  fuse_post_ops(g, /*int8=*/true);
  g.finalize();
  return quantize_graph(g, amax, o);
}

// The int8 scale the quantization pass gave tensor `name` (0 when it has no int8 twin).
inline float int8_scale_of(const Graph& g, const QuantizeReport& r, const std::string& name) {
  for (const auto& t : r.int8_tensors)
    if (g.value(t.of).name == name) return t.scale;
  return 0.f;
}

// The absmax of each of `names` in an FP32 run of `g` on `inputs` (an FP32 plan that keeps every tensor).
inline std::map<std::string, float> absmax_of(const Graph& g, const std::vector<Tensor>& inputs,
                                              const std::vector<std::string>& names) {
  PlanOptions o;
  o.backend = "ref";
  o.keep_all_outputs = true;
  auto fp32 = Plan::build(g, o);
  fp32->run(inputs);
  std::map<std::string, float> amax;
  for (const auto& name : names) {
    const int v = fp32->graph().find(name);
    EXPECT_GE(v, 0) << name;
    if (v < 0) continue;
    const Tensor& t = fp32->tensor(v);
    float m = 0;
    for (int64_t k = 0; k < t.numel(); ++k) m = std::max(m, std::fabs(t.data<float>()[k]));
    amax[name] = m;
  }
  return amax;
}

// The INT8 plan of `g` with `amax` on ref and on cpu (`check` sees each plan once built): their outputs equal bit
// for bit, and each within `tolerance` of the output's range of the FP32 reference run.
inline void expect_int8_cpu_equals_ref_near_fp32(const Graph& g, const std::vector<Tensor>& inputs,
                                                 const std::map<std::string, float>& amax, double tolerance = 0.03,
                                                 const std::function<void(const Plan&, const char*)>& check = {}) {
  const std::vector<Tensor> ref = run_reference(g, inputs);
  std::vector<std::vector<Tensor>> outs;
  for (const char* backend : {"ref", "cpu"}) {
    PlanOptions o;
    o.backend = backend;
    o.int8_amax = amax;
    auto plan = Plan::build(g, o);
    if (check) check(*plan, backend);
    std::vector<Tensor> y;
    for (const Tensor& t : plan->run(inputs)) y.push_back(t.clone());
    outs.push_back(std::move(y));
  }
  ASSERT_EQ(outs[0].size(), ref.size());
  ASSERT_EQ(outs[1].size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(outs[0][i].nbytes(), outs[1][i].nbytes());
    EXPECT_EQ(0, std::memcmp(outs[0][i].raw(), outs[1][i].raw(), outs[0][i].nbytes())) << "output " << i;
    const float* p = outs[0][i].data<float>();
    const float* q = ref[i].data<float>();
    double err = 0, range = 0;
    for (int64_t k = 0; k < ref[i].numel(); ++k) {
      err = std::max(err, static_cast<double>(std::fabs(p[k] - q[k])));
      range = std::max(range, static_cast<double>(std::fabs(q[k])));
    }
    EXPECT_LT(err, tolerance * range) << "output " << i;
  }
}

}  // namespace octet::test
