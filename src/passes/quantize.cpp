// FP32 graph + amax table -> INT8 graph (contract in quantize.h).
//
// Walks the nodes in order, tracking for every original tensor whether an int8 version exists (and its
// scale). Conv/Gemm/MatMul with calibrated input and output become QConv/QLinear and pull their input into
// int8 (one Quantize per tensor, shared by all readers); pools, residual Adds and Concats become Q ops only
// when their inputs are int8 already (quantizing just to pool would cost more than it saves) and — for the
// ones that round (average pools, Add, Concat) — some reader takes their output in int8. An FP32 op
// reading a tensor that only exists in int8 gets one Dequantize, which produces the tensor under its
// original name — so graph outputs and FP32 islands keep their ONNX names.
#include "passes/quantize.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <sstream>

#include "ir/qresize.h"
#include "ir/window.h"
#include "quant/quant.h"
#include "backends/ref/propagate.h"

#include "quant/scale_rule.h"

namespace octet {

namespace {

struct Quantizer {
  Graph& g;
  const std::map<std::string, float>& amax;
  const QuantizeOptions& opt;
  Propagation shapes;
  std::vector<Node> out_nodes;
  std::vector<int> int8_of;      // original value -> its int8 value (-1 none)
  std::vector<char> f32_ready;   // original value is available in f32
  std::map<int, float> qscale;   // int8 value -> scale
  std::map<int, int32_t> qzp;    // int8 value -> zero point (absent: 0; QuantizeOptions::asymmetric_activations)
  std::map<int, float> qlo;      // int8 value with a zero point -> the lower bound of its real values
  QuantizeReport report;
  std::set<std::string> used;  // tensors whose calibrated scale the INT8 graph uses
  std::vector<std::vector<int>> readers;     // consumers in the input graph (indices into *orig_nodes)
  const std::vector<Node>* orig_nodes = nullptr;
  std::vector<int8_t> int8_reader_memo;      // has_int8_reader per value: -1 unknown, 0 no, 1 yes
  std::vector<int> concat_source_memo;       // concat_scale_source per value: -2 unknown

  std::set<std::string> zero_blocked;  // tensors whose amax 0 kept a layer in FP32

  // A scalar affine a * act(v) + b after a conv/matmul's fused non-linear activation: Mul and/or Add by scalar
  // constants, each the sole reader of the previous output (PP-LCNet's "learnable affine block" after HardSwish).
  // Keyed by the index of the conv/matmul in *orig_nodes; taken into the QConv/QLinear epilogue (act_mul, act_add)
  // when it goes int8, which then skips the absorbed nodes.
  struct Affine {
    float mul = 1.f, add = 0.f;
    int out = -1;                    // the last absorbed node's output
    std::vector<size_t> nodes;       // the absorbed Mul / Add (indices into *orig_nodes)
    std::vector<std::string> names;  // the tensors they replaced: the activation's output, then the Mul's
  };
  std::map<size_t, Affine> affine_after;
  // An Add of a residual after a conv's fused non-linear activation (QuantizeOptions::residual_after_activation):
  // keyed like affine_after; the Add is the activation output's only reader, its other input a non-constant
  // tensor of the same shape. Taken into the QConv epilogue when the Add would run int8 (try_conv).
  struct ResidualAfter {
    size_t add = 0;   // the Add (index into *orig_nodes)
    int other = -1;   // the residual
    int out = -1;     // the Add's output
  };
  std::map<size_t, ResidualAfter> residual_after;
  // HardSigmoid nodes held back because their only reader, a Mul, will take them as a QMulGate gate_act: output
  // value -> the node (emitted FP32 after all if that Mul stays FP32).
  std::map<int, Node> held_gates;
  std::set<size_t> absorbed;  // orig node indices taken into an epilogue

  // Finds the affines (see Affine) once, before the walk.
  void find_affines() {
    const std::vector<Node>& nodes = *orig_nodes;
    auto scalar = [&](int v, float& out) {
      if (v < 0 || !g.is_const(v)) return false;
      const Tensor& t = g.const_of(v);
      if (t.dtype() != DType::f32 || t.numel() != 1) return false;
      out = t.data<float>()[0];
      return std::isfinite(out);
    };
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if ((n.op != OpType::Conv && n.op != OpType::Gemm && n.op != OpType::MatMul) ||
          real_unit_act(n.post) == quant::Act::None || n.post.residual_input >= 0 || n.outputs.size() != 1)
        continue;
      Affine a;
      int y = n.outputs[0];
      for (int step = 0; step < 2; ++step) {
        if (g.is_graph_output(y) || readers[static_cast<size_t>(y)].size() != 1) break;
        const size_t ri = static_cast<size_t>(readers[static_cast<size_t>(y)][0]);
        const Node& r = nodes[ri];
        if (r.inputs.size() != 2 || r.outputs.size() != 1 || r.post.act != Activation::None || requested_fp32(r)) break;
        const int other = r.inputs[0] == y ? r.inputs[1] : r.inputs[0];
        float c = 0.f;
        if (!scalar(other, c) || (r.inputs[0] != y && r.inputs[1] != y)) break;
        if (r.op == OpType::Mul && a.nodes.empty()) {
          a.mul = c;
        } else if (r.op == OpType::Add) {
          a.add = c;
        } else {
          break;
        }
        a.names.push_back(g.value(y).name);
        a.nodes.push_back(ri);
        y = r.outputs[0];
        a.out = y;
        if (r.op == OpType::Add) break;
      }
      if (!a.nodes.empty()) affine_after[i] = std::move(a);
    }
  }
  // Finds the residual Adds after an activation (see ResidualAfter) once, before the walk, after find_affines.
  void find_residuals_after() {
    if (!opt.residual_after_activation) return;
    const std::vector<Node>& nodes = *orig_nodes;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (n.op != OpType::Conv || real_unit_act(n.post) == quant::Act::None || n.post.residual_input >= 0 ||
          n.outputs.size() != 1 || affine_after.count(i) || requested_fp32(n))
        continue;
      const int y = n.outputs[0];
      if (g.is_graph_output(y) || readers[static_cast<size_t>(y)].size() != 1) continue;
      if (opt.keep_rounded && opt.keep_rounded->count(g.value(y).name)) continue;  // a Q/DQ model rounds it
      const size_t ri = static_cast<size_t>(readers[static_cast<size_t>(y)][0]);
      const Node& r = nodes[ri];
      if (r.op != OpType::Add || r.inputs.size() != 2 || r.outputs.size() != 1 || r.post.act != Activation::None ||
          r.post.residual_input >= 0 || requested_fp32(r) || r.inputs[0] == r.inputs[1])
        continue;
      const int other = r.inputs[0] == y ? r.inputs[1] : r.inputs[0];
      if (other < 0 || g.is_const(other) || shape(other) != shape(y) ||
          shapes.dtype[static_cast<size_t>(other)] != DType::f32)
        continue;
      residual_after[i] = {ri, other, r.outputs[0]};
    }
  }
  // The residual Add after n's activation, if there is one and it would run int8 now: its residual already
  // exists in int8 (as QAdd requires of both inputs) or is n's own input (which n quantizes), its output has a
  // scale and an int8 reader.
  const ResidualAfter* residual_after_of(const Node& n) {
    const std::vector<Node>& nodes = *orig_nodes;
    if (&n < nodes.data() || &n >= nodes.data() + nodes.size()) return nullptr;  // a rebuilt copy
    auto it = residual_after.find(static_cast<size_t>(&n - nodes.data()));
    if (it == residual_after.end()) return nullptr;
    const ResidualAfter& r = it->second;
    if (!(available_int8(r.other) || r.other == n.inputs[0]) || !has_int8_reader(r.out) || calib_scale(r.out) == 0.f)
      return nullptr;
    return &r;
  }
  const Affine* affine_of(const Node& n) const {
    const std::vector<Node>& nodes = *orig_nodes;
    if (&n < nodes.data() || &n >= nodes.data() + nodes.size()) return nullptr;  // a rebuilt copy
    auto it = affine_after.find(static_cast<size_t>(&n - nodes.data()));
    return it == affine_after.end() ? nullptr : &it->second;
  }

