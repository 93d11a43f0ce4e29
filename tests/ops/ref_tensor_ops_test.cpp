// Reference data-movement, shape and quantization ops against hand-computed values on odd shapes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "test_util.h"

namespace octet {
namespace {

// Inputs of one op call: each is a tensor whose data is visible to inference (`known`) or not.
struct In {
  Tensor t;
  bool known = true;
};

struct Result {
  std::vector<Tensor> out;
  std::vector<TensorInfo> info;
};

Result run(const Node& n, const std::vector<std::optional<In>>& ins, int nout = 1) {
  std::vector<TensorInfo> infos(ins.size());
  InferCtx ctx{n, {}, std::vector<TensorInfo>(static_cast<size_t>(nout))};
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i]) {
      ctx.in.push_back(nullptr);
      ptrs.push_back(nullptr);
      continue;
    }
    infos[i].dtype = ins[i]->t.dtype();
    infos[i].shape = ins[i]->t.shape();
    infos[i].value = ins[i]->known ? &ins[i]->t : nullptr;
    ctx.in.push_back(&infos[i]);
    ptrs.push_back(&ins[i]->t);
  }
  infer_fn(n.op)(ctx);
  Result r;
  for (auto& o : ctx.out) r.out.emplace_back(o.dtype, o.shape);
  std::vector<Tensor*> outs;
  for (auto& t : r.out) outs.push_back(&t);
  ref_fn(n.op)(OpArgs{n, ptrs, outs});
  r.info = std::move(ctx.out);
  return r;
}

Node node(OpType op, std::map<std::string, Attr> attrs = {}) {
  Node n;
  n.op = op;
  n.name = std::string("t_") + op_name(op);
  n.attrs = std::move(attrs);
  return n;
}
Attr ai(int64_t v) { Attr a; a.kind = Attr::Kind::Int; a.i = v; return a; }
Attr af(float v) { Attr a; a.kind = Attr::Kind::Float; a.f = v; return a; }
Attr as(std::string v) { Attr a; a.kind = Attr::Kind::String; a.s = std::move(v); return a; }
Attr aints(std::vector<int64_t> v) { Attr a; a.kind = Attr::Kind::Ints; a.ints = std::move(v); return a; }
Attr at(Tensor t) { Attr a; a.kind = Attr::Kind::Tensor; a.t = std::move(t); return a; }

Tensor iota_f32(const Shape& s) {
  Tensor t(DType::f32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}
Tensor i64(std::vector<int64_t> v) { return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v); }
Tensor f32v(std::vector<float> v) { return Tensor::from<float>({static_cast<int64_t>(v.size())}, v); }
In data(Tensor t) { return In{std::move(t), false}; }

std::vector<float> vals(const Tensor& t) { return t.to_f32(); }
std::vector<int64_t> ivals(const Tensor& t) { return t.to_i64(); }

