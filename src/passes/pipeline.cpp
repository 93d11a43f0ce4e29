#include "passes/pipeline.h"

#include "passes/passes.h"

#include <string>

namespace octet {

namespace {

// Constants that no node reads any more -- FP32 weights replaced by BatchNormalization-folded or int8 ones --
// are dropped, so that (when the caller moved its graph in) their memory goes back before the kernels pack
// their own copies.
void release_unread_constants(Graph& g) {
  std::vector<char> read(g.values.size(), 0);
  for (const Node& n : g.nodes)
    for (int v : n.inputs)
      if (v >= 0) read[static_cast<size_t>(v)] = 1;
  for (int v : g.outputs) read[static_cast<size_t>(v)] = 1;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (!read[v] && g.values[v].constant) g.values[v].constant.reset();
}

bool always(const CompileOptions&, const BackendTraits&) { return true; }
bool int8(const CompileOptions& o, const BackendTraits&) { return !o.int8_amax.empty(); }

const std::vector<PipelinePass> kPipeline = {
    {"fold_constants", always, [](Graph& g, const CompileOptions&, QuantizeReport&) { fold_constants(g); }},
    {"fold_batchnorm", [](const CompileOptions& o, const BackendTraits&) { return o.fold_batchnorm; },
     [](Graph& g, const CompileOptions&, QuantizeReport&) { fold_batchnorm(g); }},
    {"release_unread_constants", always,
     [](Graph& g, const CompileOptions&, QuantizeReport&) { release_unread_constants(g); }},
    {"fuse_post_ops", [](const CompileOptions& o, const BackendTraits&) { return o.fuse; },
     [](Graph& g, const CompileOptions& o, QuantizeReport&) {
       fuse_post_ops(g, /*int8=*/!o.int8_amax.empty(), o.keep_unfused.empty() ? nullptr : &o.keep_unfused);
     }},
    {"finalize", always, [](Graph& g, const CompileOptions&, QuantizeReport&) { g.finalize(); }},
    {"quantize_graph", int8,
     [](Graph& g, const CompileOptions& o, QuantizeReport& r) {
       QuantizeOptions qo;
       qo.fp32_layers = o.fp32_layers;
       qo.weight_cache = o.weight_cache;
       qo.keep_rounded = o.keep_unfused.empty() ? nullptr : &o.keep_unfused;
       r = quantize_graph(g, o.int8_amax, qo);
     }},
    {"release_unread_constants", int8,
     [](Graph& g, const CompileOptions&, QuantizeReport&) { release_unread_constants(g); }},
    {"convert_to_nhwc",
     [](const CompileOptions& o, const BackendTraits& t) { return o.channels_last && t.preferred_layout == Layout::NHWC; },
     [](Graph& g, const CompileOptions&, QuantizeReport&) { convert_to_nhwc(g); }},
    {"release_unread_constants", always,
     [](Graph& g, const CompileOptions&, QuantizeReport&) { release_unread_constants(g); }},
};

}  // namespace

const std::vector<PipelinePass>& compile_pipeline() { return kPipeline; }

CompiledGraph compile(Graph g, const CompileOptions& opt, const BackendTraits& traits) {
  return compile_from_quantize(compile_before_quantize(std::move(g), opt, traits), opt, traits);
}

namespace {
size_t quantize_pass_index() {
  for (size_t i = 0; i < kPipeline.size(); ++i)
    if (std::string(kPipeline[i].name) == "quantize_graph") return i;
  return kPipeline.size();
}
}  // namespace

Graph compile_before_quantize(Graph g, const CompileOptions& opt, const BackendTraits& traits) {
  QuantizeReport unused;
  for (size_t i = 0; i < quantize_pass_index(); ++i)
    if (kPipeline[i].enabled(opt, traits)) kPipeline[i].run(g, opt, unused);
  return g;
}

CompiledGraph compile_from_quantize(Graph g, const CompileOptions& opt, const BackendTraits& traits) {
  CompiledGraph c;
  for (size_t i = quantize_pass_index(); i < kPipeline.size(); ++i)
    if (kPipeline[i].enabled(opt, traits)) kPipeline[i].run(g, opt, c.report);
  c.graph = std::move(g);
  return c;
}

}  // namespace octet
