// Sliding-window geometry shared by Conv, ConvTranspose and the pools: the one place that turns
// kernel/strides/dilations/pads/auto_pad/ceil_mode/output_padding/output_shape into output sizes and the
// effective begin/end pads. Shape inference and every backend (ref, cpu, cuda) use it, so they can't
// disagree on an edge case.
//
// All vectors hold one entry per spatial dim of an N x C x D1 x ... x Dk tensor (k = spatial_rank()).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace octet {

struct Window {
  Shape in;   // spatial input sizes
  Shape out;  // spatial output sizes (>= 1)
  std::vector<int64_t> kernel, strides, dilations;
  // Forward ops: input padding. ConvTranspose: what is cropped from the start/end of the full
  // (uncropped) output; may be negative at the end when output_shape/output_padding extend it.
  std::vector<int64_t> pad_begin, pad_end;

  int spatial_rank() const { return static_cast<int>(in.size()); }
  // (kernel - 1) * dilation + 1: the span one window covers.
  int64_t extent(int i) const {
    return (kernel[static_cast<size_t>(i)] - 1) * dilations[static_cast<size_t>(i)] + 1;
  }
};

// Conv and the pools. Output position o along dim i reads input positions
//   o * strides[i] - pad_begin[i] + j * dilations[i],  0 <= j < kernel[i]
// (those outside [0, in[i]) are padding). `x` is the full N x C x spatial input shape, `kernel` the spatial
// kernel (from W for Conv, the kernel_shape attribute for pools). Attributes read from the node: strides,
// dilations, pads ([begin..., end...]), auto_pad (NOTSET | SAME_UPPER | SAME_LOWER | VALID) and, when
// `pool` is true, ceil_mode (with ceil_mode, a last window that would start in the end padding is dropped,
// as in ONNX's reference and PyTorch). Throws, naming the node and shapes, on attributes of the wrong length,
// non-positive kernel/stride/dilation, negative pads or an empty output.
Window forward_window(const Node& n, const Shape& x, const Shape& kernel, bool pool);

// 2-D pads [top, left, bottom, right] that give w.out with floor division — what kernels with explicit pads
// (oneDNN, octet's NHWC and INT8 ops) need. The end pads are recomputed from the output size, so ceil_mode
// and unused end padding are expressed exactly for max pooling, convolution and average pooling that
// excludes padding (not for average pooling that counts padding: ceil_mode adds uncounted positions).
inline std::vector<int64_t> explicit_pads_2d(const Window& w) {
  std::vector<int64_t> p = {w.pad_begin[0], w.pad_begin[1], 0, 0};
  for (int i = 0; i < 2; ++i) {
    size_t u = static_cast<size_t>(i);
    int64_t end = (w.out[u] - 1) * w.strides[u] + w.extent(i) - w.in[u] - w.pad_begin[u];
    p[u + 2] = end > 0 ? end : 0;  // a negative end (unused input rows) gives the same floor size as 0
  }
  return p;
}

// ConvTranspose. Input position i along dim d adds to output position
//   i * strides[d] - pad_begin[d] + j * dilations[d],  0 <= j < kernel[d]
// (positions outside [0, out[d]) are dropped). Reads strides, dilations, pads, output_padding,
// output_shape (spatial, or N x C x spatial) and auto_pad. With output_shape (or SAME_*, where
// out = in * stride) pads follow the ONNX spec: total = stride*(in-1) + output_padding + extent - out;
// SAME_UPPER puts the odd one at the end, otherwise at the start (halves rounded down, also when negative,
// as ONNX's reference does); except that with auto_pad NOTSET a negative total (an output_shape larger than
// the full output) extends the output at the end only, as ONNX's reference and ONNX Runtime do.
Window transposed_window(const Node& n, const Shape& x, const Shape& kernel);

}  // namespace octet
