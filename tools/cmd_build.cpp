// octet build MODEL -o model.plan: run the graph passes (and, for INT8, quantization) once and save the
// optimized graph as a plan file (src/runtime/plan_file.h) that run, eval and bench load directly.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "core/file_io.h"
#include "core/warnings.h"
#include "common.h"

namespace octet::cli {

int cmd_build(int argc, char** argv) {
  Args a("build", "MODEL.onnx [--precision fp32|int8] [--cache C] [--fp32-layers NODE,...] -o model.plan [options]",
         "Optimize MODEL for --backend (constant and BatchNormalization folding, fusion, INT8 quantization with\n"
         "the calibration cache or the model's Q/DQ scales, channels-last) and save the result as a plan file.\n"
         "octet run, eval and bench take the plan in place of the model and skip all of that. A plan is tied to\n"
         "its plan format version, backend and (INT8 on cpu) the CPU feature level it was built on.");
  a.opt("output", "FILE", "the plan to write (also -o)");
  a.opt("precision", "P", "fp32 or int8 (default: int8 with --cache or a Q/DQ model, else fp32)");
  add_int8_options(a);
  a.flag("force", "overwrite an existing output file");
  a.flag("verbose", "print every ONNX node's precision and why, and the executed plan");
  add_runtime_options(a);
  add_shapes_option(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet build: give exactly one model file");
  const std::string model = a.positional()[0], out = a.required("output");
  check_output(out, a.on("force"), "-o");  // before the work: a regular file, replaced only with --force
  {
    std::error_code ec;
    OCTET_CHECK(!std::filesystem::equivalent(model, out, ec), "octet build: the output would overwrite the input model");
  }
  apply_threads(a);
  ModelSource m = load_model(model);
  OCTET_CHECK(!m.plan, "'", model, "' is already a plan; octet build takes the ONNX model");
  apply_shapes(m, a);
  std::string precision = a.get("precision");
  if (precision.empty()) precision = a.has("cache") || !m.qdq_amax.empty() ? "int8" : "fp32";
  OCTET_CHECK(precision == "fp32" || precision == "int8", "octet build: --precision is fp32 or int8, got '", precision, "'");
  OCTET_CHECK(precision == "int8" || (!a.has("cache") && !a.has("fp32-layers")),
              "octet build: --cache and --fp32-layers are for --precision int8");
  OCTET_CHECK(precision != "int8" || !simulates_asymmetric(m, a), "octet build: '", model, "' has ",
              m.qdq_asymmetric.size(), " asymmetric (uint8 / zero point != 0) activation(s), e.g. '",
              m.qdq_asymmetric[0], "', and octet's INT8 plans are symmetric int8. Pass --asymmetric symmetric to map "
              "them (about one bit less precision per tensor), or give the model itself to run, eval and bench, "
              "which simulate its INT8 exactly");
  auto plan = make_plan(m, a, precision);
  const bool int8 = plan->is_int8();
  // Names in --fp32-layers that match nothing are most likely typos.
  for (const auto& name : plan->options().fp32_layers) {
    bool found = false;
    for (const Node& n : m.graph.nodes) found |= n.name == name;
    for (const Node& n : m.graph.nodes)
      for (int o : n.outputs) found |= m.graph.value(o).name == name;
    if (!found) warn("fp32_layers_unknown", "--fp32-layers: no node or tensor named '" + name + "' in " + model);
  }
  save_plan(*plan, out);

  std::vector<LayerRow> rows = layer_table(plan->graph(), plan->quantize_report(), int8, &m.graph);
  if (a.on("verbose")) {
    std::printf("layers (%zu ONNX nodes):\n", rows.size());
    print_layer_table(rows);
    bool dynamic = false;  // a model of dynamic H x W: no shapes to list the executed plan at
    for (int v : plan->graph().inputs)
      for (size_t d = 1; d < plan->graph().value(v).declared.size(); ++d)
        dynamic |= plan->graph().value(v).declared[d].value < 0;
    if (dynamic) {
      std::printf("executed plan: not listed, the input has dynamic dimensions beyond the batch (--shapes fixes them)\n");
    } else {
      plan->reshape(plan->input_shapes(1));
      auto lines = plan->describe();
      std::printf("executed plan (%zu nodes at batch 1):\n", lines.size());
      for (const auto& l : lines) std::printf("  %s\n", l.c_str());
    }
  }
  int n8 = 0, n32 = 0;
  for (const auto& r : rows) {
    n8 += r.precision == "int8";
    n32 += r.precision == "fp32";
  }
  std::error_code ec;
  auto bytes = std::filesystem::file_size(out, ec);
  CpuLevel built = detect_cpu_level();
  std::printf("wrote %s: %s plan for backend %s, %.2f MiB (%llu bytes)\n", out.c_str(), precision.c_str(),
              plan->options().backend.c_str(), static_cast<double>(bytes) / (1024.0 * 1024.0),
              static_cast<unsigned long long>(bytes));
  std::printf("layers: %zu ONNX nodes: %d int8, %d fp32 (fused ones counted with their host), %zu folded or removed; "
              "%zu nodes in the optimized graph\n",
              rows.size(), n8, n32, rows.size() - static_cast<size_t>(n8 + n32), plan->graph().nodes.size());
  std::printf("cpu: built on %s, requires %s\n", cpu_level_name(built),
              cpu_level_name(required_cpu_level(plan->options(), built)));
  return 0;
}

}  // namespace octet::cli
