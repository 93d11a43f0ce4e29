// ONNX Runtime quantize_static arguments that reproduce octet's INT8 plan (see ort_args.h).
//
// How ORT's quantizer places Q/DQ (onnxruntime/quantization, 1.2x-1.3x): each quantized node marks tensors --
// Conv/ConvTranspose/Gemm its input 0 (+ weight, bias), MatMul both inputs, the ops outside its registry (Add,
// Mul, Concat, GlobalAveragePool, ...) every input, the "direct 8-bit" ops (Reshape, MaxPool, ...) their input 0
// under ForceQuantizeNoInputCheck -- and, unless the op type is in OpTypesToExcludeOutputQuantization, its
// outputs. A marked tensor gets one Q->DQ pair that every reader reads (DedicatedQDQPair off).
// So outputs are never marked (all chosen op types excluded) and octet's rounded tensors are marked as inputs of
// chosen nodes: first the Conv/Gemm/MatMul octet runs in INT8, then, for a rounded tensor no such node reads,
// one reader that marks nothing else (a direct op, or one whose other inputs are rounded too), else one whose
// other inputs get 16-bit Q/DQ (256x finer than int8: the closest ORT comes to "not rounded"; e.g. a residual
// Add octet fuses into a Conv epilogue, where only the shortcut is rounded).
#include "onnx/ort_args.h"

#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "core/file_io.h"

namespace octet {
namespace {

// onnxruntime/quantization/registry.py QDQRegistry: ops with their own QDQ quantizer. The others use
// QDQOperatorBase, which marks every input.
const std::set<std::string> kOrtRegistry = {
    "Conv", "ConvTranspose", "Gemm", "Clip", "Relu", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
    "Resize", "MaxPool", "AveragePool", "Slice", "Pad", "MatMul", "Split", "Gather", "GatherElements", "Where",
    "InstanceNormalization", "LayerNormalization", "BatchNormalization", "TopK", "CumSum"};
// QDQDirect8BitOp: with ForceQuantizeNoInputCheck they mark input 0 only (output excluded).
const std::set<std::string> kOrtDirect = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                                          "MaxPool", "AveragePool", "Slice"};
// QDQOperatorBase ops octet lets mark their inputs (float in, float out, no attributes ORT rewrites).
const std::set<std::string> kOrtBase = {"Add", "Sub", "Mul", "Div", "Concat", "GlobalAveragePool", "Sigmoid",
                                        "HardSigmoid", "HardSwish", "Softmax", "Tanh", "Erf"};
// Ops whose outputs are float when their inputs are (for a 16-bit input of a chosen base op).
const std::set<std::string> kFloatOps = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "HardSigmoid",
    "HardSwish", "Softmax", "Tanh", "Erf", "BatchNormalization", "GlobalAveragePool", "AveragePool", "MaxPool",
    "Concat", "Reshape", "Flatten", "Transpose", "LayerNormalization", "Squeeze", "Unsqueeze", "Resize", "Pow",
    "Sqrt", "ReduceMean", "LeakyRelu", "PRelu", "Exp"};

}  // namespace