TEST(RefTensorShape, ReshapeZeroCopiesAndMinusOneInfers) {
  auto r = run(node(OpType::Reshape), {data(iota_f32({2, 3, 5})), In{i64({0, -1})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{2, 15}));
  EXPECT_EQ(vals(r.out[0])[29], 29.f);
  r = run(node(OpType::Reshape), {data(iota_f32({2, 3, 5})), In{i64({-1, 0, 1})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{10, 3, 1}));
  // allowzero: 0 is a real zero-size dim.
  r = run(node(OpType::Reshape, {{"allowzero", ai(1)}}), {data(Tensor(DType::f32, {0, 3})), In{i64({3, 0})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{3, 0}));
  EXPECT_THROW(run(node(OpType::Reshape), {data(iota_f32({2, 3, 5})), In{i64({-1, 4})}}), Error);
  EXPECT_THROW(run(node(OpType::Reshape), {data(iota_f32({2, 3})), In{i64({-1, -1})}}), Error);
  try {
    run(node(OpType::Reshape), {data(iota_f32({2, 3})), data(i64({6}))});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 't_Reshape' (Reshape)"), std::string::npos) << e.what();
  }
}

TEST(RefTensorShape, FlattenSqueezeUnsqueeze) {
  auto r = run(node(OpType::Flatten, {{"axis", ai(-1)}}), {data(iota_f32({3, 1, 7}))});
  EXPECT_EQ(r.out[0].shape(), (Shape{3, 7}));
  r = run(node(OpType::Squeeze), {data(iota_f32({1, 3, 1, 5}))});
  EXPECT_EQ(r.out[0].shape(), (Shape{3, 5}));
  r = run(node(OpType::Squeeze), {data(iota_f32({1, 3, 1, 5})), In{i64({-2})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{1, 3, 5}));
  EXPECT_THROW(run(node(OpType::Squeeze), {data(iota_f32({1, 3})), In{i64({1})}}), Error);
  r = run(node(OpType::Unsqueeze), {data(iota_f32({3, 5})), In{i64({-1, 0})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{1, 3, 5, 1}));
  EXPECT_EQ(vals(r.out[0])[14], 14.f);
}

TEST(RefTensorShape, ShapeIsFolded) {
  auto r = run(node(OpType::Shape), {data(Tensor(DType::f32, {2, 3, 5, 7}))});
  ASSERT_TRUE(r.info[0].folded.has_value());
  EXPECT_EQ(ivals(*r.info[0].folded), (std::vector<int64_t>{2, 3, 5, 7}));
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{2, 3, 5, 7}));
  r = run(node(OpType::Shape, {{"start", ai(1)}, {"end", ai(-1)}}), {data(Tensor(DType::f32, {2, 3, 5, 7}))});
  EXPECT_EQ(ivals(*r.info[0].folded), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{3, 5}));
  r = run(node(OpType::Shape, {{"start", ai(-10)}, {"end", ai(100)}}), {data(Tensor(DType::f32, {2, 3}))});
  EXPECT_EQ(ivals(*r.info[0].folded), (std::vector<int64_t>{2, 3}));
}

TEST(RefTensorMove, TransposeOddShape) {
  auto r = run(node(OpType::Transpose, {{"perm", aints({2, 0, 1})}}), {data(iota_f32({2, 3, 5}))});
  ASSERT_EQ(r.out[0].shape(), (Shape{5, 2, 3}));
  // out[k][i][j] = in[i][j][k] = 15i + 5j + k
  EXPECT_EQ(vals(r.out[0])[(4 * 2 + 1) * 3 + 2], 15.f + 10.f + 4.f);
  r = run(node(OpType::Transpose), {data(iota_f32({2, 3}))});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(RefTensorMove, SliceNegativeStepsAndClampedEnds) {
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  // [3, 7]: rows reversed (INT64_MIN end), cols 1, 3, 5 (end clamped from INT64_MAX).
  auto r = run(node(OpType::Slice), {data(iota_f32({3, 7})), In{i64({-1, 1})}, In{i64({kMin, kMax})},
                                     In{i64({0, 1})}, In{i64({-1, 2})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{3, 3}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{15, 17, 19, 8, 10, 12, 1, 3, 5}));
  // Negative step from a start past the end, stopping before index 1: 6, 4, 2.
  r = run(node(OpType::Slice), {data(iota_f32({7})), In{i64({100})}, In{i64({1})}, In{i64({-1})}, In{i64({-2})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{6, 4, 2}));
  // Axes omitted; empty result when start >= end.
  r = run(node(OpType::Slice), {data(iota_f32({5, 2})), In{i64({4})}, In{i64({2})}});
  EXPECT_EQ(r.out[0].shape(), (Shape{0, 2}));
  // Works for int8 too (bytes moved, not floats).
  r = run(node(OpType::Slice), {data(Tensor::from<int8_t>({5}, {1, -2, 3, -4, 5})), In{i64({-2})}, In{i64({-5})},
                                In{i64({0})}, In{i64({-2})}});
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{-4, -2}));
}

TEST(RefTensorMove, GatherNegativeIndicesAxis1) {
  // data [2, 5], indices [[-1, 0], [2, -5]] (int32) on axis 1 -> [2, 2, 2].
  auto r = run(node(OpType::Gather, {{"axis", ai(1)}}),
               {data(iota_f32({2, 5})), data(Tensor::from<int32_t>({2, 2}, {-1, 0, 2, -5}))});
  ASSERT_EQ(r.out[0].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{4, 0, 2, 0, 9, 5, 7, 5}));
  // Scalar index removes the axis.
  r = run(node(OpType::Gather), {data(iota_f32({3, 2})), data(Tensor::from<int64_t>({}, {-2}))});
  EXPECT_EQ(r.out[0].shape(), (Shape{2}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{2, 3}));
  EXPECT_THROW(run(node(OpType::Gather), {data(iota_f32({3})), data(i64({3}))}), Error);
}

TEST(RefTensorMove, ConcatSplitWithZeroSize) {
  auto r = run(node(OpType::Concat, {{"axis", ai(-1)}}),
               {data(iota_f32({2, 1})), data(Tensor(DType::f32, {2, 0})), data(iota_f32({2, 2}))});
  ASSERT_EQ(r.out[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 0, 1, 1, 2, 3}));
  r = run(node(OpType::Split, {{"axis", ai(1)}}), {data(iota_f32({2, 5})), In{i64({2, 0, 3})}}, 3);
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 1, 5, 6}));
  EXPECT_EQ(r.out[1].shape(), (Shape{2, 0}));
  EXPECT_EQ(vals(r.out[2]), (std::vector<float>{2, 3, 4, 7, 8, 9}));
  r = run(node(OpType::Split, {{"num_outputs", ai(3)}}), {data(iota_f32({7}))}, 3);
  EXPECT_EQ(r.out[2].shape(), (Shape{1}));
  EXPECT_THROW(run(node(OpType::Split), {data(iota_f32({7}))}, 3), Error);
}

