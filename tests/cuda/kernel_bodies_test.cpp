// The cuda backend's kernel bodies (src/backends/cuda/kernels.h, kernels_fp32.h) run on the CPU through
// run_on_host — the same per-element functions, over the same indices, that the __global__ wrappers launch —
// against the reference kernels: INT8 byte for byte, FP32 within 1e-6 of max |ref| (the global average sums
// in another order). Odd shapes, grouped and depthwise convolutions, every epilogue (residual, clamp, the
// non-linear activations), saturation and ties. These need no GPU and no CUDA toolkit; the GPU twin of this
// file (tests/cuda_gpu/) launches the real kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cuda/args.h"
#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "quant/quant.h"
#include "ref_op_util.h"
#include "test_util.h"

namespace octet {
namespace {

using namespace cuda;

using test::make_node;
using test::run_ref;

// An output tensor like `ref`, filled with a sentinel byte so that an element the body never writes shows.
Tensor like(const Tensor& ref) {
  Tensor y(ref.dtype(), ref.shape());
  std::memset(y.raw(), 0x5a, y.nbytes());
  return y;
}

Tensor random_i8(const Shape& s, uint32_t seed, double sat = 0.05) {
  Tensor t(DType::i8, s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-128, 127);
  std::uniform_real_distribution<double> p(0, 1);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double r = p(rng);
    t.data<int8_t>()[i] = static_cast<int8_t>(r < sat / 2 ? -128 : r < sat ? 127 : u(rng));
  }
  return t;
}
Tensor random_w8(const Shape& s, uint32_t seed) {  // weights: narrow range [-127, 127]
  Tensor t(DType::i8, s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-127, 127);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(u(rng));
  return t;
}
std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

void expect_bytes_equal(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  ASSERT_EQ(got.nbytes(), ref.nbytes()) << what;
  const auto* g = static_cast<const uint8_t*>(got.raw());
  const auto* r = static_cast<const uint8_t*>(ref.raw());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < ref.nbytes(); ++i)
    if (g[i] != r[i]) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.nbytes() << " bytes differ, first at byte " << first;
}

void expect_close(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  double mx = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) mx = std::max(mx, std::fabs(double{ref.data<float>()[i]}));
  EXPECT_LE(test::max_abs_error(got, ref), 1e-6 * (mx + 1e-30)) << what;
}

// ---- QConv ----

struct ConvCase {
  std::string name;
  Shape x;  // NHWC
  int64_t K, group, kh, kw;
  std::vector<int64_t> strides, pads, dilations;
  bool bias, residual;
  quant::Act act;
  float lo, hi;
  int64_t xzp = 0, yzp = 0;  // x_zero_point, out_zero_point (quant.h)
};

void check_qconv(const ConvCase& c, uint32_t seed) {
  const int64_t C = c.x[3], Cg = C / c.group;
  Tensor x = random_i8(c.x, seed);
  Tensor w = random_w8({c.K, Cg, c.kh, c.kw}, seed + 1);
  Tensor b = test::random_f32({c.K}, seed + 2, -3000.f, 3000.f);
  std::map<std::string, Attr> attrs = {{"strides", attr_ints(c.strides)}, {"pads", attr_ints(c.pads)},
                                       {"dilations", attr_ints(c.dilations)}, {"group", attr_i(c.group)}};
  if (c.act == quant::Act::None) {
    // Multipliers that put part of the outputs past the int8 range (saturation) and many values on .5 ties.
    attrs["multiplier"] = attr_floats(random_floats(static_cast<size_t>(c.K), seed + 3, 0.001f, 0.05f));
    attrs["act_lo"] = attr_f(c.lo);
    attrs["act_hi"] = attr_f(c.hi);
    attrs["residual_scale"] = attr_f(0.73f);
  } else {
    attrs["multiplier"] = attr_floats(random_floats(static_cast<size_t>(c.K), seed + 3, 1e-5f, 4e-4f));
    attrs["act"] = attr_i(static_cast<int64_t>(c.act));
    attrs["act_alpha"] = attr_f(0.1f);
    attrs["out_scale"] = attr_f(0.021f);
    if (c.residual) attrs["residual_scale"] = attr_f(0.61f);  // added after the activation
  }
  if (c.xzp != 0) attrs["x_zero_point"] = attr_i(c.xzp);
  if (c.yzp != 0) attrs["out_zero_point"] = attr_i(c.yzp);
  Node n = make_node(OpType::QConv, attrs);
  // The residual has the output's shape: take it from a run without one.
  Tensor y0 = run_ref(n, {&x, &w, c.bias ? &b : nullptr});
  Tensor r = random_i8(y0.shape(), seed + 4);
  const std::vector<const Tensor*> in = {&x, &w, c.bias ? &b : nullptr, c.residual ? &r : nullptr};
  Tensor ref = c.residual ? run_ref(n, in) : y0;

  QConvArgs a = qconv_args(n, x.shape(), w.shape());
  const std::vector<float> mult = n.attr_floats("multiplier");
  Tensor y = like(ref);
  a.x = x.data<int8_t>();
  a.w = w.data<int8_t>();
  a.bias = c.bias ? b.data<float>() : nullptr;
  a.residual = c.residual ? r.data<int8_t>() : nullptr;
  a.multiplier = mult.data();
  a.y = y.data<int8_t>();
  ASSERT_EQ(a.count(), ref.numel());
  run_on_host<QConvBody>(a);
  expect_bytes_equal(y, ref, "QConv " + c.name);
}