  // Calibrated scale of an original value, or 0 (no amax, or amax 0: "not quantized"). Any other amax must give
  // a usable scale (calib/cache.h scale_problem): none that isn't reaches a kernel parameter.
  float calib_scale(int v) {
    v = concat_scale_source(v);
    auto it = amax.find(g.value(v).name);
    if (it == amax.end() || it->second == 0.f) return 0.f;
    if (const std::string why = amax_problem(it->second); !why.empty())
      fail("INT8 quantization: tensor '", it->first, "' has amax ", it->second, " (scale = amax / 127 is ", why,
           "); a scale must be a normal positive finite float32 with 127 x scale and 1 / scale finite");
    used.insert(it->first);
    return it->second / 127.f;
  }
  // The reason a layer stays FP32 because tensor v has no scale; an amax of exactly 0 given for v is recorded
  // (QuantizeReport::zero_scale_tensors), since the layer would otherwise have used it.
  std::string no_scale(int v, std::string msg) {
    if (auto it = amax.find(g.value(v).name); it != amax.end() && it->second == 0.f) zero_blocked.insert(it->first);
    return msg;
  }
  const Shape& shape(int v) const { return shapes.shape[static_cast<size_t>(v)]; }
  bool rank4(int v) const { return shape(v).size() == 4; }

  int new_int8_value(int v) {
    int q = g.add_value(g.unique_name(g.value(v).name + "::int8"), DType::i8);
    return q;
  }

  // The int8 version of v, quantizing it (once) when it exists only in f32.
  int get_int8(int v) {
    if (int8_of[static_cast<size_t>(v)] >= 0) return int8_of[static_cast<size_t>(v)];
    float s = calib_scale(v);
    Node q;
    q.op = OpType::Quantize;
    q.name = g.value(v).name + "::quantize";
    q.inputs = {v};
    int qv = new_int8_value(v);
    q.outputs = {qv};
    q.attrs["scale"] = attr_f(s);
    q.attrs["to_nhwc"] = attr_i(rank4(v) ? 1 : 0);
    out_nodes.push_back(std::move(q));
    int8_of[static_cast<size_t>(v)] = qv;
    qscale[qv] = s;
    return qv;
  }

  // Makes v available in f32, dequantizing its int8 version (once) when needed.
  void need_f32(int v) {
    if (v < 0 || f32_ready[static_cast<size_t>(v)]) return;
    int qv = int8_of[static_cast<size_t>(v)];
    OCTET_CHECK(qv >= 0, "quantization pass: tensor '", g.value(v).name, "' has no producer");
    Node d;
    d.op = OpType::Dequantize;
    d.name = g.value(v).name + "::dequantize";
    d.inputs = {qv};
    d.outputs = {v};
    d.attrs["scale"] = attr_f(qscale.at(qv));
    if (const int32_t zp = zero_point(qv); zp != 0) d.attrs["zero_point"] = attr_i(zp);
    d.attrs["to_nchw"] = attr_i(rank4(v) ? 1 : 0);
    out_nodes.push_back(std::move(d));
    f32_ready[static_cast<size_t>(v)] = 1;
  }

  int32_t zero_point(int qv) const {
    auto it = qzp.find(qv);
    return it == qzp.end() ? 0 : it->second;
  }
  // The scale of an int8 value read by an op that takes symmetric int8 only: a tensor with a zero point has only
  // QConv, QAvgPool and QMulGate (x) inputs and Dequantize readers (asym_range_of decides that before it is produced).
  float sym_scale(int qv) const {
    OCTET_CHECK(zero_point(qv) == 0, "quantization pass: int8 tensor '", g.value(qv).name,
                "' has a zero point but an op without zero-point support reads it");
    return qscale.at(qv);
  }
  // Lower bound of a fused activation's output where one is known and an asymmetric range may use it.
  static bool act_lower_bound(quant::Act act, float& lo) {
    if (act == quant::Act::Silu) {
      lo = quant::kSiluMin;
      return true;
    }
    if (act == quant::Act::HardSwish) {
      lo = quant::kHardSwishMin;
      return true;
    }
    return false;
  }
  // The asymmetric range of conv n's activation output y (QuantizeOptions::asymmetric_activations), see asym_range_of.
  bool asym_output(int y, quant::Act act, float& scale, int32_t& zp) {
    float lo = 0.f;
    if (!opt.asymmetric_activations || !act_lower_bound(act, lo)) return false;
    return asym_range_of(y, lo, scale, zp);
  }
  // The asymmetric range [lo, amax] of y, whose values are known to be >= lo: when every reader of y (in the input
  // graph) takes a zero point whichever way it goes — a Conv reading y as its data input (a QConv takes
  // x_zero_point), an AveragePool / GlobalAveragePool (a QAvgPool takes x_zero_point), a Mul of y by a per-channel
  // gate (a QMulGate takes x_zero_point); each of them, run FP32 instead, reads a Dequantize with zero_point — and
  // graph outputs get a Dequantize.
  bool asym_range_of(int y, float lo, float& scale, int32_t& zp) {
    const std::string& name = g.value(y).name;
    if (opt.keep_rounded && opt.keep_rounded->count(name)) return false;  // a Q/DQ model's own (symmetric) pair
    if (concat_scale_source(y) != y) return false;
    auto it = amax.find(name);
    if (it == amax.end()) return false;
    if (readers[static_cast<size_t>(y)].empty() && !g.is_graph_output(y)) return false;
    for (int c : readers[static_cast<size_t>(y)]) {
      const Node& r = (*orig_nodes)[static_cast<size_t>(c)];
      switch (r.op) {
        case OpType::Conv: case OpType::AveragePool: case OpType::GlobalAveragePool:  // y as the data input only
          if (r.inputs.empty() || r.inputs[0] != y) return false;
          for (size_t i = 1; i < r.inputs.size(); ++i)
            if (r.inputs[i] == y) return false;
          break;
        case OpType::Mul:  // y times a gate, either side
          if (r.inputs.size() != 2 || r.inputs[0] == r.inputs[1] || r.post.act != Activation::None ||
              !gate_shape_of(y, r.inputs[r.inputs[0] == y ? 1 : 0]))
            return false;
          break;
        default: return false;
      }
    }
    return quant::asym_range(lo, it->second, scale, zp);
  }
  // gate has the shape of a per-(image, channel) gate of the 4-D tensor x: [N|1, C, 1, 1], and is not a constant.
  bool gate_shape_of(int x, int gate) {
    if (!rank4(x) || g.is_const(gate)) return false;
    const Shape& xs = shape(x);
    const Shape& gs = shape(gate);
    return gs.size() == 4 && (gs[0] == xs[0] || gs[0] == 1) && gs[1] == xs[1] && gs[2] == 1 && gs[3] == 1;
  }
  // The gate's values lie in [0, 1]: a Sigmoid / HardSigmoid output (a node, or an op with it fused last).
  bool unit_gate(int gate) const {
    for (const Node& n : *orig_nodes) {
      if (std::find(n.outputs.begin(), n.outputs.end(), gate) == n.outputs.end()) continue;
      if (n.op == OpType::Sigmoid || n.op == OpType::HardSigmoid) return true;
      return n.post.act == Activation::Sigmoid && !n.outputs.empty() && n.outputs[0] == gate;
    }
    return false;
  }

