// Reference kernels of the Nn ops (Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, pools, PRelu)
// against independent straightforward formulas written here (double precision, per-element bounds tests,
// gather form for Conv and scatter form for ConvTranspose), on odd shapes.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "test_util.h"

namespace octet {
namespace {

using test::max_abs_error;
using test::random_f32;


Node make_node(OpType op, std::map<std::string, Attr> attrs = {}, int n_out = 1) {
  Node n;
  n.op = op;
  n.name = std::string("t_") + op_name(op);
  n.attrs = std::move(attrs);
  for (int i = 0; i < n_out; ++i) n.outputs.push_back(i);
  return n;
}

// infer_X then ref_X, as a plan would; nullptr inputs are omitted optional inputs.
std::vector<Tensor> run(const Node& n, std::vector<const Tensor*> in) {
  std::vector<TensorInfo> infos(in.size());
  InferCtx ctx{n, {}, {}};
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i]) {
      ctx.in.push_back(nullptr);
      continue;
    }
    infos[i].dtype = in[i]->dtype();
    infos[i].shape = in[i]->shape();
    ctx.in.push_back(&infos[i]);
  }
  ctx.out.resize(n.outputs.size());
  infer_fn(n.op)(ctx);
  std::vector<Tensor> outs;
  for (auto& o : ctx.out) outs.emplace_back(o.dtype, o.shape);
  std::vector<Tensor*> optr;
  for (auto& t : outs) optr.push_back(&t);
  ref_fn(n.op)(OpArgs{n, in, optr});
  return outs;
}

Shape infer_shape(const Node& n, std::vector<Shape> shapes) {
  std::vector<TensorInfo> infos(shapes.size());
  InferCtx ctx{n, {}, {}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    infos[i].shape = shapes[i];
    ctx.in.push_back(&infos[i]);
  }
  ctx.out.resize(n.outputs.size());
  infer_fn(n.op)(ctx);
  return ctx.out[0].shape;
}

std::string infer_error(const Node& n, std::vector<Shape> shapes) {
  try {
    infer_shape(n, shapes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------------------
// Independent formulas. Spatial dims are given as 3 (leading ones of size 1 for 2-D).

struct Geo {
  std::array<int64_t, 3> s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0};
};

// Gather form: y[n,m,o] = b[m] + sum_{c,k} x[n, g*Cg + c, o*s - pb + k*d] * w[m, c, k], bounds-tested per tap.
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t G, const Geo& g, const Shape& yshape) {
  Shape xs = x.shape(), ws = w.shape(), ys = yshape;
  while (xs.size() < 5) xs.insert(xs.begin() + 2, 1), ws.insert(ws.begin() + 2, 1), ys.insert(ys.begin() + 2, 1);
  Tensor y(DType::f32, yshape);
  const int64_t Cg = ws[1], Mg = ws[0] / G;
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* py = y.data<float>();
  int64_t yi = 0;
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t m = 0; m < ys[1]; ++m)
      for (int64_t o0 = 0; o0 < ys[2]; ++o0)
        for (int64_t o1 = 0; o1 < ys[3]; ++o1)
          for (int64_t o2 = 0; o2 < ys[4]; ++o2) {
            double acc = b ? b->data<float>()[m] : 0.0;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t k0 = 0; k0 < ws[2]; ++k0)
                for (int64_t k1 = 0; k1 < ws[3]; ++k1)
                  for (int64_t k2 = 0; k2 < ws[4]; ++k2) {
                    int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (i0 < 0 || i0 >= xs[2] || i1 < 0 || i1 >= xs[3] || i2 < 0 || i2 >= xs[4]) continue;
                    int64_t ci = (m / Mg) * Cg + c;
                    acc += static_cast<double>(px[(((n * xs[1] + ci) * xs[2] + i0) * xs[3] + i1) * xs[4] + i2]) *
                           pw[(((m * Cg + c) * ws[2] + k0) * ws[3] + k1) * ws[4] + k2];
                  }
            py[yi++] = static_cast<float>(acc);
          }
  return y;
}

// Scatter form: every x[n, ci, i] * w[ci, mm, k] is added at y[n, g*Mg + mm, i*s - pb + k*d] if inside y.
Tensor naive_conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b, int64_t G, const Geo& g,
                            const Shape& yshape) {
  Shape xs = x.shape(), ws = w.shape(), ys = yshape;
  while (xs.size() < 5) xs.insert(xs.begin() + 2, 1), ws.insert(ws.begin() + 2, 1), ys.insert(ys.begin() + 2, 1);
  std::vector<double> acc(static_cast<size_t>(numel(ys)), 0.0);
  const int64_t Cg = xs[1] / G, Mg = ws[1];
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  for (int64_t n = 0; n < xs[0]; ++n)
    for (int64_t ci = 0; ci < xs[1]; ++ci)
      for (int64_t i0 = 0; i0 < xs[2]; ++i0)
        for (int64_t i1 = 0; i1 < xs[3]; ++i1)
          for (int64_t i2 = 0; i2 < xs[4]; ++i2)
            for (int64_t mm = 0; mm < Mg; ++mm)
              for (int64_t k0 = 0; k0 < ws[2]; ++k0)
                for (int64_t k1 = 0; k1 < ws[3]; ++k1)
                  for (int64_t k2 = 0; k2 < ws[4]; ++k2) {
                    int64_t o0 = i0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    int64_t o1 = i1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    int64_t o2 = i2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (o0 < 0 || o0 >= ys[2] || o1 < 0 || o1 >= ys[3] || o2 < 0 || o2 >= ys[4]) continue;
                    int64_t m = (ci / Cg) * Mg + mm;
                    acc[static_cast<size_t>((((n * ys[1] + m) * ys[2] + o0) * ys[3] + o1) * ys[4] + o2)] +=
                        static_cast<double>(px[(((n * xs[1] + ci) * xs[2] + i0) * xs[3] + i1) * xs[4] + i2]) *
                        pw[(((ci * Mg + mm) * ws[2] + k0) * ws[3] + k1) * ws[4] + k2];
                  }
  Tensor y(DType::f32, yshape);
  const int64_t plane = ys[2] * ys[3] * ys[4];
  for (size_t i = 0; i < acc.size(); ++i)
    y.data<float>()[i] = static_cast<float>(acc[i] + (b ? b->data<float>()[(i / plane) % ys[1]] : 0.0));
  return y;
}