TEST(CudaKernelBodies, QConvMatchesRef) {
  const float inf = quant::kNoHi;
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1", {2, 7, 5, 6}, 9, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, quant::Act::None, -inf, inf},
      {"3x3 s2 asym pads relu", {1, 9, 7, 5}, 7, 1, 3, 3, {2, 2}, {1, 0, 2, 1}, {1, 1}, true, false,
       quant::Act::None, 0.f, inf},
      {"residual clip", {2, 5, 6, 4}, 5, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true, quant::Act::None, 0.f,
       80.f},
      {"grouped", {1, 6, 5, 6}, 9, 3, 3, 2, {1, 2}, {0, 1, 1, 0}, {1, 1}, true, false, quant::Act::None, -inf, inf},
      {"depthwise dilated", {2, 9, 8, 5}, 5, 5, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}, true, true, quant::Act::None,
       0.f, inf},
      {"depthwise s2", {1, 7, 9, 7}, 7, 7, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, false, false, quant::Act::None, -inf,
       inf},
      {"1x1 no bias", {3, 3, 4, 13}, 11, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, false, false, quant::Act::None,
       -inf, inf},
      {"silu", {1, 5, 5, 6}, 7, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, quant::Act::Silu, 0, 0},
      {"sigmoid", {1, 4, 6, 5}, 6, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, false, quant::Act::Sigmoid, 0, 0},
      {"hardswish depthwise", {2, 5, 4, 6}, 6, 6, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false,
       quant::Act::HardSwish, 0, 0},
      {"leakyrelu", {1, 5, 7, 3}, 5, 1, 3, 3, {2, 1}, {1, 1, 1, 1}, {1, 1}, true, false, quant::Act::LeakyRelu, 0,
       0},
      {"silu then residual s2", {2, 9, 7, 13}, 11, 1, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true, quant::Act::Silu,
       0, 0},
      {"hardswish 1x1 then residual", {1, 5, 6, 19}, 7, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, false, true,
       quant::Act::HardSwish, 0, 0},
      // Zero points (asymmetric SiLU outputs): padded taps add nothing, the output's zero point inside the rounding.
      {"x zero point depthwise s2 silu", {1, 9, 7, 11}, 11, 11, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, false,
       quant::Act::Silu, 0, 0, -91, -87},
      {"x zero point grouped asym pads", {1, 6, 5, 6}, 9, 3, 3, 2, {1, 2}, {0, 1, 1, 0}, {1, 1}, true, false,
       quant::Act::None, -inf, inf, 127},
      {"x zero point 1x1 residual", {2, 5, 6, 13}, 11, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true,
       quant::Act::None, 0.f, 80.f, -128},
  };
  uint32_t seed = 100;
  for (const ConvCase& c : cases) check_qconv(c, seed += 10);
}

// ---- QLinear ----

