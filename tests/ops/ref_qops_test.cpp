// Reference kernels of the internal INT8 ops (src/ir/qops.h) against formulas written here:
// exact comparisons with int64 accumulations over the logical NCHW tensors (the op inputs are NHWC copies
// made by the test) followed by the quant.h epilogue, and agreement within one quantization step with the
// FP32 reference ops (Conv, Gemm, MaxPool, AveragePool) run on dequantized inputs. Odd shapes throughout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/ref/ref.h"
#include "ir/infer.h"
#include "quant/quant.h"
#include "ref_op_util.h"
#include "test_util.h"

namespace octet {
namespace {


using test::make_node;
inline Tensor run(const Node& n, std::vector<const Tensor*> in) { return test::run_ref(n, std::move(in)); }

// The message of infer_X on inputs of these dtypes and shapes ("" if it succeeds).
std::string infer_error(const Node& n, std::vector<TensorInfo> in) {
  InferCtx ctx{n, {}, {}};
  for (auto& t : in) ctx.in.push_back(&t);
  ctx.out.resize(1);
  try {
    infer_fn(n.op)(ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

template <typename T>
Tensor random_int(const Shape& s, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<T> v(static_cast<size_t>(numel(s)));
  for (auto& e : v) e = static_cast<T>(u(rng));
  return Tensor::from<T>(s, v);
}
Tensor random_i8(const Shape& s, uint32_t seed) { return random_int<int8_t>(s, seed, -128, 127); }

// NCHW <-> NHWC copies of a 4-D tensor (any dtype of the given C++ type).
template <typename T>
Tensor permute(const Tensor& x, bool to_nhwc) {
  const Shape& s = x.shape();
  const Shape ys = to_nhwc ? Shape{s[0], s[2], s[3], s[1]} : Shape{s[0], s[3], s[1], s[2]};
  const int64_t N = s[0], C = to_nhwc ? s[1] : s[3], HW = to_nhwc ? s[2] * s[3] : s[1] * s[2];
  Tensor y(x.dtype(), ys);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) {
        const int64_t nchw = (n * C + c) * HW + p, nhwc = (n * HW + p) * C + c;
        y.data<T>()[to_nhwc ? nhwc : nchw] = x.data<T>()[to_nhwc ? nchw : nhwc];
      }
  return y;
}

// int8 -> float32 values times scale (scale 1: the integers themselves).
Tensor to_f32(const Tensor& q, float scale = 1.f) {
  Tensor y(DType::f32, q.shape());
  for (int64_t i = 0; i < q.numel(); ++i) y.data<float>()[i] = static_cast<float>(q.data<int8_t>()[i]) * scale;
  return y;
}

// v (output units) clamped, rounded and saturated — the float path's epilogue.
int8_t q_of(double v, float lo = quant::kNoLo, float hi = quant::kNoHi) {
  return quant::saturate_i8(std::nearbyint(static_cast<float>(std::min<double>(std::max<double>(v, lo), hi))));
}

// ---------------------------------------------------------------------------------------------------------
// QConv

struct ConvCase {
  int64_t N, H, W, C, K, kh, kw, group;
  std::vector<int64_t> strides, pads, dilations;  // pads [t, l, b, r]
  bool bias, residual;
  float act_lo;
};

void check_qconv(const ConvCase& p, uint32_t seed) {
  const int64_t Cg = p.C / p.group, Kg = p.K / p.group;
  const Tensor x_nchw = random_i8({p.N, p.C, p.H, p.W}, seed);
  const Tensor x = permute<int8_t>(x_nchw, true);
  const Tensor w = random_int<int8_t>({p.K, Cg, p.kh, p.kw}, seed + 1, -127, 127);
  const Tensor b = test::random_f32({p.K}, seed + 2, -4000.f, 4000.f);  // accumulator units, fractional
  // Scales: s_x, s_w[k], s_y chosen so that some outputs saturate and most don't; r has scale s_r.
  const float sx = 0.05f, sy = 0.08f * std::sqrt(static_cast<float>(Cg * p.kh * p.kw)), sr = 0.11f;
  std::vector<float> sw, mult;
  for (int64_t k = 0; k < p.K; ++k) {
    sw.push_back(0.004f * static_cast<float>(1 + k % 4));
    mult.push_back(sx * sw.back() / sy);
  }
  const float rs = sr / sy;
  const Node n = make_node(OpType::QConv, {{"strides", attr_ints(p.strides)},
                                           {"pads", attr_ints(p.pads)},
                                           {"dilations", attr_ints(p.dilations)},
                                           {"group", attr_i(p.group)},
                                           {"multiplier", attr_floats(mult)},
                                           {"residual_scale", attr_f(rs)},
                                           {"act_lo", attr_f(p.act_lo)}});
  const int64_t OH = (p.H + p.pads[0] + p.pads[2] - ((p.kh - 1) * p.dilations[0] + 1)) / p.strides[0] + 1;
  const int64_t OW = (p.W + p.pads[1] + p.pads[3] - ((p.kw - 1) * p.dilations[1] + 1)) / p.strides[1] + 1;
  const Tensor r = random_i8({p.N, OH, OW, p.K}, seed + 3);
  const Tensor y = run(n, {&x, &w, p.bias ? &b : nullptr, p.residual ? &r : nullptr});
  ASSERT_EQ(y.dtype(), DType::i8);
  ASSERT_EQ(y.shape(), (Shape{p.N, OH, OW, p.K}));

  // Exact: int64 accumulation in NCHW / OIHW terms, bounds-tested per tap, then the quant.h epilogue.
  const int8_t* px = x_nchw.data<int8_t>();
  const int8_t* pw = w.data<int8_t>();
  std::vector<int64_t> acc(static_cast<size_t>(p.N * p.K * OH * OW), 0);  // [N, K, OH, OW]
  int64_t mismatches = 0, saturated = 0;
  for (int64_t img = 0; img < p.N; ++img)
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t s = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < p.kh; ++i)
              for (int64_t j = 0; j < p.kw; ++j) {
                const int64_t ih = oh * p.strides[0] - p.pads[0] + i * p.dilations[0];
                const int64_t iw = ow * p.strides[1] - p.pads[1] + j * p.dilations[1];
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                const int64_t ci = k / Kg * Cg + c;
                s += int64_t{px[((img * p.C + ci) * p.H + ih) * p.W + iw]} * pw[((k * Cg + c) * p.kh + i) * p.kw + j];
              }
          ASSERT_LE(std::abs(s), int64_t{INT32_MAX});
          acc[static_cast<size_t>(((img * p.K + k) * OH + oh) * OW + ow)] = s;
          const int64_t o = ((img * OH + oh) * OW + ow) * p.K + k;  // NHWC index
          const int32_t v = static_cast<int32_t>(s);
          const float bk = p.bias ? b.data<float>()[k] : 0.f;
          const int8_t want = p.residual ? quant::requantize_residual(v, bk, mult[k], r.data<int8_t>()[o], rs,
                                                                      p.act_lo, quant::kNoHi)
                                         : quant::requantize(v, bk, mult[k], p.act_lo, quant::kNoHi);
          mismatches += y.data<int8_t>()[o] != want;
          saturated += want == 127 || want == -128;
        }
  EXPECT_EQ(mismatches, 0);
  EXPECT_LT(saturated, y.numel() / 2) << "scales make the case degenerate";

  // Approximate: the FP32 reference Conv on dequantized x, w, bias; within one output step.
  Tensor wf(DType::f32, w.shape()), bf(DType::f32, {p.K});
  const int64_t per_k = Cg * p.kh * p.kw;
  for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = static_cast<float>(pw[i]) * sw[i / per_k];
  for (int64_t k = 0; k < p.K; ++k) bf.data<float>()[k] = b.data<float>()[k] * sx * sw[k];
  const Tensor xf = to_f32(x_nchw, sx);
  const Node conv = make_node(OpType::Conv, {{"strides", attr_ints(p.strides)},
                                             {"pads", attr_ints(p.pads)},
                                             {"dilations", attr_ints(p.dilations)},
                                             {"group", attr_i(p.group)}});
  const Tensor yf = permute<float>(run(conv, {&xf, &wf, p.bias ? &bf : nullptr}), true);
  int64_t off_by_more = 0;
  for (int64_t o = 0; o < y.numel(); ++o) {
    double v = yf.data<float>()[o] / sy;
    if (p.residual) v += static_cast<double>(sr / sy) * r.data<int8_t>()[o];
    off_by_more += std::abs(int{y.data<int8_t>()[o]} - int{q_of(v, p.act_lo)}) > 1;
  }
  EXPECT_EQ(off_by_more, 0);
}

TEST(RefQConv, StridedDilatedAsymmetricPads) {
  // 7x9 input, 3x3 kernel, stride 2, dilation 2, pads (t,l,b,r) = (1,0,2,1) -> 3x3 output.
  check_qconv({2, 7, 9, 5, 3, 3, 3, 1, {2, 2}, {1, 0, 2, 1}, {2, 2}, true, false, quant::kNoLo}, 11);
  check_qconv({2, 7, 9, 5, 3, 3, 3, 1, {2, 2}, {1, 0, 2, 1}, {2, 2}, false, true, 0.f}, 12);
}

TEST(RefQConv, Depthwise) {
  check_qconv({2, 7, 9, 6, 6, 3, 3, 6, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true, 0.f}, 21);
  check_qconv({1, 5, 11, 6, 6, 3, 3, 6, {2, 1}, {0, 2, 1, 0}, {1, 2}, true, false, quant::kNoLo}, 22);
}

TEST(RefQConv, GroupedNonSquareKernel) {
  check_qconv({2, 7, 9, 4, 6, 2, 3, 2, {2, 1}, {0, 1, 1, 0}, {1, 2}, false, false, quant::kNoLo}, 31);
  check_qconv({1, 6, 5, 6, 4, 1, 1, 2, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, -20.f}, 32);
}

TEST(RefQConv, ActHiAndResidualScale) {
  // One tap, w = 1, multiplier 0.5: y = clamp(round(0.5*x + 2*r), lo, hi).
  const Tensor x = Tensor::from<int8_t>({1, 1, 4, 1}, {10, -7, 5, 100});  // W = 4, C = 1
  const Tensor w = Tensor::from<int8_t>({1, 1, 1, 1}, {1});
  const Tensor r = Tensor::from<int8_t>({1, 1, 4, 1}, {1, 0, -3, 20});
  const Node n = make_node(OpType::QConv, {{"multiplier", attr_floats({0.5f})},
                                           {"residual_scale", attr_f(2.f)},
                                           {"act_lo", attr_f(-5.f)},
                                           {"act_hi", attr_f(60.f)}});
  const Tensor y = run(n, {&x, &w, nullptr, &r});
  // 5+2 = 7; -3.5 -> -4 (ties to even) + 0; 2.5 -6 = -3.5 -> -4; 50 + 40 = 90 -> 60.
  EXPECT_EQ(std::vector<int8_t>(y.data<int8_t>(), y.data<int8_t>() + 4), (std::vector<int8_t>{7, -4, -4, 60}));
}

// ---------------------------------------------------------------------------------------------------------
// QLinear

void check_qlinear(const Shape& xs, int64_t N, bool bias, float lo, float hi, uint32_t seed) {
  const int64_t K = xs.back(), rows = numel(xs) / K;
  const Tensor x = random_i8(xs, seed);
  const Tensor w = random_int<int8_t>({N, K}, seed + 1, -127, 127);
  const Tensor b = test::random_f32({N}, seed + 2, -3000.f, 3000.f);  // accumulator units, fractional
  const float sx = 0.03f, sy = 0.06f * std::sqrt(static_cast<float>(K));
  std::vector<float> sw, mult;
  for (int64_t j = 0; j < N; ++j) {
    sw.push_back(0.005f * static_cast<float>(1 + j % 3));
    mult.push_back(sx * sw.back() / sy);
  }
  const Node n = make_node(OpType::QLinear, {{"multiplier", attr_floats(mult)}, {"act_lo", attr_f(lo)}, {"act_hi", attr_f(hi)}});
  const Tensor y = run(n, {&x, &w, bias ? &b : nullptr});
  Shape ys = xs;
  ys.back() = N;
  ASSERT_EQ(y.shape(), ys);

  Tensor xf = to_f32(x, sx).reshaped({rows, K}), wf(DType::f32, {N, K}), bf(DType::f32, {N});
  for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = static_cast<float>(w.data<int8_t>()[i]) * sw[i / K];
  for (int64_t j = 0; j < N; ++j) bf.data<float>()[j] = bias ? b.data<float>()[j] * sx * sw[j] : 0.f;
  const Tensor yf = run(make_node(OpType::Gemm, {{"transB", attr_i(1)}}), {&xf, &wf, &bf});

  int64_t mismatches = 0, off_by_more = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < N; ++j) {
      int64_t s = 0;
      for (int64_t k = 0; k < K; ++k) s += int64_t{x.data<int8_t>()[r * K + k]} * w.data<int8_t>()[j * K + k];
      const int8_t got = y.data<int8_t>()[r * N + j];
      mismatches += got != quant::requantize(static_cast<int32_t>(s), bias ? b.data<float>()[j] : 0.f, mult[j], lo, hi);
      off_by_more += std::abs(int{got} - int{q_of(yf.data<float>()[r * N + j] / sy, lo, hi)}) > 1;
    }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(off_by_more, 0);
}

TEST(RefQLinear, ThreeDInputWithBias) { check_qlinear({2, 3, 13}, 5, true, quant::kNoLo, quant::kNoHi, 41); }
TEST(RefQLinear, TwoDInputClipped) { check_qlinear({7, 11}, 9, false, 0.f, 50.f, 42); }

// QMulGate: x * gate[n, c] re-expressed in the output scale, within one step of the float product; a gate of
// C values applies to every image.
TEST(RefQMulGate, MatchesFloatProduct) {
  const int64_t N = 2, H = 3, W = 5, C = 7;
  const Tensor x = random_i8({N, H, W, C}, 71);
  for (bool per_image : {true, false}) {
    const Tensor g = test::random_f32(per_image ? Shape{N, C, 1, 1} : Shape{1, C, 1, 1}, 72, 0.f, 1.f);
    const float sx = 0.05f, sy = 0.03f;
    const Tensor y = run(make_node(OpType::QMulGate, {{"scale", attr_f(sx / sy)}}), {&x, &g});
    ASSERT_EQ(y.shape(), x.shape());
    int64_t exact = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t n = i / (H * W * C), c = i % C;
      const float gate = g.data<float>()[per_image ? n * C + c : c];
      const double want = static_cast<double>(x.data<int8_t>()[i]) * sx * gate / sy;
      EXPECT_LE(std::abs(int{y.data<int8_t>()[i]} - int{q_of(want)}), 1) << i;
      exact += y.data<int8_t>()[i] == quant::rescale(x.data<int8_t>()[i], quant::gate_multiplier(gate, sx / sy));
    }
    EXPECT_EQ(exact, x.numel());
  }
}