// ---------------------------------------------------------------------------------------------------------
// Conv

TEST(RefNnConv, Strided2dAsymmetricPadsDilation) {
  // 2x5x7x9, 3x3 kernel, stride 2, pads (h_begin=1, w_begin=0, h_end=2, w_end=1), dilation 2.
  Tensor x = random_f32({2, 5, 7, 9}, 1), w = random_f32({4, 5, 3, 3}, 2), b = random_f32({4}, 3);
  Node n = make_node(OpType::Conv, {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 2, 1})},
                                    {"dilations", attr_ints({2, 2})}});
  auto y = run(n, {&x, &w, &b});
  // H: (7 + 3 - 5) / 2 + 1 = 3; W: (9 + 1 - 5) / 2 + 1 = 3
  ASSERT_EQ(y[0].shape(), (Shape{2, 4, 3, 3}));
  Geo g;
  g.s = {1, 2, 2}, g.d = {1, 2, 2}, g.pb = {0, 1, 0};
  EXPECT_LT(max_abs_error(y[0], naive_conv(x, w, &b, 1, g, y[0].shape())), 1e-5);
}

TEST(RefNnConv, DepthwiseGroup5) {
  Tensor x = random_f32({2, 5, 11, 13}, 4), w = random_f32({5, 1, 3, 3}, 5), b = random_f32({5}, 6);
  Node n = make_node(OpType::Conv, {{"group", attr_i(5)}, {"pads", attr_ints({1, 1, 1, 1})}, {"kernel_shape", attr_ints({3, 3})}});
  auto y = run(n, {&x, &w, &b});
  ASSERT_EQ(y[0].shape(), (Shape{2, 5, 11, 13}));
  Geo g;
  g.pb = {0, 1, 1};
  EXPECT_LT(max_abs_error(y[0], naive_conv(x, w, &b, 5, g, y[0].shape())), 1e-5);
}

TEST(RefNnConv, GroupedWithMultiplierNoBias) {
  // group 2, 6 in channels, 4 out channels (2 per group), stride (1,3), 2x4 kernel.
  Tensor x = random_f32({1, 6, 7, 13}, 7), w = random_f32({4, 3, 2, 4}, 8);
  Node n = make_node(OpType::Conv, {{"group", attr_i(2)}, {"strides", attr_ints({1, 3})}});
  auto y = run(n, {&x, &w});
  ASSERT_EQ(y[0].shape(), (Shape{1, 4, 6, 4}));
  Geo g;
  g.s = {1, 1, 3};
  EXPECT_LT(max_abs_error(y[0], naive_conv(x, w, nullptr, 2, g, y[0].shape())), 1e-5);
}

TEST(RefNnConv, OneAndThreeSpatialDims) {
  {
    Tensor x = random_f32({2, 3, 17}, 9), w = random_f32({4, 3, 5}, 10), b = random_f32({4}, 11);
    Node n = make_node(OpType::Conv, {{"strides", attr_ints({2})}, {"pads", attr_ints({2, 1})}, {"dilations", attr_ints({2})}});
    auto y = run(n, {&x, &w, &b});
    ASSERT_EQ(y[0].shape(), (Shape{2, 4, 6}));  // (17 + 3 - 9) / 2 + 1
    Geo g;
    g.s = {1, 1, 2}, g.d = {1, 1, 2}, g.pb = {0, 0, 2};
    EXPECT_LT(max_abs_error(y[0], naive_conv(x, w, &b, 1, g, y[0].shape())), 1e-5);
  }
  {
    Tensor x = random_f32({1, 2, 5, 6, 7}, 12), w = random_f32({3, 2, 3, 2, 3}, 13);
    Node n = make_node(OpType::Conv, {{"strides", attr_ints({2, 1, 2})}, {"pads", attr_ints({1, 0, 1, 1, 1, 0})}});
    auto y = run(n, {&x, &w});
    ASSERT_EQ(y[0].shape(), (Shape{1, 3, 3, 6, 3}));
    Geo g;
    g.s = {2, 1, 2}, g.pb = {1, 0, 1};
    EXPECT_LT(max_abs_error(y[0], naive_conv(x, w, nullptr, 1, g, y[0].shape())), 1e-5);
  }
}