TEST(CudaKernelBodies, QLinearMatchesRef) {
  uint32_t seed = 300;
  for (quant::Act act : {quant::Act::None, quant::Act::Silu, quant::Act::LeakyRelu}) {
    for (bool bias : {true, false}) {
      seed += 7;
      Tensor x = random_i8({3, 5, 37}, seed);
      Tensor w = random_w8({11, 37}, seed + 1);
      Tensor b = test::random_f32({11}, seed + 2, -2000.f, 2000.f);
      std::map<std::string, Attr> attrs;
      if (act == quant::Act::None) {
        attrs["multiplier"] = attr_floats(random_floats(11, seed + 3, 0.001f, 0.03f));
        attrs["act_lo"] = attr_f(0.f);
      } else {
        attrs["multiplier"] = attr_floats(random_floats(11, seed + 3, 1e-5f, 4e-4f));
        attrs["act"] = attr_i(static_cast<int64_t>(act));
        attrs["act_alpha"] = attr_f(0.2f);
        attrs["out_scale"] = attr_f(0.03f);
      }
      Node n = make_node(OpType::QLinear, attrs);
      Tensor ref = run_ref(n, {&x, &w, bias ? &b : nullptr});
      QLinearArgs a = qlinear_args(n, x.shape(), w.shape());
      const std::vector<float> mult = n.attr_floats("multiplier");
      Tensor y = like(ref);
      a.x = x.data<int8_t>();
      a.w = w.data<int8_t>();
      a.bias = bias ? b.data<float>() : nullptr;
      a.multiplier = mult.data();
      a.y = y.data<int8_t>();
      run_on_host<QLinearBody>(a);
      expect_bytes_equal(y, ref, "QLinear act " + std::to_string(static_cast<int>(act)));
    }
  }
}

// ---- element-wise INT8 ----

TEST(CudaKernelBodies, QAddMatchesRef) {
  Tensor pa = random_i8({2, 3, 5, 7}, 11), pb = random_i8({2, 3, 5, 7}, 12);
  for (float lo : {quant::kNoLo, 0.f}) {
    Node n = make_node(OpType::QAdd, {{"scale_a", attr_f(0.77f)}, {"scale_b", attr_f(1.31f)}, {"act_lo", attr_f(lo)}});
    Tensor ref = run_ref(n, {&pa, &pb});
    QAddArgs a = qadd_args(n, ref.shape());
    Tensor y = like(ref);
    a.a = pa.data<int8_t>();
    a.b = pb.data<int8_t>();
    a.y = y.data<int8_t>();
    run_on_host<QAddBody>(a);
    expect_bytes_equal(y, ref, "QAdd");
  }
}

TEST(CudaKernelBodies, QMulGateMatchesRef) {
  Tensor x = random_i8({2, 3, 5, 7}, 21);
  for (const Shape& gs : {Shape{2, 7, 1, 1}, Shape{7}, Shape{2, 7}}) {
    Tensor g = test::random_f32(gs, 22, 0.f, 1.f);
    Node n = make_node(OpType::QMulGate, {{"scale", attr_f(1.7f)}});
    if (gs.size() == 2) {  // with zero points (an SE block on a SiLU output)
      n.attrs["x_zero_point"] = attr_i(-93);
      n.attrs["out_zero_point"] = attr_i(-101);
    }
    Tensor ref = run_ref(n, {&x, &g});
    QMulGateArgs a = qmulgate_args(n, x.shape(), g.shape());
    Tensor y = like(ref);
    a.x = x.data<int8_t>();
    a.g = g.data<float>();
    a.y = y.data<int8_t>();
    run_on_host<QMulGateBody>(a);
    expect_bytes_equal(y, ref, "QMulGate gate of " + std::to_string(g.numel()));
  }
}

TEST(CudaKernelBodies, QPoolsMatchRef) {
  Tensor x = random_i8({2, 9, 7, 5}, 31);
  struct P {
    std::string name;
    std::map<std::string, Attr> attrs;
  };
  const std::vector<P> pools = {
      {"3x3 s2 pad", {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2x3 asym", {{"kernel", attr_ints({2, 3})}, {"strides", attr_ints({1, 2})}, {"pads", attr_ints({0, 1, 1, 0})}}},
      {"3x3 include pad",
       {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})},
        {"count_include_pad", attr_i(1)}}},
      {"global", {{"global", attr_i(1)}}},
      {"global zero point", {{"global", attr_i(1)}, {"x_zero_point", attr_i(-97)}}},
      {"3x3 include pad zero point",
       {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})},
        {"count_include_pad", attr_i(1)}, {"x_zero_point", attr_i(-60)}}},
  };
  for (const P& p : pools) {
    for (OpType op : {OpType::QMaxPool, OpType::QAvgPool}) {
      if (op == OpType::QMaxPool && (p.attrs.count("global") || p.attrs.count("x_zero_point")))
        continue;  // QMaxPool has no global form and no zero point
      std::map<std::string, Attr> attrs = p.attrs;
      if (op == OpType::QAvgPool) attrs["multiplier"] = attr_f(0.87f);
      Node n = make_node(op, attrs);
      Tensor ref = run_ref(n, {&x});
      QPoolArgs a = qpool_args(n, x.shape());
      Tensor y = like(ref);
      a.x = x.data<int8_t>();
      a.y = y.data<int8_t>();
      ASSERT_EQ(a.count(), ref.numel()) << p.name;
      if (op == OpType::QMaxPool) run_on_host<QMaxPoolBody>(a);
      else run_on_host<QAvgPoolBody>(a);
      expect_bytes_equal(y, ref, std::string(op_name(op)) + " " + p.name);
    }
  }
}

