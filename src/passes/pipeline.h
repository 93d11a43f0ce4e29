// The compile pipeline: the ordered list of graph passes that turns an imported FP32 graph into the graph a
// Plan runs (runtime/plan.h). Plan::build calls compile() and then only creates kernels and plans memory.
//
//   fold_constants -> fold_batchnorm -> fuse_post_ops -> quantize_graph (INT8) -> convert_to_nhwc (backend
//   prefers NHWC), dropping constants no node reads any more between them.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/layout.h"
#include "passes/quantize.h"

namespace octet {

// What the passes need to know of the backend the graph is compiled for (stated by runtime's Backend).
struct BackendTraits {
  Layout preferred_layout = Layout::NCHW;  // NHWC: 2-D convs and pools are converted (passes/nhwc.cpp)
};

struct CompileOptions {
  bool fold_batchnorm = true;  // BatchNormalization after Conv folded into the Conv weights
  bool fuse = true;            // activations and residual adds into the producing op
  bool channels_last = true;   // allow the NHWC conversion where the backend prefers it
  // INT8 when non-empty: ONNX tensor name -> calibrated amax (scale = amax / 127); see passes/quantize.h.
  std::map<std::string, float> int8_amax;
  std::vector<std::string> fp32_layers;  // INT8: ONNX node names kept in FP32
  std::set<std::string> keep_unfused;    // tensors fuse_post_ops must not fuse away (Q/DQ models)
  WeightCache* weight_cache = nullptr;   // INT8: see QuantizeOptions::weight_cache
};

struct CompiledGraph {
  Graph graph;
  QuantizeReport report;  // INT8 only: the precision of every ONNX node and why
};

// One pass of the pipeline, in order; `enabled` says whether it runs for these options and backend.
struct PipelinePass {
  const char* name;
  bool (*enabled)(const CompileOptions&, const BackendTraits&);
  void (*run)(Graph&, const CompileOptions&, QuantizeReport&);
};
const std::vector<PipelinePass>& compile_pipeline();

// Runs the enabled passes of compile_pipeline() in order.
CompiledGraph compile(Graph g, const CompileOptions& opt, const BackendTraits& traits);
// The same in two parts: the passes before quantize_graph (they do not read opt.int8_amax), then the others.
// compile(g) == compile_from_quantize(compile_before_quantize(g)). Plan::update_int8_amax (runtime/plan.h)
// keeps the first part's graph and re-runs only the second with other amax values.
Graph compile_before_quantize(Graph g, const CompileOptions& opt, const BackendTraits& traits);
CompiledGraph compile_from_quantize(Graph g, const CompileOptions& opt, const BackendTraits& traits);

}  // namespace octet