TEST(RefNnConv, AutoPad) {
  Tensor x = random_f32({1, 2, 7, 8}, 14), w = random_f32({3, 2, 4, 3}, 15);
  // SAME_UPPER, stride 2: out = ceil(7/2)=4, ceil(8/2)=4; total pads H: 3*2+4-7=3 -> (1,2); W: 3*2+3-8=1 -> (0,1)
  Node up = make_node(OpType::Conv, {{"auto_pad", attr_s("SAME_UPPER")}, {"strides", attr_ints({2, 2})}});
  auto yu = run(up, {&x, &w});
  ASSERT_EQ(yu[0].shape(), (Shape{1, 3, 4, 4}));
  Geo g;
  g.s = {1, 2, 2}, g.pb = {0, 1, 0};
  EXPECT_LT(max_abs_error(yu[0], naive_conv(x, w, nullptr, 1, g, yu[0].shape())), 1e-5);
  // SAME_LOWER puts the odd pad at the start: H (2,1), W (1,0).
  Node lo = make_node(OpType::Conv, {{"auto_pad", attr_s("SAME_LOWER")}, {"strides", attr_ints({2, 2})}});
  auto yl = run(lo, {&x, &w});
  g.pb = {0, 2, 1};
  EXPECT_LT(max_abs_error(yl[0], naive_conv(x, w, nullptr, 1, g, yl[0].shape())), 1e-5);
  Node valid = make_node(OpType::Conv, {{"auto_pad", attr_s("VALID")}});
  EXPECT_EQ(infer_shape(valid, {{1, 2, 7, 8}, {3, 2, 4, 3}}), (Shape{1, 3, 4, 6}));
}

TEST(RefNnConv, FusedResidualReluEqualsConvAddRelu) {
  Tensor x = random_f32({2, 4, 9, 7}, 16), w = random_f32({6, 4, 3, 3}, 17), b = random_f32({6}, 18);
  Node plain = make_node(OpType::Conv, {{"pads", attr_ints({1, 1, 1, 1})}});
  auto y = run(plain, {&x, &w, &b});
  Tensor r = random_f32(y[0].shape(), 19);
  Node fused = plain;
  fused.post.residual_input = 3;
  fused.post.act = Activation::Relu;
  auto yf = run(fused, {&x, &w, &b, &r});
  // Separately: Conv, then Add, then Relu.
  Tensor expect(DType::f32, y[0].shape());
  int64_t negatives = 0;
  for (int64_t i = 0; i < expect.numel(); ++i) {
    float v = y[0].data<float>()[i] + r.data<float>()[i];
    negatives += v < 0;
    expect.data<float>()[i] = v > 0 ? v : 0.f;
  }
  EXPECT_GT(negatives, 10);  // the Relu does something
  EXPECT_EQ(max_abs_error(yf[0], expect), 0.0);
  // Clip post-op without a residual.
  Node clip = plain;
  clip.post.act = Activation::Clip;
  clip.post.alpha = 0.f, clip.post.beta = 0.5f;
  auto yc = run(clip, {&x, &w, &b});
  for (int64_t i = 0; i < expect.numel(); ++i)
    ASSERT_EQ(yc[0].data<float>()[i], std::min(std::max(y[0].data<float>()[i], 0.f), 0.5f));
}

TEST(RefNnConv, HandComputed) {
  // 1x1x3x3 of 1..9, 2x2 ones kernel, no pads: sums of 2x2 blocks.
  Tensor x = Tensor::from<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::from<float>({1, 1, 2, 2}, {1, 1, 1, 1});
  auto y = run(make_node(OpType::Conv), {&x, &w});
  ASSERT_EQ(y[0].shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y[0].to_f32(), (std::vector<float>{12, 16, 24, 28}));
}