TEST(CudaKernelBodies, QConcatMatchesRef) {
  for (int64_t axis : {3, 1, -1}) {
    std::vector<Tensor> xs;
    for (int i = 0; i < 3; ++i) {
      Shape s = {2, 3, 5, 4};
      s[static_cast<size_t>(axis < 0 ? 3 : axis)] = 2 + i * 3;
      xs.push_back(random_i8(s, 40 + static_cast<uint32_t>(i)));
    }
    Node n = make_node(OpType::QConcat, {{"axis", attr_i(axis)}, {"scales", attr_floats({1.f, 0.61f, 1.9f})}});
    std::vector<const Tensor*> in;
    std::vector<Shape> shapes;
    for (const Tensor& t : xs) {
      in.push_back(&t);
      shapes.push_back(t.shape());
    }
    Tensor ref = run_ref(n, in);
    Tensor y = like(ref);
    std::vector<QConcatPartArgs> parts = qconcat_args(n, shapes, ref.shape());
    ASSERT_EQ(parts.size(), xs.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      parts[i].x = xs[i].data<int8_t>();
      parts[i].y = y.data<int8_t>();
      run_on_host<QConcatPartBody>(parts[i]);
    }
    expect_bytes_equal(y, ref, "QConcat axis " + std::to_string(axis));
  }
}

TEST(CudaKernelBodies, QuantizeDequantizeMatchRef) {
  // Values on .5 ties of the scale, past the int8 range, and ordinary ones.
  Tensor x = test::random_f32({2, 5, 3, 7}, 51, -4.f, 4.f);
  const float scale = 0.025f;
  for (int64_t i = 0; i < x.numel(); i += 5) x.data<float>()[i] = (static_cast<float>(i % 41) - 20.f + 0.5f) * scale;
  for (bool to_nhwc : {false, true}) {
    Node q = make_node(OpType::Quantize, {{"scale", attr_f(scale)}, {"to_nhwc", attr_i(to_nhwc)}});
    Tensor ref = run_ref(q, {&x});
    QuantizeArgs a = quantize_args(q, x.shape());
    Tensor y = like(ref);
    a.x = x.data<float>();
    a.y = y.data<int8_t>();
    run_on_host<QuantizeBody>(a);
    expect_bytes_equal(y, ref, to_nhwc ? "Quantize to_nhwc" : "Quantize");

    for (int64_t zp : {0, -93}) {
      Node d = make_node(OpType::Dequantize, {{"scale", attr_f(0.0371f)}, {"to_nchw", attr_i(to_nhwc)}});
      if (zp != 0) d.attrs["zero_point"] = attr_i(zp);
      Tensor dref = run_ref(d, {&ref});
      DequantizeArgs da = dequantize_args(d, ref.shape());
      Tensor dy = like(dref);
      da.x = ref.data<int8_t>();
      da.y = dy.data<float>();
      run_on_host<DequantizeBody>(da);
      expect_bytes_equal(dy, dref, std::string(to_nhwc ? "Dequantize to_nchw" : "Dequantize") + " zp " + std::to_string(zp));
      if (zp != 0) {
        EXPECT_EQ(dref.data<float>()[0], static_cast<float>(ref.data<int8_t>()[0] - zp) * 0.0371f);
      }
    }
  }
}

// ---- FP32 and layout ----

