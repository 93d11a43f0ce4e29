// octet quantize MODEL --cache C -o OUT: explicit quantization, the FP32 model with Q/DQ nodes carrying the
// cache's scales (TensorRT 8-11 explicit INT8, ONNX Runtime QDQ). See src/onnx/qdq_export.h, docs/qdq.md.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/formats.h"
#include "calib/table.h"
#include "onnx/import.h"
#include "commands.h"
#include "common.h"
#include "onnx/qdq_export.h"

namespace octet::cli {

namespace {

// What octet's INT8 plan of `model` does, for the export to put Q/DQ where octet rounds: the ONNX tensors it
// holds in int8 (its quantization pass names the int8 copy of tensor T "T::int8"), the nodes it runs in INT8,
// and the tensors fused away by an activation. Empty, with a note, when the plan cannot be built (the export
// then uses the format's rules alone).
void mirror_plan(const std::string& model, const CalibCache& cache, QdqExportOptions& opt,
                 std::vector<std::string>& notes) {
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
    // Tensors whose float value in the plan is a Dequantize output (an INT8 op produced them).
    for (const auto& n : plan->graph().nodes)
      if (n.op == OpType::Dequantize && !n.outputs.empty() && out.count(plan->graph().value(n.outputs[0]).name))
        opt.dequantized.insert(plan->graph().value(n.outputs[0]).name);
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
  }
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  Args a("quantize", "MODEL.onnx --cache CACHE -o OUT.onnx [--format trt|ort] [--fp32-layers NODE,...]",
         "Write MODEL with QuantizeLinear/DequantizeLinear nodes carrying the calibration cache's scales:\n"
         "int8, zero point 0, activations per tensor, weights per output channel (int8 initializers).\n"
         "  trt: TensorRT's Q/DQ placement (inputs of Conv/ConvTranspose/Gemm/MatMul, residual Add inputs), plus\n"
         "       every tensor octet's own INT8 plan rounds to int8 (Concat / pooling / Add outputs), so the model\n"
         "       computes what `octet eval --precision int8` does; build with `trtexec --onnx=OUT.onnx`.\n"
         "  ort: ONNX Runtime's QDQ layout (op outputs too, int32 bias) for its CPU/GPU providers, limited to the\n"
         "       tensors octet's INT8 plan rounds (a Conv -> Relu pair gets the Relu output's scale).\n"
         "CACHE may be a TensorRT cache, ONNX Runtime's calibration.json or its text calibration.cache.");
  a.opt("cache", "CACHE", "activation scales (TensorRT cache, ORT calibration.json or calibration.cache)");
  a.opt("output", "OUT", "the Q/DQ model to write (also -o)");
  a.opt("format", "FMT", "trt or ort", "trt");
  a.opt("fp32-layers", "NODES", "comma-separated ONNX node names that get no Q/DQ (default: those octet tune recorded in the cache sidecar; 'none' for none)");
  a.flag("rules-only", "place Q/DQ by the format's rules alone, without octet's INT8 plan (trt: no pairs on\n"
                        "int8 Concat / pooling / Add outputs; ort: pairs on every input and output of ORT's ops)");
  a.flag("force", "overwrite OUT");
  a.flag("quiet", "print only errors");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet quantize: give exactly one model file");
  const std::string model = a.positional()[0], out = a.required("output");
  check_output(out, a.on("force"), "-o");
  {
    std::error_code ec;
    OCTET_CHECK(!std::filesystem::equivalent(model, out, ec), "octet quantize: the output would overwrite the input model");
  }
  ScaleFormat fmt;
  CalibCache cache = read_scales_file(a.required("cache"), &fmt);
  std::map<std::string, float> scales;
  for (const auto& e : cache.entries) scales[e.name] = e.scale;
  QdqExportOptions opt;
  opt.format = qdq_format_from_name(a.get("format"));
  opt.fp32_layers = fp32_layers_from(a);
  std::vector<std::string> plan_notes;
  if (!a.on("rules-only")) mirror_plan(model, cache, opt, plan_notes);
  QdqExportReport rep;
  std::string bytes = export_qdq_file(model, out, scales, opt, &rep);
  write_file_atomic(out, bytes);
  if (!a.on("quiet")) {
    for (const auto& n : plan_notes) std::printf("note: %s\n", n.c_str());
    for (const auto& n : rep.notes) std::printf("note: %s\n", n.c_str());
    for (const auto& s : rep.skipped) std::printf("fp32: %s\n", s.c_str());
    std::printf("wrote %s (%s format, opset %lld): %d nodes quantized, %d activation Q/DQ pairs, %d int8 weights%s\n",
                out.c_str(), qdq_format_name(opt.format), static_cast<long long>(rep.opset_out), rep.quantized_nodes,
                rep.activation_pairs, rep.weights,
                rep.biases ? (", " + std::to_string(rep.biases) + " int32 biases").c_str() : "");
  }
  return 0;
}

}  // namespace octet::cli
