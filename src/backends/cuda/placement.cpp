// Placement decisions of the cuda backend (placement.h).
#include "backends/cuda/placement.h"

#include <string>

namespace octet::cuda {

namespace {

bool is_f32(const Graph& g, int v) { return v >= 0 && g.value(v).dtype == DType::f32; }
bool is_i8(const Graph& g, int v) { return v >= 0 && g.value(v).dtype == DType::i8; }
bool no_post(const Node& n) { return n.post.act == Activation::None && n.post.residual_input < 0; }

}  // namespace

bool supports(const Graph& g, const Node& n) {
  if (n.outputs.empty()) return false;
  const int y = n.outputs[0];
  switch (n.op) {
    case OpType::Quantize: return is_f32(g, n.inputs[0]) && is_i8(g, y);
    case OpType::Dequantize: return is_i8(g, n.inputs[0]) && is_f32(g, y);
    case OpType::QConv:
      // 2-D only (the contract); weights constant (ONNX OIHW order).
      return n.inputs.size() >= 2 && g.is_const(n.inputs[1]) && g.value(n.inputs[1]).constant->rank() == 4;
    case OpType::QLinear: return n.inputs.size() >= 2 && g.is_const(n.inputs[1]);
    case OpType::QAdd: case OpType::QMaxPool: case OpType::QAvgPool: case OpType::QConcat: return true;
    // The CUDA QMulGate takes the gate as it is: a HardSigmoid gate (gate_act) runs on the host (ref).
    case OpType::QMulGate: return n.attr_i("gate_act", 0) == 0;
    case OpType::ToNhwc: case OpType::ToNchw: {
      const DType t = g.value(y).dtype;
      return t == DType::f32 || t == DType::i8;
    }
    case OpType::Flatten: case OpType::Reshape: case OpType::Squeeze: case OpType::Unsqueeze:
    case OpType::Identity:
      return g.value(y).dtype == g.value(n.inputs[0]).dtype;  // a copy of input 0's bytes
    case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div:
      return no_post(n) && n.inputs.size() == 2 && is_f32(g, n.inputs[0]) && is_f32(g, n.inputs[1]) &&
             is_f32(g, y);
    case OpType::Relu: return no_post(n) && is_f32(g, n.inputs[0]) && is_f32(g, y);
    case OpType::Concat: return is_f32(g, y);
    case OpType::BatchNormalization:
      // Inference form only: one output, scale/B/mean/var given, x at least [N, C].
      return no_post(n) && n.outputs.size() == 1 && n.inputs.size() == 5 && is_f32(g, n.inputs[0]) && is_f32(g, y);
    case OpType::PoolNhwc: {
      if (!is_f32(g, y)) return false;
      if (n.attr_i("global", 0) != 0) return true;
      const std::string mode = n.attr_s("mode", "max");
      return (mode == "max" || mode == "avg") && n.attr_ints("kernel").size() == 2;
    }
    case OpType::ConvNhwc:
      // 2-D, constant OIHW weights; any fused activation; a fused residual is input 3 (the contract).
      return n.inputs.size() >= 2 && is_f32(g, n.inputs[0]) && is_f32(g, y) && g.is_const(n.inputs[1]) &&
             g.value(n.inputs[1]).constant->rank() == 4 && (n.post.residual_input < 0 || n.post.residual_input == 3);
    case OpType::MatMul: case OpType::Gemm:
      // Operand ranks are checked when shapes are known (a 1-D MatMul operand runs on ref: CudaKernel::prepare).
      return n.inputs.size() >= 2 && is_f32(g, n.inputs[0]) && is_f32(g, n.inputs[1]) && is_f32(g, y) &&
             (n.inputs.size() < 3 || n.inputs[2] < 0 || is_f32(g, n.inputs[2]));
    case OpType::Softmax: return no_post(n) && is_f32(g, n.inputs[0]) && is_f32(g, y);
    case OpType::LayerNormalization:
      // Output 0 only (Mean / InvStdDev are not computed); scale/bias of the normalized shape (checked in prepare).
      return no_post(n) && n.outputs.size() == 1 && n.inputs.size() >= 2 && is_f32(g, n.inputs[0]) && is_f32(g, y);
    default: return false;
  }
}

Residency residency(const Graph& g, const Node& n, bool (*on_device)(const Graph&, const Node&)) {
  Residency r;
  for (int v : n.inputs) {
    bool reuse = false;
    if (v >= 0) {
      const Node* p = nullptr;  // the producer, found by scanning (Value::producer may be stale after passes)
      for (const Node& c : g.nodes)
        for (int o : c.outputs)
          if (o == v) p = &c;
      reuse = g.is_const(v) || (p && on_device(g, *p));
      for (int gi : g.inputs) reuse = reuse && gi != v;
    }
    r.reuse.push_back(reuse);
  }
  for (int o : n.outputs) {
    bool host = false;
    for (int go : g.outputs) host = host || go == o;
    for (const Node& c : g.nodes)
      for (int v : c.inputs)
        if (v == o && !on_device(g, c)) host = true;
    r.download.push_back(host);
  }
  return r;
}

}  // namespace octet::cuda
