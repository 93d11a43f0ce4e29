// Backend interface: a capability query and a kernel factory.
//
// Lifecycle (XNNPACK/ORT style): create() at plan build (validate attributes, pack constant weights),
// prepare() after every reshape (shapes are final and tensors allocated: create shape-dependent primitives),
// run() many times — it neither allocates, logs nor validates.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/layout.h"

namespace octet {

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Optional: shape-dependent setup. Default: nothing.
  virtual void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) {}
  virtual void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) = 0;
  // Optional: the index of an input that output 0 may overwrite (same shape and byte size), or -1. The plan
  // then gives output 0 that input's buffer when the input is read by nobody after this node and is neither a
  // graph input nor a graph output, and run() sees in[i]->raw() == out[0]->raw(). A kernel that says so must
  // also work when the buffers differ (keep_all_outputs, the input is read later, ...). A fused residual is
  // the use: conv's sum post-op accumulates into dst, which otherwise needs a copy of the residual first.
  virtual int inplace_input() const { return -1; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Can this backend run `n` as it stands in `g` (op, attributes, dtypes, constant weights)?
  virtual bool supports(const Graph& g, const Node& n) const = 0;
  virtual std::unique_ptr<Kernel> create(const Graph& g, const Node& n) const = 0;
  // The layout its 2-D convolutions and pools want: NHWC makes the compile pipeline convert the graph
  // (passes/pipeline.h) when PlanOptions::channels_last allows it.
  virtual Layout preferred_layout() const { return Layout::NCHW; }
};

std::unique_ptr<Backend> make_ref_backend();

// Backends above the runtime (backends/cpu, ...) register a factory by name; "ref" is always there. The cpu
// backend registers itself when octet_cpu is linked (its CMake target pulls in the registering object file).
using BackendFactory = std::unique_ptr<Backend> (*)();
void register_backend(const std::string& name, BackendFactory factory);
// A registered backend by name ("ref", "cpu"); throws listing the valid names.
std::unique_ptr<Backend> make_backend(const std::string& name);

}  // namespace octet
