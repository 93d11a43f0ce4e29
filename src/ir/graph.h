// The graph IR: Values (tensors, by index) and Nodes (ops, in topological order after sort()).
//
// A Value is named exactly as in the ONNX graph so calibration caches interoperate with TensorRT.
// Constants (ONNX initializers, folded results) carry their data in Value::constant.
// Optional inputs that ONNX leaves empty are kNoValue in Node::inputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace octet {

enum class OpType : uint16_t {
#define OCTET_OP(name, group) name,
#include "ir/ops.inc"
#undef OCTET_OP
  kCount
};
enum class OpGroup : uint8_t { Nn, Unary, Binary, Tensor, Reduce, Quant };

const char* op_name(OpType op);
OpGroup op_group(OpType op);
std::optional<OpType> op_from_name(const std::string& name);
constexpr int kOpCount = static_cast<int>(OpType::kCount);
// octet's own INT8 ops (Quantize ... QConcat in ops.inc): produced by the quantization pass, never by ONNX.
inline bool op_is_internal(OpType op) { return op >= OpType::Quantize && op < OpType::kCount; }

struct Attr {
  enum class Kind : uint8_t { Int, Float, String, Ints, Floats, Strings, Tensor };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  octet::Tensor t;
};

// Attribute values, for passes and tests that build nodes.
inline Attr attr_i(int64_t v) {
  Attr a;
  a.kind = Attr::Kind::Int;
  a.i = v;
  return a;
}
inline Attr attr_f(float v) {
  Attr a;
  a.kind = Attr::Kind::Float;
  a.f = v;
  return a;
}
inline Attr attr_s(std::string v) {
  Attr a;
  a.kind = Attr::Kind::String;
  a.s = std::move(v);
  return a;
}
inline Attr attr_ints(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::Ints;
  a.ints = std::move(v);
  return a;
}
inline Attr attr_floats(std::vector<float> v) {
  Attr a;
  a.kind = Attr::Kind::Floats;
  a.floats = std::move(v);
  return a;
}

// An activation applied to an op's result inside the same kernel (set by the fusion pass).
enum class Activation : uint8_t { None, Relu, Clip, Sigmoid, HardSwish, LeakyRelu, Silu };  // Silu: x * sigmoid(x)
struct PostOp {
  Activation act = Activation::None;
  float alpha = 0, beta = 0;  // Clip: [alpha, beta]; LeakyRelu: alpha
  // Index into Node::inputs of a tensor added before the activation (residual), or -1.
  int residual_input = -1;
  // ONNX names of the outputs the fused nodes produced (kept for calibration / reporting).
  std::vector<std::string> fused_names;
  // ONNX names of the fused nodes, in the same order (build time only: not stored in plan files).
  std::vector<std::string> fused_nodes;
};

inline constexpr int kNoValue = -1;

struct Node {
  OpType op = OpType::Identity;
  std::string name;  // ONNX node name (may be empty in the file; import fills "<op>_<index>")
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::map<std::string, Attr> attrs;
  PostOp post;

  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  int64_t attr_i(const std::string& k, int64_t def) const;
  float attr_f(const std::string& k, float def) const;
  std::string attr_s(const std::string& k, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& k, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& k, std::vector<float> def = {}) const;
  // "node 'conv1' (Conv)" — the prefix every error about this node starts with.
  std::string describe() const;
};

// A dimension as declared in the model: a number, or a symbol ("N", "batch") when dim_value is -1.
struct Dim {
  int64_t value = -1;
  std::string symbol;
};

struct Value {
  std::string name;
  DType dtype = DType::f32;
  std::vector<Dim> declared;  // shape from the model's value_info / graph inputs (may be empty)
  bool has_declared_shape = false;
  std::optional<Tensor> constant;
  int producer = -1;  // node index or -1
  // Set by passes that make another copy of a tensor's data: the value this one holds in another layout
  // (channels-last) or -1. Calibration observes such a copy as the original tensor.
  int layout_of = -1;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // runtime inputs (initializers excluded)
  std::vector<int> outputs;
  int64_t opset = 0;
  std::string name;

  int find(const std::string& value_name) const;  // -1 if absent
  int add_value(const std::string& name, DType dtype = DType::f32);
  int add_constant(const std::string& name, Tensor t);
  const Value& value(int i) const { return values[static_cast<size_t>(i)]; }
  Value& value(int i) { return values[static_cast<size_t>(i)]; }
  bool is_const(int v) const { return v >= 0 && values[static_cast<size_t>(v)].constant.has_value(); }
  const Tensor& const_of(int v) const { return *values[static_cast<size_t>(v)].constant; }

  // Recompute producers, drop nodes whose outputs nobody uses, order topologically.
  // Throws with the nodes involved on a cycle or on a value produced twice.
  void finalize();
  // consumers[v] = nodes reading value v (valid after finalize()).
  std::vector<std::vector<int>> consumers() const;
  bool is_graph_output(int v) const;
  std::string unique_name(const std::string& base);

 private:
  std::unordered_map<std::string, int> by_name_;
  uint64_t uniq_ = 0;
};

// The batch the graph's inputs declare as a number in their first dimension (the first input that does), or
// -1 when every input's batch is symbolic (dynamic) or undeclared.
int64_t declared_batch(const Graph& g);

}  // namespace octet
