#include "onnx/qdq_export.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/file_io.h"
#include "onnx/tensor_data.h"
#include "quant/quant.h"

namespace octet {

const char* qdq_format_name(QdqFormat f) { return f == QdqFormat::TensorRT ? "trt" : "ort"; }

QdqFormat qdq_format_from_name(const std::string& s) {
  if (s == "trt" || s == "tensorrt") return QdqFormat::TensorRT;
  if (s == "ort" || s == "onnxruntime") return QdqFormat::OnnxRuntime;
  fail("unknown Q/DQ format '", s, "' (trt or ort)");
}

namespace {

using onnx::TensorProto;
constexpr int kFloat = TensorProto::FLOAT;
constexpr int kInt8 = TensorProto::INT8;
constexpr int kInt32 = TensorProto::INT32;
constexpr int kInt64 = TensorProto::INT64;
constexpr int kBool = TensorProto::BOOL;

bool is_std(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

std::string describe(const onnx::NodeProto& n, int index) {
  std::string name = n.name().empty() ? n.op_type() + "_" + std::to_string(index + 1) : n.name();
  return "node '" + name + "' (" + n.op_type() + ")";
}

// The ops ONNX Runtime's quantize_static quantizes by default in QDQ format (QLinearOpsRegistry ∪
// QDQRegistry of onnxruntime/quantization/registry.py, 1.2x), minus those octet does not touch here.
const std::set<std::string> kOrtOps = {
    "Add", "ArgMax", "AveragePool", "Clip", "Concat", "Conv", "ConvTranspose", "Flatten", "Gather",
    "Gemm", "GlobalAveragePool", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "Relu", "Reshape", "Resize",
    "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Transpose", "Unsqueeze", "Where", "LayerNormalization",
    "InstanceNormalization"};

bool is_weighted(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  for (const auto& a : n.attribute())
    if (a.name() == name && a.type() == onnx::AttributeProto::INT) return a.i();
  return def;
}
float attr_float(const onnx::NodeProto& n, const std::string& name, float def) {
  for (const auto& a : n.attribute())
    if (a.name() == name && a.type() == onnx::AttributeProto::FLOAT) return a.f();
  return def;
}

struct Exporter {
  onnx::ModelProto& m;
  std::string what, base_dir;
  const std::map<std::string, float>& scales;
  const QdqExportOptions& opt;
  QdqExportReport rep;
  bool ort = false;

  Exporter(onnx::ModelProto& model, std::string w, std::string dir, const std::map<std::string, float>& sc,
           const QdqExportOptions& o)
      : m(model), what(std::move(w)), base_dir(std::move(dir)), scales(sc), opt(o) {}

  onnx::GraphProto& g() { return *m.mutable_graph(); }

  std::unordered_set<std::string> used_names;  // tensor and node names
  std::unordered_map<std::string, int> init_index;
  std::unordered_map<std::string, int> const_node;  // Constant node output -> node index
  std::unordered_map<std::string, int> producer;
  std::unordered_map<std::string, std::vector<std::pair<int, int>>> uses;  // tensor -> (node, slot)
  std::unordered_map<std::string, int> elem;                                // tensor -> elem type
  std::set<std::string> graph_outputs, graph_inputs, fp32;

  [[noreturn]] void error(const std::string& msg) { fail("cannot quantize '", what, "': ", msg); }

  std::string fresh(const std::string& base) {
    std::string n = base;
    for (int i = 1; used_names.count(n); ++i) n = base + "_" + std::to_string(i);
    used_names.insert(n);
    return n;
  }

  bool is_const(const std::string& t) const { return init_index.count(t) || const_node.count(t); }
  int type_of(const std::string& t) const {
    auto it = elem.find(t);
    return it == elem.end() ? 0 : it->second;
  }
  bool is_float_act(const std::string& t) const { return !t.empty() && !is_const(t) && type_of(t) == kFloat; }
  // A usable activation scale: present, finite, positive.
  bool has_scale(const std::string& t) const {
    auto it = scales.find(t);
    return it != scales.end() && std::isfinite(it->second) && it->second > 0.f;
  }

  // ---- analysis ------------------------------------------------------------------------------------------
  void index() {
    for (const auto& i : g().input()) used_names.insert(i.name()), graph_inputs.insert(i.name());
    for (const auto& o : g().output()) used_names.insert(o.name()), graph_outputs.insert(o.name());
    for (const auto& v : g().value_info()) used_names.insert(v.name());
    for (int i = 0; i < g().initializer_size(); ++i) {
      const auto& t = g().initializer(i);
      used_names.insert(t.name());
      init_index[t.name()] = i;
      elem[t.name()] = t.data_type();
    }
    for (const auto& i : g().input())
      if (i.type().has_tensor_type()) elem[i.name()] = i.type().tensor_type().elem_type();
    for (int n = 0; n < g().node_size(); ++n) {
      const auto& node = g().node(n);
      if (!node.name().empty()) used_names.insert(node.name());
      for (int s = 0; s < node.input_size(); ++s)
        if (!node.input(s).empty()) uses[node.input(s)].push_back({n, s});
      for (const auto& o : node.output())
        if (!o.empty()) used_names.insert(o), producer[o] = n;
      if (is_std(node) && node.op_type() == "Constant" && node.output_size() == 1) const_node[node.output(0)] = n;
      if (is_std(node) && (node.op_type() == "QuantizeLinear" || node.op_type() == "DequantizeLinear"))
        error(describe(node, n) + ": the model already has Q/DQ nodes (it is quantized); give octet the FP32 model");
    }
    infer_types();
    std::set<std::string> known;
    for (int n = 0; n < g().node_size(); ++n) known.insert(g().node(n).name());
    for (const auto& f : opt.fp32_layers) {
      if (!known.count(f)) error("--fp32-layers names '" + f + "', which is no node of the model");
      fp32.insert(f);
    }
  }

  // Element types of every tensor: from graph inputs/initializers/value_info, else propagated through nodes
  // with a handful of rules (enough to tell float activations from shape/index tensors).
  void infer_types() {
    for (const auto& v : g().value_info())
      if (v.type().has_tensor_type()) elem[v.name()] = v.type().tensor_type().elem_type();
    for (const auto& node : g().node()) {
      const std::string& op = node.op_type();
      int t0 = node.input_size() > 0 ? type_of(node.input(0)) : 0;
      int out = t0;
      if (!is_std(node)) out = 0;
      else if (op == "Constant") {
        out = 0;
        for (const auto& a : node.attribute()) {
          if (a.name() == "value") out = a.t().data_type();
          else if (a.name() == "value_float" || a.name() == "value_floats") out = kFloat;
          else if (a.name() == "value_int" || a.name() == "value_ints") out = kInt64;
        }
      } else if (op == "Shape" || op == "Size" || op == "NonZero" || op == "ArgMax" || op == "ArgMin") {
        out = kInt64;
      } else if (op == "Cast") {
        out = static_cast<int>(attr_int(node, "to", 0));
      } else if (op == "CastLike" || op == "Where") {
        out = node.input_size() > 1 ? type_of(node.input(1)) : 0;
      } else if (op == "Equal" || op == "Greater" || op == "Less" || op == "GreaterOrEqual" || op == "LessOrEqual" ||
                 op == "Not" || op == "And" || op == "Or" || op == "Xor" || op == "IsNaN" || op == "IsInf") {
        out = kBool;
      } else if (op == "ConstantOfShape") {
        out = kFloat;
        for (const auto& a : node.attribute())
          if (a.name() == "value") out = a.t().data_type();
      } else if (op == "DequantizeLinear") {
        out = kFloat;
      }
      for (int i = 0; i < node.output_size(); ++i) {
        const std::string& o = node.output(i);
        if (o.empty() || elem.count(o)) continue;  // value_info wins
        int t = out;
        if (i > 0 && (op == "TopK" || op == "MaxPool")) t = kInt64;  // indices
        if (i > 0 && op == "Dropout") t = kBool;
        elem[o] = t;
      }
    }
  }

  // ---- opset -------------------------------------------------------------------------------------------
  onnx::TensorProto* add_init(const std::string& name) {
    auto* t = g().add_initializer();
    t->set_name(name);
    return t;
  }
  std::string const_i64(const std::string& base, const std::vector<int64_t>& v) {
    std::string name = fresh(base);
    auto* t = add_init(name);
    t->set_data_type(kInt64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return name;
  }

  // Raise the default-domain opset to 13. Opsets 11 and 12 differ from 13 only in ops whose attributes
  // became inputs (Squeeze, Unsqueeze, Split, ReduceSum) and in Softmax-family semantics; those are rewritten
  // or refused here. Older models need onnx.version_converter first.
  void raise_opset() {
    onnx::OperatorSetIdProto* def = nullptr;
    for (auto& os : *m.mutable_opset_import())
      if (os.domain().empty() || os.domain() == "ai.onnx") def = &os;
    int64_t v = def ? def->version() : 1;
    rep.opset_in = rep.opset_out = v;
    if (v >= 13) return;
    if (v < 11)
      error("opset " + std::to_string(v) + " is too old to raise to 13 safely (Q/DQ per-axis weights need 13); "
            "convert it first: python -c \"import onnx, onnx.version_converter as vc; "
            "onnx.save(vc.convert_version(onnx.load('in.onnx'), 13), 'out.onnx')\"");
    for (int n = 0; n < g().node_size(); ++n) {
      auto* node = g().mutable_node(n);
      if (!is_std(*node)) continue;
      const std::string& op = node->op_type();
      const char* moved = nullptr;
      if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") moved = "axes";
      else if (op == "Split") moved = "split";
      if (moved) {
        auto* attrs = node->mutable_attribute();
        for (int i = 0; i < attrs->size(); ++i) {
          if (attrs->Get(i).name() != moved) continue;
          std::vector<int64_t> vals(attrs->Get(i).ints().begin(), attrs->Get(i).ints().end());
          attrs->DeleteSubrange(i, 1);
          std::string c = const_i64((node->name().empty() ? op : node->name()) + "_" + moved, vals);
          while (node->input_size() < 1) node->add_input("");
          if (node->input_size() == 1) node->add_input(c);
          else node->set_input(1, c);
          break;
        }
      }
      if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
        int64_t axis = attr_int(*node, "axis", 1);
        if (axis != -1)
          error(describe(*node, n) + ": opset " + std::to_string(v) + " " + op + " flattens to 2-D around axis " +
                std::to_string(axis) + ", which opset 13 (needed for per-axis Q/DQ) does not; convert the model "
                "with onnx.version_converter to opset 13 first");
      }
      if (op == "Dropout") {  // ratio attribute (opset <= 11) became an input in 12; inference ignores it
        auto* attrs = node->mutable_attribute();
        for (int i = 0; i < attrs->size(); ++i)
          if (attrs->Get(i).name() == "ratio") attrs->DeleteSubrange(i--, 1);
      }
    }
    def->set_version(13);
    rep.opset_out = 13;
    if (m.ir_version() < 7) m.set_ir_version(7);
    rep.notes.push_back("opset raised from " + std::to_string(v) + " to 13 (per-axis DequantizeLinear needs 13)");
  }

  // ---- weights -----------------------------------------------------------------------------------------
  std::vector<float> read_float(const TensorProto& t, const std::string& who) {
    if (t.data_type() != kFloat)
      error(who + ": weight '" + t.name() + "' is " + std::to_string(t.data_type()) +
            " (ONNX type code), octet quantizes float32 weights only");
    const std::string wname = who + ": weight '" + t.name() + "'";
    uint64_t n = 0;
    try {
      n = checked_element_count(t, 4, wname);
    } catch (const Error& e) {
      error(e.what());
    }
    // The data present is checked against the dims before anything is allocated.
    if (t.data_location() == TensorProto::EXTERNAL) {
      ExternalData ext;
      try {
        ext = locate_external_data(t, n * 4, base_dir, wname);
      } catch (const Error& e) {
        error(e.what());
      }
      std::vector<float> out(n);
      try {
        read_external_data(ext, out.data(), wname);
      } catch (const Error& e) {
        error(e.what());
      }
      return out;
    }
    if (t.has_raw_data()) {
      if (t.raw_data().size() != n * 4) error(wname + " has the wrong number of bytes");
      std::vector<float> out(n);
      if (n) std::memcpy(out.data(), t.raw_data().data(), n * 4);
      return out;
    }
    if (static_cast<uint64_t>(t.float_data_size()) != n) error(wname + " has the wrong number of values");
    std::vector<float> out(n);
    for (uint64_t i = 0; i < n; ++i) out[i] = t.float_data(static_cast<int>(i));
    return out;
  }

  const TensorProto* const_tensor(const std::string& name) {
    if (auto it = init_index.find(name); it != init_index.end()) return &g().initializer(it->second);
    if (auto it = const_node.find(name); it != const_node.end())
      for (const auto& a : g().node(it->second).attribute())
        if (a.name() == "value" && a.has_t()) return &a.t();
    return nullptr;
  }

  struct WeightQ {
    std::string dq_out;        // what the consumer reads
    std::vector<float> scale;  // per channel (or one)
    int64_t axis = -1;         // -1: per tensor
  };
  std::map<std::pair<std::string, int64_t>, WeightQ> weight_done;
  std::vector<onnx::NodeProto> head;  // DequantizeLinear nodes of weights: placed first
  std::set<std::string> drop_inits;   // float initializers replaced by their quantized form
  // Rewire requests: (node, slot) -> tensor name the slot reads instead.
  std::map<std::pair<int, int>, std::string> rewire;

  // All consumers of `t` are (node, slot) pairs in `slots` and `t` is an initializer (not a graph input's
  // default that users might feed): then the DequantizeLinear output can take over the name `t`.
  bool can_take_name(const std::string& t, const std::set<std::pair<int, int>>& slots) {
    if (!init_index.count(t) || graph_outputs.count(t)) return false;
    for (const auto& u : uses[t])
      if (!slots.count(u)) return false;
    return true;
  }

  // Per-output-channel int8 weight (quant::quantize_weight, s[k] = max|W[k]|/127) + DequantizeLinear(axis).
  // `axis` < 0: per tensor. Consumers: every (node, slot) of `slots`.
  const WeightQ& quantize_weight(const std::string& w, int64_t axis, const std::set<std::pair<int, int>>& slots,
                                 const std::string& who) {
    auto key = std::make_pair(w, axis);
    if (auto it = weight_done.find(key); it != weight_done.end()) {
      for (const auto& s : slots) rewire[s] = it->second.dq_out;
      return it->second;
    }
    const TensorProto* t = const_tensor(w);
    if (!t) error(who + ": weight '" + w + "' is a Constant node without a tensor value");
    std::vector<float> data = read_float(*t, who);
    std::vector<int64_t> dims(t->dims().begin(), t->dims().end());
    WeightQ q;
    q.axis = axis;
    int64_t K = axis >= 0 ? dims[static_cast<size_t>(axis)] : 1, outer = 1, inner = 1;
    if (axis >= 0) {
      for (int64_t i = 0; i < axis; ++i) outer *= dims[static_cast<size_t>(i)];
      for (size_t i = static_cast<size_t>(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
    } else {
      inner = static_cast<int64_t>(data.size());
    }
    std::vector<float> maxabs(static_cast<size_t>(K), 0.f);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          float v = data[static_cast<size_t>((o * K + k) * inner + i)];
          if (!std::isfinite(v)) error(who + ": weight '" + w + "' holds NaN or Inf");
          maxabs[static_cast<size_t>(k)] = std::max(maxabs[static_cast<size_t>(k)], std::fabs(v));
        }
    q.scale.resize(static_cast<size_t>(K));
    // An all-zero channel quantizes to zeros under any scale; 1 keeps the scale positive (TensorRT rejects 0).
    for (int64_t k = 0; k < K; ++k)
      q.scale[static_cast<size_t>(k)] = maxabs[static_cast<size_t>(k)] > 0.f ? maxabs[static_cast<size_t>(k)] / 127.0f : 1.0f;
    std::string qbytes(data.size(), '\0');
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          size_t idx = static_cast<size_t>((o * K + k) * inner + i);
          qbytes[idx] = static_cast<char>(quant::quantize_weight(data[idx], q.scale[static_cast<size_t>(k)]));
        }
    std::string qname = fresh(w + "_quantized"), sname = fresh(w + "_scale"), zname = fresh(w + "_zero_point");
    auto* qi = add_init(qname);
    qi->set_data_type(kInt8);
    for (int64_t d : dims) qi->add_dims(d);
    qi->set_raw_data(qbytes);
    auto* si = add_init(sname);
    si->set_data_type(kFloat);
    auto* zi = add_init(zname);
    zi->set_data_type(kInt8);
    if (axis >= 0) si->add_dims(K), zi->add_dims(K);
    for (float s : q.scale) si->add_float_data(s);
    zi->set_raw_data(std::string(static_cast<size_t>(K), '\0'));
    bool take = init_index.count(w) && can_take_name(w, slots);
    q.dq_out = take ? w : fresh(w + "_DequantizeLinear_Output");
    if (take) drop_inits.insert(w);
    onnx::NodeProto dq;
    dq.set_name(fresh(w + "_DequantizeLinear"));
    dq.set_op_type("DequantizeLinear");
    dq.add_input(qname);
    dq.add_input(sname);
    dq.add_input(zname);
    dq.add_output(q.dq_out);
    if (axis >= 0) {
      auto* a = dq.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    head.push_back(std::move(dq));
    ++rep.weights;
    for (const auto& s : slots)
      if (!take) rewire[s] = q.dq_out;
    return weight_done.emplace(key, std::move(q)).first->second;
  }

  // ort: int32 bias, scale s_x * s_w[k] (what QLinearConv / QGemm need), zero point 0.
  void quantize_bias(int n, int slot, float sx, const WeightQ& wq, const std::string& who) {
    const std::string& b = g().node(n).input(slot);
    const TensorProto* t = const_tensor(b);
    if (!t || t->data_type() != kFloat || t->dims_size() != 1) return;  // stays float
    std::vector<float> data = read_float(*t, who);
    size_t K = data.size(), Kw = wq.scale.size();
    if (K == 0 || (Kw != 1 && K % Kw != 0)) return;
    std::vector<float> bs(K);
    std::vector<int32_t> q(K);
    for (size_t k = 0; k < K; ++k) {
      bs[k] = sx * wq.scale[Kw == 1 ? 0 : k % Kw];
      q[k] = quant::quantize_bias(data[k], bs[k]);
    }
    std::string qname = fresh(b + "_quantized"), sname = fresh(b + "_scale"), zname = fresh(b + "_zero_point");
    auto* qi = add_init(qname);
    qi->set_data_type(kInt32);
    qi->add_dims(static_cast<int64_t>(K));
    for (int32_t v : q) qi->add_int32_data(v);
    auto* si = add_init(sname);
    si->set_data_type(kFloat);
    si->add_dims(static_cast<int64_t>(K));
    for (float s : bs) si->add_float_data(s);
    auto* zi = add_init(zname);
    zi->set_data_type(kInt32);
    zi->add_dims(static_cast<int64_t>(K));
    for (size_t k = 0; k < K; ++k) zi->add_int32_data(0);
    bool take = init_index.count(b) && can_take_name(b, {{n, slot}}) && !drop_inits.count(b);
    std::string out = take ? b : fresh(b + "_DequantizeLinear_Output");
    if (take) drop_inits.insert(b);
    else rewire[{n, slot}] = out;
    onnx::NodeProto dq;
    dq.set_name(fresh(b + "_DequantizeLinear"));
    dq.set_op_type("DequantizeLinear");
    dq.add_input(qname);
    dq.add_input(sname);
    dq.add_input(zname);
    dq.add_output(out);
    auto* a = dq.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(0);
    head.push_back(std::move(dq));
    ++rep.biases;
  }

  // ---- activations -------------------------------------------------------------------------------------
  // One Q->DQ pair per (tensor, scale); several consumers share it.
  struct Pair {
    std::string tensor, dq_out;
    float scale;
    int zero_point = 0;
  };
  std::map<std::pair<std::string, uint32_t>, Pair> pairs;
  std::set<int> quantized_nodes;

  const Pair& act_pair(const std::string& t, float scale, int zero_point) {
    auto key = std::make_pair(t, std::bit_cast<uint32_t>(scale));
    auto it = pairs.find(key);
    if (it != pairs.end()) return it->second;
    Pair p{t, fresh(t + "_DequantizeLinear_Output"), scale, zero_point};
    ++rep.activation_pairs;
    return pairs.emplace(key, p).first->second;
  }
  void quantize_slot(int n, int slot, const std::string& t, float scale, int zero_point = 0) {
    rewire[{n, slot}] = act_pair(t, scale, zero_point).dq_out;
    quantized_nodes.insert(n);
  }
  float scale_of(const std::string& t) const { return scales.at(t); }
  // The ort format's pair of tensor t: octet's asymmetric range where its plan holds t with a zero point
  // (QdqExportOptions::zero_points), else the cache's symmetric scale.
  std::pair<float, int> ort_q(const std::string& t) const {
    if (auto it = opt.zero_points.find(t); ort && it != opt.zero_points.end()) return it->second;
    return {scale_of(t), 0};
  }

  // Activation inputs and weight of one weighted node; returns false (and records why) when it stays FP32.
  struct WeightedPlan {
    std::vector<int> act_slots;
    int weight_slot = -1;
    int64_t axis = -1;
    int bias_slot = -1;
  };
  bool plan_weighted(int n, WeightedPlan& p) {
    const auto& node = g().node(n);
    const std::string& op = node.op_type();
    std::string who = describe(node, n);
    auto in = [&](int i) -> std::string { return i < node.input_size() ? node.input(i) : std::string(); };
    auto rank_of = [&](const std::string& t) -> int {
      const TensorProto* c = const_tensor(t);
      return c ? c->dims_size() : -1;
    };
    if (node.input_size() < 2) error(who + ": fewer than two inputs");
    if (op == "Conv" || op == "ConvTranspose") {
      if (!is_const(in(1))) {
        auto pit = producer.find(in(1));
        error(who + ": weight '" + in(1) + "' is not an initializer" +
              (pit != producer.end() ? " (it is computed by " + describe(g().node(pit->second), pit->second) + ")" : "") +
              "; octet quantizes constant weights only — keep this node in FP32 with --fp32-layers");
      }
      p.act_slots = {0};
      p.weight_slot = 1;
      p.axis = op == "Conv" ? 0 : 1;  // Conv W [K, C/g, ...]; ConvTranspose W [C, K/g, ...]
      if (!in(2).empty()) p.bias_slot = 2;
    } else if (op == "Gemm") {
      bool ta = attr_int(node, "transA", 0) != 0, tb = attr_int(node, "transB", 0) != 0;
      if (is_const(in(1)) && !is_const(in(0))) {
        p.act_slots = {0};
        p.weight_slot = 1;
        p.axis = tb ? 0 : 1;  // B [N, K] with transB=1, [K, N] with transB=0: the N axis
      } else if (is_const(in(0)) && !is_const(in(1))) {
        p.act_slots = {1};
        p.weight_slot = 0;
        p.axis = ta ? 1 : 0;  // A [M, K] (or [K, M]): the M axis indexes output rows
      } else if (!is_const(in(0)) && !is_const(in(1))) {
        p.act_slots = {0, 1};
      } else {
        rep.skipped.push_back(who + ": both inputs are constant");
        return false;
      }
      if (!in(2).empty() && attr_float(node, "beta", 1.f) == 1.f && p.weight_slot == 1) p.bias_slot = 2;
    } else {  // MatMul
      bool c0 = is_const(in(0)), c1 = is_const(in(1));
      if (c0 && c1) {
        rep.skipped.push_back(who + ": both inputs are constant");
        return false;
      }
      if (c1) {
        p.act_slots = {0};
        p.weight_slot = 1;
        int r = rank_of(in(1));
        p.axis = r >= 2 ? r - 1 : -1;  // B [..., K, N]: per N (output column)
      } else if (c0) {
        p.act_slots = {1};
        p.weight_slot = 0;
        int r = rank_of(in(0));
        p.axis = r >= 2 ? r - 2 : -1;  // A [..., M, K]: per M (output row)
      } else {
        p.act_slots = {0, 1};  // attention-style: both activations, per tensor
      }
    }
    for (int s : p.act_slots) {
      const std::string& t = in(s);
      if (type_of(t) != kFloat)
        error(who + ": input '" + t + "' is not float32 (type code " + std::to_string(type_of(t)) +
              "); octet's Q/DQ export handles float32 models");
      if (!has_scale(t)) {
        rep.skipped.push_back(who + ": input '" + t + "' has no usable scale in the cache; the node stays FP32");
        return false;
      }
    }
    if (p.weight_slot >= 0) {
      const TensorProto* w = const_tensor(in(p.weight_slot));
      if (!w) error(who + ": weight '" + in(p.weight_slot) + "' has no tensor value");
      if (w->data_type() != kFloat)
        error(who + ": weight '" + w->name() + "' is not float32 (type code " + std::to_string(w->data_type()) + ")");
      if (p.axis >= w->dims_size()) error(who + ": weight '" + in(p.weight_slot) + "' has too few dimensions");
    }
    return true;
  }

  void apply_weighted(int n, const WeightedPlan& p) {
    const auto& node = g().node(n);
    std::string who = describe(node, n);
    for (int s : p.act_slots) {
      const auto [scale, zp] = ort_q(node.input(s));
      quantize_slot(n, s, node.input(s), scale, zp);
    }
    if (p.weight_slot < 0) return;
    const WeightQ& wq = quantize_weight(node.input(p.weight_slot), p.axis, {{n, p.weight_slot}}, who);
    quantized_nodes.insert(n);
    if (ort && p.bias_slot >= 0 && !p.act_slots.empty())
      quantize_bias(n, p.bias_slot, ort_q(node.input(p.act_slots[0])).first, wq, who);
  }

  // ---- placement ---------------------------------------------------------------------------------------
  void place_trt() {
    // Rule "Quantize all inputs of weighted-operations (Convolution, Transposed Convolution and GEMM)" and
    // "By default, do not quantize the outputs of weighted-operations": Q/DQ on activation inputs and weights.
    std::set<int> weighted;
    for (int n = 0; n < g().node_size(); ++n) {
      const auto& node = g().node(n);
      if (!is_std(node) || !is_weighted(node.op_type()) || fp32.count(node.name())) continue;
      if (!octet_int8(node)) continue;
      WeightedPlan p;
      if (!plan_weighted(n, p)) continue;
      apply_weighted(n, p);
      weighted.insert(n);
    }
    // Rule "Quantize the residual input in skip connections": TensorRT fuses an element-wise Add that follows
    // a weighted op into that op's epilogue; the Add's other input must be Q/DQ'd so the fused op can read it
    // in INT8. The weighted op's own output is NOT quantized (a Q/DQ there would split the fusion, the guide's
    // "suboptimal fusion" figure). When both inputs come from weighted ops, the first is fused and the
    // second (e.g. a downsample conv's output) is quantized.
    for (int n = 0; n < g().node_size(); ++n) {
      const auto& node = g().node(n);
      if (!is_std(node) || node.op_type() != "Add" || node.input_size() != 2 || fp32.count(node.name())) continue;
      auto fusable = [&](const std::string& t) {
        auto it = producer.find(t);
        if (it == producer.end() || !weighted.count(it->second) || graph_outputs.count(t)) return false;
        return uses[t].size() == 1;
      };
      int fused = fusable(node.input(0)) ? 0 : fusable(node.input(1)) ? 1 : -1;
      if (fused < 0) continue;
      const std::string& other = node.input(1 - fused);
      if (!is_float_act(other)) continue;
      if (!has_scale(other)) {
        rep.skipped.push_back(describe(node, n) + ": residual input '" + other + "' has no usable scale; the Add stays FP32");
        continue;
      }
      quantize_slot(n, 1 - fused, other, scale_of(other));
    }
    // Where octet's INT8 plan rounds: every tensor it holds in int8, at every consumer, with its own scale
    // (octet's Concat / Add / AveragePool rescale each int8 input to the output's scale). Inputs of weighted
    // ops and residual inputs already have their pair (same tensor and scale).
    if (!opt.int8_tensors.empty()) {
      for (const auto& t : opt.int8_tensors) {
        if (!is_float_act(t) || !has_scale(t)) continue;
        for (const auto& [n, slot] : uses[t]) {
          const auto& node = g().node(n);
          if (!is_std(node) || (fp32.count(node.name()) && !opt.dequantized.count(t)) || rewire.count({n, slot}))
            continue;
          quantize_slot(n, slot, t, scale_of(t));
        }
      }
      return;
    }
    // Concat: TensorRT runs a Concat in INT8 when its inputs carry the same scale (Q/DQ propagation moves the
    // consumer's Q backward across the Concat); octet's calibration gives a concat one scale for inputs and
    // output (EntropyCalibration2 rule), so the inputs of a Concat whose output is quantized get Q/DQ with
    // the output's scale. Reverse order handles concat-of-concat.
    std::set<std::string> quantized_tensors;
    for (const auto& [k, p] : pairs) quantized_tensors.insert(p.tensor);
    for (int n = g().node_size() - 1; n >= 0; --n) {
      const auto& node = g().node(n);
      if (!is_std(node) || node.op_type() != "Concat" || fp32.count(node.name())) continue;
      if (node.output_size() < 1 || !quantized_tensors.count(node.output(0))) continue;
      float s = scale_of(node.output(0));
      for (int i = 0; i < node.input_size(); ++i)
        if (is_float_act(node.input(i))) {
          quantize_slot(n, i, node.input(i), s);
          quantized_tensors.insert(node.input(i));
        }
    }
  }

  // ONNX Runtime's QDQ layout: every float activation that enters or leaves a node of kOrtOps gets one Q/DQ
  // pair, read by every non-FP32 consumer (so the transformer sees DQ -> op -> Q groups). Graph outputs stay
  // float. Weighted ops whose activation input has no scale stay FP32 entirely.
  void place_ort() {
    std::set<std::string> tensors;
    for (int n = 0; n < g().node_size(); ++n) {
      const auto& node = g().node(n);
      if (!is_std(node) || !kOrtOps.count(node.op_type()) || fp32.count(node.name())) continue;
      if (is_weighted(node.op_type())) {
        if (!octet_int8(node)) continue;
        WeightedPlan p;
        if (!plan_weighted(n, p)) continue;
        apply_weighted(n, p);
        for (int s : p.act_slots) tensors.insert(node.input(s));
      } else {
        for (const auto& t : node.input())
          if (is_float_act(t) && has_scale(t)) tensors.insert(t);
      }
      for (const auto& t : node.output())
        if (is_float_act(t) && has_scale(t) && !graph_outputs.count(t)) tensors.insert(t);
    }
    // Mirroring octet's plan: only where it rounds. A tensor it holds in int8 keeps its own scale; one an INT8
    // epilogue fused away (Conv -> Relu) takes the scale of the tensor written instead, so the extra round
    // trip ONNX Runtime makes there changes nothing; the rest (inputs of a fused residual Add, outputs of
    // ops octet runs in FP32, whose calibrated scales octet never uses) stays float.
    bool mirror = !opt.int8_tensors.empty();
    if (mirror)
      for (const auto& t : opt.int8_tensors)
        if (is_float_act(t) && has_scale(t) && !graph_outputs.count(t)) tensors.insert(t);
    for (const auto& t : tensors) {
      float s = 0.f;
      int zp = 0;
      if (!mirror || opt.int8_tensors.count(t)) {
        std::tie(s, zp) = ort_q(t);
      } else if (auto it = opt.fused_into.find(t); it != opt.fused_into.end() && has_scale(it->second)) {
        s = scale_of(it->second);
      } else {
        continue;
      }
      for (const auto& [n, slot] : uses[t]) {
        const auto& node = g().node(n);
        if ((fp32.count(node.name()) && !opt.dequantized.count(t)) || rewire.count({n, slot})) continue;
        quantize_slot(n, slot, t, s, zp);
      }
    }
  }

  // Without octet's plan (int8_tensors empty) every weighted op is a candidate; with it, those the plan runs
  // in INT8.
  bool octet_int8(const onnx::NodeProto& node) const {
    return opt.int8_tensors.empty() || opt.int8_nodes.count(node.name());
  }

  // ---- emission ----------------------------------------------------------------------------------------
  void emit_pair(google::protobuf::RepeatedPtrField<onnx::NodeProto>& out, const Pair& p) {
    std::string sname = fresh(p.tensor + "_scale");
    std::string zname = fresh(p.tensor + "_zero_point");
    std::string qout = fresh(p.tensor + "_QuantizeLinear_Output");
    auto* s = add_init(sname);
    s->set_data_type(kFloat);
    s->add_float_data(p.scale);
    auto* z = add_init(zname);
    z->set_data_type(kInt8);
    z->set_raw_data(std::string(1, static_cast<char>(static_cast<int8_t>(p.zero_point))));
    auto* q = out.Add();
    q->set_name(fresh(p.tensor + "_QuantizeLinear"));
    q->set_op_type("QuantizeLinear");
    q->add_input(p.tensor);
    q->add_input(sname);
    q->add_input(zname);
    q->add_output(qout);
    auto* dq = out.Add();
    dq->set_name(fresh(p.tensor + "_DequantizeLinear"));
    dq->set_op_type("DequantizeLinear");
    dq->add_input(qout);
    dq->add_input(sname);
    dq->add_input(zname);
    dq->add_output(p.dq_out);
  }

  void emit() {
    std::unordered_map<std::string, std::vector<const Pair*>> by_tensor;
    for (const auto& [k, p] : pairs) by_tensor[p.tensor].push_back(&p);
    for (const auto& [slot, name] : rewire) g().mutable_node(slot.first)->set_input(slot.second, name);
    google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
    for (auto& dq : head) *out.Add() = std::move(dq);
    std::set<std::string> emitted;
    auto emit_for = [&](const std::string& t) {
      auto it = by_tensor.find(t);
      if (it == by_tensor.end() || emitted.count(t)) return;
      emitted.insert(t);
      for (const Pair* p : it->second) emit_pair(out, *p);
    };
    for (const auto& [t, v] : by_tensor)
      if (!producer.count(t)) emit_for(t);  // graph inputs (and Constant-free initializers)
    for (int n = 0; n < g().node_size(); ++n) {
      *out.Add() = g().node(n);
      for (const auto& o : g().node(n).output()) emit_for(o);
    }
    g().mutable_node()->Swap(&out);
    // Drop replaced float initializers (and their graph-input entries, written by old exporters).
    if (!drop_inits.empty()) {
      auto* inits = g().mutable_initializer();
      for (int i = inits->size() - 1; i >= 0; --i)
        if (drop_inits.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
      auto* ins = g().mutable_input();
      for (int i = ins->size() - 1; i >= 0; --i)
        if (drop_inits.count(ins->Get(i).name())) ins->DeleteSubrange(i, 1);
    }
    rep.quantized_nodes = static_cast<int>(quantized_nodes.size());
  }

  // ---- validation --------------------------------------------------------------------------------------
  // What onnx.checker checks about graph structure: SSA (one definition per name), topological order, unique
  // node names, every graph output defined; plus the Q/DQ typing octet is responsible for.
  void validate() {
    std::unordered_set<std::string> defined, node_names;
    for (const auto& t : g().initializer())
      if (!defined.insert(t.name()).second) error("internal: initializer '" + t.name() + "' defined twice");
    for (const auto& i : g().input()) defined.insert(i.name());
    for (int n = 0; n < g().node_size(); ++n) {
      const auto& node = g().node(n);
      bool ours = node.op_type() == "QuantizeLinear" || node.op_type() == "DequantizeLinear";
      if (!node.name().empty() && !node_names.insert(node.name()).second && ours)
        error("internal: node name '" + node.name() + "' used twice");
      for (const auto& in : node.input())
        if (!in.empty() && !defined.count(in))
          error("internal: " + describe(node, n) + " reads '" + in + "' before it is defined");
      for (const auto& o : node.output())
        if (!o.empty() && !defined.insert(o).second)
          error("internal: tensor '" + o + "' is defined twice (by " + describe(node, n) + ")");
      if (node.op_type() == "QuantizeLinear" || node.op_type() == "DequantizeLinear") {
        if (node.input_size() != 3) error("internal: " + describe(node, n) + " needs 3 inputs");
        const TensorProto* s = const_tensor_any(node.input(1));
        const TensorProto* z = const_tensor_any(node.input(2));
        if (!s || !z || s->data_type() != kFloat) error("internal: " + describe(node, n) + " has a bad scale");
        int want = node.op_type() == "QuantizeLinear" ? kInt8 : z->data_type();
        if (z->data_type() != want) error("internal: " + describe(node, n) + " has a bad zero point type");
        if (s->dims_size() != z->dims_size()) error("internal: " + describe(node, n) + " scale/zero point shapes differ");
      }
    }
    for (const auto& o : g().output())
      if (!defined.count(o.name())) error("internal: graph output '" + o.name() + "' is not produced");
  }
  std::unordered_map<std::string, int> final_inits;
  const TensorProto* const_tensor_any(const std::string& name) {
    if (final_inits.empty())
      for (int i = 0; i < g().initializer_size(); ++i) final_inits[g().initializer(i).name()] = i;
    auto it = final_inits.find(name);
    return it == final_inits.end() ? nullptr : &g().initializer(it->second);
  }

  void run() {
    ort = opt.format == QdqFormat::OnnxRuntime;
    index();
    raise_opset();
    if (ort) place_ort();
    else place_trt();
    if (!ort && !opt.zero_points.empty())
      rep.notes.push_back(std::to_string(opt.zero_points.size()) +
                          " tensor(s) octet's INT8 plan holds with a zero point (asymmetric SiLU outputs) get "
                          "symmetric Q/DQ pairs: TensorRT's explicit quantization is symmetric only, so a runtime "
                          "executing this model rounds them more coarsely than octet (the ort format carries them)");
    emit();
    validate();
    if (rep.quantized_nodes == 0) rep.notes.push_back("no node was quantized (does the cache belong to this model?)");
  }
};

}  // namespace

std::string export_qdq_buffer(const void* data, size_t size, const std::string& what, const std::string& base_dir,
                              const std::map<std::string, float>& scales, const QdqExportOptions& opt,
                              QdqExportReport* report) {
  onnx::ModelProto m;
  if (size == 0 || size > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !m.ParseFromArray(data, static_cast<int>(size)) || !m.has_graph())
    fail("cannot quantize '", what, "': not an ONNX model (protobuf parsing failed)");
  Exporter ex(m, what, base_dir, scales, opt);
  ex.run();
  if (report) *report = ex.rep;
  std::string out;
  OCTET_CHECK(m.SerializeToString(&out), "cannot quantize '", what, "': serializing the result failed (over 2 GiB?)");
  return out;
}

std::string export_qdq_file(const std::string& model_path, const std::string& out_path,
                            const std::map<std::string, float>& scales, const QdqExportOptions& opt,
                            QdqExportReport* report) {
  const std::string buf = read_file(model_path, "model", static_cast<uint64_t>(std::numeric_limits<int>::max()));
  namespace fs = std::filesystem;
  fs::path in_dir = fs::path(model_path).parent_path(), out_dir = fs::path(out_path).parent_path();
  if (in_dir.empty()) in_dir = ".";
  if (out_dir.empty()) out_dir = ".";
  onnx::ModelProto probe;
  if (probe.ParseFromString(buf) && probe.has_graph()) {
    for (const auto& t : probe.graph().initializer())
      if (t.data_location() == TensorProto::EXTERNAL) {
        std::error_code ec;
        if (!fs::equivalent(in_dir, out_dir, ec))
          fail("cannot quantize '", model_path, "': its weights are in external data files (e.g. initializer '",
               t.name(), "'), whose locations are relative to the model; write the Q/DQ model into the same "
               "directory ('", in_dir.string(), "')");
        break;
      }
  }
  return export_qdq_buffer(buf.data(), buf.size(), model_path, in_dir.string(), scales, opt, report);
}

}  // namespace octet
