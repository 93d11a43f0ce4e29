// octet info MODEL [--json F]: what a model is made of and whether octet can run it.
#include <cstdio>
#include <map>

#include "commands.h"
#include "common.h"
#include "onnx/import.h"
#include "runtime/propagate.h"

namespace octet::cli {

namespace {
std::string dims_str(const Value& v) {
  if (!v.has_declared_shape) return "?";
  std::string s;
  for (size_t i = 0; i < v.declared.size(); ++i)
    s += (i ? "x" : "") + (v.declared[i].value >= 0 ? std::to_string(v.declared[i].value) : v.declared[i].symbol);
  return s.empty() ? "scalar" : s;
}
}  // namespace

int cmd_info(int argc, char** argv) {
  Args a("info", "MODEL.onnx [--json FILE]", "Print a model's inputs, outputs, op counts and any ops octet cannot run.");
  a.opt("json", "FILE", "also write the information as JSON (- for stdout)");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet info: give exactly one model file");
  const std::string path = a.positional()[0];
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