// ---------------------------------------------------------------------------------------------------------
// Non-linear epilogue activations (quant::requantize_act)

TEST(QuantAct, ExpApproxIsWithinTwoUlpOfExp) {
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.f + 175.f * static_cast<float>(i) / 200000.f;
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(quant::exp_approx(x) - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7) << "relative error (one float ulp is 6e-8 to 1.2e-7)";
  // Clamped outside [-87, 88]: finite and monotone at the ends, never inf or a denormal-flush surprise.
  EXPECT_EQ(quant::exp_approx(-1000.f), quant::exp_approx(-87.f));
  EXPECT_EQ(quant::exp_approx(1000.f), quant::exp_approx(88.f));
  EXPECT_TRUE(std::isfinite(quant::exp_approx(88.f)));
  EXPECT_EQ(quant::exp_approx(0.f), 1.f);
}

TEST(QuantAct, ActivationsFollowTheirDefinitions) {
  for (int i = -400; i <= 400; ++i) {
    const float v = static_cast<float>(i) * 0.05f;  // [-20, 20]
    const double d = v, sig = 1.0 / (1.0 + std::exp(-d));
    EXPECT_NEAR(quant::activate(quant::Act::Sigmoid, v, 0.f), sig, 3e-7) << v;
    EXPECT_NEAR(quant::activate(quant::Act::Silu, v, 0.f), d * sig, 3e-7 * std::max(1.0, std::fabs(d))) << v;
    EXPECT_NEAR(quant::activate(quant::Act::HardSwish, v, 0.f), d * std::clamp(d / 6 + 0.5, 0.0, 1.0), 1e-6) << v;
    EXPECT_EQ(quant::activate(quant::Act::LeakyRelu, v, 0.25f), v >= 0 ? v : v * 0.25f) << v;
  }
  // SiLU's far ends: ~0 for large negative inputs (no NaN from inf/inf), the input itself for large positive.
  EXPECT_EQ(quant::activate(quant::Act::Silu, -200.f, 0.f), -200.f / (1.f + quant::exp_approx(200.f)));
  EXPECT_GT(quant::activate(quant::Act::Silu, -200.f, 0.f), -1e-30f);
  EXPECT_EQ(quant::activate(quant::Act::Silu, 200.f, 0.f), 200.f);
}

