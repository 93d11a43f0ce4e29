// Shape propagation with folding: concrete shapes for every tensor of a graph, and the data of every
// tensor that is known before run (constants and what is computed from them and from input shapes).
// It runs the ref kernels on what is known, so it lives with ref, under passes (which use it) and runtime.
#pragma once

#include <vector>

#include "ir/infer.h"

namespace octet {

struct Propagation {
  std::vector<DType> dtype;    // per value
  std::vector<Shape> shape;    // per value
  std::vector<Tensor> data;    // per value: defined where known[v]
  std::vector<char> known;     // per value
  std::vector<int> exec;       // nodes that remain to run, in order
};

// Checks input shapes against the declared ones (error names the input and both shapes).
Propagation propagate(const Graph& g, const std::vector<Shape>& input_shapes);

}  // namespace octet
