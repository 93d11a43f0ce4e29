#include "onnx/qdq_import.h"

#include "quant/scale_rule.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace octet {

bool has_qdq(const Graph& g) {
  for (const auto& n : g.nodes)
    if (n.op == OpType::QuantizeLinear || n.op == OpType::DequantizeLinear) return true;
  return false;
}

namespace {

struct QParams {
  Tensor scale;      // f32, [] / [1] / [K]
  DType qtype = DType::u8;
  std::vector<int64_t> zp;  // empty = 0; else one per scale element
  int64_t axis = 1;
  bool per_tensor() const { return scale.numel() == 1; }
  float s(int64_t k) const { return scale.data<float>()[per_tensor() ? 0 : k]; }
  int64_t z(int64_t k) const { return zp.empty() ? 0 : zp[static_cast<size_t>(zp.size() == 1 ? 0 : k)]; }
};

struct Stripper {
  const Graph& src;
  const QdqImportOptions& opt;
  Graph g;
  QdqImportResult res;
  std::vector<int> producer;
  std::vector<int> alias;

  Stripper(const Graph& g0, const QdqImportOptions& o) : src(g0), opt(o) {}

  [[noreturn]] void error(const Node& n, const std::string& msg) { fail(n.describe(), ": ", msg); }

  QParams params(const Node& n) {
    QParams p;
    if (n.inputs.size() < 2 || !g.is_const(n.inputs[1])) error(n, "the scale is not a constant");
    p.scale = g.const_of(n.inputs[1]);
    if (p.scale.dtype() != DType::f32) error(n, "the scale is not float32");
    if (p.scale.rank() > 1) error(n, "block-wise quantization (scale of rank > 1) is not supported");
    if (n.has_attr("block_size") && n.attr_i("block_size", 0) != 0) error(n, "block-wise quantization is not supported");
    for (int64_t k = 0; k < p.scale.numel(); ++k)
      if (const std::string why = scale_problem(p.scale.data<float>()[k]); !why.empty())
        error(n, "scale " + std::to_string(p.scale.data<float>()[k]) + " is not usable (" + why +
                     "; a scale must be a normal positive finite float32 with 127 x scale and 1 / scale finite)");
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      if (!g.is_const(n.inputs[2])) error(n, "the zero point is not a constant");
      const Tensor& z = g.const_of(n.inputs[2]);
      if (z.numel() != p.scale.numel()) error(n, "zero point and scale have different sizes");
      p.qtype = z.dtype();
      for (int64_t k = 0; k < z.numel(); ++k) {
        switch (z.dtype()) {
          case DType::i8: p.zp.push_back(z.data<int8_t>()[k]); break;
          case DType::u8: p.zp.push_back(static_cast<const uint8_t*>(z.raw())[k]); break;
          case DType::i32: p.zp.push_back(z.data<int32_t>()[k]); break;
          default: error(n, std::string("zero point of type ") + dtype_name(z.dtype()) + " (octet reads int8, uint8, int32)");
        }
      }
    } else if (n.op == OpType::DequantizeLinear && n.inputs[0] >= 0) {
      p.qtype = g.value(n.inputs[0]).constant ? g.const_of(n.inputs[0]).dtype() : DType::u8;
    }
    p.axis = n.attr_i("axis", 1);
    return p;
  }

  static bool same(const QParams& a, const QParams& b) {
    if (a.scale.numel() != b.scale.numel() || a.qtype != b.qtype) return false;
    for (int64_t k = 0; k < a.scale.numel(); ++k)
      if (a.s(k) != b.s(k) || a.z(k) != b.z(k)) return false;
    return !(a.scale.numel() > 1 && a.axis != b.axis);
  }

  // (q - zp) * s over `q`, with the per-axis layout of ONNX DequantizeLinear.
  Tensor dequantize_const(const Node& n, const Tensor& q, const QParams& p) {
    Tensor out(DType::f32, q.shape());
    int64_t K = p.scale.numel(), axis = p.axis < 0 ? p.axis + q.rank() : p.axis, inner = 1;
    if (K > 1) {
      if (axis < 0 || axis >= q.rank() || q.dim(static_cast<int>(axis)) != K)
        error(n, "per-axis scale of size " + std::to_string(K) + " does not match axis " + std::to_string(p.axis) +
                     " of " + shape_str(q.shape()));
      for (int i = static_cast<int>(axis) + 1; i < q.rank(); ++i) inner *= q.dim(i);
    }
    for (int64_t i = 0; i < q.numel(); ++i) {
      int64_t k = K > 1 ? (i / inner) % K : 0;
      int64_t v;
      switch (q.dtype()) {
        case DType::i8: v = q.data<int8_t>()[i]; break;
        case DType::u8: v = static_cast<const uint8_t*>(q.raw())[i]; break;
        case DType::i32: v = q.data<int32_t>()[i]; break;
        default: error(n, std::string("input of type ") + dtype_name(q.dtype()) + " (octet reads int8, uint8, int32)");
      }
      out.data<float>()[i] = static_cast<float>(v - p.z(k)) * p.s(k);
    }
    return out;
  }

