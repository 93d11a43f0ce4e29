// Shape inference of the internal channels-last ops (contracts in ops.inc).
#include "ir/infer.h"

namespace octet {

namespace {

Shape nhwc_window_out(InferCtx& c, const Shape& x, int64_t kh, int64_t kw) {
  const Node& n = c.node;
  auto s = n.attr_ints("strides", {1, 1});
  auto d = n.attr_ints("dilations", {1, 1});
  auto p = n.attr_ints("pads", {0, 0, 0, 0});
  OCTET_CHECK(s.size() == 2 && d.size() == 2 && p.size() == 4, n.describe(), ": strides/dilations/pads of the wrong length");
  int64_t oh = (x[1] + p[0] + p[2] - ((kh - 1) * d[0] + 1)) / s[0] + 1;
  int64_t ow = (x[2] + p[1] + p[3] - ((kw - 1) * d[1] + 1)) / s[1] + 1;
  OCTET_CHECK(oh >= 1 && ow >= 1, n.describe(), ": empty output for input ", shape_str(x));
  return {x[0], oh, ow, x[3]};
}

}  // namespace

void infer_ToNhwc(InferCtx& c) {
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(x.size() == 4, c.node.describe(), ": expects a 4-D tensor, got ", shape_str(x));
  c.set(0, c.input(0).dtype, {x[0], x[2], x[3], x[1]});
}

void infer_ToNchw(InferCtx& c) {
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(x.size() == 4, c.node.describe(), ": expects a 4-D tensor, got ", shape_str(x));
  c.set(0, c.input(0).dtype, {x[0], x[3], x[1], x[2]});
}

void infer_ConvNhwc(InferCtx& c) {
  const Shape& x = c.input(0).shape;
  const Shape& w = c.input(1).shape;
  int64_t g = c.node.attr_i("group", 1);
  OCTET_CHECK(x.size() == 4 && w.size() == 4 && g > 0 && x[3] == w[1] * g && w[0] % g == 0, c.node.describe(),
              ": input ", shape_str(x), " (NHWC) does not fit weights ", shape_str(w), " with group ", g);
  Shape y = nhwc_window_out(c, x, w[2], w[3]);
  y[3] = w[0];
  c.set(0, DType::f32, y);
}

void infer_PoolNhwc(InferCtx& c) {
  const Shape& x = c.input(0).shape;
  OCTET_CHECK(x.size() == 4, c.node.describe(), ": expects NHWC 4-D input, got ", shape_str(x));
  if (c.node.attr_i("global", 0)) {
    c.set(0, c.input(0).dtype, {x[0], 1, 1, x[3]});
    return;
  }
  auto k = c.node.attr_ints("kernel");
  OCTET_CHECK(k.size() == 2, c.node.describe(), ": kernel must have 2 values");
  c.set(0, c.input(0).dtype, nhwc_window_out(c, x, k[0], k[1]));
}

}  // namespace octet