TEST(CudaKernelBodies, LayoutChangesMatchRef) {
  Tensor xf = test::random_f32({2, 5, 3, 7}, 61);
  Tensor xi = random_i8({2, 5, 3, 7}, 62);
  for (const Tensor* x : {&xf, &xi})
    for (OpType op : {OpType::ToNhwc, OpType::ToNchw}) {
      Node n = make_node(op);
      Tensor ref = run_ref(n, {x});
      TransposeArgs a = layout_args(n, x->shape());
      Tensor y = like(ref);
      a.x = x->raw();
      a.y = y.raw();
      a.elem_bytes = static_cast<int>(dtype_size(x->dtype()));
      run_on_host<TransposeBody>(a);
      expect_bytes_equal(y, ref, std::string(op_name(op)) + " " + dtype_name(x->dtype()));
    }
}

TEST(CudaKernelBodies, BinaryAndReluMatchRef) {
  Tensor a4 = test::random_f32({2, 3, 5, 7}, 71);
  const std::vector<Tensor> bs = {test::random_f32({2, 3, 5, 7}, 72, 0.5f, 2.f),
                                  test::random_f32({3, 1, 1}, 73, 0.5f, 2.f), test::random_f32({7}, 74, 0.5f, 2.f),
                                  test::random_f32({2, 1, 5, 1}, 75, 0.5f, 2.f)};
  for (OpType op : {OpType::Add, OpType::Sub, OpType::Mul, OpType::Div})
    for (const Tensor& b : bs)
      for (bool swap : {false, true}) {
        const Tensor& l = swap ? b : a4;
        const Tensor& r = swap ? a4 : b;
        Node n = make_node(op);
        Tensor ref = run_ref(n, {&l, &r});
        BinaryArgs a = binary_args(n, l.shape(), r.shape(), ref.shape());
        Tensor y = like(ref);
        a.a = l.data<float>();
        a.b = r.data<float>();
        a.y = y.data<float>();
        run_on_host<BinaryBody>(a);
        expect_close(y, ref, std::string(op_name(op)) + " with " + std::to_string(b.rank()) + "-d operand");
      }
  Node relu = make_node(OpType::Relu);
  Tensor ref = run_ref(relu, {&a4});
  BinaryArgs a = binary_args(relu, a4.shape(), a4.shape(), ref.shape());
  Tensor y = like(ref);
  a.a = a.b = a4.data<float>();
  a.y = y.data<float>();
  run_on_host<BinaryBody>(a);
  expect_close(y, ref, "Relu");
}

TEST(CudaKernelBodies, ConcatAndGlobalPoolMatchRef) {
  std::vector<Tensor> xs = {test::random_f32({2, 3, 5, 4}, 81), test::random_f32({2, 6, 5, 4}, 82)};
  Node n = make_node(OpType::Concat, {{"axis", attr_i(1)}});
  Tensor ref = run_ref(n, {&xs[0], &xs[1]});
  Tensor y = like(ref);
  for (size_t i = 0; i < xs.size(); ++i) {
    ConcatPartArgs a = concat_part_args(n, {xs[0].shape(), xs[1].shape()}, i, ref.shape());
    a.x = xs[i].data<float>();
    a.y = y.data<float>();
    run_on_host<ConcatPartBody>(a);
  }
  expect_close(y, ref, "Concat");

  Tensor x = test::random_f32({3, 5, 7, 6}, 83);  // NHWC
  for (const char* mode : {"avg", "max"}) {
    Node p = make_node(OpType::PoolNhwc, {{"mode", attr_s(mode)}, {"global", attr_i(1)}});
    Tensor pref = run_ref(p, {&x});
    GlobalPoolArgs a = global_pool_args(p, x.shape());
    Tensor py = like(pref);
    a.x = x.data<float>();
    a.y = py.data<float>();
    run_on_host<GlobalPoolBody>(a);
    expect_close(py, pref, std::string("global PoolNhwc ") + mode);
  }
}

TEST(CudaKernelBodies, BatchNormalizationEqualsRefBitForBit) {
  Tensor x = test::random_f32({2, 5, 3, 7}, 91, -3.f, 3.f);
  Tensor scale = test::random_f32({5}, 92, 0.5f, 2.f), shift = test::random_f32({5}, 93);
  Tensor mean = test::random_f32({5}, 94), var = test::random_f32({5}, 95, 0.01f, 3.f);
  Node n = make_node(OpType::BatchNormalization, {{"epsilon", attr_f(1e-3f)}});
  Tensor ref = run_ref(n, {&x, &scale, &shift, &mean, &var});
  BatchNormArgs a = batchnorm_args(n, x.shape());
  Tensor y = like(ref);
  a.x = x.data<float>(), a.scale = scale.data<float>(), a.shift = shift.data<float>();
  a.mean = mean.data<float>(), a.var = var.data<float>(), a.y = y.data<float>();
  run_on_host<BatchNormBody>(a);
  expect_bytes_equal(y, ref, "BatchNormalization");
}