  // QuantizeLinear of a float constant, as ONNX defines it (x / s, round half to even, + zp, saturate).
  Tensor quantize_const(const Node& n, const Tensor& x, const QParams& p) {
    if (x.dtype() != DType::f32) error(n, "quantizes a constant that is not float32");
    Tensor q(p.qtype == DType::u8 ? DType::u8 : DType::i8, x.shape());
    int64_t K = p.scale.numel(), axis = p.axis < 0 ? p.axis + x.rank() : p.axis, inner = 1;
    if (K > 1)
      for (int i = static_cast<int>(axis) + 1; i < x.rank(); ++i) inner *= x.dim(i);
    double lo = p.qtype == DType::u8 ? 0 : -128, hi = p.qtype == DType::u8 ? 255 : 127;
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t k = K > 1 ? (i / inner) % K : 0;
      double v = std::nearbyint(x.data<float>()[i] / p.s(k)) + static_cast<double>(p.z(k));
      v = std::min(hi, std::max(lo, v));
      if (p.qtype == DType::u8) static_cast<uint8_t*>(q.raw())[i] = static_cast<uint8_t>(v);
      else q.data<int8_t>()[i] = static_cast<int8_t>(v);
    }
    return q;
  }

  int resolve(int v) const {
    while (v >= 0 && alias[static_cast<size_t>(v)] >= 0) v = alias[static_cast<size_t>(v)];
    return v;
  }

  // The real range [lo, hi] an activation pair lets through: (qmin - zp) * s .. (qmax - zp) * s.
  static std::pair<double, double> range_of(const QParams& p) {
    double qmin = p.qtype == DType::u8 ? 0 : -128, qmax = p.qtype == DType::u8 ? 255 : 127;
    double s = p.s(0), zp = static_cast<double>(p.z(0));
    return {(qmin - zp) * s, (qmax - zp) * s};
  }

  // Tensors whose (asymmetric) Q/DQ pair lets no negative value through: ONNX Runtime's quantize_static with
  // asymmetric activations removes a Relu / Clip(0, x) after a quantized op and leaves the clamp at zero to the
  // Q/DQ pair (QDQRemovableActivation, zero point = qmin). Symmetric int8 would let negatives through, so the
  // stripped graph gets that Relu back (see add_relus).
  std::vector<int> clamped_at_zero;
  std::vector<char> from_dq;  // DequantizeLinear nodes turned into Identity (graph outputs)

  void record_activation(const Node& dq, int x, const QParams& p) {
    const std::string& name = g.value(x).name;
    if (!p.per_tensor())
      error(dq, "activation '" + name + "' is quantized per channel; octet uses one scale per activation tensor");
    float s = p.s(0), amax;
    int64_t zp = p.z(0);
    bool symmetric = zp == 0 && (p.qtype == DType::i8 || p.qtype == DType::i32);
    if (p.qtype != DType::i8 && p.qtype != DType::u8)
      error(dq, std::string("activation '") + name + "' is quantized to " + dtype_name(p.qtype) +
                    "; octet reads 8-bit Q/DQ only");
    if (symmetric) {
      amax = 127.0f * s;  // amax / 127.0f == s for ~99% of scales, else one ulp off (scales is exact)
    } else {
      double qmin = p.qtype == DType::u8 ? 0 : -128, qmax = p.qtype == DType::u8 ? 255 : 127;
      double lo = (qmin - static_cast<double>(zp)) * s, hi = (qmax - static_cast<double>(zp)) * s;
      amax = static_cast<float>(std::max(std::fabs(lo), std::fabs(hi)));
      std::string what = std::string("activation '") + name + "' is asymmetric (" + dtype_name(p.qtype) +
                         ", zero point " + std::to_string(zp) + ", scale " + std::to_string(s) + ", range [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "])";
      if (opt.strict_symmetric)
        error(dq, what + "; octet's INT8 is symmetric int8 with zero point 0 — re-quantize the model with "
                         "symmetric activations (ORT: extra_options ActivationSymmetric=True) or drop --strict");
      res.warnings.push_back(what + ": converted to symmetric int8 with amax " + std::to_string(amax));
      if (std::find(res.asymmetric.begin(), res.asymmetric.end(), name) == res.asymmetric.end())
        res.asymmetric.push_back(name);
    }
    if (!symmetric && range_of(p).first >= 0.0 && producer[static_cast<size_t>(x)] >= 0 &&
        std::find(clamped_at_zero.begin(), clamped_at_zero.end(), x) == clamped_at_zero.end()) {
      clamped_at_zero.push_back(x);
      res.warnings.back() += "; its range starts at 0 (a removed Relu), kept as Relu";
    }
    if (auto it = res.amax.find(name); it != res.amax.end()) {
      if (it->second != amax)
        res.warnings.push_back("activation '" + name + "' has two Q/DQ pairs with different scales; the first is used");
      return;
    }
    res.amax[name] = amax;
    res.scales.push_back({name, symmetric ? s : amax / 127.0f});
  }

  // For each tensor x in clamped_at_zero: its producer now writes x' = "x::before_relu" and Relu(x') -> x, so x
  // keeps its name (and amax: the Q/DQ pair quantized the Relu's output in the original model). Readers of x
  // other than the pair's DequantizeLinear nodes saw the unclamped value in the Q/DQ model and read x' now.
  void add_relus(std::vector<char>& remove) {
    for (int x : clamped_at_zero) {
      int pre = g.add_value(g.unique_name(g.value(x).name + "::before_relu"), g.value(x).dtype);
      Node& prod = g.nodes[static_cast<size_t>(producer[static_cast<size_t>(x)])];
      for (int& o : prod.outputs)
        if (o == x) o = pre;
      for (size_t n = 0; n < g.nodes.size(); ++n) {
        if (remove[n] || from_dq[n] || g.nodes[n].op == OpType::QuantizeLinear) continue;
        for (int& in : g.nodes[n].inputs)
          if (in == x) in = pre;
      }
      for (int& o : g.outputs)
        if (o == x) o = pre;
      Node relu;
      relu.op = OpType::Relu;
      relu.name = g.unique_name(g.value(x).name + "::relu");
      relu.inputs = {pre};
      relu.outputs = {x};
      g.nodes.push_back(std::move(relu));
      remove.push_back(0);
      from_dq.push_back(0);
    }
    alias.resize(g.values.size(), -1);
  }

  void run() {
    g = src;
    alias.assign(g.values.size(), -1);
    producer.assign(g.values.size(), -1);
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (int o : g.nodes[n].outputs)
        if (o >= 0) producer[static_cast<size_t>(o)] = static_cast<int>(n);
    std::vector<char> remove(g.nodes.size(), 0);
    from_dq.assign(g.nodes.size(), 0);
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      Node& d = g.nodes[n];
      if (d.op != OpType::DequantizeLinear) continue;
      if (d.inputs.empty() || d.inputs[0] < 0 || d.outputs.size() != 1) error(d, "malformed DequantizeLinear");
      QParams p = params(d);
      int x = d.inputs[0], out = d.outputs[0];
      if (g.is_const(x)) {  // a quantized weight / bias
        Tensor w = dequantize_const(d, g.const_of(x), p);
        g.value(out).constant = std::move(w);
        g.value(out).dtype = DType::f32;
        remove[n] = 1;
        ++res.folded_weights;
        continue;
      }
      int qn = producer[static_cast<size_t>(x)];
      if (qn < 0 || g.nodes[static_cast<size_t>(qn)].op != OpType::QuantizeLinear)
        error(d, "reads '" + g.value(x).name + "', which is neither a constant nor the output of a QuantizeLinear");
      const Node& q = g.nodes[static_cast<size_t>(qn)];
      QParams qp = params(q);
      if (!same(p, qp)) error(d, "its scale / zero point differ from those of " + q.describe() + " (requantization)");
      int qin = q.inputs.empty() ? -1 : q.inputs[0];
      if (qin < 0) error(q, "has no input");
      qin = resolve(qin);
      if (g.is_const(qin)) {  // fake-quantized float weight
        g.value(out).constant = dequantize_const(d, quantize_const(q, g.const_of(qin), qp), p);
        g.value(out).dtype = DType::f32;
        remove[n] = 1;
        ++res.folded_weights;
        continue;
      }
      record_activation(d, qin, p);
      ++res.activation_pairs;
      if (g.is_graph_output(out)) {  // keep the output's name: Identity(x) -> out
        d.op = OpType::Identity;
        from_dq[n] = 1;
        d.inputs = {qin};
        d.attrs.clear();
      } else {
        alias[static_cast<size_t>(out)] = qin;
        remove[n] = 1;
      }
    }
    add_relus(remove);
    for (auto& node : g.nodes)
      for (int& in : node.inputs) in = resolve(in);
    // Every QuantizeLinear must now be read by removed DequantizeLinear nodes only.
    auto consumers = g.consumers();
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      const Node& q = g.nodes[n];
      if (q.op != OpType::QuantizeLinear) continue;
      int out = q.outputs.empty() ? -1 : q.outputs[0];
      if (out >= 0 && g.is_graph_output(out))
        error(q, "its int8 output '" + g.value(out).name + "' is a graph output; octet runs float interfaces only");
      for (int c : consumers[static_cast<size_t>(out)])
        if (!remove[static_cast<size_t>(c)])
          error(q, "its output is read by " + g.nodes[static_cast<size_t>(c)].describe() +
                       ", not by a DequantizeLinear");
      remove[n] = 1;
    }
    std::vector<Node> kept;
    for (size_t n = 0; n < g.nodes.size(); ++n)
      if (!remove[n]) kept.push_back(std::move(g.nodes[n]));
    g.nodes = std::move(kept);
    for (int& o : g.outputs) o = resolve(o);
    g.finalize();
    res.graph = std::move(g);
  }
};

}  // namespace

QdqImportResult import_qdq(const Graph& g, const QdqImportOptions& opt) {
  Stripper s(g, opt);
  s.run();
  return std::move(s.res);
}

}  // namespace octet
