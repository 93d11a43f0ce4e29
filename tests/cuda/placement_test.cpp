// Where the cuda backend keeps each value (src/backends/cuda/placement.h), checked on the CPU: a node's input
// is trusted on the device only when a device node produced it or it is a constant (graph inputs and what host
// nodes make are uploaded every run); an output is downloaded exactly when it is a graph output or a host node
// reads it. And which nodes the backend takes: the INT8 ops, the FP32 ops around them, nothing with a fused
// FP32 post-op or of an op it has no kernel for.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/cuda/placement.h"

namespace octet {
namespace {

int add_value(Graph& g, const std::string& name, DType t, bool constant = false) {
  Value v;
  v.name = name;
  v.dtype = t;
  if (constant) v.constant = Tensor(t, {4, 4, 1, 1});
  g.values.push_back(std::move(v));
  return static_cast<int>(g.values.size()) - 1;
}
const Node& add_node(Graph& g, OpType op, std::vector<int> in, std::vector<int> out) {
  Node n;
  n.op = op;
  n.name = std::string(op_name(op)) + "_" + std::to_string(g.nodes.size());
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  g.nodes.push_back(std::move(n));
  return g.nodes.back();
}

// x -> Quantize -> QConv(w) -> Dequantize -> LogSoftmax (host) -> y1;  Dequantize's output is also y2, and
// QConv's output also feeds a host Cast; Relu (device) reads Softmax's output -> y3.
TEST(CudaPlacement, InputsUploadedAndOutputsDownloadedExactlyWhereTheHostIsInvolved) {
  Graph g;
  const int x = add_value(g, "x", DType::f32), q = add_value(g, "q", DType::i8);
  const int w = add_value(g, "w", DType::i8, true), c = add_value(g, "c", DType::i8);
  const int d = add_value(g, "d", DType::f32), s = add_value(g, "s", DType::f32);
  const int k = add_value(g, "k", DType::f32), r = add_value(g, "r", DType::f32);
  g.inputs = {x};
  add_node(g, OpType::Quantize, {x}, {q});
  add_node(g, OpType::QConv, {q, w, kNoValue}, {c});
  add_node(g, OpType::Dequantize, {c}, {d});
  add_node(g, OpType::LogSoftmax, {d}, {s});
  add_node(g, OpType::Cast, {c}, {k});
  add_node(g, OpType::Relu, {s}, {r});
  g.outputs = {s, d, r};

  std::vector<bool> on;
  for (const Node& n : g.nodes) on.push_back(cuda::supports(g, n));
  EXPECT_EQ(on, (std::vector<bool>{true, true, true, false, false, true}));

  auto res = [&](size_t i) { return cuda::residency(g, g.nodes[i], cuda::supports); };
  // Quantize: the graph input is uploaded every run; q stays on the device (only QConv reads it).
  EXPECT_EQ(res(0).reuse, std::vector<bool>{false});
  EXPECT_EQ(res(0).download, std::vector<bool>{false});
  // QConv: q from a device node and the constant weights are trusted; no bias; c goes to the host for Cast.
  EXPECT_EQ(res(1).reuse, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(res(1).download, std::vector<bool>{true});
  // Dequantize: d is a graph output and LogSoftmax (host) reads it.
  EXPECT_EQ(res(2).reuse, std::vector<bool>{true});
  EXPECT_EQ(res(2).download, std::vector<bool>{true});
  // Relu: s comes from a host node (LogSoftmax), so it is uploaded every run; r is a graph output.
  EXPECT_EQ(res(5).reuse, std::vector<bool>{false});
  EXPECT_EQ(res(5).download, std::vector<bool>{true});
}

TEST(CudaPlacement, DeclinesWhatItHasNoKernelFor) {
  Graph g;
  const int a = add_value(g, "a", DType::f32), b = add_value(g, "b", DType::f32), y = add_value(g, "y", DType::f32);
  const int i = add_value(g, "i", DType::i64), j = add_value(g, "j", DType::i64), z = add_value(g, "z", DType::i64);
  const Node& add = add_node(g, OpType::Add, {a, b}, {y});
  EXPECT_TRUE(cuda::supports(g, add));
  Node fused = add;
  fused.post.act = Activation::Relu;  // a fused FP32 post-op: not implemented on the device
  EXPECT_FALSE(cuda::supports(g, fused));
  EXPECT_FALSE(cuda::supports(g, add_node(g, OpType::Add, {i, j}, {z})));  // int64 arithmetic
  EXPECT_TRUE(cuda::supports(g, add_node(g, OpType::MatMul, {a, b}, {y})));
  EXPECT_FALSE(cuda::supports(g, add_node(g, OpType::MatMul, {i, j}, {z})));  // int64
  EXPECT_FALSE(cuda::supports(g, add_node(g, OpType::Conv, {a, b}, {y})));  // NCHW: the layout pass makes ConvNhwc
  EXPECT_FALSE(cuda::supports(g, add_node(g, OpType::ConvNhwc, {a, b}, {y})));  // weights not constant
  EXPECT_FALSE(cuda::supports(g, add_node(g, OpType::LogSoftmax, {a}, {y})));
  Node pool;
  pool.op = OpType::PoolNhwc;
  pool.inputs = {a};
  pool.outputs = {y};
  pool.attrs["kernel"] = attr_ints({3, 3});
  EXPECT_TRUE(cuda::supports(g, pool));  // windowed max
  pool.attrs["mode"] = attr_s("lp");
  EXPECT_FALSE(cuda::supports(g, pool));
  pool.attrs["global"] = attr_i(1);
  EXPECT_TRUE(cuda::supports(g, pool));
}

}  // namespace
}  // namespace octet
