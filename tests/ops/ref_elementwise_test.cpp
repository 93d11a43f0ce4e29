// Reference kernels of the Unary, Binary and Reduce groups, softmax, layer/instance norm and TopK, checked
// against hand-computed values and direct formulas (infer_<Op> then ref_<Op>, as a plan does).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "test_util.h"

namespace octet {
namespace {

Attr ai(int64_t v) { Attr a; a.kind = Attr::Kind::Int; a.i = v; return a; }
Attr af(float v) { Attr a; a.kind = Attr::Kind::Float; a.f = v; return a; }
Attr as(std::string v) { Attr a; a.kind = Attr::Kind::String; a.s = std::move(v); return a; }

Node make(OpType op, std::map<std::string, Attr> attrs = {}) {
  Node n;
  n.op = op;
  n.name = std::string("t_") + op_name(op);
  n.attrs = std::move(attrs);
  return n;
}

// Runs infer + ref; every given input is "known at build" (TensorInfo::value set). nullptr = omitted input.
std::vector<Tensor> run(const Node& n, std::vector<const Tensor*> ins, int nout = 1) {
  std::vector<TensorInfo> infos(ins.size());
  InferCtx c{n, {}, std::vector<TensorInfo>(static_cast<size_t>(nout))};
  for (size_t i = 0; i < ins.size(); ++i) {
    if (ins[i]) infos[i] = TensorInfo{ins[i]->dtype(), ins[i]->shape(), ins[i], std::nullopt};
    c.in.push_back(ins[i] ? &infos[i] : nullptr);
  }
  infer_fn(n.op)(c);
  std::vector<Tensor> outs;
  for (auto& o : c.out) outs.emplace_back(o.dtype, o.shape);
  std::vector<Tensor*> ptrs;
  for (auto& o : outs) ptrs.push_back(&o);
  ref_fn(n.op)(OpArgs{n, ins, ptrs});
  return outs;
}
Tensor run1(const Node& n, std::vector<const Tensor*> ins) { return run(n, std::move(ins))[0]; }

template <typename T>
void expect_values(const Tensor& t, const Shape& s, const std::vector<T>& v, double tol = 0) {
  ASSERT_EQ(t.dtype(), dtype_of<T>());
  ASSERT_EQ(shape_str(t.shape()), shape_str(s));
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>) EXPECT_NEAR(t.data<T>()[i], v[i], tol) << "at " << i;
    else EXPECT_EQ(t.data<T>()[i], v[i]) << "at " << i;
  }
}

Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from<float>(s, v); }
Tensor i64(const Shape& s, std::vector<int64_t> v) { return Tensor::from<int64_t>(s, v); }
Tensor boolean(const Shape& s, std::vector<bool> v) {
  Tensor t(DType::boolean, s);
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}

// ---------------- Unary ----------------