TEST(RefNnConv, UserErrorsNameNodeAndShapes) {
  Node n = make_node(OpType::Conv);
  std::string e = infer_error(n, {{1, 3, 8, 8}, {4, 2, 3, 3}});
  EXPECT_EQ(e.rfind("node 't_Conv' (Conv)", 0), 0u) << e;
  EXPECT_NE(e.find("1x3x8x8"), std::string::npos) << e;
  EXPECT_NE(e.find("4x2x3x3"), std::string::npos) << e;
  Node bad_pads = make_node(OpType::Conv, {{"pads", attr_ints({1, 1})}});
  e = infer_error(bad_pads, {{1, 3, 8, 8}, {4, 3, 3, 3}});
  EXPECT_NE(e.find("pads"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("node 't_Conv' (Conv)", 0), 0u) << e;
  e = infer_error(n, {{1, 3, 2, 8}, {4, 3, 3, 3}});  // kernel taller than the input
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  Node bad_k = make_node(OpType::Conv, {{"kernel_shape", attr_ints({5, 5})}});
  e = infer_error(bad_k, {{1, 3, 8, 8}, {4, 3, 3, 3}});
  EXPECT_NE(e.find("kernel_shape"), std::string::npos) << e;
  Node g = make_node(OpType::Conv, {{"group", attr_i(3)}});
  e = infer_error(g, {{1, 3, 8, 8}, {4, 1, 3, 3}});  // 4 output channels don't split into 3 groups
  EXPECT_NE(e.find("group"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------------------
// ConvTranspose

TEST(RefNnConvTranspose, Stride2OutputPaddingVsScatter) {
  Tensor x = random_f32({2, 4, 5, 7}, 20), w = random_f32({4, 3, 3, 3}, 21), b = random_f32({6}, 22);
  // group 2: 4 in channels (2 per group), 3 out per group -> 6 out channels.
  Node n = make_node(OpType::ConvTranspose, {{"group", attr_i(2)}, {"strides", attr_ints({2, 2})},
                                             {"output_padding", attr_ints({1, 1})}, {"pads", attr_ints({1, 0, 0, 1})}});
  auto y = run(n, {&x, &w, &b});
  // H: 2*4 + 1 + 3 - 1 - 0 = 11; W: 2*6 + 1 + 3 - 0 - 1 = 15
  ASSERT_EQ(y[0].shape(), (Shape{2, 6, 11, 15}));
  Geo g;
  g.s = {1, 2, 2}, g.pb = {0, 1, 0};
  EXPECT_LT(max_abs_error(y[0], naive_conv_transpose(x, w, &b, 2, g, y[0].shape())), 1e-5);
}

TEST(RefNnConvTranspose, DilationAndOutputShape) {
  Tensor x = random_f32({1, 3, 4, 5}, 23), w = random_f32({3, 2, 2, 3}, 24);
  Node n = make_node(OpType::ConvTranspose, {{"strides", attr_ints({3, 2})}, {"dilations", attr_ints({2, 1})}});
  auto y = run(n, {&x, &w});
  ASSERT_EQ(y[0].shape(), (Shape{1, 2, 12, 11}));  // 3*3 + 3, 2*4 + 3
  Geo g;
  g.s = {1, 3, 2}, g.d = {1, 2, 1};
  EXPECT_LT(max_abs_error(y[0], naive_conv_transpose(x, w, nullptr, 1, g, y[0].shape())), 1e-5);
  // output_shape 13x10: total pads H = 12-13 = -1 -> (0, -1) (one extra row at the end), W = 1 -> (1, 0).
  Node os = make_node(OpType::ConvTranspose, {{"strides", attr_ints({3, 2})}, {"dilations", attr_ints({2, 1})},
                                              {"output_shape", attr_ints({13, 10})}});
  auto yo = run(os, {&x, &w});
  ASSERT_EQ(yo[0].shape(), (Shape{1, 2, 13, 10}));
  g.pb = {0, 0, 1};
  EXPECT_LT(max_abs_error(yo[0], naive_conv_transpose(x, w, nullptr, 1, g, yo[0].shape())), 1e-5);
  // output_shape 14x11: total H = -2 extends the end only (pads (0, -2)), as ONNX's reference and ORT do.
  Node os2 = make_node(OpType::ConvTranspose, {{"strides", attr_ints({3, 2})}, {"dilations", attr_ints({2, 1})},
                                               {"output_shape", attr_ints({1, 2, 14, 11})}});
  auto yo2 = run(os2, {&x, &w});
  ASSERT_EQ(yo2[0].shape(), (Shape{1, 2, 14, 11}));
  g.pb = {0, 0, 0};
  EXPECT_LT(max_abs_error(yo2[0], naive_conv_transpose(x, w, nullptr, 1, g, yo2[0].shape())), 1e-5);
  // SAME_UPPER: out = in * stride = 12x10, pads H 0 -> (0,0), W 1 -> (0,1).
  Node same = make_node(OpType::ConvTranspose, {{"strides", attr_ints({3, 2})}, {"dilations", attr_ints({2, 1})},
                                                {"auto_pad", attr_s("SAME_UPPER")}});
  auto ys = run(same, {&x, &w});
  ASSERT_EQ(ys[0].shape(), (Shape{1, 2, 12, 10}));
  g.pb = {0, 0, 0};
  EXPECT_LT(max_abs_error(ys[0], naive_conv_transpose(x, w, nullptr, 1, g, ys[0].shape())), 1e-5);
}

TEST(RefNnConvTranspose, FusedRelu) {
  Tensor x = random_f32({1, 2, 3, 3}, 25), w = random_f32({2, 2, 3, 3}, 26);
  Node n = make_node(OpType::ConvTranspose, {{"strides", attr_ints({2, 2})}});
  auto y = run(n, {&x, &w});
  n.post.act = Activation::Relu;
  auto yr = run(n, {&x, &w});
  for (int64_t i = 0; i < y[0].numel(); ++i) ASSERT_EQ(yr[0].data<float>()[i], std::max(y[0].data<float>()[i], 0.f));
}

// ---------------------------------------------------------------------------------------------------------
// Gemm, MatMul

// Y = alpha * op(A) op(B) + beta * C[i*crs + j*ccs]
Tensor naive_gemm(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha, float beta, const Tensor* c,
                  int64_t crs, int64_t ccs) {
  int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1), N = tb ? b.dim(0) : b.dim(1);
  Tensor y(DType::f32, {M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += static_cast<double>(a.data<float>()[ta ? k * M + i : i * K + k]) * b.data<float>()[tb ? j * K + k : k * N + j];
      s *= alpha;
      if (c) s += static_cast<double>(beta) * c->data<float>()[i * crs + j * ccs];
      y.data<float>()[i * N + j] = static_cast<float>(s);
    }
  return y;
}

TEST(RefNnGemm, TransposesAlphaBetaBroadcastC) {
  const int64_t M = 5, K = 7, N = 3;
  Tensor at = random_f32({K, M}, 30), an = random_f32({M, K}, 31);
  Tensor bt = random_f32({N, K}, 32), bn = random_f32({K, N}, 33);
  Tensor c_row = random_f32({N}, 34), c_col = random_f32({M, 1}, 35), c_full = random_f32({M, N}, 36);
  Tensor c_one = random_f32({1}, 37);
  struct Case {
    bool ta, tb;
    const Tensor* c;
    int64_t crs, ccs;
  } cases[] = {{false, false, nullptr, 0, 0}, {true, false, &c_row, 0, 1}, {false, true, &c_col, 1, 0},
               {true, true, &c_full, N, 1},   {true, true, &c_one, 0, 0}};
  for (const Case& cs : cases) {
    Node n = make_node(OpType::Gemm, {{"transA", attr_i(cs.ta)}, {"transB", attr_i(cs.tb)}, {"alpha", attr_f(0.75f)},
                                      {"beta", attr_f(-1.5f)}});
    const Tensor& a = cs.ta ? at : an;
    const Tensor& b = cs.tb ? bt : bn;
    auto y = run(n, {&a, &b, cs.c});
    ASSERT_EQ(y[0].shape(), (Shape{M, N}));
    EXPECT_LT(max_abs_error(y[0], naive_gemm(a, b, cs.ta, cs.tb, 0.75f, -1.5f, cs.c, cs.crs, cs.ccs)), 1e-5)
        << cs.ta << cs.tb;
  }
  // Transposed and plain layouts of the same numbers give bit-identical results.
  Tensor a_t(DType::f32, {K, M});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a_t.data<float>()[k * M + i] = an.data<float>()[i * K + k];
  auto y1 = run(make_node(OpType::Gemm), {&an, &bn});
  auto y2 = run(make_node(OpType::Gemm, {{"transA", attr_i(1)}}), {&a_t, &bn});
  EXPECT_EQ(max_abs_error(y1[0], y2[0]), 0.0);
  Node bad = make_node(OpType::Gemm);
  std::string e = infer_error(bad, {{5, 7}, {6, 3}});
  EXPECT_EQ(e.rfind("node 't_Gemm' (Gemm)", 0), 0u) << e;
  EXPECT_NE(e.find("5x7"), std::string::npos) << e;
  e = infer_error(bad, {{5, 7}, {7, 3}, {2, 3}});
  EXPECT_NE(e.find("2x3"), std::string::npos) << e;
}

TEST(RefNnGemm, FusedRelu) {
  Tensor a = random_f32({4, 6}, 38), b = random_f32({6, 5}, 39), c = random_f32({5}, 40);
  Node n = make_node(OpType::Gemm);
  auto y = run(n, {&a, &b, &c});
  n.post.act = Activation::Relu;
  auto yr = run(n, {&a, &b, &c});
  for (int64_t i = 0; i < y[0].numel(); ++i) ASSERT_EQ(yr[0].data<float>()[i], std::max(y[0].data<float>()[i], 0.f));
}

// numpy matmul by definition on explicit index arithmetic; shapes already promoted (rank >= 2 each).
double mm_at(const Tensor& a, const Shape& as, const Tensor& b, const Shape& bs, const std::vector<int64_t>& bidx,
             int64_t i, int64_t j) {
  auto off = [&bidx](const Shape& s) {
    int64_t o = 0;
    size_t r = s.size() - 2;
    for (size_t d = 0; d < r; ++d) {
      int64_t idx = bidx[bidx.size() - r + d];
      o = o * s[d] + (s[d] == 1 ? 0 : idx);
    }
    return o;
  };
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  double s = 0;
  for (int64_t k = 0; k < K; ++k)
    s += static_cast<double>(a.data<float>()[off(as) * M * K + i * K + k]) * b.data<float>()[off(bs) * K * N + k * N + j];
  return s;
}

TEST(RefNnMatMul, VectorTimesBatchAndBroadcast) {
  // 1-D x 3-D: [7] x [2,7,3] -> [2,3]
  Tensor v = random_f32({7}, 41), b3 = random_f32({2, 7, 3}, 42);
  auto y = run(make_node(OpType::MatMul), {&v, &b3});
  ASSERT_EQ(y[0].shape(), (Shape{2, 3}));
  for (int64_t bb = 0; bb < 2; ++bb)
    for (int64_t j = 0; j < 3; ++j)
      EXPECT_NEAR(y[0].data<float>()[bb * 3 + j], mm_at(v, {1, 7}, b3, {2, 7, 3}, {bb}, 0, j), 1e-5);
  // 3-D x 1-D: [2,5,7] x [7] -> [2,5]
  Tensor a3 = random_f32({2, 5, 7}, 43);
  y = run(make_node(OpType::MatMul), {&a3, &v});
  ASSERT_EQ(y[0].shape(), (Shape{2, 5}));
  for (int64_t bb = 0; bb < 2; ++bb)
    for (int64_t i = 0; i < 5; ++i)
      EXPECT_NEAR(y[0].data<float>()[bb * 5 + i], mm_at(a3, {2, 5, 7}, v, {7, 1}, {bb}, i, 0), 1e-5);
  // 1-D x 1-D: a scalar.
  y = run(make_node(OpType::MatMul), {&v, &v});
  EXPECT_EQ(y[0].shape(), Shape{});
  // Broadcast batch: [3,1,5,7] x [4,7,2] -> [3,4,5,2]
  Tensor a4 = random_f32({3, 1, 5, 7}, 44), b4 = random_f32({4, 7, 2}, 45);
  y = run(make_node(OpType::MatMul), {&a4, &b4});
  ASSERT_EQ(y[0].shape(), (Shape{3, 4, 5, 2}));
  double err = 0;
  for (int64_t p = 0; p < 3; ++p)
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 2; ++j)
          err = std::max(err, std::fabs(y[0].data<float>()[((p * 4 + q) * 5 + i) * 2 + j] -
                                        mm_at(a4, {3, 1, 5, 7}, b4, {4, 7, 2}, {p, q}, i, j)));
  EXPECT_LT(err, 1e-5);
  std::string e = infer_error(make_node(OpType::MatMul), {{2, 5, 7}, {3, 7, 2}});
  EXPECT_EQ(e.rfind("node 't_MatMul' (MatMul)", 0), 0u) << e;
  e = infer_error(make_node(OpType::MatMul), {{5, 7}, {6, 2}});
  EXPECT_NE(e.find("5x7"), std::string::npos) << e;
}

TEST(RefNnMatMul, FusedResidualAndActivation) {
  Tensor a = random_f32({2, 3, 4}, 46), b = random_f32({4, 5}, 47), r = random_f32({2, 3, 5}, 48);
  Node n = make_node(OpType::MatMul);
  auto y = run(n, {&a, &b});
  n.post.residual_input = 2;
  n.post.act = Activation::LeakyRelu;
  n.post.alpha = 0.1f;
  auto yf = run(n, {&a, &b, &r});
  for (int64_t i = 0; i < y[0].numel(); ++i) {
    float v = y[0].data<float>()[i] + r.data<float>()[i];
    ASSERT_EQ(yf[0].data<float>()[i], v >= 0 ? v : v * 0.1f);
  }
}

// ---------------------------------------------------------------------------------------------------------
// BatchNormalization, PRelu

TEST(RefNnBatchNorm, InferenceFormula) {
  Tensor x = random_f32({2, 3, 5, 7}, 50), scale = random_f32({3}, 51), bias = random_f32({3}, 52);
  Tensor mean = random_f32({3}, 53), var = random_f32({3}, 54, 0.1f, 2.f);
  Node n = make_node(OpType::BatchNormalization, {{"epsilon", attr_f(1e-3f)}});
  auto y = run(n, {&x, &scale, &bias, &mean, &var});
  ASSERT_EQ(y[0].shape(), x.shape());
  double err = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = (i / 35) % 3;
    double e = (x.data<float>()[i] - mean.data<float>()[c]) / std::sqrt(var.data<float>()[c] + 1e-3) *
                   scale.data<float>()[c] + bias.data<float>()[c];
    err = std::max(err, std::fabs(e - y[0].data<float>()[i]));
  }
  EXPECT_LT(err, 1e-5);
  // Rank 2 (after Flatten / in an MLP).
  Tensor x2 = random_f32({4, 3}, 55);
  auto y2 = run(make_node(OpType::BatchNormalization), {&x2, &scale, &bias, &mean, &var});
  EXPECT_NEAR(y2[0].data<float>()[4],
              (x2.data<float>()[4] - mean.data<float>()[1]) / std::sqrt(var.data<float>()[1] + 1e-5f) *
                      scale.data<float>()[1] + bias.data<float>()[1], 1e-6);
  Node train = make_node(OpType::BatchNormalization, {{"training_mode", attr_i(1)}});
  std::string e = infer_error(train, {{2, 3, 5, 7}, {3}, {3}, {3}, {3}});
  EXPECT_NE(e.find("training_mode"), std::string::npos) << e;
  e = infer_error(make_node(OpType::BatchNormalization), {{2, 3, 5, 7}, {4}, {3}, {3}, {3}});
  EXPECT_EQ(e.rfind("node 't_BatchNormalization'", 0), 0u) << e;
  EXPECT_NE(e.find("2x3x5x7"), std::string::npos) << e;
}

TEST(RefNnPRelu, BroadcastSlopes) {
  Tensor x = random_f32({2, 3, 4, 5}, 60);
  Tensor s_c11 = random_f32({3, 1, 1}, 61), s_w = random_f32({5}, 62), s_1 = random_f32({1}, 63);
  auto check = [&](const Tensor& s, auto slope_of) {
    auto y = run(make_node(OpType::PRelu), {&x, &s});
    ASSERT_EQ(y[0].shape(), x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      float v = x.data<float>()[i];
      ASSERT_EQ(y[0].data<float>()[i], v < 0 ? v * slope_of(i) : v) << i;
    }
  };
  check(s_c11, [&](int64_t i) { return s_c11.data<float>()[(i / 20) % 3]; });
  check(s_w, [&](int64_t i) { return s_w.data<float>()[i % 5]; });
  check(s_1, [&](int64_t) { return s_1.data<float>()[0]; });
  std::string e = infer_error(make_node(OpType::PRelu), {{2, 3, 4, 5}, {3}});
  EXPECT_EQ(e.rfind("node 't_PRelu' (PRelu)", 0), 0u) << e;
  EXPECT_NE(e.find("2x3x4x5"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------------------
// Pools

// Independent 2-D pool: visits every tap, classifies it as real / padding / beyond the padded extent.
struct NaivePool {
  int64_t kh, kw, sh, sw, ph0, pw0, ph1, pw1, dh = 1, dw = 1;
  // mode 0 max, 1 avg exclude pad, 2 avg include pad
  void run(const Tensor& x, int mode, const Shape& yshape, std::vector<float>* y, std::vector<int64_t>* idx) const {
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), OH = yshape[2], OW = yshape[3];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            double sum = 0;
            int64_t cnt_real = 0, cnt_padded = 0;
            float best = -std::numeric_limits<float>::infinity();
            int64_t best_i = -1;
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t h = oh * sh - ph0 + i * dh, w = ow * sw - pw0 + j * dw;
                if (h >= -ph0 && h < H + ph1 && w >= -pw0 && w < W + pw1) ++cnt_padded;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                ++cnt_real;
                int64_t flat = ((n * C + c) * H + h) * W + w;
                float v = x.data<float>()[flat];
                sum += v;
                if (v > best) best = v, best_i = flat;
              }
            if (mode == 0) {
              y->push_back(best);
              if (idx) idx->push_back(best_i);
            } else {
              y->push_back(static_cast<float>(sum / (mode == 1 ? cnt_real : cnt_padded)));
            }
          }
  }
};

TEST(RefNnMaxPool, CeilModeWithIndices) {
  // 1x2x5x7, kernel 2, stride 2, ceil: 3x4 outputs; the last row/column windows hang over the edge.
  Tensor x = random_f32({1, 2, 5, 7}, 70);
  Node n = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})},
                                       {"ceil_mode", attr_i(1)}}, 2);
  auto y = run(n, {&x});
  ASSERT_EQ(y[0].shape(), (Shape{1, 2, 3, 4}));
  ASSERT_EQ(y[1].dtype(), DType::i64);
  std::vector<float> ev;
  std::vector<int64_t> ei;
  NaivePool{2, 2, 2, 2, 0, 0, 0, 0}.run(x, 0, y[0].shape(), &ev, &ei);
  EXPECT_EQ(y[0].to_f32(), ev);
  EXPECT_EQ(y[1].to_i64(), ei);
  // Without ceil_mode: 2x3.
  Node f = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  EXPECT_EQ(infer_shape(f, {{1, 2, 5, 7}}), (Shape{1, 2, 2, 3}));
  // ceil_mode drops a last window that would start in the end padding: in 4, k 2, s 2, pads (0,1):
  // ceil((4+1-2)/2)+1 = 3, but window 2 starts at 4 >= 4 -> 2.
  Node drop = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})},
                                          {"pads", attr_ints({0, 0, 1, 1})}, {"ceil_mode", attr_i(1)}});
  EXPECT_EQ(infer_shape(drop, {{1, 1, 4, 4}}), (Shape{1, 1, 2, 2}));
  // A window longer than the padded input that starts inside it: one output in ceil mode, none without.
  // in 3, kernel 3 dilated 2 (extent 5), stride 2, pads (1, 0): ceil(-1/2) + 1 = 1 window, taps at -1, 1, 3,
  // only x[1] is real.
  Tensor x3 = Tensor::from<float>({1, 1, 3}, {7, -2, 9});
  Node one = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({3})}, {"dilations", attr_ints({2})}, {"strides", attr_ints({2})},
                                         {"pads", attr_ints({1, 0})}, {"ceil_mode", attr_i(1)}}, 2);
  auto y3 = run(one, {&x3});
  ASSERT_EQ(y3[0].shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(y3[0].data<float>()[0], -2.f);
  EXPECT_EQ(y3[1].data<int64_t>()[0], 1);
  one.attrs["ceil_mode"] = attr_i(0);
  EXPECT_NE(infer_error(one, {{1, 1, 3}}).find("empty"), std::string::npos);
}