// QLinear with SiLU / Sigmoid in the epilogue: exactly quant::requantize_act, and within one output step of the
// FP32 Gemm followed by the activation in double precision.
TEST(RefQLinear, NonLinearEpilogues) {
  const int64_t rows = 9, K = 23, N = 7;
  const Tensor x = random_i8({rows, K}, 61);
  const Tensor w = random_int<int8_t>({N, K}, 62, -127, 127);
  const Tensor b = test::random_f32({N}, 63, -3000.f, 3000.f);
  const float sx = 0.03f;
  std::vector<float> sw, dq;
  for (int64_t j = 0; j < N; ++j) {
    sw.push_back(0.004f * static_cast<float>(1 + j % 3));
    dq.push_back(sx * sw.back());
  }
  Tensor xf = to_f32(x, sx), wf(DType::f32, {N, K}), bf(DType::f32, {N});
  for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = static_cast<float>(w.data<int8_t>()[i]) * sw[i / K];
  for (int64_t j = 0; j < N; ++j) bf.data<float>()[j] = b.data<float>()[j] * dq[j];
  const Tensor yf = run(make_node(OpType::Gemm, {{"transB", attr_i(1)}}), {&xf, &wf, &bf});
  for (quant::Act act : {quant::Act::Silu, quant::Act::Sigmoid}) {
    const float sy = act == quant::Act::Sigmoid ? 1.f / 127 : 0.05f;
    const Node n = make_node(OpType::QLinear, {{"multiplier", attr_floats(dq)},
                                               {"act", attr_i(static_cast<int64_t>(act))},
                                               {"out_scale", attr_f(sy)}});
    const Tensor y = run(n, {&x, &w, &b});
    int64_t mismatches = 0, off_by_more = 0, curved = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < N; ++j) {
        int64_t s = 0;
        for (int64_t k = 0; k < K; ++k) s += int64_t{x.data<int8_t>()[r * K + k]} * w.data<int8_t>()[j * K + k];
        const int8_t got = y.data<int8_t>()[r * N + j];
        mismatches += got != quant::requantize_act(static_cast<int32_t>(s), b.data<float>()[j], dq[j], act, 0.f, 1.f / sy);
        const double v = yf.data<float>()[r * N + j], sig = 1.0 / (1.0 + std::exp(-v));
        const double a = act == quant::Act::Silu ? v * sig : sig;
        curved += std::fabs(v) < 4;
        off_by_more += std::abs(int{got} - int{q_of(a / sy, quant::kNoLo, quant::kNoHi)}) > 1;
      }
    EXPECT_EQ(mismatches, 0) << int(act);
    EXPECT_EQ(off_by_more, 0) << int(act);
    EXPECT_GT(curved, rows * N / 4) << "inputs must reach the curved part of the activation";
  }
}

