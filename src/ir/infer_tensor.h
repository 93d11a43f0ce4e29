// Parameters of data-movement ops that both shape inference (infer_tensor.cpp) and the reference kernels
// (backends/ref/tensor_ops.cpp, resize_pad.cpp) derive from a node's attributes and shape-like inputs, so
// the two can never disagree. Optional inputs are passed as nullptr; callers treat an empty tensor
// (0 elements) as omitted, as ONNX exporters use "" and empty initializers interchangeably.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace octet {

// Slice: per input dim, first index and step; `out` is the result shape. Exact ONNX clamping (incl.
// negative steps and INT64_MIN/INT64_MAX ends); dims not named in `axes` keep start 0, step 1.
struct SliceParams {
  Shape out;
  std::vector<int64_t> start, step;
};
SliceParams slice_params(const Node& n, const Shape& in, const Tensor& starts, const Tensor& ends,
                         const Tensor* axes, const Tensor* steps);

// Pad: per dim, elements added before and after (negative = cropped).
struct PadParams {
  std::vector<int64_t> begin, end;
};
PadParams pad_params(const Node& n, const Shape& in, const Tensor& pads, const Tensor* axes);

// Resize: result shape, per-dim scale (output/input, as given or derived from sizes) and the
// tf_crop_and_resize region [roi_start, roi_end] per dim (0..1 when no roi).
struct ResizeParams {
  Shape out;
  std::vector<double> scale;
  std::vector<double> roi_start, roi_end;
};
ResizeParams resize_params(const Node& n, const Shape& in, const Tensor* roi, const Tensor* scales,
                           const Tensor* sizes);

// Constant: the node's value attribute (value / value_float(s) / value_int(s)) as a tensor.
Tensor constant_attr_value(const Node& n);

// ConstantOfShape: the fill value (attr "value", a 1-element tensor; float 0 when absent).
Tensor constant_of_shape_value(const Node& n);

}  // namespace octet