  bool available_int8(int v) const { return v >= 0 && int8_of[static_cast<size_t>(v)] >= 0; }

  // Clamp bounds of a fused activation in output units; false if the activation is not a clamp.
  static bool act_bounds(const PostOp& p, float sy, float& lo, float& hi) {
    lo = quant::kNoLo;
    hi = quant::kNoHi;
    switch (p.act) {
      case Activation::None: return true;
      case Activation::Relu: lo = 0.f; return true;
      case Activation::Clip: lo = p.alpha / sy; hi = p.beta / sy; return true;
      default: return false;
    }
  }
  // The non-linear activations the INT8 epilogue applies in real units (quant::requantize_act).
  static quant::Act real_unit_act(const PostOp& p) {
    switch (p.act) {
      case Activation::Sigmoid: return quant::Act::Sigmoid;
      case Activation::Silu: return quant::Act::Silu;
      case Activation::HardSwish: return quant::Act::HardSwish;
      case Activation::LeakyRelu: return quant::Act::LeakyRelu;
      default: return quant::Act::None;
    }
  }
  // The epilogue's activation attributes: act_lo/act_hi (output units) for Relu/Clip, or act/act_alpha/out_scale
  // for a non-linear one (then `multiplier` is the dequantization s_x * s_w[k]: see quantize.h).
  static void activation_attrs(Node& q, const PostOp& p, quant::Act act, float lo, float hi, float sy) {
    if (act == quant::Act::None) {
      q.attrs["act_lo"] = attr_f(lo);
      q.attrs["act_hi"] = attr_f(hi);
      return;
    }
    q.attrs["act"] = attr_i(static_cast<int64_t>(act));
    q.attrs["act_alpha"] = attr_f(p.alpha);
    q.attrs["out_scale"] = attr_f(sy);
  }

  bool requested_fp32(const Node& n) const {
    for (const auto& name : opt.fp32_layers) {
      if (name == n.name) return true;
      for (int o : n.outputs)
        if (o >= 0 && g.value(o).name == name) return true;
    }
    return false;
  }

  // The tensor whose calibrated scale value v is held at: v itself, or — for a tensor whose only reader is a
  // Concat that will run int8 — that Concat's output (followed through Concats that feed only a Concat). A
  // QConcat rescales each input to its output's scale, a second rounding; producing the input at the output's
  // scale in the first place rounds it once, and the QConcat copies it. (EntropyCalibration2 gives every input
  // the output's scale for the same reason; here only inputs nobody else reads take it, so a tensor that other
  // layers also read keeps its own, finer scale: DenseNet's features.) "Will run int8": not requested FP32, every
  // input a calibrated non-constant tensor, output calibrated and read in int8 (has_int8_reader); an input whose
  // producer stays FP32 after all makes the Concat FP32 and the others are dequantized at the coarser scale.
  int concat_scale_source(int v) {
    if (!opt.concat_inputs_at_output_scale || v < 0 || static_cast<size_t>(v) >= readers.size()) return v;
    int& memo = concat_source_memo[static_cast<size_t>(v)];
    if (memo != -2) return memo;
    memo = v;  // the answer until proven otherwise (and for a cycle, which a valid graph has none of)
    const auto& rs = readers[static_cast<size_t>(v)];
    if (rs.size() != 1 || std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end()) return v;
    const Node& c = (*orig_nodes)[static_cast<size_t>(rs[0])];
    if (c.op != OpType::Concat || requested_fp32(c) || c.outputs.empty() || c.outputs[0] < 0) return v;
    auto calibrated = [&](int t) {
      auto it = amax.find(g.value(t).name);
      return it != amax.end() && it->second > 0.f;
    };
    for (int in : c.inputs)
      if (in < 0 || g.is_const(in) || !calibrated(in)) return v;
    const int y = c.outputs[0];
    if (!calibrated(y) || !has_int8_reader(y)) return v;
    memo = concat_scale_source(y);
    return memo;
  }

  // Per-output-channel weights: rows of `w` viewed as [rows, per].
  using QWeights = QuantizedWeights;
  // `source`: the graph constant `w` was made from (w itself, or its transpose), the weight cache's key.
  QWeights quantize_rows(const Tensor& w, int64_t rows, const Tensor& source) {
    if (opt.weight_cache) {
      auto it = opt.weight_cache->find(source.raw());
      if (it != opt.weight_cache->end() && it->second.q.shape() == w.shape()) return it->second;
      QWeights& r = (*opt.weight_cache)[source.raw()] = quantize_rows_now(w, rows);
      r.source = source;  // keeps the address taken
      return r;
    }
    return quantize_rows_now(w, rows);
  }
  static QWeights quantize_rows_now(const Tensor& w, int64_t rows) {
    QWeights r;
    int64_t per = w.numel() / rows;
    r.q = Tensor(DType::i8, w.shape());
    r.scale.resize(static_cast<size_t>(rows));
    const float* p = w.data<float>();
    for (int64_t k = 0; k < rows; ++k) {
      float m = 0.f;
      for (int64_t j = 0; j < per; ++j) m = std::max(m, std::fabs(p[k * per + j]));
      float s = m / 127.f;
      r.scale[static_cast<size_t>(k)] = s;
      for (int64_t j = 0; j < per; ++j) r.q.data<int8_t>()[k * per + j] = quant::quantize_weight(p[k * per + j], s);
    }
    return r;
  }

  // multiplier[k] and the float bias in accumulator units for an anchor op. real_units (a non-linear fused
  // activation): multiplier[k] = s_x * s_w[k], the activation's input in real units; else s_x * s_w[k] / s_y.
  void epilogue(Node& q, const QWeights& w, const std::vector<float>& bias, float sx, float sy, bool real_units) {
    std::vector<float> mult(w.scale.size());
    Tensor b(DType::f32, {static_cast<int64_t>(w.scale.size())});
    for (size_t k = 0; k < w.scale.size(); ++k) {
      float sxw = sx * w.scale[k];
      mult[k] = real_units ? sxw : sxw / sy;
      b.data<float>()[k] = bias.empty() ? 0.f : quant::bias_in_acc_units(bias[k], sxw);
    }
    q.attrs["multiplier"] = attr_floats(mult);
    q.inputs.push_back(g.add_constant(g.unique_name(q.name + "::w_int8"), w.q));
    q.inputs.push_back(g.add_constant(g.unique_name(q.name + "::bias_acc"), b));
  }