TEST(RefNnMaxPool, PaddingNeverWinsAndDilation) {
  Tensor x = random_f32({2, 3, 6, 5}, 71, -5.f, -1.f);  // all negative: a zero pad would win if counted
  Node n = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({3, 2})}, {"strides", attr_ints({2, 1})},
                                       {"pads", attr_ints({1, 1, 2, 0})}, {"dilations", attr_ints({1, 2})}}, 2);
  auto y = run(n, {&x});
  // H: (6+3-3)/2+1 = 4; W: (5+1-3)/1+1 = 4
  ASSERT_EQ(y[0].shape(), (Shape{2, 3, 4, 4}));
  std::vector<float> ev;
  std::vector<int64_t> ei;
  NaivePool p{3, 2, 2, 1, 1, 1, 2, 0, 1, 2};
  p.run(x, 0, y[0].shape(), &ev, &ei);
  EXPECT_EQ(y[0].to_f32(), ev);
  EXPECT_EQ(y[1].to_i64(), ei);
  for (float v : y[0].to_f32()) ASSERT_LT(v, 0.f);
}

TEST(RefNnMaxPool, Int8AndStorageOrder) {
  Tensor x = Tensor::from<int8_t>({1, 1, 2, 3}, {-5, 7, 3, 9, -128, 4});
  Node n = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({2, 2})}, {"storage_order", attr_i(1)}}, 2);
  auto y = run(n, {&x});
  ASSERT_EQ(y[0].dtype(), DType::i8);
  EXPECT_EQ(y[0].data<int8_t>()[0], 9);
  EXPECT_EQ(y[0].data<int8_t>()[1], 7);
  // Column-major flat index of (h=1, w=0) is h + w*H = 1; of (0, 1) is 0 + 1*2 = 2.
  EXPECT_EQ(y[1].to_i64(), (std::vector<int64_t>{1, 2}));
}