// QConv with a non-linear activation and a residual added AFTER it (YOLOX's x + SiLU(conv(...)),
// quant::requantize_act_residual): exactly the quant.h function of the int64 accumulator, and within one output
// step of the unfused FP32 computation (the FP32 Conv on dequantized x, w and bias, the activation in double, plus
// the dequantized residual, divided by the sum's scale). Odd channel counts, 3x3 stride 2 and 1x1.
TEST(RefQConv, ActivationThenResidual) {
  struct P {
    int64_t N, H, W, C, K, k, stride;
    quant::Act act;
  };
  for (const P& p : {P{1, 9, 11, 5, 7, 3, 2, quant::Act::Silu}, P{2, 7, 5, 13, 11, 1, 1, quant::Act::Silu},
                     P{1, 6, 9, 3, 19, 3, 1, quant::Act::HardSwish}}) {
    SCOPED_TRACE("C " + std::to_string(p.C) + " K " + std::to_string(p.K) + " " + std::to_string(p.k) + "x" +
                 std::to_string(p.k) + " stride " + std::to_string(p.stride));
    const uint32_t seed = static_cast<uint32_t>(70 + p.C);
    const int64_t pad = p.k / 2, OH = (p.H + 2 * pad - p.k) / p.stride + 1, OW = (p.W + 2 * pad - p.k) / p.stride + 1;
    const Tensor x_nchw = random_i8({p.N, p.C, p.H, p.W}, seed);
    const Tensor x = permute<int8_t>(x_nchw, true);
    const Tensor w = random_int<int8_t>({p.K, p.C, p.k, p.k}, seed + 1, -127, 127);
    const Tensor b = test::random_f32({p.K}, seed + 2, -4000.f, 4000.f);
    const Tensor r = random_i8({p.N, OH, OW, p.K}, seed + 3);
    // s_x * s_w * |acc| of a few real units (the activation's curved part); s_r * |r| up to ~3, the sum's s_y
    // so that little saturates.
    const float sx = 0.02f, sr = 0.025f, sy = 0.12f;
    std::vector<float> sw, dq;
    for (int64_t k = 0; k < p.K; ++k) {
      sw.push_back(0.016f / std::sqrt(static_cast<float>(p.C * p.k * p.k)) * static_cast<float>(1 + k % 3));
      dq.push_back(sx * sw.back());
    }
    const Node n = make_node(OpType::QConv, {{"strides", attr_ints({p.stride, p.stride})},
                                             {"pads", attr_ints({pad, pad, pad, pad})},
                                             {"group", attr_i(1)},
                                             {"multiplier", attr_floats(dq)},
                                             {"act", attr_i(static_cast<int64_t>(p.act))},
                                             {"out_scale", attr_f(sy)},
                                             {"residual_scale", attr_f(sr / sy)}});
    const Tensor y = run(n, {&x, &w, &b, &r});
    ASSERT_EQ(y.shape(), (Shape{p.N, OH, OW, p.K}));
    // The unfused FP32 computation.
    Tensor wf(DType::f32, w.shape()), bf(DType::f32, {p.K});
    const int64_t per_k = p.C * p.k * p.k;
    for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = static_cast<float>(w.data<int8_t>()[i]) * sw[i / per_k];
    for (int64_t k = 0; k < p.K; ++k) bf.data<float>()[k] = b.data<float>()[k] * dq[k];
    const Tensor xf = to_f32(x_nchw, sx);
    const Node conv = make_node(OpType::Conv, {{"strides", attr_ints({p.stride, p.stride})},
                                               {"pads", attr_ints({pad, pad, pad, pad})}});
    const Tensor vf = permute<float>(run(conv, {&xf, &wf, &bf}), true);  // NHWC pre-activation
    int64_t off_by_more = 0, exact = 0, curved = 0, saturated = 0, moved = 0;
    for (int64_t img = 0; img < p.N; ++img)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t k = 0; k < p.K; ++k) {
            const int64_t o = ((img * OH + oh) * OW + ow) * p.K + k;
            int64_t s = 0;
            for (int64_t c = 0; c < p.C; ++c)
              for (int64_t i = 0; i < p.k; ++i)
                for (int64_t j = 0; j < p.k; ++j) {
                  const int64_t ih = oh * p.stride - pad + i, iw = ow * p.stride - pad + j;
                  if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                  s += int64_t{x_nchw.data<int8_t>()[((img * p.C + c) * p.H + ih) * p.W + iw]} *
                       w.data<int8_t>()[((k * p.C + c) * p.k + i) * p.k + j];
                }
            const int8_t got = y.data<int8_t>()[o], rq = r.data<int8_t>()[o];
            exact += got == quant::requantize_act_residual(static_cast<int32_t>(s), b.data<float>()[k], dq[k], p.act,
                                                           0.f, 1.f / sy, 0.f, rq, sr / sy);
            const double v = vf.data<float>()[o];
            const double a = p.act == quant::Act::Silu ? v / (1.0 + std::exp(-v)) : v * std::clamp(v / 6 + 0.5, 0.0, 1.0);
            const int8_t want = q_of((a + static_cast<double>(sr) * rq) / sy);
            off_by_more += std::abs(int{got} - int{want}) > 1;
            curved += std::fabs(v) < 4 && std::fabs(v) > 0.1;
            saturated += want == 127 || want == -128;
            moved += want != q_of(a / sy);  // the residual matters
          }
    EXPECT_EQ(exact, y.numel());
    EXPECT_EQ(off_by_more, 0);
    EXPECT_GT(curved, y.numel() / 4) << "inputs must reach the curved part of the activation";
    EXPECT_LT(saturated, y.numel() / 20) << "scales make the case degenerate";
    EXPECT_GT(moved, y.numel() / 2) << "the residual must change most outputs";
  }
}

// ---------------------------------------------------------------------------------------------------------
// QAdd, pools, concat

TEST(RefQAdd, MatchesFormulaAndSaturates) {
  const Tensor a = random_i8({2, 3, 5, 7}, 51), b = random_i8({2, 3, 5, 7}, 52);
  const Node n = make_node(OpType::QAdd, {{"scale_a", attr_f(0.7f)}, {"scale_b", attr_f(0.45f)}, {"act_lo", attr_f(0.f)}});
  const Tensor y = run(n, {&a, &b});
  ASSERT_EQ(y.shape(), a.shape());
  int64_t mismatches = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double v = 0.7 * a.data<int8_t>()[i] + 0.45 * b.data<int8_t>()[i];
    // Exact against quant::add; the double formula agrees except possibly at exact .5 ties of the float sum.
    mismatches += y.data<int8_t>()[i] != quant::add(a.data<int8_t>()[i], 0.7f, b.data<int8_t>()[i], 0.45f, 0.f,
                                                    quant::kNoHi);
    EXPECT_LE(std::abs(int{y.data<int8_t>()[i]} - int{q_of(v, 0.f)}), 1);
  }
  EXPECT_EQ(mismatches, 0);

  const Tensor c = Tensor::from<int8_t>({4}, {100, -100, 3, -128});
  const Tensor d = Tensor::from<int8_t>({4}, {100, -100, 0, 127});
  const Tensor z = run(make_node(OpType::QAdd, {{"scale_a", attr_f(1.f)}, {"scale_b", attr_f(1.f)}}), {&c, &d});
  // 200 -> 127, -200 -> -128, 3, -1.
  EXPECT_EQ(std::vector<int8_t>(z.data<int8_t>(), z.data<int8_t>() + 4), (std::vector<int8_t>{127, -128, 3, -1}));
}

TEST(RefQMaxPool, MatchesFloatMaxPool) {
  // Max is exact in float, so the FP32 MaxPool on the same integers must agree exactly.
  const Tensor x = random_i8({2, 7, 9, 3}, 61);
  const std::map<std::string, Attr> geo = {
      {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 2, 1})}, {"dilations", attr_ints({1, 2})}};
  Node q = make_node(OpType::QMaxPool, geo);
  q.attrs["kernel"] = attr_ints({3, 3});
  Node f = make_node(OpType::MaxPool, geo);
  f.attrs["kernel_shape"] = attr_ints({3, 3});
  const Tensor y = run(q, {&x});
  const Tensor xf = to_f32(permute<int8_t>(x, false));
  const Tensor yf = permute<float>(run(f, {&xf}), true);
  ASSERT_EQ(y.shape(), yf.shape());
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(static_cast<float>(y.data<int8_t>()[i]), yf.data<float>()[i]) << i;
}

