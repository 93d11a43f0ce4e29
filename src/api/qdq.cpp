// Q/DQ export over the api layer: the cache's scales, the FP32 layers (the sidecar's by default) and octet's own
// INT8 plan mirrored into the export (mirror_plan, moved from tools/cmd_quantize.cpp).
#include <cmath>
#include <map>
#include <set>

#include "api/internal.h"
#include "calib/table.h"
#include "octet/qdq.h"
#include "onnx/import.h"

namespace octet::api {

// What octet's INT8 plan of `model` does, for the export to put Q/DQ where octet rounds: the ONNX tensors it
// holds in int8 (its quantization pass names the int8 copy of tensor T "T::int8"), the nodes it runs in INT8,
// and the tensors fused away by an activation. Empty, with a note, when the plan cannot be built (the export
// then uses the format's rules alone).
void mirror_plan(const std::string& model, const CalibCache& cache, QdqExportOptions& opt,
                 std::vector<std::string>& notes, std::set<std::string>* float_read,
                 std::map<std::string, float>* held) {
  std::set<std::string>& out = opt.int8_tensors;
  const auto& fp32_layers = opt.fp32_layers;
  try {
    PlanOptions o;
    for (const auto& e : table_from_cache(cache).entries) o.int8_amax[e.name] = e.amax;
    o.fp32_layers = fp32_layers;
    auto plan = Plan::build(import_onnx_file(model).graph, o);
    const std::string suffix = "::int8";
    for (const auto& v : plan->graph().values) {
      size_t at = v.name.rfind(suffix);
      if (v.dtype == DType::i8 && at != std::string::npos && at > 0) out.insert(v.name.substr(0, at));
    }
    for (const auto& l : plan->quantize_report().lines)
      if (l.precision == "int8") opt.int8_nodes.insert(l.node);
    // Tensors held at another tensor's scale (passes/quantize.h, concat_inputs_at_output_scale): the plan's
    // scale differs from the cache's by more than the last-bit difference of recomputing amax / 127.
    if (held) {
      std::map<std::string, float> own;
      for (const auto& e : cache.entries) own[e.name] = e.scale;
      for (const auto& t : plan->quantize_report().int8_tensors) {
        const std::string& name = plan->graph().value(t.of).name;
        if (t.zero_point != 0) continue;  // opt.zero_points below (its scale is the asymmetric range's)
        auto it = own.find(name);
        if (it != own.end() && std::fabs(t.scale - it->second) > 1e-5f * it->second) (*held)[name] = t.scale;
      }
    }
    for (const auto& t : plan->quantize_report().int8_tensors)
      if (t.zero_point != 0) opt.zero_points[plan->graph().value(t.of).name] = {t.scale, t.zero_point};
    // Tensors whose float value in the plan is a Dequantize output (an INT8 op produced them).
    for (const auto& n : plan->graph().nodes)
      if (n.op == OpType::Dequantize && !n.outputs.empty() && out.count(plan->graph().value(n.outputs[0]).name))
        opt.dequantized.insert(plan->graph().value(n.outputs[0]).name);
    // Rounded tensors some FP32 node of the plan also reads unrounded (an FP32 producer; only the INT8 readers
    // go through the Quantize).
    if (float_read) {
      const Graph& g = plan->graph();
      const auto readers = g.consumers();
      for (size_t v = 0; v < g.values.size(); ++v) {
        const std::string& t = g.values[v].name;
        if (g.values[v].dtype != DType::f32 || !out.count(t) || opt.dequantized.count(t)) continue;
        for (int n : readers[v])
          if (g.nodes[static_cast<size_t>(n)].op != OpType::Quantize) {
            float_read->insert(t);
            break;
          }
      }
    }
    // An epilogue that fused only an activation: its input tensor -> the output octet writes.
    const Graph& pg = plan->graph();
    for (const auto& n : pg.nodes) {
      // (a quantized Conv carries its fused residual Add as the attribute residual_scale, not post.residual_input)
      if (n.post.fused_names.size() != 1 || n.post.residual_input >= 0 || n.has_attr("residual_scale") ||
          n.outputs.empty())
        continue;
      const std::string& y = pg.value(n.outputs[0]).name;
      size_t at = y.rfind(suffix);
      if (at != std::string::npos && at > 0) opt.fused_into[n.post.fused_names[0]] = y.substr(0, at);
    }
  } catch (const Error& e) {
    notes.push_back(std::string("octet's INT8 plan could not be built (") + e.what() +
                    "); Q/DQ follows the format's placement rules only");
    out.clear();
    opt.int8_nodes.clear();
    opt.fused_into.clear();
    opt.dequantized.clear();
    opt.zero_points.clear();
    if (float_read) float_read->clear();
    if (held) held->clear();
  }
}

}  // namespace octet::api

namespace octet {

QdqResult quantize_qdq(const std::string& onnx_path, const std::string& scales_path, const std::string& out_path,
                       const QdqOptions& options) {
  ScaleFormat fmt;
  CalibCache cache = read_scales_file(scales_path, &fmt);
  check_cache_scales(cache, "'" + scales_path + "'");
  std::map<std::string, float> scales;
  for (const auto& e : cache.entries) scales[e.name] = e.scale;
  QdqExportOptions opt;
  opt.format = qdq_format_from_name(options.format);
  EngineOptions eo;
  eo.cache_path = scales_path;
  eo.fp32_layers = options.fp32_layers;
  opt.fp32_layers = api::fp32_layers_from(eo);
  QdqResult r;
  if (!options.rules_only) {
    std::map<std::string, float> held;
    api::mirror_plan(onnx_path, cache, opt, r.notes, nullptr, &held);
    for (const auto& [t, s] : held) scales[t] = s;  // where octet rounds them: at the Concat's scale
  }
  QdqExportReport rep;
  r.model = export_qdq_file(onnx_path, out_path, scales, opt, &rep);
  r.notes.insert(r.notes.end(), rep.notes.begin(), rep.notes.end());
  r.skipped = rep.skipped;
  r.opset = rep.opset_out;
  r.quantized_nodes = rep.quantized_nodes;
  r.activation_pairs = rep.activation_pairs;
  r.weights = rep.weights;
  r.biases = rep.biases;
  return r;
}

}  // namespace octet