TEST(RefNnAveragePool, CountIncludePadAndCeil) {
  Tensor x = random_f32({2, 3, 7, 6}, 72);
  for (int cip = 0; cip <= 1; ++cip)
    for (int ceil = 0; ceil <= 1; ++ceil) {
      Node n = make_node(OpType::AveragePool,
                         {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 1, 1})},
                          {"count_include_pad", attr_i(cip)}, {"ceil_mode", attr_i(ceil)}});
      auto y = run(n, {&x});
      // H: (7+2-3)/2+1 = 4 either way; W: (6+1-3)/2+1 = 3, ceil 3.
      ASSERT_EQ(y[0].shape(), (Shape{2, 3, 4, 3}));
      std::vector<float> ev;
      NaivePool{3, 3, 2, 2, 1, 0, 1, 1}.run(x, cip ? 2 : 1, y[0].shape(), &ev, nullptr);
      Tensor e = Tensor::from<float>(y[0].shape(), ev);
      EXPECT_LT(max_abs_error(y[0], e), 1e-6) << "count_include_pad " << cip << " ceil " << ceil;
    }
  // ceil_mode window hanging beyond the padded extent: in 6, k 3, s 2, pads 1/1: ceil((6+2-3)/2)+1 = 4.
  // The last window covers padded positions 6..8 of an 8-long padded row: position 8 is counted by neither mode.
  Tensor x1 = Tensor::from<float>({1, 1, 1, 6}, {1, 2, 3, 4, 5, 6});
  Node inc = make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({1, 3})}, {"strides", attr_ints({1, 2})},
                                             {"pads", attr_ints({0, 1, 0, 1})}, {"ceil_mode", attr_i(1)},
                                             {"count_include_pad", attr_i(1)}});
  auto y1 = run(inc, {&x1});
  ASSERT_EQ(y1[0].shape(), (Shape{1, 1, 1, 4}));
  EXPECT_EQ(y1[0].to_f32(), (std::vector<float>{3.f / 3, 9.f / 3, 15.f / 3, 6.f / 2}));
  inc.attrs["count_include_pad"] = attr_i(0);
  y1 = run(inc, {&x1});
  EXPECT_EQ(y1[0].to_f32(), (std::vector<float>{3.f / 2, 9.f / 3, 15.f / 3, 6.f / 1}));
}

