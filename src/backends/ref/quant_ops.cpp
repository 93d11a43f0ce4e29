// Reference QuantizeLinear / DequantizeLinear (ONNX opset 13+), per tensor or per axis.
//   Quantize:   q = saturate(round_half_to_even(x / scale) + zero_point)   (int8 or uint8)
//   Dequantize: y = (x - zero_point) * scale                                (float32)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backends/ref/index_copy.h"
#include "backends/ref/ref.h"
#include "ir/infer.h"

namespace octet {

namespace {

// The tensor seen as [outer, channels, inner] around the quantization axis (channels = 1 per tensor).
struct QuantLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

QuantLayout quant_layout(const Node& n, const Tensor& x, const Tensor& scale) {
  QuantLayout l;
  if (scale.numel() == 1) {
    l.inner = x.numel();
    return l;
  }
  const int axis = normalize_axis(n, n.attr_i("axis", 1), x.rank());
  for (int d = 0; d < x.rank(); ++d) (d < axis ? l.outer : d == axis ? l.channels : l.inner) *= x.dim(d);
  return l;
}

template <typename Q>
void quantize(const Node& n, const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor& y) {
  const QuantLayout l = quant_layout(n, x, scale);
  const float* s = scale.data<float>();
  std::vector<float> xs = x.to_f32();
  Q* out = y.data<Q>();
  constexpr float lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  for (int64_t o = 0, i = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < l.channels; ++c) {
      const float z = zp ? static_cast<float>(zp->data<Q>()[c]) : 0.f;
      for (int64_t k = 0; k < l.inner; ++k, ++i) {
        // nearbyint rounds ties to even in the default rounding mode; NaN maps to the zero point.
        float q = std::nearbyint(xs[static_cast<size_t>(i)] / s[c]);
        q = std::isnan(q) ? z : std::min(std::max(q + z, lo), hi);
        out[i] = static_cast<Q>(q);
      }
    }
}

template <typename Q>
void dequantize(const Node& n, const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor& y) {
  const QuantLayout l = quant_layout(n, x, scale);
  const float* s = scale.data<float>();
  const Q* in = x.data<Q>();
  float* out = y.data<float>();
  for (int64_t o = 0, i = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < l.channels; ++c) {
      const int64_t z = zp ? static_cast<int64_t>(zp->data<Q>()[c]) : 0;
      for (int64_t k = 0; k < l.inner; ++k, ++i)
        out[i] = static_cast<float>(static_cast<int64_t>(in[i]) - z) * s[c];
    }
}

}  // namespace

void ref_QuantizeLinear(const OpArgs& a) {
  const Tensor* zp = a.has(2) ? &a.input(2) : nullptr;
  Tensor& y = a.output(0);
  if (y.dtype() == DType::i8) return quantize<int8_t>(a.node, a.input(0), a.input(1), zp, y);
  OCTET_CHECK(y.dtype() == DType::u8, a.node.describe(), ": unsupported output type ", dtype_name(y.dtype()));
  quantize<uint8_t>(a.node, a.input(0), a.input(1), zp, y);
}

void ref_DequantizeLinear(const OpArgs& a) {
  const Tensor* zp = a.has(2) ? &a.input(2) : nullptr;
  const Tensor& x = a.input(0);
  switch (x.dtype()) {
    case DType::i8: return dequantize<int8_t>(a.node, x, a.input(1), zp, a.output(0));
    case DType::u8: return dequantize<uint8_t>(a.node, x, a.input(1), zp, a.output(0));
    case DType::i32: return dequantize<int32_t>(a.node, x, a.input(1), zp, a.output(0));
    default: fail(a.node.describe(), ": unsupported input type ", dtype_name(x.dtype()));
  }
}

}  // namespace octet
