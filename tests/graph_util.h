// Building small graphs by hand in tests: a node of `op` named `name` reading values `in`, writing value `out`;
// a graph input with a declared static shape; the first node named `name` / of `op` (null if none).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace octet {

inline Node test_node(OpType op, const std::string& name, std::vector<int> in, int out) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = {out};
  return n;
}

inline int add_graph_input(Graph& g, const std::string& name, const std::vector<int64_t>& dims) {
  const int x = g.add_value(name);
  for (int64_t d : dims) g.value(x).declared.push_back(Dim{d, ""});
  g.value(x).has_declared_shape = true;
  g.inputs.push_back(x);
  return x;
}

inline const Node* node_named(const Graph& g, const std::string& name) {
  auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.name == name; });
  return it == g.nodes.end() ? nullptr : &*it;
}

inline const Node* first_node_of(const Graph& g, OpType op) {
  auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; });
  return it == g.nodes.end() ? nullptr : &*it;
}

}  // namespace octet