// ---- FP32 compute ops (a whole FP32 forward on the device) ----

TEST(CudaKernelBodies, ConvNhwcF32MatchesRef) {
  struct C {
    Shape x;
    int64_t K, group, kh, kw;
    std::vector<int64_t> strides, pads, dilations;
    Activation act;
    bool bias, residual;
  };
  const std::vector<C> cases = {
      {{2, 7, 5, 3}, 5, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, Activation::Relu, true, false},
      {{1, 9, 11, 6}, 4, 2, 3, 2, {2, 1}, {0, 1, 2, 0}, {1, 2}, Activation::None, false, true},
      {{3, 6, 6, 8}, 8, 8, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, Activation::Clip, true, true},   // depthwise
      {{2, 5, 5, 4}, 3, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, Activation::Silu, true, false},
      {{1, 4, 7, 5}, 7, 1, 2, 3, {1, 2}, {1, 0, 0, 1}, {2, 1}, Activation::HardSwish, false, false},
      {{2, 3, 4, 2}, 2, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, Activation::LeakyRelu, true, true},
      {{1, 5, 5, 3}, 4, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, Activation::Sigmoid, true, false}};
  uint32_t seed = 300;
  for (const C& c : cases) {
    Tensor x = test::random_f32(c.x, seed++);
    Tensor w = test::random_f32({c.K, c.x[3] / c.group, c.kh, c.kw}, seed++);
    Tensor b = test::random_f32({c.K}, seed++);
    Node n = make_node(OpType::ConvNhwc, {{"strides", attr_ints(c.strides)}, {"pads", attr_ints(c.pads)},
                                          {"dilations", attr_ints(c.dilations)}, {"group", attr_i(c.group)}});
    n.post.act = c.act;
    n.post.alpha = c.act == Activation::Clip ? -0.5f : 0.1f;
    n.post.beta = 1.5f;
    Tensor y0 = run_ref(n, {&x, &w, c.bias ? &b : nullptr});
    Tensor r = test::random_f32(y0.shape(), seed++);
    if (c.residual) n.post.residual_input = 3;
    Tensor ref = c.residual ? run_ref(n, {&x, &w, c.bias ? &b : nullptr, &r}) : y0;
    ConvF32Args a = conv_f32_args(n, x.shape(), w.shape());
    Tensor y = like(ref);
    a.x = x.data<float>(), a.w = w.data<float>(), a.bias = c.bias ? b.data<float>() : nullptr;
    a.residual = c.residual ? r.data<float>() : nullptr, a.y = y.data<float>();
    ASSERT_EQ(a.count(), ref.numel());
    run_on_host<ConvF32Body>(a);
    expect_close(y, ref, "ConvNhwc case " + std::to_string(seed));
  }
}

TEST(CudaKernelBodies, WindowedPoolF32MatchesRef) {
  Tensor x = test::random_f32({2, 7, 9, 3}, 400);  // NHWC
  for (const char* mode : {"max", "avg"})
    for (int64_t include_pad : {0, 1})
      for (const auto& [k, s, pads] : std::vector<std::tuple<std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>>>{
               {{3, 3}, {2, 2}, {1, 1, 1, 1}}, {{2, 3}, {1, 2}, {0, 1, 1, 0}}, {{3, 2}, {3, 1}, {0, 0, 0, 0}}}) {
        Node p = make_node(OpType::PoolNhwc, {{"mode", attr_s(mode)}, {"kernel", attr_ints(k)}, {"strides", attr_ints(s)},
                                              {"pads", attr_ints(pads)}, {"count_include_pad", attr_i(include_pad)}});
        Tensor ref = run_ref(p, {&x});
        PoolF32Args a = pool_f32_args(p, x.shape());
        Tensor y = like(ref);
        a.x = x.data<float>(), a.y = y.data<float>();
        ASSERT_EQ(a.count(), ref.numel());
        run_on_host<PoolF32Body>(a);
        expect_close(y, ref, std::string("PoolNhwc ") + mode + " include_pad " + std::to_string(include_pad));
      }
}