TEST(RefTensorMove, ExpandTileWhere) {
  auto r = run(node(OpType::Expand), {data(f32v({1, 2, 3})), In{i64({2, 1, 1})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  r = run(node(OpType::Tile), {data(iota_f32({1, 3})), In{i64({2, 2})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}));
  Tensor cond = Tensor::from<bool>({2, 1}, {true, false});
  r = run(node(OpType::Where), {data(cond), data(f32v({1, 2, 3})), data(Tensor::scalar_f32(-1))});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{1, 2, 3, -1, -1, -1}));
}

TEST(RefTensorValues, CastRangeConstants) {
  auto r = run(node(OpType::Cast, {{"to", ai(6)}}), {data(f32v({2.7f, -2.7f, 0.f}))});
  EXPECT_EQ(r.out[0].dtype(), DType::i32);
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{2, -2, 0}));
  r = run(node(OpType::Cast, {{"to", ai(9)}}), {data(f32v({0.5f, 0.f}))});
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{1, 0}));
  EXPECT_THROW(run(node(OpType::Cast, {{"to", ai(10)}}), {data(f32v({1}))}), Error);
  r = run(node(OpType::Range), {In{Tensor::from<int64_t>({}, {10})}, In{Tensor::from<int64_t>({}, {1})},
                                In{Tensor::from<int64_t>({}, {-4})}});
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{10, 6, 2}));
  r = run(node(OpType::Range), {In{Tensor::scalar_f32(0.5f)}, In{Tensor::scalar_f32(2.f)}, In{Tensor::scalar_f32(0.5f)}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0.5f, 1.f, 1.5f}));
  r = run(node(OpType::ConstantOfShape, {{"value", at(Tensor::from<int64_t>({1}, {7}))}}), {In{i64({2, 3})}});
  EXPECT_EQ(r.out[0].dtype(), DType::i64);
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>(6, 7)));
  r = run(node(OpType::Constant, {{"value_ints", aints({4, 5})}}), {});
  ASSERT_TRUE(r.info[0].folded.has_value());
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{4, 5}));
}

TEST(RefTensorPad, ReflectEdgeConstantAndCrop) {
  // [1, 2, 3, 4] padded 2 before, 3 after.
  Tensor x = f32v({1, 2, 3, 4});
  auto r = run(node(OpType::Pad, {{"mode", as("reflect")}}), {data(x), In{i64({2, 3})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{3, 2, 1, 2, 3, 4, 3, 2, 1}));
  r = run(node(OpType::Pad, {{"mode", as("edge")}}), {data(x), In{i64({2, 3})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{1, 1, 1, 2, 3, 4, 4, 4, 4}));
  r = run(node(OpType::Pad), {data(x), In{i64({1, -2})}, data(Tensor::scalar_f32(9))});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{9, 1, 2}));
  // 2-D reflect on the last axis only (axes input), 3x3.
  r = run(node(OpType::Pad, {{"mode", as("reflect")}}), {data(iota_f32({2, 3})), In{i64({1, 1})}, std::nullopt, In{i64({-1})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{2, 5}));
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{1, 0, 1, 2, 1, 4, 3, 4, 5, 4}));
}