TEST(RefNnAveragePool, SameUpperOneAndThreeD) {
  Tensor x = random_f32({1, 2, 5, 5}, 73);
  Node n = make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({2, 2})}, {"auto_pad", attr_s("SAME_UPPER")}});
  auto y = run(n, {&x});
  ASSERT_EQ(y[0].shape(), (Shape{1, 2, 5, 5}));
  std::vector<float> ev;
  NaivePool{2, 2, 1, 1, 0, 0, 1, 1}.run(x, 1, y[0].shape(), &ev, nullptr);
  EXPECT_LT(max_abs_error(y[0], Tensor::from<float>(y[0].shape(), ev)), 1e-6);
  // 1-D equals the 2-D pool of the same row.
  Tensor x1 = random_f32({2, 3, 9}, 74);
  Node n1 = make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({3})}, {"strides", attr_ints({2})}, {"pads", attr_ints({1, 1})}});
  auto y1 = run(n1, {&x1});
  ASSERT_EQ(y1[0].shape(), (Shape{2, 3, 5}));
  ev.clear();
  NaivePool{1, 3, 1, 2, 0, 1, 0, 1}.run(x1.reshaped({2, 3, 1, 9}), 1, {2, 3, 1, 5}, &ev, nullptr);
  EXPECT_LT(max_abs_error(y1[0], Tensor::from<float>({2, 3, 5}, ev)), 1e-6);
  // 3-D: a 2x2x2 window over 2x2x2 is the mean of everything.
  Tensor x3 = random_f32({1, 1, 2, 2, 2}, 75);
  auto y3 = run(make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({2, 2, 2})}}), {&x3});
  ASSERT_EQ(y3[0].shape(), (Shape{1, 1, 1, 1, 1}));
  double s = 0;
  for (float v : x3.to_f32()) s += v;
  EXPECT_NEAR(y3[0].data<float>()[0], s / 8, 1e-6);
}