TEST(CudaKernelBodies, MatMulAndGemmF32MatchRef) {
  // MatMul with broadcast batch dims.
  for (const auto& [as, bs] : std::vector<std::pair<Shape, Shape>>{
           {{3, 5}, {5, 7}}, {{2, 3, 4, 5}, {5, 6}}, {{4, 1, 3, 5}, {1, 2, 5, 3}}, {{7, 3}, {2, 3, 4}}}) {
    Tensor A = test::random_f32(as, 500), B = test::random_f32(bs, 501);
    Node n = make_node(OpType::MatMul, {});
    Tensor ref = run_ref(n, {&A, &B});
    MatMulF32Args a = matmul_f32_args(n, as, bs);
    Tensor y = like(ref);
    a.a = A.data<float>(), a.b = B.data<float>(), a.y = y.data<float>();
    ASSERT_EQ(a.count(), ref.numel());
    run_on_host<MatMulF32Body>(a);
    expect_close(y, ref, "MatMul");
  }
  // Gemm: transpositions, alpha/beta, C of every broadcast form, a fused activation.
  const int64_t M = 5, K = 7, N = 4;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& cs : std::vector<Shape>{{}, {N}, {1}, {M, N}, {M, 1}, {1, N}}) {
        Tensor A = test::random_f32(ta ? Shape{K, M} : Shape{M, K}, 510), B = test::random_f32(tb ? Shape{N, K} : Shape{K, N}, 511);
        Tensor Cm = test::random_f32(cs.empty() ? Shape{1} : cs, 512);
        Node n = make_node(OpType::Gemm, {{"transA", attr_i(ta)}, {"transB", attr_i(tb)}, {"alpha", attr_f(0.7f)},
                                          {"beta", attr_f(1.3f)}});
        n.post.act = Activation::Relu;
        Tensor ref = run_ref(n, {&A, &B, cs.empty() ? nullptr : &Cm});
        const Shape cshape = Cm.shape();
        MatMulF32Args a = gemm_f32_args(n, A.shape(), B.shape(), cs.empty() ? nullptr : &cshape);
        Tensor y = like(ref);
        a.a = A.data<float>(), a.b = B.data<float>(), a.c = cs.empty() ? nullptr : Cm.data<float>(), a.y = y.data<float>();
        ASSERT_EQ(a.count(), ref.numel());
        run_on_host<MatMulF32Body>(a);
        expect_close(y, ref, "Gemm ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " C rank " + std::to_string(cs.size()));
      }
}

TEST(CudaKernelBodies, SoftmaxAndLayerNormF32MatchRef) {
  Tensor x = test::random_f32({3, 5, 7}, 600, -6.f, 6.f);
  for (int64_t axis : {-1, 1, 0}) {
    Node n = make_node(OpType::Softmax, {{"axis", attr_i(axis)}});
    Tensor ref = run_ref(n, {&x});
    SoftmaxF32Args a = softmax_f32_args(n, x.shape());
    Tensor y = like(ref);
    a.x = x.data<float>(), a.y = y.data<float>();
    run_on_host<SoftmaxF32Body>(a);
    expect_close(y, ref, "Softmax axis " + std::to_string(axis));
  }
  for (int64_t axis : {-1, 1}) {
    const Shape norm = axis == -1 ? Shape{7} : Shape{5, 7};
    Tensor scale = test::random_f32(norm, 601, 0.5f, 2.f), bias = test::random_f32(norm, 602);
    Node n = make_node(OpType::LayerNormalization, {{"axis", attr_i(axis)}, {"epsilon", attr_f(1e-3f)}});
    for (bool with_bias : {true, false}) {
      Tensor ref = run_ref(n, {&x, &scale, with_bias ? &bias : nullptr});
      LayerNormF32Args a = layernorm_f32_args(n, x.shape());
      Tensor y = like(ref);
      a.x = x.data<float>(), a.scale = scale.data<float>(), a.bias = with_bias ? bias.data<float>() : nullptr;
      a.y = y.data<float>();
      ASSERT_EQ(a.count() * a.n, ref.numel());
      run_on_host<LayerNormF32Body>(a);
      expect_close(y, ref, "LayerNormalization axis " + std::to_string(axis));
    }
  }
}

}  // namespace
}  // namespace octet
