// Layout pass: runs 2-D convolutions and pools channels-last (NHWC), the layout oneDNN's fast FP32 and INT8
// kernels want, and keeps the tensors between them channels-last where the ops in between allow it.
//
// Conv -> ConvNhwc and MaxPool/AveragePool/GlobalAveragePool/GlobalMaxPool -> PoolNhwc always (their input is
// transposed once if it is NCHW). Elementwise ops follow their input: unary ops, and binary ops whose other
// operand is a same-shaped NHWC tensor, a scalar, or a per-channel vector ([N|1, C, 1, 1] or [C, 1, 1], which is
// reshaped to channels-last), and Concat over channels. A standalone BatchNormalization on an NHWC tensor
// becomes Mul + Add with per-channel constants. Any other reader gets one ToNchw that recreates the tensor
// under its ONNX name, so FP32 islands, graph outputs and error messages keep the names of the model.
#include "passes/passes.h"

#include <cmath>

#include "ir/window.h"
#include "backends/ref/propagate.h"

namespace octet {

namespace {

bool is_unary_elementwise(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::LeakyRelu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid:
    case OpType::HardSwish: case OpType::Tanh: case OpType::Gelu: case OpType::Mish: case OpType::Elu:
    case OpType::Softplus: case OpType::Erf: case OpType::Exp: case OpType::Log: case OpType::Neg: case OpType::Abs:
    case OpType::Sqrt: case OpType::Reciprocal: case OpType::Floor: case OpType::Ceil: case OpType::Identity:
      return true;
    default: return false;
  }
}

bool is_binary_elementwise(OpType op) {
  return op == OpType::Add || op == OpType::Sub || op == OpType::Mul || op == OpType::Div || op == OpType::Min ||
         op == OpType::Max;
}

Attr ints_attr(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

struct LayoutPass {
  Graph& g;
  Propagation shapes;
  std::vector<int> nhwc_of;   // original value -> channels-last value
  std::vector<char> nchw_ready;
  std::vector<Node> out;
  int converted = 0;

  const Shape& shape(int v) const { return shapes.shape[static_cast<size_t>(v)]; }
  bool f32(int v) const { return shapes.dtype[static_cast<size_t>(v)] == DType::f32; }
  bool has_nhwc(int v) const { return v >= 0 && nhwc_of[static_cast<size_t>(v)] >= 0; }

  int new_nhwc_value(int v) {
    int n = g.add_value(g.unique_name(g.value(v).name + "::nhwc"), g.value(v).dtype);
    g.value(n).layout_of = v;
    nhwc_of[static_cast<size_t>(v)] = n;
    return n;
  }
  int get_nhwc(int v) {
    if (has_nhwc(v)) return nhwc_of[static_cast<size_t>(v)];
    Node t;
    t.op = OpType::ToNhwc;
    t.name = g.value(v).name + "::to_nhwc";
    t.inputs = {v};
    t.outputs = {new_nhwc_value(v)};
    out.push_back(std::move(t));
    return nhwc_of[static_cast<size_t>(v)];
  }
  void need_nchw(int v) {
    if (v < 0 || nchw_ready[static_cast<size_t>(v)]) return;
    Node t;
    t.op = OpType::ToNchw;
    t.name = g.value(v).name + "::to_nchw";
    t.inputs = {nhwc_of[static_cast<size_t>(v)]};
    t.outputs = {v};
    out.push_back(std::move(t));
    nchw_ready[static_cast<size_t>(v)] = 1;
  }
  // Channels-last form of a small operand of a binary op: scalars as they are, per-channel vectors reshaped.
  // Returns -1 if the operand has another shape.
  int small_operand(int v, int64_t channels) {
    const Shape& s = shape(v);
    need_nchw(v);
    if (numel(s) == 1) return v;
    bool per_channel = (s.size() == 4 && s[1] == channels && s[2] == 1 && s[3] == 1) ||
                       (s.size() == 3 && s[0] == channels && s[1] == 1 && s[2] == 1);
    if (!per_channel) return -1;
    Shape target = s.size() == 4 ? Shape{s[0], 1, 1, channels} : Shape{1, 1, channels};
    if (g.is_const(v))
      return g.add_constant(g.unique_name(g.value(v).name + "::nhwc"), g.const_of(v).reshaped(target));
    Node r;
    r.op = OpType::Reshape;
    r.name = g.value(v).name + "::reshape_nhwc";
    Shape spec = target;
    if (spec.size() == 4) spec[0] = 0;  // Reshape's 0: keep the batch dimension of the input, whatever it is
    int shp = g.add_constant(g.unique_name(r.name + "_shape"), Tensor::from<int64_t>({static_cast<int64_t>(spec.size())}, spec));
    r.inputs = {v, shp};
    int o = g.add_value(g.unique_name(g.value(v).name + "::nhwc"), g.value(v).dtype);
    r.outputs = {o};
    out.push_back(std::move(r));
    return o;
  }

  void emit_nhwc(Node n, int y) {
    n.outputs = {new_nhwc_value(y)};
    out.push_back(std::move(n));
    ++converted;
  }

  bool conv(const Node& n) {
    if (n.inputs.size() < 2 || !g.is_const(n.inputs[1]) || g.const_of(n.inputs[1]).rank() != 4 || !f32(n.inputs[0]))
      return false;
    const Tensor w = g.const_of(n.inputs[1]);
    Window win = forward_window(n, shape(n.inputs[0]), Shape(w.shape().begin() + 2, w.shape().end()), false);
    Node c;
    c.op = OpType::ConvNhwc;
    c.name = n.name;
    c.post = n.post;
    c.inputs = n.inputs;
    c.inputs[0] = get_nhwc(n.inputs[0]);
    if (n.post.residual_input >= 0)
      c.inputs[static_cast<size_t>(n.post.residual_input)] = get_nhwc(n.inputs[static_cast<size_t>(n.post.residual_input)]);
    for (size_t i = 1; i < c.inputs.size(); ++i)
      if (static_cast<int>(i) != n.post.residual_input) need_nchw(c.inputs[i]);
    c.attrs["strides"] = ints_attr(win.strides);
    c.attrs["dilations"] = ints_attr(win.dilations);
    c.attrs["pads"] = ints_attr(explicit_pads_2d(win));
    Attr gr;
    gr.i = n.attr_i("group", 1);
    c.attrs["group"] = gr;
    emit_nhwc(std::move(c), n.outputs[0]);
    return true;
  }

  bool pool(const Node& n) {
    if (n.outputs.size() != 1 || shape(n.inputs[0]).size() != 4 || !f32(n.inputs[0])) return false;
    Node p;
    p.op = OpType::PoolNhwc;
    p.name = n.name;
    bool max = n.op == OpType::MaxPool || n.op == OpType::GlobalMaxPool;
    Attr mode;
    mode.kind = Attr::Kind::String;
    mode.s = max ? "max" : "avg";
    p.attrs["mode"] = mode;
    if (n.op == OpType::GlobalAveragePool || n.op == OpType::GlobalMaxPool) {
      Attr one;
      one.i = 1;
      p.attrs["global"] = one;
    } else {
      Window win = forward_window(n, shape(n.inputs[0]), n.attr_ints("kernel_shape"), true);
      if (n.op == OpType::AveragePool && n.attr_i("ceil_mode", 0) && n.attr_i("count_include_pad", 0)) return false;
      p.attrs["kernel"] = ints_attr(win.kernel);
      p.attrs["strides"] = ints_attr(win.strides);
      p.attrs["dilations"] = ints_attr(win.dilations);
      p.attrs["pads"] = ints_attr(explicit_pads_2d(win));
      Attr cip;
      cip.i = n.attr_i("count_include_pad", 0);
      p.attrs["count_include_pad"] = cip;
    }
    p.inputs = {get_nhwc(n.inputs[0])};
    emit_nhwc(std::move(p), n.outputs[0]);
    return true;
  }

  // Elementwise and concat ops follow an NHWC input.
  bool follow(const Node& n) {
    if (n.outputs.size() != 1 || n.inputs.empty()) return false;
    int y = n.outputs[0];
    if (shape(y).size() != 4) return false;
    if (is_unary_elementwise(n.op)) {
      if (!has_nhwc(n.inputs[0])) return false;
      Node u = n;
      u.inputs[0] = nhwc_of[static_cast<size_t>(n.inputs[0])];
      for (size_t i = 1; i < u.inputs.size(); ++i) {
        if (u.inputs[i] >= 0 && numel(shape(u.inputs[i])) != 1) return false;  // Clip bounds are scalars
        need_nchw(u.inputs[i]);
      }
      emit_nhwc(std::move(u), y);
      return true;
    }
    if (is_binary_elementwise(n.op) && n.inputs.size() == 2) {
      if (!has_nhwc(n.inputs[0]) && !has_nhwc(n.inputs[1])) return false;
      int64_t channels = shape(y)[1];
      std::vector<int> ins;
      for (int in : n.inputs) {
        if (shape(in) == shape(y) && (has_nhwc(in) || !g.is_const(in))) {
          ins.push_back(-2);  // resolved below, once we know the op is convertible
          continue;
        }
        int s = small_operand(in, channels);
        if (s < 0) return false;
        ins.push_back(s);
      }
      Node b = n;
      for (size_t i = 0; i < ins.size(); ++i) b.inputs[i] = ins[i] == -2 ? get_nhwc(n.inputs[i]) : ins[i];
      emit_nhwc(std::move(b), y);
      return true;
    }
    if (n.op == OpType::Concat) {
      int axis = static_cast<int>(n.attr_i("axis", 0));
      if (axis != 1 && axis != -3) return false;
      for (int in : n.inputs)
        if (in < 0 || !has_nhwc(in)) return false;
      Node c = n;
      for (size_t i = 0; i < c.inputs.size(); ++i) c.inputs[i] = nhwc_of[static_cast<size_t>(n.inputs[i])];
      c.attrs["axis"].i = 3;
      emit_nhwc(std::move(c), y);
      return true;
    }
    if (n.op == OpType::BatchNormalization && has_nhwc(n.inputs[0]) && n.outputs.size() == 1) {
      for (int i = 1; i < 5; ++i)
        if (!g.is_const(n.inputs[static_cast<size_t>(i)])) return false;
      auto gamma = g.const_of(n.inputs[1]).to_f32(), beta = g.const_of(n.inputs[2]).to_f32();
      auto mean = g.const_of(n.inputs[3]).to_f32(), var = g.const_of(n.inputs[4]).to_f32();
      int64_t c = static_cast<int64_t>(gamma.size());
      Tensor scale(DType::f32, {c}), shift(DType::f32, {c});
      float eps = n.attr_f("epsilon", 1e-5f);
      for (int64_t k = 0; k < c; ++k) {
        size_t u = static_cast<size_t>(k);
        double s = gamma[u] / std::sqrt(static_cast<double>(var[u]) + eps);
        scale.data<float>()[k] = static_cast<float>(s);
        shift.data<float>()[k] = static_cast<float>(beta[u] - mean[u] * s);
      }
      Node mul;
      mul.op = OpType::Mul;
      mul.name = n.name + "::scale";
      int mid = g.add_value(g.unique_name(g.value(y).name + "::bn_scaled"));
      mul.inputs = {nhwc_of[static_cast<size_t>(n.inputs[0])], g.add_constant(g.unique_name(n.name + "::bn_scale"), scale)};
      mul.outputs = {mid};
      out.push_back(std::move(mul));
      Node add;
      add.op = OpType::Add;
      add.name = n.name;
      add.inputs = {mid, g.add_constant(g.unique_name(n.name + "::bn_shift"), shift)};
      emit_nhwc(std::move(add), y);
      return true;
    }
    return false;
  }

  int run() {
    size_t nv0 = g.values.size();
    nhwc_of.assign(nv0, -1);
    nchw_ready.assign(nv0, 1);
    std::vector<Node> nodes = std::move(g.nodes);
    g.nodes.clear();
    for (const Node& n : nodes) {
      bool done = false;
      switch (n.op) {
        case OpType::Conv: done = conv(n); break;
        case OpType::MaxPool: case OpType::AveragePool: case OpType::GlobalAveragePool: case OpType::GlobalMaxPool:
          done = pool(n);
          break;
        default: done = follow(n); break;
      }
      if (done) {
        for (int o : n.outputs) nchw_ready[static_cast<size_t>(o)] = 0;
        continue;
      }
      for (int in : n.inputs) need_nchw(in);
      out.push_back(n);
    }
    for (int o : g.outputs) need_nchw(o);
    g.nodes = std::move(out);
    g.finalize();
    return converted;
  }
};

}  // namespace

int convert_to_nhwc(Graph& g) {
  std::vector<Shape> in_shapes;
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    if (!val.has_declared_shape) return 0;
    Shape s;
    for (size_t i = 0; i < val.declared.size(); ++i) {
      if (val.declared[i].value < 0 && i > 0) return 0;
      s.push_back(val.declared[i].value >= 0 ? val.declared[i].value : 1);
    }
    in_shapes.push_back(s);
  }
  Propagation p;
  try {
    p = propagate(g, in_shapes);
  } catch (const Error&) {
    return 0;  // shapes unknown before run: stay NCHW
  }
  LayoutPass lp{g, std::move(p), {}, {}, {}, 0};
  return lp.run();
}

}  // namespace octet
