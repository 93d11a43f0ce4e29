// octet info MODEL [--json F]: what a model is made of and whether octet can run it.
#include <cstdio>
#include <map>

#include "commands.h"
#include "common.h"
#include "onnx/import.h"
#include "onnx/qdq_import.h"
#include "backends/ref/propagate.h"

namespace octet::cli {

namespace {
std::string dims_str(const Value& v) {
  if (!v.has_declared_shape) return "?";
  std::string s;
  for (size_t i = 0; i < v.declared.size(); ++i)
    s += (i ? "x" : "") + (v.declared[i].value >= 0 ? std::to_string(v.declared[i].value) : v.declared[i].symbol);
  return s.empty() ? "scalar" : s;
}
// octet info on a plan file: its header, what it runs, and every layer's precision and why.
int plan_info(const std::string& path, const Args& a) {
  PlanContents c = read_plan_file(path);
  const PlanHeader& h = c.header;
  const Graph& g = c.graph;
  const bool int8 = !c.options.int8_amax.empty();
  CpuLevel here = detect_cpu_level();
  bool runs = here >= h.requires_level;
  std::printf("plan     %s (plan format %u, octet %s, %llu bytes)\n", path.c_str(), h.format_version,
              h.octet_version.c_str(), static_cast<unsigned long long>(c.file_bytes));
  std::printf("backend  %s  precision %s  opset %lld\n", h.backend.c_str(), int8 ? "int8" : "fp32",
              static_cast<long long>(g.opset));
  std::printf("cpu      built on %s, requires %s; this CPU: %s (%s)\n", cpu_level_name(h.built_on),
              cpu_level_name(h.requires_level), cpu_level_name(here), runs ? "can run it" : "cannot run it");
  nlohmann::json j = {{"plan", path}, {"format_version", h.format_version}, {"octet_version", h.octet_version},
                      {"backend", h.backend}, {"precision", int8 ? "int8" : "fp32"}, {"opset", g.opset},
                      {"cpu_built_on", cpu_level_name(h.built_on)}, {"cpu_requires", cpu_level_name(h.requires_level)},
                      {"bytes", c.file_bytes}, {"fp32_layers", c.options.fp32_layers}};
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    std::printf("input    %s  %s  %s\n", val.name.c_str(), dtype_name(val.dtype), dims_str(val).c_str());
    j["inputs"].push_back({{"name", val.name}, {"dtype", dtype_name(val.dtype)}, {"shape", dims_str(val)}});
  }
  for (int v : g.outputs) {
    std::printf("output   %s  %s\n", g.value(v).name.c_str(), dtype_name(g.value(v).dtype));
    j["outputs"].push_back({{"name", g.value(v).name}});
  }
  std::map<std::string, int> counts;
  for (const Node& n : g.nodes) counts[op_name(n.op)]++;
  std::printf("nodes    %zu in the optimized graph\n", g.nodes.size());
  for (const auto& [op, n] : counts) {
    std::printf("  %-22s %d\n", op.c_str(), n);
    j["ops"][op] = n;
  }
  if (!c.options.fp32_layers.empty()) {
    std::string s;
    for (const auto& l : c.options.fp32_layers) s += (s.empty() ? "" : ",") + l;
    std::printf("fp32-layers %s\n", s.c_str());
  }
  auto rows = layer_table(g, c.report, int8);
  std::printf("layers   %s\n", int8 ? ("int8 " + std::to_string(c.report.int8_nodes) + ", fp32 " +
                                        std::to_string(c.report.fp32_nodes)).c_str() : "all fp32");
  print_layer_table(rows);
  for (const auto& r : rows)
    j["layers"].push_back({{"node", r.node}, {"op", r.op}, {"precision", r.precision}, {"why", r.why}});
  if (a.has("json")) write_json(a.get("json"), j);
  return 0;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  Args a("info", "MODEL.onnx|MODEL.plan [--json FILE]",
         "Print a model's inputs, outputs, op counts and any ops octet cannot run; for a plan (octet build) its\n"
         "header and every layer's precision and why.");
  a.opt("json", "FILE", "also write the information as JSON (- for stdout)");
  a.flag("force", "overwrite an existing --json file");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet info: give exactly one model file");
  check_json_output(a);
  const std::string path = a.positional()[0];
  if (is_plan_file(path)) return plan_info(path, a);
  ImportOptions io;
  io.strict = false;
  ImportResult r = import_onnx_file(path, io);
  const Graph& g = r.graph;
  nlohmann::json j;
  j["model"] = path;
  j["producer"] = r.producer;
  j["opset"] = g.opset;
  std::printf("model    %s (opset %lld, %s)\n", path.c_str(), static_cast<long long>(g.opset), r.producer.c_str());
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    std::printf("input    %s  %s  %s\n", val.name.c_str(), dtype_name(val.dtype), dims_str(val).c_str());
    j["inputs"].push_back({{"name", val.name}, {"dtype", dtype_name(val.dtype)}, {"shape", dims_str(val)}});
  }
  // Output shapes at batch 1, when the model declares its input shapes and octet can run it.
  std::map<int, std::string> out_shape;
  if (r.unsupported.empty()) {
    try {
      std::vector<Shape> shapes;
      for (int v : g.inputs) {
        Shape s;
        for (size_t i = 0; i < g.value(v).declared.size(); ++i)
          s.push_back(g.value(v).declared[i].value >= 0 ? g.value(v).declared[i].value : 1);
        shapes.push_back(s);
      }
      Propagation p = propagate(g, shapes);
      for (int v : g.outputs) out_shape[v] = shape_str(p.shape[static_cast<size_t>(v)]) + " at batch 1";
    } catch (const Error& e) {
      std::printf("note     shapes could not be inferred: %s\n", e.what());
    }
  }
  for (int v : g.outputs) {
    const Value& val = g.value(v);
    std::string s = out_shape.count(v) ? out_shape[v] : "?";
    std::printf("output   %s  %s\n", val.name.c_str(), s.c_str());
    j["outputs"].push_back({{"name", val.name}, {"shape", s}});
  }
  std::map<std::string, int> counts;
  for (const Node& n : g.nodes) counts[op_name(n.op)]++;
  std::printf("nodes    %zu\n", g.nodes.size());
  for (const auto& [op, c] : counts) {
    std::printf("  %-22s %d\n", op.c_str(), c);
    j["ops"][op] = c;
  }
  int64_t params = 0;
  for (const Value& v : g.values)
    if (v.constant) params += v.constant->numel();
  std::printf("weights  %lld values\n", static_cast<long long>(params));
  j["weights"] = params;
  if (r.unsupported.empty() && has_qdq(g)) {
    // How octet will run this Q/DQ model at --precision int8.
    try {
      QdqImportResult q = import_qdq(g);
      std::printf("qdq      %d activation pair(s), %d quantized weight(s)", q.activation_pairs, q.folded_weights);
      if (q.asymmetric.empty())
        std::printf(": symmetric int8, runs as an INT8 plan with its scales\n");
      else
        std::printf(", %zu asymmetric activation(s) (e.g. '%s'): --precision int8 simulates them exactly "
                    "(FP32 speed) unless --asymmetric symmetric\n",
                    q.asymmetric.size(), q.asymmetric[0].c_str());
      j["qdq"] = {{"activation_pairs", q.activation_pairs}, {"quantized_weights", q.folded_weights},
                  {"asymmetric_activations", q.asymmetric}};
    } catch (const Error& e) {
      std::printf("qdq      cannot be run as INT8: %s\n", e.what());
      j["qdq"] = {{"error", e.what()}};
    }
  }
  j["unsupported"] = r.unsupported;
  if (!r.unsupported.empty()) {
    std::printf("UNSUPPORTED (%zu):\n", r.unsupported.size());
    for (const auto& u : r.unsupported) std::printf("  %s\n", u.c_str());
  } else {
    std::printf("status   octet can run every node\n");
  }
  if (a.has("json")) write_json(a.get("json"), j);
  return r.unsupported.empty() ? 0 : 4;
}

}  // namespace octet::cli