TEST(RefQMaxPool, PaddingNeverWins) {
  // All -128 with padding: 0 (or anything) from the padding must not appear.
  Tensor x(DType::i8, {1, 4, 5, 2});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<int8_t>()[i] = -128;
  Node n = make_node(OpType::QMaxPool, {{"kernel", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
  Tensor y = run(n, {&x});
  ASSERT_EQ(y.shape(), (Shape{1, 4, 5, 2}));
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y.data<int8_t>()[i], -128);
  // A window entirely in the padding (pad 2 >= kernel 2): -128 as well, the neighbours see the data.
  x.data<int8_t>()[0] = -5;
  n = make_node(OpType::QMaxPool, {{"kernel", attr_ints({2, 1})}, {"pads", attr_ints({2, 0, 0, 0})}});
  y = run(n, {&x});
  ASSERT_EQ(y.shape(), (Shape{1, 5, 5, 2}));
  EXPECT_EQ(y.data<int8_t>()[0], -128);   // rows -2, -1
  EXPECT_EQ(y.data<int8_t>()[10], -5);    // rows -1, 0
  EXPECT_EQ(y.data<int8_t>()[20], -5);    // rows 0, 1
}

void check_qavgpool(const Node& q, const Node& f, const Shape& xs, float mult, uint32_t seed) {
  const Tensor x = random_i8(xs, seed);
  const Tensor y = run(q, {&x});
  const Tensor xf = to_f32(permute<int8_t>(x, false));
  const Tensor yf = permute<float>(run(f, {&xf}), true);
  ASSERT_EQ(y.shape(), yf.shape());
  for (int64_t i = 0; i < y.numel(); ++i)
    EXPECT_LE(std::abs(int{y.data<int8_t>()[i]} - int{q_of(static_cast<double>(yf.data<float>()[i]) * mult)}), 1)
        << i;
}

// Exact sums and counts for one NHWC output, straight from the definition.
int8_t avg_expect(const Tensor& x, int64_t n, int64_t oh, int64_t ow, int64_t c, int64_t k, int64_t s, int64_t pad,
                  bool include_pad, float mult) {
  const int64_t H = x.dim(1), W = x.dim(2), C = x.dim(3);
  int32_t sum = 0, count = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t ih = oh * s - pad + i, iw = ow * s - pad + j;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      sum += x.data<int8_t>()[((n * H + ih) * W + iw) * C + c];
      ++count;
    }
  return quant::average(sum, include_pad ? static_cast<int32_t>(k * k) : count, mult);
}

TEST(RefQAvgPool, CountIncludePadBothWays) {
  for (int64_t inc : {0, 1}) {
    SCOPED_TRACE(inc);
    const std::map<std::string, Attr> geo = {
        {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}, {"count_include_pad", attr_i(inc)}};
    Node q = make_node(OpType::QAvgPool, geo), f = make_node(OpType::AveragePool, geo);
    q.attrs["kernel"] = attr_ints({3, 3});
    q.attrs["multiplier"] = attr_f(0.8f);
    f.attrs["kernel_shape"] = attr_ints({3, 3});
    check_qavgpool(q, f, {2, 7, 9, 4}, 0.8f, 71);
    const Tensor x = random_i8({2, 7, 9, 4}, 72);
    const Tensor y = run(q, {&x});
    ASSERT_EQ(y.shape(), (Shape{2, 4, 5, 4}));
    int64_t mismatches = 0;
    for (int64_t i = 0; i < y.numel(); ++i)
      mismatches += y.data<int8_t>()[i] !=
                    avg_expect(x, i / 80, i / 20 % 4, i / 4 % 5, i % 4, 3, 2, 1, inc != 0, 0.8f);
    EXPECT_EQ(mismatches, 0);
  }
}

// With x_zero_point: the real values are x - zp, and a padded tap is a real zero (ONNX AveragePool's padding);
// against the float AveragePool of x - zp, both ways of counting the padding, and the global form.
TEST(RefQAvgPool, ZeroPointPaddingIsARealZero) {
  const int32_t zp = -97;
  for (int64_t inc : {0, 1, 2}) {
    SCOPED_TRACE(inc);
    const bool global = inc == 2;
    std::map<std::string, Attr> geo = {
        {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}, {"count_include_pad", attr_i(inc)}};
    if (global) geo.clear();
    Node q = make_node(OpType::QAvgPool, geo);
    Node f = make_node(global ? OpType::GlobalAveragePool : OpType::AveragePool, geo);
    if (global) {
      q.attrs["global"] = attr_i(1);
    } else {
      q.attrs["kernel"] = attr_ints({3, 3});
      f.attrs["kernel_shape"] = attr_ints({3, 3});
    }
    q.attrs["multiplier"] = attr_f(0.8f);
    q.attrs["x_zero_point"] = attr_i(zp);
    const Tensor x = random_i8({2, 7, 9, 4}, 73);
    const Tensor y = run(q, {&x});
    Tensor xf = to_f32(permute<int8_t>(x, false));
    for (int64_t i = 0; i < xf.numel(); ++i) xf.data<float>()[i] -= static_cast<float>(zp);
    const Tensor yf = permute<float>(run(f, {&xf}), true);
    ASSERT_EQ(y.shape(), yf.shape());
    int64_t off = 0, saturated_away = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      const double want = static_cast<double>(yf.data<float>()[i]) * 0.8;
      off += std::abs(int{y.data<int8_t>()[i]} - int{q_of(want)}) > 1;
      saturated_away += want > 127.5;
    }
    EXPECT_EQ(off, 0);
    EXPECT_GT(y.numel() - saturated_away, y.numel() / 2);  // most outputs are not clamped: the check has teeth
  }
}

TEST(RefQAvgPool, Global) {
  const Node q = make_node(OpType::QAvgPool, {{"global", attr_i(1)}, {"multiplier", attr_f(1.7f)}});
  check_qavgpool(q, make_node(OpType::GlobalAveragePool), {2, 5, 3, 7}, 1.7f, 81);
  const Tensor x = random_i8({2, 5, 3, 7}, 82);
  const Tensor y = run(q, {&x});
  ASSERT_EQ(y.shape(), (Shape{2, 1, 1, 7}));
  for (int64_t i = 0; i < y.numel(); ++i) {
    const int64_t img = i / 7, c = i % 7;
    int32_t sum = 0;
    for (int64_t p = 0; p < 15; ++p) sum += x.data<int8_t>()[(img * 15 + p) * 7 + c];
    EXPECT_EQ(y.data<int8_t>()[i], quant::average(sum, 15, 1.7f)) << i;
  }
}