TEST(RefElementwise, UnaryAgainstFormulas) {
  const std::vector<float> xs = {-3.5f, -1.f, -0.25f, 0.f, 0.5f, 1.f, 2.75f};
  const Tensor x = f32({7}, xs);
  struct Case { OpType op; std::function<double(double)> f; };
  const double kPi = 3.14159265358979323846;
  const std::vector<Case> cases = {
      {OpType::Relu, [](double v) { return v > 0 ? v : 0; }},
      {OpType::LeakyRelu, [](double v) { return v >= 0 ? v : 0.01 * v; }},
      {OpType::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {OpType::HardSigmoid, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); }},
      {OpType::HardSwish, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
      {OpType::Tanh, [](double v) { return std::tanh(v); }},
      {OpType::Gelu, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {OpType::Mish, [](double v) { return v * std::tanh(std::log(1 + std::exp(v))); }},
      {OpType::Elu, [](double v) { return v >= 0 ? v : std::exp(v) - 1; }},
      {OpType::Softplus, [](double v) { return std::log(1 + std::exp(v)); }},
      {OpType::Erf, [](double v) { return std::erf(v); }},
      {OpType::Exp, [](double v) { return std::exp(v); }},
      {OpType::Neg, [](double v) { return -v; }},
      {OpType::Abs, [](double v) { return std::fabs(v); }},
      {OpType::Floor, [](double v) { return std::floor(v); }},
      {OpType::Ceil, [](double v) { return std::ceil(v); }},
  };
  for (const Case& c : cases) {
    Tensor y = run1(make(c.op), {&x});
    std::vector<float> want;
    for (float v : xs) want.push_back(static_cast<float>(c.f(v)));
    SCOPED_TRACE(op_name(c.op));
    expect_values<float>(y, {7}, want, 1e-6);
  }
  // Hand values.
  expect_values<float>(run1(make(OpType::Gelu), {&x}), {7}, {-0.0008142f, -0.1586553f, -0.1003234f, 0, 0.3457312f, 0.8413447f, 2.7418057f}, 1e-6);
  Tensor g = run1(make(OpType::Gelu, {{"approximate", as("tanh")}}), {&x});
  EXPECT_NEAR(g.data<float>()[5], 0.841192f, 2e-6);
  EXPECT_NEAR(g.data<float>()[4], 0.5 * 0.5 * (1 + std::tanh(std::sqrt(2 / kPi) * (0.5 + 0.044715 * 0.125))), 1e-6);
  Tensor lr = run1(make(OpType::LeakyRelu, {{"alpha", af(0.5f)}}), {&x});
  EXPECT_FLOAT_EQ(lr.data<float>()[0], -1.75f);
  Tensor elu = run1(make(OpType::Elu, {{"alpha", af(2.f)}}), {&x});
  EXPECT_NEAR(elu.data<float>()[1], 2 * (std::exp(-1.0) - 1), 1e-6);

  const Tensor pos = f32({2, 2}, {0.25f, 1.f, 4.f, 9.f});
  expect_values<float>(run1(make(OpType::Sqrt), {&pos}), {2, 2}, {0.5f, 1, 2, 3}, 1e-7);
  expect_values<float>(run1(make(OpType::Reciprocal), {&pos}), {2, 2}, {4, 1, 0.25f, 1.f / 9}, 1e-7);
  expect_values<float>(run1(make(OpType::Log), {&pos}), {2, 2}, {-1.3862944f, 0, 1.3862944f, 2.1972246f}, 1e-6);
}

TEST(RefElementwise, UnaryIntAndDouble) {
  const Tensor xi = Tensor::from<int32_t>({4}, {-5, 0, 3, -1});
  expect_values<int32_t>(run1(make(OpType::Relu), {&xi}), {4}, {0, 0, 3, 0});
  expect_values<int32_t>(run1(make(OpType::Abs), {&xi}), {4}, {5, 0, 3, 1});
  expect_values<int32_t>(run1(make(OpType::Neg), {&xi}), {4}, {5, 0, -3, 1});
  const Tensor xd = Tensor::from<double>({2}, {0.5, -2.0});
  expect_values<double>(run1(make(OpType::Sigmoid), {&xd}), {2}, {1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(2.0))}, 1e-15);
  // Float-only ops refuse integers at inference, naming the node.
  try {
    run1(make(OpType::Exp), {&xi});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("node 't_Exp' (Exp)", 0), 0u) << e.what();
  }
}

TEST(RefElementwise, Clip) {
  const Tensor x = f32({5}, {-2, -0.5f, 0, 1.5f, 7});
  const Tensor lo = f32({}, {-1}), hi = f32({}, {1});
  expect_values<float>(run1(make(OpType::Clip), {&x, &lo, &hi}), {5}, {-1, -0.5f, 0, 1, 1});
  expect_values<float>(run1(make(OpType::Clip), {&x, nullptr, &hi}), {5}, {-2, -0.5f, 0, 1, 1});  // only max
  expect_values<float>(run1(make(OpType::Clip), {&x, &lo}), {5}, {-1, -0.5f, 0, 1.5f, 7});        // only min
  expect_values<float>(run1(make(OpType::Clip), {&x}), {5}, {-2, -0.5f, 0, 1.5f, 7});             // no bounds
  const Tensor xi = i64({4}, {-9, 2, 5, 100}), loi = i64({1}, {0}), hii = i64({1}, {10});
  expect_values<int64_t>(run1(make(OpType::Clip), {&xi, &loi, &hii}), {4}, {0, 2, 5, 10});
  const Tensor x8 = Tensor::from<int8_t>({3}, {-128, 5, 127}), hi8 = Tensor::from<int8_t>({}, {6});
  expect_values<int8_t>(run1(make(OpType::Clip), {&x8, nullptr, &hi8}), {3}, {-128, 5, 6});
  EXPECT_THROW(run1(make(OpType::Clip), {&x, &loi}), Error);  // bound of another dtype
}