  // A conv/matmul with a fused non-linear activation whose output is read in FP32 only (a squeeze-excitation
  // gate read by a Mul): quantizing that output would add a rounding nothing needs. The conv/matmul is quantized
  // up to its pre-activation tensor instead, and the activation runs in FP32 after a Dequantize (the nodes fusion
  // replaced, rebuilt). Returns "" when the conv/matmul went int8, else why not (it then stays FP32, fused).
  std::string split_activation(const Node& n) {
    const size_t want = n.post.act == Activation::Silu ? 2 : 1;
    if (n.post.residual_input >= 0 || n.post.fused_names.size() != want) return "fused activation with a residual";
    const int pre = g.find(n.post.fused_names[0]);
    if (pre < 0) return "pre-activation tensor '" + n.post.fused_names[0] + "' is gone";
    // Fusion left `pre` without a producer, so propagation gave it no shape: an elementwise activation's input
    // has its output's shape (rank4() picks the layout of the Dequantize below from it).
    shapes.shape[static_cast<size_t>(pre)] = shape(n.outputs[0]);
    shapes.dtype[static_cast<size_t>(pre)] = DType::f32;
    Node lin = n;
    lin.post = PostOp{};
    lin.outputs = {pre};
    std::string why = n.op == OpType::Conv ? try_conv(lin) : n.op == OpType::ConvTranspose ? try_deconv(lin) : try_linear(lin);
    if (!why.empty()) return why;
    need_f32(pre);
    const int y = n.outputs[0];
    size_t rebuilt = 0;
    auto fp32_node = [&](OpType op, std::vector<int> in, int out) {
      Node a;
      a.op = op;
      // The ONNX node's own name when fusion recorded it (reports list it as FP32, not as fused).
      a.name = rebuilt < n.post.fused_nodes.size() ? n.post.fused_nodes[rebuilt] : g.value(out).name + "::" + op_name(op);
      ++rebuilt;
      report.lines.push_back({a.name, op_name(op), "fp32", "output read only in FP32: not fused into '" + n.name + "'"});
      ++report.fp32_nodes;
      a.inputs = std::move(in);
      a.outputs = {out};
      if (op == OpType::LeakyRelu) a.attrs["alpha"] = attr_f(n.post.alpha);
      out_nodes.push_back(std::move(a));
      f32_ready[static_cast<size_t>(out)] = 1;
    };
    switch (n.post.act) {
      case Activation::Silu: {
        const int s = g.find(n.post.fused_names[1]);
        if (s < 0) fail("quantization pass: SiLU's sigmoid tensor '", n.post.fused_names[1], "' is gone");
        fp32_node(OpType::Sigmoid, {pre}, s);
        fp32_node(OpType::Mul, {pre, s}, y);
        break;
      }
      case Activation::Sigmoid: fp32_node(OpType::Sigmoid, {pre}, y); break;
      case Activation::HardSwish: fp32_node(OpType::HardSwish, {pre}, y); break;
      case Activation::LeakyRelu: fp32_node(OpType::LeakyRelu, {pre}, y); break;
      default: fail("quantization pass: ", n.describe(), " has no activation to split");
    }
    return "";
  }

  // A convolution's (or transposed convolution's) input/output scales and its activation's INT8 bounds (the
  // epilogue writes y at sy; act: a real-valued unit activation, else lo/hi clamp): "" or why it stays FP32.
  std::string window_layer_scales(const Node& n, int x, int y, float& sy, quant::Act& act, float& lo, float& hi) {
    const float sx = calib_scale(x);
    sy = calib_scale(y);
    if (sx == 0.f && !available_int8(x)) return no_scale(x, "input '" + g.value(x).name + "' has no calibrated scale");
    if (sy == 0.f) return no_scale(y, "output '" + g.value(y).name + "' has no calibrated scale");
    act = real_unit_act(n.post);
    if (act == quant::Act::None && !act_bounds(n.post, sy, lo, hi)) return "fused activation has no INT8 epilogue";
    return "";
  }

