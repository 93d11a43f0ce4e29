// Building small graphs by hand in tests: a node of `op` named `name` reading values `in`, writing value `out`.
#pragma once

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

}  // namespace octet
