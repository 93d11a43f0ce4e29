// Which tensors of a model are shape or index arithmetic — computed only from Shape outputs and constants
// (PyTorch exports of view/reshape/channel shuffles: Shape -> Gather -> Unsqueeze -> Concat -> Reshape), or
// non-float by their op (ArgMax/TopK indices, comparisons, a Cast to an integer type). Calibration lists them
// like any op output, but they carry no activations: they get no scale by nature and never warn (issue 16).
#pragma once

#include <vector>

#include "ir/graph.h"

namespace octet {

// Per value of `g`: 1 for shape/index arithmetic (above), 0 otherwise. Needs no input shapes.
std::vector<char> shape_arithmetic_values(const Graph& g);

}  // namespace octet