TEST(RefQConcat, UnequalScalesAnyAxis) {
  const Tensor a = random_i8({2, 3, 4, 2}, 91), b = random_i8({2, 3, 4, 5}, 92), c = random_i8({2, 3, 4, 1}, 93);
  const Node n = make_node(OpType::QConcat, {{"axis", attr_i(-1)}, {"scales", attr_floats({1.f, 0.5f, 1.9f})}});
  const Tensor y = run(n, {&a, &b, &c});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4, 8}));
  for (int64_t r = 0; r < 24; ++r)
    for (int64_t j = 0; j < 8; ++j) {
      const int8_t got = y.data<int8_t>()[r * 8 + j];
      if (j < 2) EXPECT_EQ(got, a.data<int8_t>()[r * 2 + j]);
      else if (j < 7) EXPECT_EQ(got, quant::rescale(b.data<int8_t>()[r * 5 + j - 2], 0.5f));
      else EXPECT_EQ(got, quant::saturate_i8(std::nearbyint(1.9f * c.data<int8_t>()[r])));
    }
  // Axis 1 of a 3-D tensor (no scales: a plain copy).
  const Tensor d = random_i8({2, 1, 3}, 94), e = random_i8({2, 2, 3}, 95);
  const Tensor z = run(make_node(OpType::QConcat, {{"axis", attr_i(1)}}), {&d, &e});
  ASSERT_EQ(z.shape(), (Shape{2, 3, 3}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(z.data<int8_t>()[(i * 3 + k) * 3 + j],
                  k == 0 ? d.data<int8_t>()[i * 3 + j] : e.data<int8_t>()[(i * 2 + k - 1) * 3 + j]);
}

// ---------------------------------------------------------------------------------------------------------
// Quantize / Dequantize

TEST(RefQuantize, TiesToEvenAndSaturation) {
  const Tensor x = Tensor::from<float>({2, 4}, {2.5f, -2.5f, 3.5f, 0.5f, 1e9f, -1e9f, 126.6f, -127.5f});
  const Tensor y = run(make_node(OpType::Quantize, {{"scale", attr_f(1.f)}}), {&x});
  ASSERT_EQ(y.shape(), (Shape{2, 4}));
  EXPECT_EQ(std::vector<int8_t>(y.data<int8_t>(), y.data<int8_t>() + 8),
            (std::vector<int8_t>{2, -2, 4, 0, 127, -128, 127, -128}));
  // x / scale, not x * (1/scale): 1.25 / 0.5 = 2.5 -> 2.
  const Tensor h = Tensor::from<float>({1}, {1.25f});
  EXPECT_EQ(run(make_node(OpType::Quantize, {{"scale", attr_f(0.5f)}}), {&h}).data<int8_t>()[0], 2);
}

TEST(RefQuantize, LayoutRoundTrip) {
  const float s = 0.02f;
  Tensor x(DType::f32, {2, 3, 5, 7});
  std::mt19937 rng(101);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  const Tensor q = run(make_node(OpType::Quantize, {{"scale", attr_f(s)}, {"to_nhwc", attr_i(1)}}), {&x});
  ASSERT_EQ(q.shape(), (Shape{2, 5, 7, 3}));
  const Tensor q_nchw = permute<int8_t>(q, false);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(q_nchw.data<int8_t>()[i], quant::quantize(x.data<float>()[i], s));

  const Tensor back = run(make_node(OpType::Dequantize, {{"scale", attr_f(s)}, {"to_nchw", attr_i(1)}}), {&q});
  ASSERT_EQ(back.shape(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(back.data<float>()[i], quant::dequantize(q_nchw.data<int8_t>()[i], s));
    EXPECT_LE(std::abs(back.data<float>()[i] - x.data<float>()[i]), s * 0.5f + 1e-6f);
  }
  // Without the flags the layout (and any rank) is kept; int8 -> float -> int8 is the identity.
  const Tensor r = random_i8({3, 5, 2}, 102);
  const Tensor f = run(make_node(OpType::Dequantize, {{"scale", attr_f(0.37f)}}), {&r});
  const Tensor r2 = run(make_node(OpType::Quantize, {{"scale", attr_f(0.37f)}}), {&f});
  ASSERT_EQ(r2.shape(), r.shape());
  for (int64_t i = 0; i < r.numel(); ++i) EXPECT_EQ(r2.data<int8_t>()[i], r.data<int8_t>()[i]);
}

// ---------------------------------------------------------------------------------------------------------
// Errors: every message starts with the node.

void expect_error(const Node& n, std::vector<TensorInfo> in, const std::string& part) {
  const std::string msg = infer_error(n, std::move(in));
  EXPECT_EQ(msg.rfind(n.describe(), 0), 0u) << "message: '" << msg << "'";
  EXPECT_NE(msg.find(part), std::string::npos) << "message: '" << msg << "'";
}

TensorInfo ti(DType t, Shape s) { return TensorInfo{t, std::move(s), nullptr, {}}; }

// QConvTranspose against the FP32 ConvTranspose on the same integers: with small values every sum is exact in
// float, and multiplier 2^-6 makes the epilogue a plain rounding of sum / 64 (ties to even).
void check_qdeconv(Shape x_nchw, int64_t Kg, int64_t group, int64_t kh, int64_t kw, std::vector<int64_t> strides,
                   std::vector<int64_t> pads, std::vector<int64_t> dil, uint32_t seed) {
  const Tensor xq = random_int<int8_t>(x_nchw, seed, -9, 9);
  const Tensor wq = random_int<int8_t>({x_nchw[1], Kg, kh, kw}, seed + 1, -9, 9);
  std::map<std::string, Attr> at{{"strides", attr_ints(strides)}, {"pads", attr_ints(pads)},
                                 {"dilations", attr_ints(dil)}, {"group", attr_i(group)}};
  const Tensor xf = to_f32(xq), wf = to_f32(wq);
  const Tensor want = run(make_node(OpType::ConvTranspose, at), {&xf, &wf});
  at["multiplier"] = attr_floats(std::vector<float>(static_cast<size_t>(Kg * group), 1.f / 64));
  const Tensor xn = permute<int8_t>(xq, true);
  const Tensor got = permute<int8_t>(run(make_node(OpType::QConvTranspose, at), {&xn, &wq}), false);
  ASSERT_EQ(got.shape(), want.shape());
  int64_t tied = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const float r = want.data<float>()[i];
    tied += std::fmod(std::fabs(r), 64.f) == 32.f;
    ASSERT_EQ(got.data<int8_t>()[i], q_of(r / 64.0)) << i;
  }
  (void)tied;
}

TEST(RefQConvTranspose, MatchesFloatConvTranspose) {
  check_qdeconv({1, 13, 5, 7}, 11, 1, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, 60);
  check_qdeconv({2, 7, 6, 5}, 5, 1, 3, 3, {2, 2}, {1, 0, 1, 1}, {1, 1}, 61);
  check_qdeconv({1, 12, 5, 6}, 3, 3, 3, 2, {1, 2}, {0, 1, 1, 0}, {2, 1}, 62);
}

// Nearest QResize is the FP32 Resize of the same values; linear is within half a step of it (one rounding).
TEST(RefQResize, MatchesFloatResize) {
  struct C { Shape x; std::string mode, ctm, nearest; float sh, sw; };
  for (const C& c : {C{{1, 13, 7, 5}, "nearest", "asymmetric", "floor", 2.f, 2.f},
                     C{{2, 5, 7, 9}, "nearest", "half_pixel", "round_prefer_ceil", 1.7f, 0.6f},
                     C{{1, 3, 5, 7}, "nearest", "align_corners", "round_prefer_floor", 2.3f, 1.5f},
                     C{{1, 13, 7, 5}, "linear", "half_pixel", "floor", 2.f, 3.f},
                     C{{2, 7, 11, 13}, "linear", "pytorch_half_pixel", "floor", 0.5f, 0.7f},
                     C{{1, 6, 5, 6}, "linear", "align_corners", "floor", 2.5f, 1.75f}}) {
    SCOPED_TRACE(c.mode + " " + c.ctm);
    const Tensor xq = random_i8(c.x, 70);
    std::map<std::string, Attr> at{{"mode", attr_s(c.mode)}, {"coordinate_transformation_mode", attr_s(c.ctm)},
                                   {"nearest_mode", attr_s(c.nearest)}};
    const Tensor xf = to_f32(xq), scales = Tensor::from<float>({4}, {1.f, 1.f, c.sh, c.sw});
    const Tensor want = run(make_node(OpType::Resize, at), {&xf, nullptr, &scales});
    at["scales"] = attr_floats({c.sh, c.sw});
    const Tensor xn = permute<int8_t>(xq, true);
    const Tensor got = permute<int8_t>(run(make_node(OpType::QResize, at), {&xn}), false);
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i) {
      const float r = want.data<float>()[i], q = static_cast<float>(got.data<int8_t>()[i]);
      if (c.mode == "nearest") ASSERT_EQ(q, r) << i;
      else ASSERT_LE(std::fabs(q - r), 0.5f + 1e-4f) << i;
    }
  }
  // The linear blend's rounding is defined: halfway between 3 and 4 is 4 (ties to even), between 4 and 5 is 4.
  EXPECT_EQ(quant::lerp2d(3, 4, 3, 4, 0.5f, 0.5f), 4);
  EXPECT_EQ(quant::lerp2d(4, 5, 4, 5, 0.5f, 0.25f), 4);
  EXPECT_EQ(quant::lerp2d(-128, 127, 127, -128, 0.5f, 0.5f), 0);
}