Node resize(const std::string& mode, const std::string& ctm, const std::string& nm = "round_prefer_floor") {
  return node(OpType::Resize,
              {{"mode", as(mode)}, {"coordinate_transformation_mode", as(ctm)}, {"nearest_mode", as(nm)}});
}

TEST(RefTensorResize, NearestAsymmetricFloor) {
  // PyTorch's nearest export: scales (1, 1, 2, 1.5) on a 1x1x2x3 input -> 1x1x4x4.
  auto r = run(resize("nearest", "asymmetric", "floor"),
               {data(iota_f32({1, 1, 2, 3})), In{Tensor(DType::f32, {0})}, In{f32v({1, 1, 2, 1.5f})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{1, 1, 4, 4}));
  // cols: floor(o / 1.5) = 0, 0, 1, 2
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 4, 5, 3, 3, 4, 5}));
  // Downscale with floor(in*scale): 5 * 0.6 = 3 cols, x = o/0.6 -> 0, 1.67, 3.33 -> 0, 1, 3.
  r = run(resize("nearest", "asymmetric", "floor"), {data(iota_f32({1, 5})), std::nullopt, In{f32v({1, 0.6f})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 1, 3}));
  // Default round_prefer_floor with half_pixel on sizes 3 -> 2: x = (o + .5) * 1.5 - .5 = 0.25, 1.75 -> 0, 2.
  r = run(resize("nearest", "half_pixel"), {data(iota_f32({3})), std::nullopt, std::nullopt, In{i64({2})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{0, 2}));
}

