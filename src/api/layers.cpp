// The layer table: which precision every ONNX node got in a plan and why, found through the names the passes
// give what they insert ("<tensor>::int8", "::nhwc", "::to_nchw", "::dequantize"). Moved from tools/common.cpp.
#include <algorithm>

#include "api/internal.h"

namespace octet::api {

std::vector<LayerRow> layer_table(const Graph& pg, const QuantizeReport& report, bool int8, const Graph* onnx) {
  std::map<std::string, const QuantizeReport::Line*> by_node;
  for (const auto& l : report.lines) by_node[l.node] = &l;
  std::vector<LayerRow> rows;
  if (!onnx) {
    if (int8) {
      for (const auto& l : report.lines) rows.push_back({l.node, l.op, l.precision, l.why});
    } else {
      for (const Node& n : pg.nodes) rows.push_back({n.name, op_name(n.op), "fp32", "FP32 plan"});
    }
    return rows;
  }
  // Tensors the fusion pass folded into another node's kernel -> that node.
  std::map<std::string, int> fused_into;
  for (size_t i = 0; i < pg.nodes.size(); ++i)
    for (const auto& t : pg.nodes[i].post.fused_names) fused_into[t] = static_cast<int>(i);
  for (const Node& n : onnx->nodes) {
    LayerRow r{n.name, op_name(n.op), "fp32", ""};
    if (auto it = by_node.find(n.name); it != by_node.end()) {
      r.precision = it->second->precision;
      r.why = it->second->why;
      rows.push_back(r);
      continue;
    }
    // Not quantized on its own: fused into a neighbour (whose precision it shares), folded, or removed.
    int host = -1;
    for (int o : n.outputs) {
      const std::string& name = onnx->value(o).name;
      if (auto f = fused_into.find(name); f != fused_into.end()) host = f->second;
      // Its output now comes from another node (an activation fused into a Conv), possibly as the int8 or
      // channels-last twin the passes name "<tensor>::int8" / "<tensor>::nhwc".
      for (const char* suffix : {"", "::int8", "::nhwc"}) {
        if (host >= 0) break;
        int v = pg.find(name + suffix);
        if (v >= 0 && pg.value(v).producer >= 0 && pg.nodes[static_cast<size_t>(pg.value(v).producer)].name != n.name)
          host = pg.value(v).producer;
      }
      if (host >= 0) break;
    }
    // Past the layout and quantization plumbing the passes insert ("<tensor>::to_nchw", "::dequantize") to the
    // node that computes the value.
    for (int hop = 0; hop < 4 && host >= 0; ++hop) {
      const Node& h = pg.nodes[static_cast<size_t>(host)];
      if (h.name.find("::") == std::string::npos || h.inputs.empty() || h.inputs[0] < 0) break;
      host = pg.value(h.inputs[0]).producer;
    }
    if (host >= 0 && pg.nodes[static_cast<size_t>(host)].name == n.name) host = -1;  // itself, not fused
    if (host >= 0) {
      const Node& h = pg.nodes[static_cast<size_t>(host)];
      auto it = by_node.find(h.name);
      r.precision = it != by_node.end() ? it->second->precision : (int8 ? op_is_internal(h.op) ? "int8" : "fp32" : "fp32");
      r.why = "fused into '" + h.name + "' (" + op_name(h.op) + ")";
    } else if (int v = n.outputs.empty() ? -1 : pg.find(onnx->value(n.outputs[0]).name); v >= 0 && pg.is_const(v)) {
      r.precision = "-";
      r.why = "folded into a constant";
    } else if (!int8 && std::any_of(pg.nodes.begin(), pg.nodes.end(), [&](const Node& p) { return p.name == n.name; })) {
      r.why = "FP32 plan";
    } else {
      r.precision = "-";
      r.why = "removed by the graph passes";
    }
    if (!int8 && host >= 0) r.why = "FP32 plan; " + r.why;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace octet::api