// A HardSigmoid gate: the FP32 HardSigmoid of the pre-activation, then the plain gate product.
// With zero points: real x = (q - zx) * sx, y = round(real * gate / sy) + zy, within one step of the float product
// and exactly quant::rescale_zp.
TEST(RefQMulGate, ZeroPointsMatchFloatProduct) {
  const int64_t N = 2, H = 3, W = 5, C = 7;
  const Tensor x = random_i8({N, H, W, C}, 74);
  const Tensor g = test::random_f32({N, C, 1, 1}, 75, 0.f, 1.f);
  const float sx = 0.05f, sy = 0.03f;
  const int32_t zx = -90, zy = -110;
  const Tensor y = run(make_node(OpType::QMulGate, {{"scale", attr_f(sx / sy)}, {"x_zero_point", attr_i(zx)},
                                                    {"out_zero_point", attr_i(zy)}}),
                       {&x, &g});
  int64_t exact = 0, shifted = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t n = i / (H * W * C), c = i % C;
    const float gate = g.data<float>()[n * C + c];
    const double want = (x.data<int8_t>()[i] - zx) * static_cast<double>(sx) * gate / sy + zy;
    EXPECT_LE(std::abs(int{y.data<int8_t>()[i]} - int{q_of(want)}), 1) << i;
    exact += y.data<int8_t>()[i] == quant::rescale_zp(x.data<int8_t>()[i], zx, quant::gate_multiplier(gate, sx / sy), zy);
    shifted += y.data<int8_t>()[i] != quant::rescale(x.data<int8_t>()[i], quant::gate_multiplier(gate, sx / sy));
  }
  EXPECT_EQ(exact, x.numel());
  EXPECT_GT(shifted, x.numel() / 2);  // the zero points change most values
}

TEST(RefQMulGate, HardSigmoidGateIsTheFloatHardSigmoid) {
  const Tensor x = random_i8({2, 3, 5, 7}, 80);
  const Tensor g = test::random_f32({2, 7, 1, 1}, 81, -6.f, 6.f);
  const Tensor hs = run(make_node(OpType::HardSigmoid, {{"alpha", attr_f(0.2f)}, {"beta", attr_f(0.5f)}}), {&g});
  const Tensor got = run(make_node(OpType::QMulGate, {{"scale", attr_f(0.9f)}, {"gate_act", attr_i(1)},
                                                      {"gate_alpha", attr_f(0.2f)}, {"gate_beta", attr_f(0.5f)}}),
                         {&x, &g});
  const Tensor want = run(make_node(OpType::QMulGate, {{"scale", attr_f(0.9f)}}), {&x, &hs});
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(0, std::memcmp(got.raw(), want.raw(), got.nbytes()));
  int64_t clamped = 0;
  for (int64_t i = 0; i < hs.numel(); ++i) clamped += hs.data<float>()[i] == 0.f || hs.data<float>()[i] == 1.f;
  EXPECT_GT(clamped, 0);
  EXPECT_LT(clamped, hs.numel());
}

TEST(RefQErrors, QConvTransposeAndQResize) {
  Node d = make_node(OpType::QConvTranspose, {{"multiplier", attr_floats({1.f, 1.f, 1.f})}});
  d.name = "head";
  EXPECT_NE(infer_error(d, {ti(DType::i8, {1, 4, 4, 8}), ti(DType::i8, {6, 3, 2, 2})}).find("'head'"), std::string::npos);
  EXPECT_NE(infer_error(d, {ti(DType::i8, {1, 4, 4, 8}), ti(DType::i8, {6, 3, 2, 2})}).find("input channels"),
            std::string::npos);
  EXPECT_EQ(infer_error(d, {ti(DType::i8, {1, 4, 4, 8}), ti(DType::i8, {8, 3, 2, 2})}), "");
  d.attrs["pads"] = attr_ints({2, 0, 2, 0});
  d.attrs["strides"] = attr_ints({1, 1});
  EXPECT_NE(infer_error(d, {ti(DType::i8, {1, 1, 4, 8}), ti(DType::i8, {8, 3, 2, 2})}).find("crop the whole output"),
            std::string::npos);
  Node r = make_node(OpType::QResize, {{"mode", attr_s("cubic")}, {"scales", attr_floats({2.f, 2.f})}});
  EXPECT_NE(infer_error(r, {ti(DType::i8, {1, 4, 4, 8})}).find("unsupported mode"), std::string::npos);
  r.attrs["mode"] = attr_s("nearest");
  r.attrs["scales"] = attr_floats({2.f});
  EXPECT_NE(infer_error(r, {ti(DType::i8, {1, 4, 4, 8})}).find("scales"), std::string::npos);
}

TEST(RefQErrors, QConv) {
  const auto I8 = DType::i8;
  Node n = make_node(OpType::QConv, {{"multiplier", attr_floats({1.f, 1.f, 1.f})}});
  EXPECT_EQ(infer_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3})}), "");
  expect_error(n, {ti(DType::f32, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3})}, "must be int8");
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(DType::f32, {3, 4, 3, 3})}, "weight");
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3}), ti(DType::i32, {3})}, "bias");
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3}), ti(DType::f32, {4})}, "bias");
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 2, 3, 3})}, "channels per group");
  expect_error(n, {ti(I8, {1, 2, 2, 4}), ti(I8, {3, 4, 3, 3})}, "empty");
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3}), ti(DType::f32, {3}), ti(I8, {1, 5, 5, 3})}, "residual");
  expect_error(n, {ti(I8, {1, 5, 5}), ti(I8, {3, 4, 3, 3})}, "NHWC");
  n.attrs["multiplier"] = attr_floats({1.f, 1.f});
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 4, 3, 3})}, "multiplier");
  n.attrs["multiplier"] = attr_floats({1.f, 1.f, 1.f});
  n.attrs["group"] = attr_i(2);
  expect_error(n, {ti(I8, {1, 5, 5, 4}), ti(I8, {3, 2, 3, 3})}, "group");
}