  std::string try_conv(const Node& n) {
    const Affine* aff = affine_of(n);
    // The affine is worth taking only where its output stays int8 (else the act is split off as before).
    if (aff && !has_int8_reader(aff->out)) aff = nullptr;
    if (real_unit_act(n.post) != quant::Act::None && !aff && !has_int8_reader(n.outputs[0])) return split_activation(n);
    if (n.inputs.size() < 2 || !g.is_const(n.inputs[1]) || g.const_of(n.inputs[1]).rank() != 4)
      return "not a 2-D convolution with constant weights";
    const ResidualAfter* after = aff ? nullptr : residual_after_of(n);
    int x = n.inputs[0], y = aff ? aff->out : after ? after->out : n.outputs[0];
    float sy = 0.f, lo = quant::kNoLo, hi = quant::kNoHi;
    quant::Act act = quant::Act::None;
    if (std::string why = window_layer_scales(n, x, y, sy, act, lo, hi); !why.empty()) return why;
    int res = n.post.residual_input >= 0 ? n.inputs[static_cast<size_t>(n.post.residual_input)] : -1;
    if (act != quant::Act::None && res >= 0) return "fused residual before a non-linear activation has no INT8 epilogue";
    if (after) res = after->other;  // added after the activation (quant::requantize_act_residual)
    if (res >= 0 && calib_scale(res) == 0.f && !available_int8(res))
      return no_scale(res, "residual input '" + g.value(res).name + "' has no calibrated scale");
    const Tensor w = g.const_of(n.inputs[1]);  // a copy (shared buffer): add_value may move g.values
    Window win = forward_window(n, shape(x), Shape(w.shape().begin() + 2, w.shape().end()), false);

    int32_t yzp = 0;
    if (act != quant::Act::None && !aff && !after && res < 0) {
      float s = 0.f;
      if (asym_output(y, act, s, yzp)) sy = s;
    }

    int qx = get_int8(x);
    float sxq = qscale.at(qx);
    Node q;
    q.op = OpType::QConv;
    if (const int32_t xzp = zero_point(qx); xzp != 0) q.attrs["x_zero_point"] = attr_i(xzp);
    if (yzp != 0) q.attrs["out_zero_point"] = attr_i(yzp);
    q.name = n.name;
    q.post.fused_names = n.post.fused_names;
    if (aff) take_affine(q, *aff);
    if (after) take_residual_after(q, n, *after);
    q.inputs = {qx};
    std::vector<float> bias;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) bias = g.const_of(n.inputs[2]).to_f32();
    QWeights qw = quantize_rows(w, w.dim(0), w);
    // epilogue appends w and bias in this order: x, w, bias
    epilogue(q, qw, bias, sxq, sy, act != quant::Act::None);
    q.attrs["strides"] = attr_ints(win.strides);
    q.attrs["dilations"] = attr_ints(win.dilations);
    q.attrs["pads"] = attr_ints(explicit_pads_2d(win));
    q.attrs["group"] = attr_i(n.attr_i("group", 1));
    activation_attrs(q, n.post, act, lo, hi, sy);
    if (res >= 0) {
      int qr = get_int8(res);
      q.inputs.push_back(qr);
      q.attrs["residual_scale"] = attr_f(sym_scale(qr) / sy);
    }
    int qy = new_int8_value(y);
    q.outputs = {qy};
    out_nodes.push_back(std::move(q));
    int8_of[static_cast<size_t>(y)] = qy;
    qscale[qy] = sy;
    if (yzp != 0) {
      qzp[qy] = yzp;
      act_lower_bound(act, qlo[qy]);
    }
    return "";
  }

  // ConvTranspose -> QConvTranspose: 2-D, constant weights [C, K/group, kh, kw], pads that only crop (no
  // output_padding / output_shape that extends the output), no residual. Weights per output channel k = g*K/G + j.
  std::string try_deconv(const Node& n) {
    if (real_unit_act(n.post) != quant::Act::None && !has_int8_reader(n.outputs[0])) return split_activation(n);
    if (n.inputs.size() < 2 || !g.is_const(n.inputs[1]) || g.const_of(n.inputs[1]).rank() != 4)
      return "not a 2-D transposed convolution with constant weights";
    if (n.post.residual_input >= 0) return "fused residual on a ConvTranspose has no INT8 kernel";
    if (n.has_attr("output_shape")) return "output_shape attribute";
    for (int64_t p : n.attr_ints("output_padding"))
      if (p != 0) return "output_padding";
    int x = n.inputs[0], y = n.outputs[0];
    if (!rank4(x)) return "not 2-D";
    float sy = 0.f, lo = quant::kNoLo, hi = quant::kNoHi;
    quant::Act act = quant::Act::None;
    if (std::string why = window_layer_scales(n, x, y, sy, act, lo, hi); !why.empty()) return why;
    const Tensor w = g.const_of(n.inputs[1]);  // a copy (shared buffer): add_value may move g.values
    const int64_t G = n.attr_i("group", 1), C = w.dim(0), Kg = w.dim(1), taps = w.dim(2) * w.dim(3);
    if (G < 1 || C % G != 0) return "group does not divide the input channels";
    const Window win = transposed_window(n, shape(x), Shape(w.shape().begin() + 2, w.shape().end()));
    for (size_t d = 0; d < 2; ++d)
      if (win.pad_begin[d] < 0 || win.pad_end[d] < 0) return "pads that extend the output";
    // Per output channel k: the weights w[c, j, :, :] of its group's input channels c.
    const int64_t K = Kg * G, Cg = C / G;
    QWeights qw;
    qw.q = Tensor(DType::i8, w.shape());
    qw.scale.assign(static_cast<size_t>(K), 0.f);
    const float* p = w.data<float>();
    auto each = [&](int64_t k, auto&& f) {
      const int64_t gi = k / Kg, j = k % Kg;
      for (int64_t c = gi * Cg; c < (gi + 1) * Cg; ++c)
        for (int64_t t = 0; t < taps; ++t) f((c * Kg + j) * taps + t);
    };
    for (int64_t k = 0; k < K; ++k) {
      float m = 0.f;
      each(k, [&](int64_t e) { m = std::max(m, std::fabs(p[e])); });
      const float s = m / 127.f;
      qw.scale[static_cast<size_t>(k)] = s;
      each(k, [&](int64_t e) { qw.q.data<int8_t>()[e] = quant::quantize_weight(p[e], s); });
    }
    int qx = get_int8(x);
    Node q;
    q.op = OpType::QConvTranspose;
    q.name = n.name;
    q.post.fused_names = n.post.fused_names;
    q.inputs = {qx};
    std::vector<float> bias;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      if (!g.is_const(n.inputs[2])) return "bias is not a constant";
      bias = g.const_of(n.inputs[2]).to_f32();
    }
    epilogue(q, qw, bias, sym_scale(qx), sy, act != quant::Act::None);
    q.attrs["strides"] = attr_ints(win.strides);
    q.attrs["dilations"] = attr_ints(win.dilations);
    q.attrs["pads"] = attr_ints({win.pad_begin[0], win.pad_begin[1], win.pad_end[0], win.pad_end[1]});
    q.attrs["group"] = attr_i(G);
    activation_attrs(q, n.post, act, lo, hi, sy);
    emit(std::move(q), y, sy);
    return "";
  }

  // Resize of an int8 NHWC tensor by constant scales over H and W -> QResize (output keeps the input's scale).
  // Nearest copies values and is worth it whatever reads the output (like MaxPool); linear rounds once more, so
  // only when an int8 op reads its output.
  std::string try_resize(const Node& n) {
    const int x = n.inputs.empty() ? -1 : n.inputs[0], y = n.outputs[0];
    if (!available_int8(x) || !rank4(x)) return "input is not an int8 4-D tensor";
    const std::string mode = n.attr_s("mode", "nearest"), ctm = n.attr_s("coordinate_transformation_mode", "half_pixel");
    if (!qresize_supported_modes(mode, ctm, n.attr_s("nearest_mode", "round_prefer_floor")))
      return "mode '" + mode + "' / coordinate_transformation_mode '" + ctm + "' has no INT8 kernel";
    if (n.has_attr("axes") || n.attr_i("antialias", 0) != 0 || n.attr_i("exclude_outside", 0) != 0)
      return "axes, antialias or exclude_outside";
    if (n.inputs.size() < 3 || n.inputs[2] < 0 || !g.is_const(n.inputs[2]) || (n.inputs.size() > 3 && n.inputs[3] >= 0))
      return "sizes instead of constant scales";
    const std::vector<float> sc = g.const_of(n.inputs[2]).to_f32();
    if (sc.size() != 4 || sc[0] != 1.f || sc[1] != 1.f) return "scales other than H and W";
    if (mode == "linear" && !has_int8_reader(y)) return "output read only in FP32 (linear int8 would round it once more)";
    Node q;
    q.op = OpType::QResize;
    q.name = n.name;
    q.inputs = {int8_of[static_cast<size_t>(x)]};
    q.attrs["mode"] = attr_s(mode);
    q.attrs["coordinate_transformation_mode"] = attr_s(ctm);
    q.attrs["nearest_mode"] = attr_s(n.attr_s("nearest_mode", "round_prefer_floor"));
    q.attrs["scales"] = attr_floats({sc[2], sc[3]});
    const float s = sym_scale(q.inputs[0]);
    emit(std::move(q), y, s);
    return "";
  }

  std::string try_linear(const Node& n) {
    const Affine* aff = affine_of(n);
    if (aff && !has_int8_reader(aff->out)) aff = nullptr;
    if (real_unit_act(n.post) != quant::Act::None && !aff && !has_int8_reader(n.outputs[0])) return split_activation(n);
    bool gemm = n.op == OpType::Gemm;
    if (n.inputs.size() < 2 || !g.is_const(n.inputs[1]) || g.const_of(n.inputs[1]).rank() != 2)
      return "weights are not a constant matrix";
    if (n.post.residual_input >= 0) return "fused residual on a matmul has no INT8 kernel";
    if (gemm && (n.attr_i("transA", 0) != 0 || n.attr_f("alpha", 1.f) != 1.f)) return "Gemm with transA or alpha";
    int x = n.inputs[0], y = n.outputs[0];
    if (shape(x).size() < 2) return "1-D input";
    if (aff) y = aff->out;
    float sx = calib_scale(x), sy = calib_scale(y);
    if (sx == 0.f && !available_int8(x)) return no_scale(x, "input '" + g.value(x).name + "' has no calibrated scale");
    if (sy == 0.f) return no_scale(y, "output '" + g.value(y).name + "' has no calibrated scale");
    if (available_int8(x) && rank4(x)) return "input is an NHWC int8 tensor";
    float lo = quant::kNoLo, hi = quant::kNoHi;
    const quant::Act act = real_unit_act(n.post);
    if (act == quant::Act::None && !act_bounds(n.post, sy, lo, hi)) return "fused activation has no INT8 epilogue";
    const Tensor b = g.const_of(n.inputs[1]);  // a copy: add_value may move g.values
    // w as [N, K]: Gemm transB=1 already is; MatMul / Gemm transB=0 hold [K, N].
    Tensor w = b;
    if (!(gemm && n.attr_i("transB", 0))) {
      int64_t K = b.dim(0), N = b.dim(1);
      w = Tensor(DType::f32, {N, K});
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) w.data<float>()[j * K + k] = b.data<float>()[k * N + j];
    }
    std::vector<float> bias;
    if (gemm && n.inputs.size() > 2 && n.inputs[2] >= 0) {
      if (!g.is_const(n.inputs[2]) || n.attr_f("beta", 1.f) != 1.f) return "Gemm C is not a constant bias";
      bias = g.const_of(n.inputs[2]).to_f32();
      if (static_cast<int64_t>(bias.size()) != w.dim(0)) return "Gemm C is not a per-output bias";
    }
    int qx = get_int8(x);
    Node q;
    q.op = OpType::QLinear;
    q.name = n.name;
    q.post.fused_names = n.post.fused_names;
    if (aff) take_affine(q, *aff);
    q.inputs = {qx};
    epilogue(q, quantize_rows(w, w.dim(0), b), bias, sym_scale(qx), sy, act != quant::Act::None);
    activation_attrs(q, n.post, act, lo, hi, sy);
    int qy = new_int8_value(y);
    q.outputs = {qy};
    out_nodes.push_back(std::move(q));
    int8_of[static_cast<size_t>(y)] = qy;
    qscale[qy] = sy;
    return "";
  }

  // The epilogue absorbs the residual Add after the activation: the activation's output (never produced now) is
  // recorded as fused, and the Add is skipped (reported as int8, fused into the conv).
  void take_residual_after(Node& q, const Node& conv, const ResidualAfter& r) {
    q.post.fused_names.push_back(g.value(conv.outputs[0]).name);
    q.post.fused_nodes = conv.post.fused_nodes;
    const Node& add = (*orig_nodes)[r.add];
    q.post.fused_nodes.push_back(add.name);
    absorbed.insert(r.add);
    pending_lines.push_back({add.name, op_name(add.op), "int8",
                             "fused into '" + conv.name + "' (residual added after the activation)"});
  }
  std::vector<QuantizeReport::Line> pending_lines;  // lines for absorbed nodes, after their host's

  // The epilogue absorbs the affine after the activation: its attributes, and the absorbed nodes are skipped.
  void take_affine(Node& q, const Affine& a) {
    q.attrs["act_mul"] = attr_f(a.mul);
    q.attrs["act_add"] = attr_f(a.add);
    for (const auto& name : a.names) q.post.fused_names.push_back(name);
    for (size_t i : a.nodes) absorbed.insert(i);
  }

  // Ops that stay int8 only when their inputs already are.
  // Whether v, kept int8, would reach an int8 weighted op (Conv / Gemm / MatMul) without another rounding
  // decision: directly, through MaxPool (which keeps its input's scale), or through an op that itself rounds
  // (Add, Concat, average pools) and is int8 for the same reason. A DenseNet's Concat feeding only the next
  // Concat and a BatchNormalization answers no: an int8 chain of Concats would re-round the old features at
  // every block (0.3 points of top-1 on densenet40), where FP32 Concats keep each as its conv rounded it.
  bool has_int8_reader(int v) {
    int8_t& memo = int8_reader_memo[static_cast<size_t>(v)];
    if (memo >= 0) return memo == 1;
    memo = 0;  // a cycle (none in a valid graph) answers no
    bool yes = false;
    for (int c : readers[static_cast<size_t>(v)]) {
      const Node& r = (*orig_nodes)[static_cast<size_t>(c)];
      if (requested_fp32(r)) continue;
      switch (r.op) {
        case OpType::Conv: case OpType::Gemm: case OpType::MatMul: case OpType::ConvTranspose:
          yes = true;
          break;
        case OpType::MaxPool: case OpType::AveragePool: case OpType::GlobalAveragePool: case OpType::Add:
        case OpType::Concat: case OpType::Resize:
          yes = !r.outputs.empty() && r.outputs[0] >= 0 && has_int8_reader(r.outputs[0]);
          break;
        default: break;
      }
      if (yes) break;
    }
    memo = yes ? 1 : 0;
    return yes;
  }

  std::string try_passthrough(const Node& n) {
    int y = n.outputs[0];
    for (int in : n.inputs)
      if (in >= 0 && !g.is_const(in) && !available_int8(in)) return "input '" + g.value(in).name + "' is not int8";
    // An op that rounds its result (average, sum, rescaled concat) is worth running in int8 only if its output
    // stays int8; when every reader is FP32 (DenseNet's BatchNormalization after Concat, a pool before Flatten),
    // the FP32 op on the dequantized inputs is exact where the int8 one would round once more.
    if (n.op != OpType::MaxPool && !has_int8_reader(y))
      return "output is read only in FP32 (int8 would round it once more)";
    switch (n.op) {
      case OpType::MaxPool: {
        if (n.outputs.size() > 1 || !rank4(n.inputs[0])) return "MaxPool with Indices or not 2-D";
        Window win = forward_window(n, shape(n.inputs[0]), n.attr_ints("kernel_shape"), true);
        Node q;
        q.op = OpType::QMaxPool;
        q.name = n.name;
        q.inputs = {int8_of[static_cast<size_t>(n.inputs[0])]};
        q.attrs["kernel"] = attr_ints(win.kernel);
        q.attrs["strides"] = attr_ints(win.strides);
        q.attrs["dilations"] = attr_ints(win.dilations);
        q.attrs["pads"] = attr_ints(explicit_pads_2d(win));
        float s = sym_scale(q.inputs[0]);  // pooling output keeps its input's scale (EntropyCalibration2 rule)
        emit(std::move(q), y, s);
        return "";
      }
      case OpType::AveragePool: case OpType::GlobalAveragePool: {
        if (!rank4(n.inputs[0])) return "not 2-D pooling";
        float sy = calib_scale(y);
        if (sy == 0.f) return no_scale(y, "output has no calibrated scale");
        Node q;
        q.op = OpType::QAvgPool;
        q.name = n.name;
        q.inputs = {int8_of[static_cast<size_t>(n.inputs[0])]};
        if (n.op == OpType::GlobalAveragePool) {
          q.attrs["global"] = attr_i(1);
        } else {
          Window win = forward_window(n, shape(n.inputs[0]), n.attr_ints("kernel_shape"), true);
          for (int64_t d : win.dilations)
            if (d != 1) return "dilated average pooling";
          if (n.attr_i("ceil_mode", 0) && n.attr_i("count_include_pad", 0)) return "ceil_mode with count_include_pad";
          q.attrs["kernel"] = attr_ints(win.kernel);
          q.attrs["strides"] = attr_ints(win.strides);
          q.attrs["pads"] = attr_ints(explicit_pads_2d(win));
          q.attrs["count_include_pad"] = attr_i(n.attr_i("count_include_pad", 0));
        }
        q.attrs["multiplier"] = attr_f(qscale.at(q.inputs[0]) / sy);
        if (const int32_t xzp = zero_point(q.inputs[0]); xzp != 0) q.attrs["x_zero_point"] = attr_i(xzp);
        emit(std::move(q), y, sy);
        return "";
      }
      case OpType::Add: {
        if (n.inputs.size() != 2 || g.is_const(n.inputs[0]) || g.is_const(n.inputs[1])) return "Add of a constant";
        if (shape(n.inputs[0]) != shape(n.inputs[1])) return "broadcasting Add";
        float sy = calib_scale(y), lo, hi;
        if (sy == 0.f) return no_scale(y, "output has no calibrated scale");
        if (!act_bounds(n.post, sy, lo, hi)) return "fused activation has no INT8 epilogue";
        Node q;
        q.op = OpType::QAdd;
        q.name = n.name;
        q.post.fused_names = n.post.fused_names;
        q.inputs = {int8_of[static_cast<size_t>(n.inputs[0])], int8_of[static_cast<size_t>(n.inputs[1])]};
        q.attrs["scale_a"] = attr_f(sym_scale(q.inputs[0]) / sy);
        q.attrs["scale_b"] = attr_f(sym_scale(q.inputs[1]) / sy);
        q.attrs["act_lo"] = attr_f(lo);
        q.attrs["act_hi"] = attr_f(hi);
        emit(std::move(q), y, sy);
        return "";
      }
      case OpType::Concat: {
        float sy = calib_scale(y);
        if (sy == 0.f) return no_scale(y, "output has no calibrated scale");
        int rank = static_cast<int>(shape(y).size());
        int axis = static_cast<int>(n.attr_i("axis", 0));
        if (axis < 0) axis += rank;
        for (int in : n.inputs)
          if (in < 0 || g.is_const(in)) return "Concat with constant inputs";
        if (rank == 4) axis = axis == 0 ? 0 : axis == 1 ? 3 : axis - 1;  // NCHW axis -> NHWC axis
        Node q;
        q.op = OpType::QConcat;
        q.name = n.name;
        std::vector<float> scales;
        for (int in : n.inputs) {
          q.inputs.push_back(int8_of[static_cast<size_t>(in)]);
          scales.push_back(sym_scale(q.inputs.back()) / sy);
        }
        q.attrs["axis"] = attr_i(axis);
        q.attrs["scales"] = attr_floats(scales);
        emit(std::move(q), y, sy);
        return "";
      }
      default: return "no INT8 kernel";
    }
  }

  // Mul(x, g) with x an int8 4-D tensor and g a float per-(image, channel) gate [N|1, C, 1, 1] (squeeze-
  // excitation) -> QMulGate, when the product has a scale and an int8 op reads it: x is not dequantized and the
  // product not quantized again (one rounding, where the FP32 Mul would add a Dequantize and a Quantize).
  // A HardSigmoid whose only reader is a Mul that try_gate will rewrite (the conditions below, checked ahead): held
  // back so that the QMulGate applies it to its pre-activation gate.
  bool hold_gate(const Node& hs) {
    const int y = hs.outputs.empty() ? -1 : hs.outputs[0];
    if (y < 0 || hs.inputs.empty() || g.is_graph_output(y) || readers[static_cast<size_t>(y)].size() != 1) return false;
    const Node& r = (*orig_nodes)[static_cast<size_t>(readers[static_cast<size_t>(y)][0])];
    if (r.op != OpType::Mul || r.inputs.size() != 2 || r.post.act != Activation::None || requested_fp32(r)) return false;
    if (r.inputs[0] == r.inputs[1]) return false;
    const int x = r.inputs[0] == y ? r.inputs[1] : r.inputs[0];
    if (!gate_shapes_fit(x, y) || calib_scale(r.outputs[0]) == 0.f || !has_int8_reader(r.outputs[0])) return false;
    held_gates[y] = hs;
    return true;
  }
  bool gate_shapes_fit(int x, int gate) { return available_int8(x) && gate_shape_of(x, gate); }

  std::string try_gate(const Node& n) {
    if (n.inputs.size() != 2 || n.post.act != Activation::None) return "no INT8 kernel";
    for (int k = 0; k < 2; ++k) {
      const int x = n.inputs[static_cast<size_t>(k)], gate = n.inputs[static_cast<size_t>(1 - k)];
      if (!gate_shapes_fit(x, gate)) continue;
      const int y = n.outputs[0];
      float sy = calib_scale(y);
      if (sy == 0.f) return no_scale(y, "output has no calibrated scale");
      if (!has_int8_reader(y)) return "output read only in FP32 (an INT8 Mul would round it once more)";
      Node q;
      q.op = OpType::QMulGate;
      q.name = n.name;
      if (auto h = held_gates.find(gate); h != held_gates.end()) {
        const Node& hs = h->second;
        need_f32(hs.inputs[0]);
        q.inputs = {int8_of[static_cast<size_t>(x)], hs.inputs[0]};
        q.attrs["gate_act"] = attr_i(1);
        q.attrs["gate_alpha"] = attr_f(hs.attr_f("alpha", 0.2f));
        q.attrs["gate_beta"] = attr_f(hs.attr_f("beta", 0.5f));
        report.lines.push_back({hs.name, op_name(hs.op), "int8", "fused into '" + n.name + "' (QMulGate)"});
        ++report.int8_nodes;
        held_gates.erase(h);
      } else {
        need_f32(gate);
        q.inputs = {int8_of[static_cast<size_t>(x)], gate};
      }
      // x with a zero point (a SiLU output): x * gate, gate in [0, 1], keeps x's lower bound, so the product may
      // take one too (asym_range_of decides by its readers).
      const int qx = q.inputs[0];
      const int32_t xzp = zero_point(qx);
      int32_t yzp = 0;
      if (auto lo = qlo.find(qx); lo != qlo.end() && unit_gate(gate)) {
        float s = 0.f;
        if (asym_range_of(y, lo->second, s, yzp)) sy = s;
      }
      q.attrs["scale"] = attr_f(qscale.at(qx) / sy);
      if (xzp != 0) q.attrs["x_zero_point"] = attr_i(xzp);
      if (yzp != 0) q.attrs["out_zero_point"] = attr_i(yzp);
      const int qy = emit(std::move(q), y, sy);
      if (yzp != 0) {
        qzp[qy] = yzp;
        qlo[qy] = qlo.at(qx);
      }
      return "";
    }
    return "no INT8 kernel (only an int8 tensor times a per-channel gate)";
  }

  int emit(Node q, int y, float sy) {
    int qy = new_int8_value(y);
    q.outputs = {qy};
    out_nodes.push_back(std::move(q));
    int8_of[static_cast<size_t>(y)] = qy;
    qscale[qy] = sy;
    return qy;
  }

  void keep_fp32(const Node& n) {
    for (int in : n.inputs) need_f32(in);
    for (int o : n.outputs) f32_ready[static_cast<size_t>(o)] = 1;
    out_nodes.push_back(n);
  }

  void run() {
    size_t nv0 = g.values.size();
    int8_of.assign(nv0, -1);
    f32_ready.assign(nv0, 0);
    for (size_t v = 0; v < nv0; ++v)
      if (g.values[v].constant) f32_ready[v] = 1;
    for (int v : g.inputs) f32_ready[static_cast<size_t>(v)] = 1;
    readers = g.consumers();
    int8_reader_memo.assign(g.values.size(), -1);
    concat_source_memo.assign(g.values.size(), -2);
    std::vector<Node> nodes = std::move(g.nodes);
    orig_nodes = &nodes;
    g.nodes.clear();
    find_affines();
    find_residuals_after();
    for (size_t ni = 0; ni < nodes.size(); ++ni) {
      const Node& n = nodes[ni];
      if (absorbed.count(ni)) continue;  // in a QConv/QLinear epilogue (take_affine); the layer table says where
      if (n.op == OpType::HardSigmoid && !requested_fp32(n) && hold_gate(n)) continue;  // try_gate takes it
      // A held HardSigmoid whose Mul did not become a QMulGate after all: emitted FP32 first.
      for (int in : n.inputs)
        if (auto h = held_gates.find(in); in >= 0 && h != held_gates.end() && n.op != OpType::Mul) {
          Node hs = h->second;
          held_gates.erase(h);
          keep_fp32(hs);
          report.lines.push_back({hs.name, op_name(hs.op), "fp32", "no INT8 kernel"});
          ++report.fp32_nodes;
        }
      std::string why;
      bool f32_in = true;
      for (int in : n.inputs)
        if (in >= 0 && shapes.dtype[static_cast<size_t>(in)] != DType::f32 && !g.is_const(in)) f32_in = false;
      if (requested_fp32(n)) {
        why = "kept FP32 as requested";
      } else if (!f32_in || shapes.dtype[static_cast<size_t>(n.outputs[0])] != DType::f32) {
        why = "not a float op";
      } else {
        switch (n.op) {
          case OpType::Conv: why = try_conv(n); break;
          case OpType::Gemm: case OpType::MatMul: why = try_linear(n); break;
          case OpType::MaxPool: case OpType::AveragePool: case OpType::GlobalAveragePool: case OpType::Add:
          case OpType::Concat:
            why = try_passthrough(n);
            break;
          case OpType::Mul: why = try_gate(n); break;
          case OpType::ConvTranspose: why = try_deconv(n); break;
          case OpType::Resize: why = try_resize(n); break;
          default: why = "no INT8 kernel"; break;
        }
      }
      if (why.empty()) {
        report.lines.push_back({n.name, op_name(n.op), "int8", ""});
        ++report.int8_nodes;
        for (auto& l : pending_lines) {
          report.lines.push_back(std::move(l));
          ++report.int8_nodes;
        }
        pending_lines.clear();
      } else {
        for (int in : n.inputs)  // its HardSigmoid gate, held for a QMulGate that did not happen
          if (auto h = held_gates.find(in); in >= 0 && h != held_gates.end()) {
            Node hs = h->second;
            held_gates.erase(h);
            keep_fp32(hs);
            report.lines.push_back({hs.name, op_name(hs.op), "fp32", "no INT8 kernel"});
            ++report.fp32_nodes;
          }
        keep_fp32(n);
        report.lines.push_back({n.name, op_name(n.op), "fp32", why});
        ++report.fp32_nodes;
      }
    }
    for (int o : g.outputs) need_f32(o);
    g.nodes = std::move(out_nodes);
    g.finalize();
  }
};