TEST(RefElementwise, NotIdentityDropout) {
  const Tensor b = boolean({3}, {true, false, true});
  expect_values<bool>(run1(make(OpType::Not), {&b}), {3}, {false, true, false});
  const Tensor xi = i64({2, 2}, {1, -2, 3, 1LL << 40});
  expect_values<int64_t>(run1(make(OpType::Identity), {&xi}), {2, 2}, {1, -2, 3, 1LL << 40});
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor ratio = f32({}, {0.5f});
  const Tensor train_off = boolean({}, {false}), train_on = boolean({}, {true});
  auto outs = run(make(OpType::Dropout), {&x, &ratio, &train_off}, 2);
  expect_values<float>(outs[0], {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values<bool>(outs[1], {2, 3}, {true, true, true, true, true, true});
  expect_values<float>(run1(make(OpType::Dropout), {&x}), {2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(run(make(OpType::Dropout), {&x, &ratio, &train_on}, 2), Error);
}

// ---------------- Binary ----------------

TEST(RefElementwise, BroadcastOddShapes) {
  // 5x1x7 (op) 3x1 -> 5x3x7
  const Tensor a = test::random_f32({5, 1, 7}, 1), b = test::random_f32({3, 1}, 2, 0.5f, 2.f);
  struct Case { OpType op; std::function<float(float, float)> f; };
  const std::vector<Case> cases = {
      {OpType::Add, [](float x, float y) { return x + y; }},
      {OpType::Sub, [](float x, float y) { return x - y; }},
      {OpType::Mul, [](float x, float y) { return x * y; }},
      {OpType::Div, [](float x, float y) { return x / y; }},
      {OpType::Min, [](float x, float y) { return std::min(x, y); }},
      {OpType::Max, [](float x, float y) { return std::max(x, y); }},
      {OpType::Pow, [](float x, float y) { return std::pow(x, y); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(op_name(c.op));
    Tensor y = run1(make(c.op), {&a, &b});
    ASSERT_EQ(shape_str(y.shape()), "5x3x7");
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 7; ++k) {
          float want = c.f(a.data<float>()[i * 7 + k], b.data<float>()[j]);
          float got = y.data<float>()[(i * 3 + j) * 7 + k];
          if (std::isnan(want)) EXPECT_TRUE(std::isnan(got));
          else EXPECT_FLOAT_EQ(got, want);
        }
  }
  // scalar with tensor, and the reverse order
  const Tensor s = f32({}, {10});
  expect_values<float>(run1(make(OpType::Sub), {&s, &b}), {3, 1},
                       {10 - b.data<float>()[0], 10 - b.data<float>()[1], 10 - b.data<float>()[2]}, 1e-6);
  // shapes that do not broadcast
  const Tensor c = f32({4, 2}, std::vector<float>(8, 1));
  try {
    run1(make(OpType::Add), {&a, &c});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("node 't_Add' (Add)", 0), 0u) << e.what();
  }
}

TEST(RefElementwise, IntegerArithmetic) {
  const Tensor a = Tensor::from<int32_t>({4}, {-7, 7, -8, 9}), b = Tensor::from<int32_t>({4}, {2, -2, 3, 4});
  expect_values<int32_t>(run1(make(OpType::Div), {&a, &b}), {4}, {-3, -3, -2, 2});  // truncation toward zero
  expect_values<int32_t>(run1(make(OpType::Mul), {&a, &b}), {4}, {-14, -14, -24, 36});
  const Tensor c = i64({2, 1}, {100, -100}), d = i64({3}, {1, 2, 3});
  expect_values<int64_t>(run1(make(OpType::Add), {&c, &d}), {2, 3}, {101, 102, 103, -99, -98, -97});
  const Tensor z = Tensor::from<int32_t>({4}, {1, 0, 1, 1});
  EXPECT_THROW(run1(make(OpType::Div), {&a, &z}), Error);
  const Tensor dd = Tensor::from<double>({2}, {1.5, -3}), de = Tensor::from<double>({1}, {2});
  expect_values<double>(run1(make(OpType::Mul), {&dd, &de}), {2}, {3, -6});
  EXPECT_THROW(run1(make(OpType::Add), {&a, &c}), Error);  // mixed dtypes
}

TEST(RefElementwise, PowMixedTypes) {
  const Tensor base = f32({3}, {2, -3, 0.5f});
  const Tensor e64 = i64({3}, {3, 2, -1}), e32 = Tensor::from<int32_t>({1}, {2}), ef = f32({1}, {0.5f});
  expect_values<float>(run1(make(OpType::Pow), {&base, &e64}), {3}, {8, 9, 2});
  expect_values<float>(run1(make(OpType::Pow), {&base, &e32}), {3}, {4, 9, 0.25f});
  Tensor r = run1(make(OpType::Pow), {&base, &ef});
  EXPECT_FLOAT_EQ(r.data<float>()[0], std::sqrt(2.f));
  EXPECT_TRUE(std::isnan(r.data<float>()[1]));
  const Tensor ib = i64({2}, {3, -2});
  expect_values<int64_t>(run1(make(OpType::Pow), {&ib, &e32}), {2}, {9, 4});
}

TEST(RefElementwise, MinMaxVariadic) {
  const Tensor a = f32({2, 1}, {1, 5}), b = f32({3}, {0, 2, 9}), c = f32({}, {4});
  expect_values<float>(run1(make(OpType::Max), {&a, &b, &c}), {2, 3}, {4, 4, 9, 5, 5, 9});
  expect_values<float>(run1(make(OpType::Min), {&a, &b, &c}), {2, 3}, {0, 1, 1, 0, 2, 4});
  expect_values<float>(run1(make(OpType::Min), {&b}), {3}, {0, 2, 9});
  const Tensor n = f32({3}, {NAN, 1, 1});
  Tensor m = run1(make(OpType::Max), {&b, &n});
  EXPECT_TRUE(std::isnan(m.data<float>()[0]));
  EXPECT_EQ(m.data<float>()[2], 9);
}

TEST(RefElementwise, CompareAndLogic) {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = f32({3}, {2, 2, 7});
  expect_values<bool>(run1(make(OpType::Equal), {&a, &b}), {2, 3}, {false, true, false, false, false, false});
  expect_values<bool>(run1(make(OpType::Greater), {&a, &b}), {2, 3}, {false, false, false, true, true, false});
  expect_values<bool>(run1(make(OpType::Less), {&a, &b}), {2, 3}, {true, false, true, false, false, true});
  const Tensor ia = i64({3}, {1, 5, -3}), ib = i64({1}, {5});
  expect_values<bool>(run1(make(OpType::Equal), {&ia, &ib}), {3}, {false, true, false});
  const Tensor p = boolean({2, 2}, {true, true, false, false}), q = boolean({2}, {true, false});
  expect_values<bool>(run1(make(OpType::And), {&p, &q}), {2, 2}, {true, false, false, false});
  expect_values<bool>(run1(make(OpType::Or), {&p, &q}), {2, 2}, {true, true, true, false});
  expect_values<bool>(run1(make(OpType::Equal), {&p, &q}), {2, 2}, {true, false, false, true});
  EXPECT_THROW(run1(make(OpType::And), {&a, &b}), Error);
}

TEST(RefElementwise, AddFusedPostOp) {
  const Tensor a = f32({4}, {-3, -1, 1, 3}), b = f32({1}, {0.5f});
  Node n = make(OpType::Add);
  n.post.act = Activation::Relu;
  expect_values<float>(run1(n, {&a, &b}), {4}, {0, 0, 1.5f, 3.5f});
  n.post = PostOp{};
  n.post.act = Activation::Clip;
  n.post.alpha = -1;
  n.post.beta = 2;
  expect_values<float>(run1(n, {&a, &b}), {4}, {-1, -0.5f, 1.5f, 2});
}

// ---------------- Reduce ----------------

TEST(RefReduce, AxesKeepdims) {
  // x[i][j][k] = 12i + 4j + k over 2x3x4
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  const Tensor x = f32({2, 3, 4}, v);
  const Tensor last = i64({1}, {-1}), first_last = i64({2}, {0, -1}), mid = i64({1}, {1});
  expect_values<float>(run1(make(OpType::ReduceSum, {{"keepdims", ai(0)}}), {&x, &last}), {2, 3},
                       {6, 22, 38, 54, 70, 86});
  expect_values<float>(run1(make(OpType::ReduceSum), {&x, &last}), {2, 3, 1}, {6, 22, 38, 54, 70, 86});
  expect_values<float>(run1(make(OpType::ReduceMean), {&x, &first_last}), {1, 3, 1}, {7.5f, 11.5f, 15.5f});
  expect_values<float>(run1(make(OpType::ReduceMax, {{"keepdims", ai(0)}}), {&x, &mid}), {2, 4},
                       {8, 9, 10, 11, 20, 21, 22, 23});
  expect_values<float>(run1(make(OpType::ReduceMin), {&x, &mid}), {2, 1, 4}, {0, 1, 2, 3, 12, 13, 14, 15});
  // No axes: all of them.
  expect_values<float>(run1(make(OpType::ReduceMean, {{"keepdims", ai(0)}}), {&x}), {}, {11.5f});
  expect_values<float>(run1(make(OpType::ReduceMax), {&x}), {1, 1, 1}, {23});
  const Tensor empty = i64({0}, {});
  expect_values<float>(run1(make(OpType::ReduceSum), {&x, &empty}), {1, 1, 1}, {276});
  // noop_with_empty_axes: identity.
  Tensor same = run1(make(OpType::ReduceSum, {{"noop_with_empty_axes", ai(1)}}), {&x, &empty});
  expect_values<float>(same, {2, 3, 4}, v);
  // Errors name the node.
  const Tensor bad = i64({1}, {3}), twice = i64({2}, {1, -2});
  EXPECT_THROW(run1(make(OpType::ReduceSum), {&x, &bad}), Error);
  EXPECT_THROW(run1(make(OpType::ReduceSum), {&x, &twice}), Error);
}

TEST(RefReduce, IntegersAndPrecision) {
  const Tensor x = Tensor::from<int32_t>({2, 3}, {1, -5, 7, 2, 2, 3});
  const Tensor ax = i64({1}, {1});
  expect_values<int32_t>(run1(make(OpType::ReduceSum), {&x, &ax}), {2, 1}, {3, 7});
  expect_values<int32_t>(run1(make(OpType::ReduceMax, {{"keepdims", ai(0)}}), {&x, &ax}), {2}, {7, 3});
  expect_values<int32_t>(run1(make(OpType::ReduceMin, {{"keepdims", ai(0)}}), {&x, &ax}), {2}, {-5, 2});
  // double accumulation: 1e8 + many small values keeps the small values
  std::vector<float> v(1001, 1.f);
  v[0] = 1e8f;
  const Tensor big = f32({1001}, v);
  EXPECT_EQ(run1(make(OpType::ReduceSum), {&big}).data<float>()[0], 1e8f + 1000.f);
}

TEST(RefReduce, ArgMax) {
  const Tensor x = f32({2, 4}, {1, 7, 7, 0, 5, 5, -1, 2});
  expect_values<int64_t>(run1(make(OpType::ArgMax, {{"axis", ai(-1)}}), {&x}), {2, 1}, {1, 0});
  expect_values<int64_t>(run1(make(OpType::ArgMax, {{"axis", ai(1)}, {"select_last_index", ai(1)}}), {&x}),
                         {2, 1}, {2, 1});
  expect_values<int64_t>(run1(make(OpType::ArgMax, {{"keepdims", ai(0)}}), {&x}), {4}, {1, 0, 0, 1});
  const Tensor xi = i64({3, 1}, {4, 9, 9});
  expect_values<int64_t>(run1(make(OpType::ArgMax), {&xi}), {1, 1}, {1});
  EXPECT_THROW(run1(make(OpType::ArgMax, {{"axis", ai(2)}}), {&x}), Error);
}

// ---------------- TopK ----------------

TEST(RefTopK, TiesAndAxes) {
  const Tensor x = f32({5}, {3, 1, 3, 2, 3});
  const Tensor k2 = i64({1}, {2}), k3 = i64({1}, {3});
  auto o = run(make(OpType::TopK), {&x, &k2}, 2);
  expect_values<float>(o[0], {2}, {3, 3});
  expect_values<int64_t>(o[1], {2}, {0, 2});
  o = run(make(OpType::TopK, {{"largest", ai(0)}}), {&x, &k3}, 2);
  expect_values<float>(o[0], {3}, {1, 2, 3});
  expect_values<int64_t>(o[1], {3}, {1, 3, 0});
  // axis 0 of a 3x2 (negative axis -2)
  const Tensor m = f32({3, 2}, {1, 6, 5, 6, 3, 0});
  o = run(make(OpType::TopK, {{"axis", ai(-2)}}), {&m, &k2}, 2);
  expect_values<float>(o[0], {2, 2}, {5, 6, 3, 6});
  expect_values<int64_t>(o[1], {2, 2}, {1, 0, 2, 1});
  const Tensor k9 = i64({1}, {9});
  EXPECT_THROW(run(make(OpType::TopK), {&x, &k9}, 2), Error);
}

// ---------------- Softmax ----------------

TEST(RefSoftmax, AxesAndCoerce2d) {
  const Tensor x = test::random_f32({2, 3, 4}, 7, -3.f, 3.f);
  const float* p = x.data<float>();
  // axis 1 (middle): normalized over j for each (i, k)
  for (int64_t axis : {1, -2}) {
    Tensor y = run1(make(OpType::Softmax, {{"axis", ai(axis)}}), {&x});
    Tensor ly = run1(make(OpType::LogSoftmax, {{"axis", ai(axis)}}), {&x});
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) {
        double s = 0;
        for (int j = 0; j < 3; ++j) s += std::exp(static_cast<double>(p[i * 12 + j * 4 + k]));
        for (int j = 0; j < 3; ++j) {
          const int at = i * 12 + j * 4 + k;
          EXPECT_NEAR(y.data<float>()[at], std::exp(p[at]) / s, 1e-6);
          EXPECT_NEAR(ly.data<float>()[at], p[at] - std::log(s), 1e-5);
        }
      }
  }
  // default axis -1
  const Tensor r = f32({1, 3}, {1, 2, 3});
  const double e = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_values<float>(run1(make(OpType::Softmax), {&r}), {1, 3},
                       {float(std::exp(1.0) / e), float(std::exp(2.0) / e), float(std::exp(3.0) / e)}, 1e-7);
  // coerce_2d (opset < 13): axis 1 of 2x3x4 -> [2, 12], softmax over all 12 values per batch
  Tensor c = run1(make(OpType::Softmax, {{"axis", ai(1)}, {"coerce_2d", ai(1)}}), {&x});
  Tensor lc = run1(make(OpType::LogSoftmax, {{"axis", ai(1)}, {"coerce_2d", ai(1)}}), {&x});
  for (int i = 0; i < 2; ++i) {
    double s = 0;
    for (int j = 0; j < 12; ++j) s += std::exp(static_cast<double>(p[i * 12 + j]));
    for (int j = 0; j < 12; ++j) {
      EXPECT_NEAR(c.data<float>()[i * 12 + j], std::exp(p[i * 12 + j]) / s, 1e-6);
      EXPECT_NEAR(lc.data<float>()[i * 12 + j], p[i * 12 + j] - std::log(s), 1e-5);
    }
  }
  // coerce_2d without axis: the old default axis 1
  Tensor cd = run1(make(OpType::Softmax, {{"coerce_2d", ai(1)}}), {&x});
  EXPECT_EQ(test::max_abs_error(cd, c), 0);
  // large inputs must not overflow
  const Tensor big = f32({2}, {1000, 1000});
  expect_values<float>(run1(make(OpType::Softmax), {&big}), {2}, {0.5f, 0.5f});
  EXPECT_THROW(run1(make(OpType::Softmax, {{"axis", ai(3)}}), {&x}), Error);
}

// ---------------- Normalization ----------------

TEST(RefNorm, LayerNormalizationDirectFormula) {
  const Tensor x = test::random_f32({2, 3, 5}, 11, -2.f, 3.f);
  const Tensor scale = test::random_f32({3, 5}, 12), bias = test::random_f32({5}, 13);  // B broadcasts
  const float eps = 1e-3f;
  auto o = run(make(OpType::LayerNormalization, {{"axis", ai(-2)}, {"epsilon", af(eps)}}), {&x, &scale, &bias}, 3);
  ASSERT_EQ(shape_str(o[0].shape()), "2x3x5");
  ASSERT_EQ(shape_str(o[1].shape()), "2x1x1");
  ASSERT_EQ(shape_str(o[2].shape()), "2x1x1");
  for (int b = 0; b < 2; ++b) {
    const float* p = x.data<float>() + b * 15;
    double mean = 0, var = 0;
    for (int i = 0; i < 15; ++i) mean += p[i];
    mean /= 15;
    for (int i = 0; i < 15; ++i) var += (p[i] - mean) * (p[i] - mean);
    var /= 15;
    EXPECT_NEAR(o[1].data<float>()[b], mean, 1e-6);
    EXPECT_NEAR(o[2].data<float>()[b], 1 / std::sqrt(var + eps), 1e-5);
    for (int i = 0; i < 15; ++i) {
      double want = (p[i] - mean) / std::sqrt(var + eps) * scale.data<float>()[i] + bias.data<float>()[i % 5];
      EXPECT_NEAR(o[0].data<float>()[b * 15 + i], want, 1e-5);
    }
  }
  // default axis -1, no B; a hand case: [1, 2, 3] -> mean 2, var 2/3
  const Tensor h = f32({1, 3}, {1, 2, 3}), ones = f32({3}, {1, 1, 1});
  const double inv = 1 / std::sqrt(2.0 / 3 + 1e-5);
  expect_values<float>(run1(make(OpType::LayerNormalization), {&h, &ones}), {1, 3},
                       {float(-inv), 0, float(inv)}, 1e-6);
  const Tensor bad_scale = f32({4}, {1, 1, 1, 1});
  EXPECT_THROW(run1(make(OpType::LayerNormalization), {&h, &bad_scale}), Error);
}

TEST(RefNorm, InstanceNormalization) {
  const Tensor x = test::random_f32({2, 3, 2, 3}, 21, -1.f, 4.f);
  const Tensor scale = f32({3}, {1, 2, -0.5f}), bias = f32({3}, {0, 1, 2});
  Tensor y = run1(make(OpType::InstanceNormalization), {&x, &scale, &bias});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c) {
      const float* p = x.data<float>() + (n * 3 + c) * 6;
      double mean = 0, var = 0;
      for (int i = 0; i < 6; ++i) mean += p[i];
      mean /= 6;
      for (int i = 0; i < 6; ++i) var += (p[i] - mean) * (p[i] - mean);
      var /= 6;
      for (int i = 0; i < 6; ++i) {
        double want = scale.data<float>()[c] * (p[i] - mean) / std::sqrt(var + 1e-5) + bias.data<float>()[c];
        EXPECT_NEAR(y.data<float>()[(n * 3 + c) * 6 + i], want, 1e-5);
      }
    }
  const Tensor bad = f32({2}, {1, 1});
  EXPECT_THROW(run1(make(OpType::InstanceNormalization), {&x, &bad, &bias}), Error);
}

}  // namespace
}  // namespace octet