OrtQuantizeArgs ort_quantize_args(const std::string& model_path, const std::map<std::string, float>& scale,
                                  const QdqExportOptions& opt, const std::set<std::string>& float_read) {
  const std::string buf = read_file(model_path, "model");
  onnx::ModelProto m;
  OCTET_CHECK(m.ParseFromString(buf) && m.has_graph(), "'", model_path, "': not an ONNX model (protobuf parsing failed)");
  const onnx::GraphProto& g = m.graph();
  int64_t opset = 0;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  std::set<std::string> constant, float_inputs;
  for (const auto& t : g.initializer()) constant.insert(t.name());
  for (const auto& i : g.input())
    if (i.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT) float_inputs.insert(i.name());
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> readers;
  for (int n = 0; n < g.node_size(); ++n) {
    const auto& node = g.node(n);
    if (node.op_type() == "Constant")
      for (const auto& o : node.output()) constant.insert(o);
    for (const auto& o : node.output()) producer[o] = n;
    for (const auto& i : node.input())
      if (!i.empty()) readers[i].push_back(n);
  }
  // The tensors octet rounds (its plan holds them in int8), with the cache's scales.
  std::map<std::string, float> rounded;
  for (const auto& t : opt.int8_tensors)
    if (auto it = scale.find(t); it != scale.end() && it->second > 0.f && !constant.count(t)) rounded[t] = it->second;
  // Held with a zero point by octet (QdqExportOptions::zero_points): octet's asymmetric scale, and the zero point.
  for (auto& [t, s] : rounded)
    if (auto it = opt.zero_points.find(t); it != opt.zero_points.end()) s = it->second.first;

  auto is_float = [&](const std::string& t) {
    if (float_inputs.count(t)) return true;
    auto p = producer.find(t);
    return p != producer.end() && kFloatOps.count(g.node(p->second).op_type());
  };
  // The inputs ORT marks when it quantizes node n (outputs excluded); false when it would mark something octet
  // cannot allow (a constant of a base op, a weight of a layer octet runs in FP32).
  auto marks = [&](int n, std::vector<std::string>& out) {
    const auto& node = g.node(n);
    const std::string& op = node.op_type();
    out.clear();
    if (node.name().empty() || !node.domain().empty()) return false;
    if (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul") {
      if (!opt.int8_nodes.count(node.name())) return false;
      if (op == "MatMul") {
        for (int i = 0; i < 2 && i < node.input_size(); ++i)
          if (!constant.count(node.input(i))) out.push_back(node.input(i));
      } else if (node.input_size() > 1 && constant.count(node.input(1))) {
        out.push_back(node.input(0));
      } else {
        return false;  // a Gemm / Conv with a computed weight: ORT would round it as an activation
      }
      return true;
    }
    if (kOrtDirect.count(op)) {
      out.push_back(node.input(0));
      return op != "MaxPool" || opset >= 12;  // ORT leaves MaxPool of opset < 12 alone
    }
    if (kOrtBase.count(op) && !kOrtRegistry.count(op)) {
      for (const auto& i : node.input()) {
        if (i.empty()) continue;
        if (constant.count(i) || !is_float(i)) return false;
        out.push_back(i);
      }
      return !out.empty();
    }
    return false;
  };

  std::set<int> chosen;
  std::set<std::string> marked;
  std::map<std::string, bool> wide;  // marked but not rounded by octet: 16-bit
  std::vector<std::string> in;
  // 1. The weighted layers octet runs in INT8, when all they mark is rounded by octet.
  for (int n = 0; n < g.node_size(); ++n) {
    const std::string& op = g.node(n).op_type();
    if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") continue;
    if (!marks(n, in)) continue;
    bool ok = !in.empty();
    for (const auto& t : in) ok = ok && rounded.count(t);
    if (!ok) continue;
    chosen.insert(n);
    marked.insert(in.begin(), in.end());
  }
  // 2. A reader for each rounded tensor still unmarked: one that marks only rounded tensors, else the first
  //    that marks others (16-bit).
  std::vector<std::string> unplaced;
  for (const auto& [t, s] : rounded) {
    if (marked.count(t)) continue;
    int best = -1, fallback = -1;
    for (int n : readers[t]) {
      if (!marks(n, in)) continue;
      bool clean = true;
      for (const auto& x : in) clean = clean && (rounded.count(x) || marked.count(x));
      if (clean) {
        best = n;
        break;
      }
      if (fallback < 0) fallback = n;
    }
    const int n = best >= 0 ? best : fallback;
    if (n < 0) {
      unplaced.push_back(t);
      continue;
    }
    marks(n, in);
    chosen.insert(n);
    for (const auto& x : in) {
      marked.insert(x);
      if (!rounded.count(x)) wide[x] = true;
    }
  }
  // 3. Output Q/DQ for an op type when every chosen node of it writes a tensor octet rounds, or one an INT8
  //    epilogue fused away (Conv -> Relu: rounded with the Relu output's scale, the same values after the Relu):
  //    then ORT fuses DQ -> op -> Q into its INT8 kernel, and a rounded graph output (logits) is rounded too.
  //    A rounded tensor no reader can mark whose producer is not chosen (an int8 Add read by an FP32 layer):
  //    that producer joins (16-bit for what it marks that octet keeps float: the Conv output of a residual Add
  //    octet fuses into the Conv), and its op type gets output Q/DQ below.
  for (const auto& t : unplaced) {
    auto p = producer.find(t);
    if (p == producer.end() || chosen.count(p->second) || !marks(p->second, in)) continue;
    chosen.insert(p->second);
    for (const auto& x : in) {
      marked.insert(x);
      if (!rounded.count(x)) wide[x] = true;
    }
  }
  std::map<std::string, float> out_scales;
  std::set<std::string> output_types;
  {
    std::map<std::string, bool> ok;
    std::map<std::string, float> pending;
    for (int n : chosen) {
      const auto& node = g.node(n);
      bool& all = ok.try_emplace(node.op_type(), true).first->second;
      for (const auto& o : node.output()) {
        if (auto it = rounded.find(o); it != rounded.end()) {
          pending[o] = it->second;
          continue;
        }
        auto f = opt.fused_into.find(o);
        if (f != opt.fused_into.end() && rounded.count(f->second) && readers[o].size() == 1) {
          pending[o] = rounded.at(f->second);
          continue;
        }
        all = false;
      }
    }
    for (const auto& [op, all] : ok)
      if (all) output_types.insert(op);
    // A rounded tensor no reader can mark (its readers run in FP32), written by a chosen node: that op type's
    // outputs get Q/DQ too, 16-bit where octet does not round.
    // (A Relu / Clip output octet's epilogue writes for a chosen Conv: that Conv's output, rounded with its scale.)
    for (const auto& t : unplaced) {
      auto p = producer.find(t);
      if (p == producer.end()) continue;
      int n = p->second;
      const auto& pn = g.node(n);
      if ((pn.op_type() == "Relu" || pn.op_type() == "Clip") && pn.input_size() > 0) {
        auto f = opt.fused_into.find(pn.input(0));
        auto q = producer.find(pn.input(0));
        if (f != opt.fused_into.end() && f->second == t && q != producer.end()) n = q->second;
      }
      if (chosen.count(n)) output_types.insert(g.node(n).op_type());
    }
    for (int n : chosen)
      if (output_types.count(g.node(n).op_type()))
        for (const auto& o : g.node(n).output()) {
          if (auto it = pending.find(o); it != pending.end()) {
            out_scales[o] = it->second;
            if (auto f = opt.fused_into.find(o); f != opt.fused_into.end() && !rounded.count(o))
              marked.insert(f->second);  // rounded as the Conv output, the same values after the Relu / Clip
          }
          else if (!rounded.count(o))
            wide[o] = true;
          marked.insert(o);
        }
  }
  std::vector<std::string> not_reproduced;
  for (const auto& t : unplaced)
    if (!marked.count(t)) not_reproduced.push_back(t);
  // A tensor octet rounds for its INT8 readers only, while an FP32 node reads the float value: ORT's one pair
  // rounds it for every reader.
  std::vector<std::string> shared;
  for (const auto& [t, s] : rounded)
    if (marked.count(t) && float_read.count(t)) shared.push_back(t);

  OrtQuantizeArgs r;
  for (int n = 0; n < g.node_size(); ++n) {
    const auto& node = g.node(n);
    if (chosen.count(n)) {
      r.nodes_to_quantize.push_back(node.name());
      r.op_types.insert(node.op_type());
    } else if (!node.name().empty() && node.op_type() != "Constant") {
      r.nodes_to_exclude.push_back(node.name());
    }
  }
  for (const auto& [t, s] : rounded)
    if (marked.count(t)) r.scales[t] = s;
  for (const auto& [t, s] : out_scales) r.scales[t] = s;
  for (const auto& [t, s] : r.scales)
    if (auto it = opt.zero_points.find(t); it != opt.zero_points.end() && it->second.first == s)
      r.zero_points[t] = it->second.second;
  r.output_types = output_types;
  for (const auto& [t, w] : wide) r.int16.push_back(t);
  r.not_reproduced = not_reproduced;
  r.rounded_for_every_reader = shared;
  return r;
}

}  // namespace octet