// Input shapes for the quantizer's shape propagation: batch 1, and a symbolic dimension beyond the batch (a
// detector of dynamic H x W) probed at `probe` (a multiple of 32, as FPN-style models need); the plan itself
// keeps the dimension dynamic. `symbolic` is set when a probe was used.
std::vector<Shape> batch1_shapes(const Graph& g, int64_t probe, bool* symbolic) {
  std::vector<Shape> shapes;
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    OCTET_CHECK(val.has_declared_shape, "INT8 build needs the declared shape of input '", val.name, "'");
    Shape s;
    for (size_t i = 0; i < val.declared.size(); ++i) {
      if (val.declared[i].value < 0 && i > 0) *symbolic = true;
      s.push_back(val.declared[i].value >= 0 ? val.declared[i].value : (i == 0 ? 1 : probe));
    }
    shapes.push_back(s);
  }
  return shapes;
}

Propagation propagate_for_quantize(const Graph& g) {
  bool symbolic = false;
  std::vector<Shape> shapes = batch1_shapes(g, 64, &symbolic);
  try {
    return propagate(g, shapes);
  } catch (const Error& e) {
    if (!symbolic) throw;
    std::string first;
    for (int v : g.inputs)
      for (size_t i = 1; i < g.value(v).declared.size() && first.empty(); ++i)
        if (g.value(v).declared[i].value < 0) first = g.value(v).name + "' has symbolic dim '" + g.value(v).declared[i].symbol;
    fail("INT8 build: input '", first, "' beyond the batch dimension, and the model does not run at 64 there (",
         e.what(), "); fix the input shape (--shapes NAME:DIMS)");
  }
}

}  // namespace