TEST(RefTensorResize, LinearHalfPixelAndAlignCorners) {
  // 1x1x2x2 [[0, 1], [2, 3]] upscaled x2 (half_pixel): coords -0.25, 0.25, 0.75, 1.25 clamp to [0, 1],
  // so along an axis the weights are 0, 0.25, 0.75, 1 -> row values {0, .25, .75, 1} and col * 2.
  Tensor x = Tensor::from<float>({1, 1, 2, 2}, {0, 1, 2, 3});
  auto r = run(resize("linear", "half_pixel"), {data(x), std::nullopt, In{f32v({1, 1, 2, 2})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{1, 1, 4, 4}));
  const std::vector<float> w = {0, 0.25f, 0.75f, 1};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(vals(r.out[0])[i * 4 + j], 2 * w[i] + w[j]) << i << "," << j;
  // align_corners 2x3 -> 3x5: coords along H: 0, .5, 1; along W: 0, .5, 1, 1.5, 2. value = 3h + w.
  r = run(resize("linear", "align_corners"), {data(iota_f32({1, 1, 2, 3})), std::nullopt, std::nullopt,
                                              In{i64({1, 1, 3, 5})}});
  ASSERT_EQ(r.out[0].shape(), (Shape{1, 1, 3, 5}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(vals(r.out[0])[i * 5 + j], 3 * (i * 0.5f) + j * 0.5f);
  // half_pixel downscale 1x1x1x4 -> 1x1x1x3 (sizes): scale .75, x = (o + .5) / .75 - .5 = 1/6, 1.5, 17/6.
  r = run(resize("linear", "half_pixel"), {data(Tensor::from<float>({1, 1, 1, 4}, {0, 10, 20, 30})), std::nullopt,
                                           std::nullopt, In{i64({1, 1, 1, 3})}});
  std::vector<float> got = vals(r.out[0]);
  EXPECT_NEAR(got[0], 10.f / 6, 1e-5);
  EXPECT_NEAR(got[1], 15.f, 1e-5);
  EXPECT_NEAR(got[2], 170.f / 6, 1e-4);
  // tf_crop_and_resize: roi [0.5, 1.5] on a 4-element axis, 3 outputs at x = 1.5, 3, 4.5 -> the last is
  // outside [0, 3] and takes extrapolation_value.
  Node crop = resize("linear", "tf_crop_and_resize");
  crop.attrs["extrapolation_value"] = af(-7);
  r = run(crop, {data(Tensor::from<float>({4}, {0, 10, 20, 30})), In{f32v({0.5f, 1.5f})}, std::nullopt, In{i64({3})}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{15, 30, -7}));
  // Cubic, output 5 of 6 -> 12 reads x = 2.25 (taps 1..4, t = .25). A = -0.75: weights -0.10546875,
  // 0.87890625, 0.26171875, -0.03515625 -> 22.96875; A = -0.5 reproduces the linear ramp: 22.5.
  const Tensor ramp = Tensor::from<float>({6}, {0, 10, 20, 30, 40, 50});
  r = run(resize("cubic", "half_pixel"), {data(ramp), std::nullopt, In{f32v({2})}});
  EXPECT_NEAR(vals(r.out[0])[5], 22.96875f, 1e-4);
  Node keys = resize("cubic", "half_pixel");
  keys.attrs["cubic_coeff_a"] = af(-0.5f);
  r = run(keys, {data(ramp), std::nullopt, In{f32v({2})}});
  EXPECT_NEAR(vals(r.out[0])[5], 22.5f, 1e-4);
  Node aa = resize("linear", "half_pixel");
  aa.attrs["antialias"] = ai(1);
  EXPECT_THROW(run(aa, {data(x), std::nullopt, In{f32v({1, 1, 2, 2})}}), Error);
}

TEST(RefTensorQuant, QuantizeRoundsTiesToEvenAndSaturates) {
  // scale 1, zp 0 (int8): 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 200 -> 127, -200 -> -128.
  auto r = run(node(OpType::QuantizeLinear), {data(f32v({2.5f, 3.5f, -2.5f, 200, -200, 0.49f})),
                                              In{Tensor::scalar_f32(1)}, In{Tensor::from<int8_t>({}, {0})}});
  EXPECT_EQ(r.out[0].dtype(), DType::i8);
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{2, 4, -2, 127, -128, 0}));
  // uint8 default (no zero point): saturates at 0 and 255; zp 10 shifts before clamping.
  r = run(node(OpType::QuantizeLinear), {data(f32v({-1, 300, 5})), In{Tensor::scalar_f32(2)}});
  EXPECT_EQ(r.out[0].dtype(), DType::u8);
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{0, 150, 2}));
  r = run(node(OpType::QuantizeLinear), {data(f32v({-21, 490, 5})), In{Tensor::scalar_f32(2)},
                                         In{Tensor::from<uint8_t>({}, {10})}});
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{0, 255, 12}));
}

TEST(RefTensorQuant, PerAxisDequantize) {
  // x [2, 3] int8, per-axis on axis 1: scales (1, .5, 2), zero points (0, 2, -1).
  Tensor x = Tensor::from<int8_t>({2, 3}, {1, 2, 3, -4, 5, -128});
  auto r = run(node(OpType::DequantizeLinear, {{"axis", ai(-1)}}),
               {data(x), In{f32v({1, 0.5f, 2})}, In{Tensor::from<int8_t>({3}, {0, 2, -1})}});
  EXPECT_EQ(r.out[0].dtype(), DType::f32);
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{1, 0, 8, -4, 1.5f, -254}));
  // int32 input (a bias), zero point absent.
  r = run(node(OpType::DequantizeLinear), {data(Tensor::from<int32_t>({2}, {100000, -3})), In{Tensor::scalar_f32(0.5f)}});
  EXPECT_EQ(vals(r.out[0]), (std::vector<float>{50000, -1.5f}));
  // Per-axis quantize on axis 1 of [1, 2, 2].
  r = run(node(OpType::QuantizeLinear), {data(Tensor::from<float>({1, 2, 2}, {1, 2, 1, 2})), In{f32v({1, 0.5f})},
                                         In{Tensor::from<int8_t>({2}, {0, 0})}});
  EXPECT_EQ(ivals(r.out[0]), (std::vector<int64_t>{1, 2, 2, 4}));
  EXPECT_THROW(run(node(OpType::DequantizeLinear), {data(x), In{f32v({1, 2})}}), Error);
}

}  // namespace
}  // namespace octet