TEST(RefNnGlobalPool, AverageAndMax) {
  Tensor x = random_f32({2, 3, 5, 7}, 80);
  auto ya = run(make_node(OpType::GlobalAveragePool), {&x});
  auto ym = run(make_node(OpType::GlobalMaxPool), {&x});
  ASSERT_EQ(ya[0].shape(), (Shape{2, 3, 1, 1}));
  ASSERT_EQ(ym[0].shape(), (Shape{2, 3, 1, 1}));
  for (int64_t nc = 0; nc < 6; ++nc) {
    double s = 0;
    float m = -INFINITY;
    for (int64_t i = 0; i < 35; ++i) {
      float v = x.data<float>()[nc * 35 + i];
      s += v;
      m = std::max(m, v);
    }
    EXPECT_NEAR(ya[0].data<float>()[nc], s / 35, 1e-6);
    EXPECT_EQ(ym[0].data<float>()[nc], m);
  }
  Tensor x3 = random_f32({1, 2, 3, 4, 5}, 81);
  EXPECT_EQ(run(make_node(OpType::GlobalAveragePool), {&x3})[0].shape(), (Shape{1, 2, 1, 1, 1}));
}

TEST(RefNnPool, UserErrors) {
  Node n = make_node(OpType::MaxPool, {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1})}});
  std::string e = infer_error(n, {{1, 2, 8, 8}});
  EXPECT_EQ(e.rfind("node 't_MaxPool' (MaxPool)", 0), 0u) << e;
  EXPECT_NE(e.find("pads"), std::string::npos) << e;
  EXPECT_NE(e.find("1x2x8x8"), std::string::npos) << e;
  Node k = make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({0, 3})}});
  e = infer_error(k, {{1, 2, 8, 8}});
  EXPECT_NE(e.find("kernel"), std::string::npos) << e;
  Node big = make_node(OpType::AveragePool, {{"kernel_shape", attr_ints({9, 3})}});
  e = infer_error(big, {{1, 2, 8, 8}});
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  Node nok = make_node(OpType::MaxPool);
  e = infer_error(nok, {{1, 2, 8, 8}});
  EXPECT_NE(e.find("kernel_shape"), std::string::npos) << e;
}

}  // namespace
}  // namespace octet