TEST(RefQErrors, OtherOps) {
  const auto I8 = DType::i8;
  const Node lin = make_node(OpType::QLinear, {{"multiplier", attr_floats({1.f, 1.f})}});
  expect_error(lin, {ti(I8, {3, 7}), ti(I8, {2, 6})}, "same K");
  expect_error(lin, {ti(I8, {3, 7}), ti(I8, {3, 7})}, "multiplier");
  const Node add = make_node(OpType::QAdd, {{"scale_a", attr_f(1.f)}, {"scale_b", attr_f(1.f)}});
  expect_error(add, {ti(I8, {2, 3}), ti(I8, {1, 3})}, "same shape");
  expect_error(add, {ti(I8, {2, 3}), ti(DType::u8, {2, 3})}, "must be int8");
  expect_error(make_node(OpType::QAdd), {ti(I8, {2, 3}), ti(I8, {2, 3})}, "scale_a");
  const Node quant = make_node(OpType::Quantize, {{"scale", attr_f(0.1f)}, {"to_nhwc", attr_i(1)}});
  expect_error(quant, {ti(DType::f32, {2, 3, 4})}, "4-D");
  expect_error(quant, {ti(I8, {2, 3, 4, 5})}, "float32");
  expect_error(make_node(OpType::Quantize, {{"scale", attr_f(0.f)}}), {ti(DType::f32, {2})}, "positive");
  expect_error(make_node(OpType::Dequantize), {ti(I8, {2})}, "scale");
  const Node cat = make_node(OpType::QConcat, {{"axis", attr_i(1)}});
  expect_error(cat, {ti(I8, {2, 3, 4}), ti(I8, {2, 3, 5})}, "outside axis 1");
  expect_error(make_node(OpType::QConcat, {{"axis", attr_i(1)}, {"scales", attr_floats({1.f})}}),
               {ti(I8, {2, 3}), ti(I8, {2, 3})}, "scales");
  expect_error(make_node(OpType::QMaxPool, {{"kernel", attr_ints({3})}}), {ti(I8, {1, 5, 5, 2})}, "kernel");
  expect_error(make_node(OpType::QAvgPool, {{"kernel", attr_ints({6, 1})}}), {ti(I8, {1, 5, 5, 2})}, "empty");
}


// Zero points (quant.h): a SiLU output stored over [kSiluMin, T] with a zero point, read by a padded, strided
// depthwise conv (x_zero_point) that writes its own SiLU output with a zero point (out_zero_point). Against the
// same math in FP32: x = (q - zp) * s_x (padding a real zero), the FP32 Conv, SiLU, q = round(y / s_y) + zp_y.
TEST(RefQConv, ZeroPointsMatchFloatMath) {
  const int64_t N = 2, C = 7, H = 9, W = 11;
  float sx = 0.f, sy = 0.f;
  int32_t zx = 0, zy = 0;
  ASSERT_TRUE(quant::asym_range(quant::kSiluMin, 3.1f, sx, zx));
  ASSERT_TRUE(quant::asym_range(quant::kSiluMin, 2.3f, sy, zy));
  EXPECT_EQ(zx, -128 + static_cast<int32_t>(std::nearbyint(-quant::kSiluMin / sx)));
  EXPECT_LT(zx, -100);  // most codes above the zero point
  // x spans the asymmetric range (codes -128 .. 127 around zx).
  const Tensor x_nchw = random_i8({N, C, H, W}, 91);
  const Tensor x = permute<int8_t>(x_nchw, true);
  const Tensor w = random_int<int8_t>({C, 1, 3, 3}, 92, -127, 127);
  const Tensor b = test::random_f32({C}, 93, -300.f, 300.f);
  std::vector<float> sw, dq;
  for (int64_t k = 0; k < C; ++k) {
    sw.push_back(0.01f * static_cast<float>(1 + k % 3));
    dq.push_back(sx * sw.back());
  }
  const Node n = make_node(OpType::QConv, {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})},
                                           {"group", attr_i(C)}, {"multiplier", attr_floats(dq)},
                                           {"act", attr_i(static_cast<int64_t>(quant::Act::Silu))},
                                           {"out_scale", attr_f(sy)}, {"x_zero_point", attr_i(zx)},
                                           {"out_zero_point", attr_i(zy)}});
  const Tensor y = run(n, {&x, &w, &b});
  ASSERT_EQ(y.shape(), (Shape{N, 5, 6, C}));
  // FP32: x dequantized with its zero point (padding: 0.0, a real zero), weights and bias in real units.
  Tensor xf(DType::f32, x_nchw.shape()), wf(DType::f32, w.shape()), bf(DType::f32, {C});
  for (int64_t i = 0; i < x_nchw.numel(); ++i)
    xf.data<float>()[i] = static_cast<float>(x_nchw.data<int8_t>()[i] - zx) * sx;
  for (int64_t i = 0; i < w.numel(); ++i) wf.data<float>()[i] = static_cast<float>(w.data<int8_t>()[i]) * sw[i / 9];
  for (int64_t k = 0; k < C; ++k) bf.data<float>()[k] = b.data<float>()[k] * dq[k];
  const Node conv = make_node(OpType::Conv, {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})},
                                             {"group", attr_i(C)}});
  const Tensor yf = permute<float>(run(conv, {&xf, &wf, &bf}), true);
  int64_t off_by_more = 0, low = 0, border_checked = 0;
  for (int64_t o = 0; o < y.numel(); ++o) {
    const double v = yf.data<float>()[o];
    const double silu = v / (1.0 + std::exp(-v));
    const double q = std::min(127.0, std::max(-128.0, std::nearbyint(silu / sy) + zy));
    off_by_more += std::abs(y.data<int8_t>()[o] - q) > 1;
    low += y.data<int8_t>()[o] < zy - 20;  // negative SiLU outputs use the codes below the zero point
    const int64_t pix = o / C, ow = pix % 6, oh = pix / 6 % 5;
    border_checked += oh == 0 || ow == 0;
  }
  EXPECT_EQ(off_by_more, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(border_checked, 0);
  // Dequantize with the zero point: (q - zp) * s.
  const Node d = make_node(OpType::Dequantize, {{"scale", attr_f(sy)}, {"zero_point", attr_i(zy)}});
  const Tensor yd = run(d, {&y});
  for (int64_t o = 0; o < y.numel(); ++o)
    ASSERT_EQ(yd.data<float>()[o], static_cast<float>(y.data<int8_t>()[o] - zy) * sy);
}

// A zero point outside the int8 range is refused, naming the node.
TEST(RefQConv, ZeroPointOutOfRangeIsRefused) {
  const Tensor x = random_i8({1, 3, 3, 1}, 1);
  const Tensor w = random_int<int8_t>({1, 1, 1, 1}, 2, -127, 127);
  const Node n = make_node(OpType::QConv, {{"multiplier", attr_floats({0.5f})}, {"x_zero_point", attr_i(200)}});
  try {
    run(n, {&x, &w});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x_zero_point 200 is outside [-128, 127]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace octet
