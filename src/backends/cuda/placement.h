// Which nodes the cuda backend runs, and where each node's inputs and outputs live (host or device) in a plan
// on it. Plain C++ (no CUDA headers): tests/cuda/ checks the decisions on the CPU.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace octet::cuda {

// What the cuda backend runs: Backend::supports (a plan puts every other node on ref, on the host).
bool supports(const Graph& g, const Node& n);

// For node n running on the device, given which nodes do (`on_device`, normally supports):
//   reuse[i]:    input i's device copy can be trusted when the device mirror holds that value (a constant, or
//                produced by a device node); false: upload it every run (a graph input, or a host node made it).
//   download[j]: output j must reach the host after the node runs (a graph output, or a host node reads it).
struct Residency {
  std::vector<bool> reuse, download;
};
Residency residency(const Graph& g, const Node& n, bool (*on_device)(const Graph&, const Node&));

}  // namespace octet::cuda