// EntropyCalibration2's per-tensor rule: a Concat's inputs and output share one scale, so the producers of the
// inputs write straight into the shared scale and the concat is a copy (no second rounding). Groups are
// joined transitively (DenseNet chains concats); a group takes the largest amax of its members.
// Off by default: on DenseNet-40 (3,000 CIFAR-10 test images, entropy2) sharing costs 0.7 points of top-1
// (89.40 -> 88.70; with the last concat's amax 88.63) — the shared scale is too coarse for the early inputs.
std::map<std::string, float> share_concat_scales(const Graph& g, const std::map<std::string, float>& amax) {
  std::map<std::string, float> out = amax;
  std::vector<int> parent(g.values.size());
  for (size_t i = 0; i < parent.size(); ++i) parent[i] = static_cast<int>(i);
  std::function<int(int)> find = [&](int v) { return parent[static_cast<size_t>(v)] == v ? v : parent[static_cast<size_t>(v)] = find(parent[static_cast<size_t>(v)]); };
  auto has = [&](int v) { auto it = amax.find(g.value(v).name); return it != amax.end() && it->second > 0.f; };
  for (const Node& n : g.nodes) {
    if (n.op != OpType::Concat || !has(n.outputs[0])) continue;
    bool ok = true;
    for (int in : n.inputs) ok = ok && in >= 0 && !g.is_const(in) && has(in);
    if (!ok) continue;
    for (int in : n.inputs) parent[static_cast<size_t>(find(in))] = find(n.outputs[0]);
  }
  std::map<int, float> group_amax;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (has(static_cast<int>(v))) {
      float& m = group_amax[find(static_cast<int>(v))];
      m = std::max(m, amax.at(g.value(static_cast<int>(v)).name));
    }
  for (size_t v = 0; v < g.values.size(); ++v)
    if (has(static_cast<int>(v))) out[g.value(static_cast<int>(v)).name] = group_amax.at(find(static_cast<int>(v)));
  return out;
}

QuantizeReport quantize_graph(Graph& g, const std::map<std::string, float>& amax, const QuantizeOptions& opt) {
  std::map<std::string, float> shared = opt.share_concat_scales ? share_concat_scales(g, amax) : amax;
  Quantizer q{g, shared, opt, propagate_for_quantize(g), {}, {}, {}, {}, {}, {}, {}, {}, {}, nullptr, {}, {}, {}, {}, {}, {}, {}, {}};
  q.run();
  for (size_t v = 0; v < q.int8_of.size(); ++v)
    if (int qv = q.int8_of[v]; qv >= 0) q.report.int8_tensors.push_back({qv, static_cast<int>(v), q.qscale.at(qv), q.zero_point(qv)});
  // Only tensors that ended up with an int8 twin count: a scale looked up for a layer that then stayed FP32
  // does not.
  q.report.zero_scale_tensors.assign(q.zero_blocked.begin(), q.zero_blocked.end());
  for (const auto& name : q.used)
    if (g.find(name + "::int8") >= 0) q.report.scaled_tensors.push_back(name);
  return q.report;
}

}  // namespace octet
