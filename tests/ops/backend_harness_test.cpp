// The op harness (STYLE.md "One oracle, one harness"): every case is one node in a hand-built Graph, run
// through a Plan on backend "ref" (the oracle) and on backend "cpu", and compared: INT8 outputs byte for byte,
// FP32 within the case's tolerance (max |cpu - ref| <= tol * max |ref|, default 1e-5). Where the fast kernel
// is expected, the cpu plan must have put the node on [cpu] and, with OCTET_CPU_STRICT=1, a prepare() that
// oneDNN refuses is an error instead of a silent fallback to ref. Each case also runs the cpu kernel alone
// with its output a view into a larger buffer full of a sentinel, which must survive (no out-of-bounds
// writes). QConv/QLinear cases run twice: oneDNN's fused requantization and the s32 + own-epilogue path
// (OCTET_QCONV_EPILOGUE=1), which must agree with the oracle alike. OCTET_CPU_VERBOSE=1 prints the oneDNN
// implementations; the test log prints them too.
#include <gtest/gtest.h>

#include <cstdint>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/eltwise.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/qelementwise.h"
#include "quant/quant.h"
#include "runtime/plan.h"
#include "test_util.h"

namespace octet {
namespace {


// Random int8 in [lo, hi]; `sat` in [0, 1] is the fraction of values forced to -128 or 127.
Tensor random_i8(const Shape& s, uint32_t seed, int lo = -128, int hi = 127, double sat = 0) {
  Tensor t(DType::i8, s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::uniform_real_distribution<double> p(0, 1);
  int8_t* d = t.data<int8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double r = p(rng);
    d[i] = static_cast<int8_t>(r < sat / 2 ? -128 : r < sat ? 127 : u(rng));
  }
  return t;
}
Tensor random_i32(const Shape& s, uint32_t seed, int lo, int hi) {
  Tensor t(DType::i32, s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = u(rng);
  return t;
}
// A QConv / QLinear bias: float32 in accumulator units, fractional (quant.h does not round it).
Tensor random_bias(int64_t k, uint32_t seed, float range) { return test::random_f32({k}, seed, -range, range); }

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// One case: a one-node graph and its runtime inputs.
struct Case {
  std::string name;
  Graph g;
  std::vector<Tensor> feeds;
  double tol = 1e-5;        // FP32 only
  bool expect_fast = true;  // the cpu backend must run it with its own kernel
};

class Builder {
 public:
  Builder(std::string name, OpType op) {
    c_.name = std::move(name);
    n_.op = op;
    n_.name = c_.name;
  }
  Builder& in(Tensor t) {
    const int v = c_.g.add_value("in" + std::to_string(n_.inputs.size()), t.dtype());
    c_.g.inputs.push_back(v);
    c_.feeds.push_back(std::move(t));
    n_.inputs.push_back(v);
    return *this;
  }
  Builder& cst(Tensor t) {
    n_.inputs.push_back(c_.g.add_constant("c" + std::to_string(n_.inputs.size()), std::move(t)));
    return *this;
  }
  Builder& none() {
    n_.inputs.push_back(kNoValue);
    return *this;
  }
  Builder& attr(const std::string& k, Attr a) {
    n_.attrs[k] = std::move(a);
    return *this;
  }
  Builder& post(Activation act, float alpha = 0, float beta = 0, int residual = -1) {
    n_.post.act = act;
    n_.post.alpha = alpha;
    n_.post.beta = beta;
    n_.post.residual_input = residual;
    return *this;
  }
  Builder& tol(double t) {
    c_.tol = t;
    return *this;
  }
  Builder& slow() {
    c_.expect_fast = false;
    return *this;
  }
  Case done(DType out = DType::f32) {
    const int y = c_.g.add_value("y", out);
    n_.outputs = {y};
    c_.g.outputs = {y};
    c_.g.nodes.push_back(n_);
    c_.g.finalize();
    return std::move(c_);
  }

 private:
  Case c_;
  Node n_;
};

struct EnvVar {
  EnvVar(const char* k, const char* v) : k_(k) { setenv(k, v, 1); }
  ~EnvVar() { unsetenv(k_); }
  const char* k_;
};

std::vector<Tensor> run_plan(const Case& c, const char* backend, std::vector<std::string>* describe) {
  PlanOptions opt;
  opt.backend = backend;
  auto plan = Plan::build(c.g, opt);
  std::vector<Tensor> outs;
  for (const Tensor& t : plan->run(c.feeds)) outs.push_back(t.clone());
  if (describe) *describe = plan->describe();
  return outs;
}

void expect_same(const Case& c, const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << c.name << " " << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << c.name << " " << what;
  if (want.dtype() != DType::f32) {
    if (std::memcmp(got.raw(), want.raw(), want.nbytes()) == 0) return;
    int64_t bad = 0, first = -1;
    const auto* g = static_cast<const int8_t*>(got.raw());
    const auto* w = static_cast<const int8_t*>(want.raw());
    for (size_t i = 0; i < want.nbytes(); ++i)
      if (g[i] != w[i]) bad++, first = first < 0 ? static_cast<int64_t>(i) : first;
    ADD_FAILURE() << c.name << " " << what << ": " << bad << " of " << want.nbytes() << " bytes differ, first at "
                  << first << " (cpu " << int(g[first]) << ", ref " << int(w[first]) << ")";
    return;
  }
  const double err = test::max_abs_error(got, want);
  double mx = 0;
  for (float v : want.to_f32()) mx = std::max(mx, static_cast<double>(std::fabs(v)));
  EXPECT_LE(err, c.tol * mx) << c.name << " " << what << ": max abs error " << err << ", max |ref| " << mx;
}

// Runs the cpu kernel of the case's node directly, output in the middle of a sentinel-filled buffer.
void check_guards(const Case& c, const Tensor& want) {
  const Node& n = c.g.nodes.at(0);
  auto be = make_cpu_backend(BackendOptions::from_environment());  // the epilogue route and bands too
  if (!be->supports(c.g, n)) return;
  std::vector<const Tensor*> in;
  size_t f = 0;
  for (int v : n.inputs) {
    if (v < 0) in.push_back(nullptr);
    else if (c.g.is_const(v)) in.push_back(&c.g.const_of(v));
    else in.push_back(&c.feeds[f++]);
  }
  constexpr size_t kGuard = 256;
  constexpr unsigned char kSentinel = 0xA5;
  const size_t bytes = want.nbytes();
  std::vector<unsigned char> buf(bytes + 2 * kGuard + 64, kSentinel);
  // 64-byte aligned start of the output (Tensor buffers are), guards on both sides.
  unsigned char* base = buf.data() + kGuard;
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
  Tensor y = Tensor::view(want.dtype(), want.shape(), base);
  std::vector<Tensor*> out{&y};
  auto k = be->create(c.g, n);
  k->prepare(in, out);
  k->run(in, out);
  for (unsigned char* p = buf.data(); p < base; ++p)
    ASSERT_EQ(*p, kSentinel) << c.name << ": write " << (base - p) << " bytes before the output";
  for (unsigned char* p = base + bytes; p < buf.data() + buf.size(); ++p)
    ASSERT_EQ(*p, kSentinel) << c.name << ": write " << (p - base - bytes) << " bytes past the output";
  expect_same(c, y, want, "(direct kernel)");
}

void run_case(const Case& c) {
  SCOPED_TRACE(c.name);
  std::vector<Tensor> want = run_plan(c, "ref", nullptr);
  std::vector<std::string> desc;
  std::vector<Tensor> got;
  {
    std::unique_ptr<EnvVar> strict;
    if (c.expect_fast) strict = std::make_unique<EnvVar>("OCTET_CPU_STRICT", "1");
    ASSERT_NO_THROW(got = run_plan(c, "cpu", &desc)) << c.name;
    ASSERT_EQ(desc.size(), 1u) << c.name;
    if (c.expect_fast) {
      EXPECT_NE(desc[0].find("[cpu]"), std::string::npos) << c.name << ": ran as " << desc[0];
    }
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) expect_same(c, got[i], want[i], "(plan)");
    if (c.expect_fast) check_guards(c, want[0]);
  }
  if (c.name.rfind("QConv_sum_is_fma", 0) == 0) {
    const int8_t* w = want[0].data<int8_t>();
    ASSERT_EQ(w[0], 1) << "the oracle does not fuse the residual multiply-add";
  }
  if (c.name.find("bias_before_scale") != std::string::npos) {
    const int8_t expect[] = {-74, -125, 89, 121, 108};  // (float(acc) + bias) * m, rounded half to even
    for (int i = 0; i < 5; ++i) ASSERT_EQ(want[0].data<int8_t>()[i * 5 + i], expect[i]) << "oracle, row " << i;
  }
  const OpType op = c.g.nodes[0].op;
  if (op == OpType::QConvTranspose) {
    std::printf("[ harness  ] %-40s oneDNN %s\n", c.name.c_str(), cpu::last_dnnl_impl().c_str());
    EXPECT_EQ(cpu::last_dnnl_impl().find("ref"), std::string::npos)
        << c.name << ": oneDNN picked a reference implementation: " << cpu::last_dnnl_impl();
  }
  if (op == OpType::QConv || op == OpType::QLinear) {
    std::printf("[ harness  ] %-40s oneDNN %s\n", c.name.c_str(), cpu::last_dnnl_impl().c_str());
    EXPECT_EQ(cpu::last_dnnl_impl().find("ref"), std::string::npos)
        << c.name << ": oneDNN picked a reference implementation: " << cpu::last_dnnl_impl();
    EnvVar epi("OCTET_QCONV_EPILOGUE", "1");
    EnvVar strict("OCTET_CPU_STRICT", "1");
    std::vector<Tensor> got2 = run_plan(c, "cpu", nullptr);
    for (size_t i = 0; i < want.size(); ++i) expect_same(c, got2[i], want[i], "(s32 + own epilogue)");
    check_guards(c, want[0]);
  }
}

// ---------------------------------------------------------------------------------------------------- FP32

std::vector<Case> fp32_cases() {
  using test::random_f32;
  std::vector<Case> v;
  // Slice (cpu: SliceK, constant parameters): YOLOX's Focus (every other row / column), a negative step, axes
  // in any order with a clamped end, and int8 and 1-D inputs. Values are only moved: exact.
  auto slice = [&](std::string name, Tensor x, std::vector<int64_t> starts, std::vector<int64_t> ends,
                   std::vector<int64_t> axes, std::vector<int64_t> steps) {
    const DType dt = x.dtype();
    const auto i64 = [](std::vector<int64_t> a) { return Tensor::from<int64_t>({static_cast<int64_t>(a.size())}, a); };
    Builder b(name, OpType::Slice);
    b.in(std::move(x)).cst(i64(starts)).cst(i64(ends)).cst(i64(axes)).cst(i64(steps)).tol(0);
    v.push_back(b.done(dt));
  };
  slice("Slice_focus_rows_cols", random_f32({1, 3, 13, 11}, 90), {1, 0}, {INT64_MAX, INT64_MAX}, {2, 3}, {2, 2});
  slice("Slice_focus_rows", random_f32({2, 3, 9, 7}, 91), {0}, {INT64_MAX}, {2}, {2});
  slice("Slice_negative_step", random_f32({2, 5, 7}, 92), {-1, 5}, {-100, 1}, {2, 1}, {-2, -1});
  slice("Slice_int8_axes_clamped", random_i8({3, 7, 5, 9}, 93), {1, 2, 0}, {1000, 6, 3}, {3, 1, 0}, {3, 1, 1});
  slice("Slice_1d", random_f32({37}, 94), {3}, {30}, {0}, {5});
  auto conv = [&](std::string name, Shape x, Shape w, int64_t group, std::vector<int64_t> strides,
                  std::vector<int64_t> pads, std::vector<int64_t> dil, bool bias, bool residual, Activation act,
                  Shape y_for_residual = {}) {
    Builder b(name, OpType::Conv);
    b.in(random_f32(x, 1)).cst(random_f32(w, 2));
    if (bias) b.cst(random_f32({w[0]}, 3));
    else if (residual) b.none();
    if (residual) b.in(random_f32(y_for_residual, 4));
    b.attr("group", attr_i(group)).attr("strides", attr_ints(strides)).attr("pads", attr_ints(pads));
    b.attr("dilations", attr_ints(dil));
    b.post(act, act == Activation::Clip ? -0.25f : 0.f, act == Activation::Clip ? 0.5f : 0.f, residual ? 3 : -1);
    v.push_back(b.done());
  };
  conv("F32Conv_3x3_pad1_bias", {1, 5, 11, 13}, {7, 5, 3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false,
       Activation::None);
  conv("F32Conv_strided_asym_relu", {2, 7, 13, 11}, {5, 7, 3, 2}, 1, {2, 3}, {1, 0, 2, 1}, {1, 1}, true, false,
       Activation::Relu);
  conv("F32Conv_dilated_clip", {1, 5, 13, 13}, {11, 5, 3, 3}, 1, {1, 1}, {2, 2, 2, 2}, {2, 2}, false, false,
       Activation::Clip);
  conv("F32Conv_grouped_residual_relu", {1, 10, 7, 11}, {15, 2, 3, 3}, 5, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true,
       Activation::Relu, {1, 15, 7, 11});
  conv("F32Conv_depthwise_residual", {2, 13, 11, 7}, {13, 1, 3, 3}, 13, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true,
       Activation::None, {2, 13, 11, 7});
  conv("F32Conv_1x1_clip", {1, 13, 5, 7}, {11, 13, 1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, false,
       Activation::Clip);

  {
    Builder b("F32Gemm_transB_bias_relu", OpType::Gemm);
    b.in(random_f32({7, 13}, 5)).cst(random_f32({11, 13}, 6)).cst(random_f32({11}, 7));
    b.attr("transB", attr_i(1)).post(Activation::Relu);
    v.push_back(b.done());
  }
  {
    Builder b("F32Gemm_plain", OpType::Gemm);
    b.in(random_f32({5, 11}, 8)).cst(random_f32({11, 13}, 9));
    v.push_back(b.done());
  }
  {
    Builder b("F32MatMul_2d", OpType::MatMul);
    b.in(random_f32({7, 13}, 10)).in(random_f32({13, 5}, 11));
    v.push_back(b.done());
  }
  {
    Builder b("F32MatMul_3d_const", OpType::MatMul);
    b.in(random_f32({3, 5, 11}, 12)).cst(random_f32({3, 11, 7}, 13));
    v.push_back(b.done());
  }
  {
    Builder b("F32MatMul_batch_broadcast", OpType::MatMul);
    b.in(random_f32({2, 3, 5, 13}, 14)).in(random_f32({3, 13, 7}, 15));
    v.push_back(b.done());
  }
  auto pool = [&](std::string name, OpType op, Shape x, std::map<std::string, Attr> attrs, bool fast = true) {
    Builder b(name, op);
    b.in(random_f32(x, 16));
    for (auto& [k, a] : attrs) b.attr(k, a);
    if (!fast) b.slow();
    v.push_back(b.done());
  };
  pool("F32MaxPool_3x3_s2_pad", OpType::MaxPool, {2, 5, 13, 11},
       {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}});
  pool("F32MaxPool_ceil", OpType::MaxPool, {1, 7, 11, 13},
       {{"kernel_shape", attr_ints({2, 3})}, {"strides", attr_ints({2, 2})}, {"ceil_mode", attr_i(1)}});
  pool("F32AvgPool_exclude_pad", OpType::AveragePool, {1, 5, 11, 7},
       {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
  pool("F32AvgPool_include_pad_s2", OpType::AveragePool, {2, 7, 13, 13},
       {{"kernel_shape", attr_ints({3, 2})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 1, 1})},
        {"count_include_pad", attr_i(1)}});
  pool("F32GlobalAvgPool", OpType::GlobalAveragePool, {2, 13, 7, 5}, {});
  pool("F32GlobalMaxPool", OpType::GlobalMaxPool, {1, 11, 5, 13}, {});
  return v;
}

// ---------------------------------------------------------------------------------------------------- INT8

// Multipliers that map a typical accumulator of `taps` products of int8s into a few dozen output units;
// `hot` scales them up so that most outputs saturate.
std::vector<float> mults(int64_t k, int64_t taps, uint32_t seed, float hot = 1.f) {
  const float base = hot * 40.f / (64.f * 64.f * std::sqrt(static_cast<float>(taps)));
  return random_floats(static_cast<size_t>(k), seed, 0.5f * base, 1.5f * base);
}

std::vector<Case> int8_cases() {
  std::vector<Case> v;
  // Quantize / Dequantize, incl. values on rounding ties, beyond the range, NaN and infinities.
  auto special = [](Tensor t, float scale) {
    float* p = t.data<float>();
    const float sp[] = {0.5f * scale,  1.5f * scale,  2.5f * scale, -0.5f * scale, -2.5f * scale,
                        127.5f * scale, -128.5f * scale, 1e9f, -1e9f, std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity(), std::nanf(""), -0.f};
    for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]) && static_cast<int64_t>(i) < t.numel(); ++i) p[i * 7 % t.numel()] = sp[i];
    return t;
  };
  {
    Builder b("Quantize_flat_tails", OpType::Quantize);
    b.in(special(test::random_f32({7, 13, 11}, 20, -3, 3), 0.0173f)).attr("scale", attr_f(0.0173f));
    v.push_back(b.done(DType::i8));
  }
  {
    Builder b("Quantize_to_nhwc", OpType::Quantize);
    b.in(special(test::random_f32({2, 13, 11, 71}, 21, -2, 2), 0.011f)).attr("scale", attr_f(0.011f));
    b.attr("to_nhwc", attr_i(1));
    v.push_back(b.done(DType::i8));
  }
  {
    Builder b("Quantize_to_nhwc_c3", OpType::Quantize);
    b.in(test::random_f32({1, 3, 13, 67}, 22, -2, 2)).attr("scale", attr_f(0.0157f)).attr("to_nhwc", attr_i(1));
    v.push_back(b.done(DType::i8));
  }
  {
    Builder b("Dequantize_flat", OpType::Dequantize);
    b.in(random_i8({5, 7, 13}, 23)).attr("scale", attr_f(0.0371f));
    v.push_back(b.done());
  }
  {
    Builder b("Dequantize_to_nchw", OpType::Dequantize);
    b.in(random_i8({2, 11, 67, 19}, 24)).attr("scale", attr_f(0.0093f)).attr("to_nchw", attr_i(1));
    v.push_back(b.done());
  }
  for (int to_nchw : {0, 1}) {  // with a zero point (an asymmetric tensor read by an FP32 layer)
    Builder b(to_nchw ? "Dequantize_zero_point_to_nchw" : "Dequantize_zero_point", OpType::Dequantize);
    b.in(random_i8({2, 11, 13, 19}, 27)).attr("scale", attr_f(0.0093f)).attr("to_nchw", attr_i(to_nchw));
    b.attr("zero_point", attr_i(-97));
    v.push_back(b.done());
  }
  // QMulGate: per-(image, channel) gate, one gate for all images; odd channel counts (SIMD tails).
  for (auto [name, x, gate] : {std::tuple{"QMulGate_per_image", Shape{3, 5, 7, 37}, Shape{3, 37, 1, 1}},
                               std::tuple{"QMulGate_shared_gate", Shape{2, 9, 3, 21}, Shape{1, 21, 1, 1}}}) {
    Builder b(name, OpType::QMulGate);
    b.in(random_i8(x, 27)).in(test::random_f32(gate, 28, 0.f, 1.f)).attr("scale", attr_f(1.7f));
    v.push_back(b.done(DType::i8));
  }
  // QMulGate with zero points (an SE block reading a SiLU output with one and writing its product with another).
  for (auto [name, x, gate, xzp, yzp] :
       {std::tuple{"QMulGate_zero_points", Shape{3, 5, 7, 37}, Shape{3, 37, 1, 1}, -93, -101},
        std::tuple{"QMulGate_x_zero_point_shared", Shape{2, 9, 3, 21}, Shape{1, 21, 1, 1}, -40, 0}}) {
    Builder b(name, OpType::QMulGate);
    b.in(random_i8(x, 31)).in(test::random_f32(gate, 32, 0.f, 1.f)).attr("scale", attr_f(1.7f));
    b.attr("x_zero_point", attr_i(xzp)).attr("out_zero_point", attr_i(yzp));
    v.push_back(b.done(DType::i8));
  }
  // QConvTranspose: ppocr's 2x2 stride-2 head (with ReLU, and with Sigmoid in the epilogue), odd shapes, padding
  // that crops, dilation, groups, and a 3x3 stride-2 whose taps overlap.
  auto qdeconv = [&](std::string name, Shape x, int64_t Kg, int64_t group, int64_t kh, int64_t kw,
                     std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dil, bool bias,
                     float lo, quant::Act act, uint32_t seed) {
    const int64_t K = Kg * group;
    Builder b(name, OpType::QConvTranspose);
    b.in(random_i8(x, seed, -128, 127)).cst(random_i8({x[3], Kg, kh, kw}, seed + 1, -127, 127));
    if (bias) b.cst(random_bias(K, seed + 2, 20000.f));
    b.attr("group", attr_i(group)).attr("strides", attr_ints(strides)).attr("pads", attr_ints(pads));
    b.attr("dilations", attr_ints(dil));
    std::vector<float> m = mults(K, x[3] / group * kh * kw, seed + 3);
    if (act != quant::Act::None) {
      for (float& d : m) d *= 0.05f;
      b.attr("act", attr_i(static_cast<int64_t>(act))).attr("out_scale", attr_f(1.f / 127));
    } else if (lo != quant::kNoLo) {
      b.attr("act_lo", attr_f(lo));
    }
    b.attr("multiplier", attr_floats(m));
    v.push_back(b.done(DType::i8));
  };
  const float nlo = quant::kNoLo;
  qdeconv("QConvTranspose_2x2_s2_relu", {1, 7, 9, 13}, 11, 1, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, true, 0.f,
          quant::Act::None, 80);
  qdeconv("QConvTranspose_2x2_s2_sigmoid", {2, 5, 7, 24}, 1, 1, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, true, nlo,
          quant::Act::Sigmoid, 81);
  qdeconv("QConvTranspose_3x3_s2_pads", {1, 5, 6, 7}, 5, 1, 3, 3, {2, 2}, {1, 1, 0, 1}, {1, 1}, false, nlo,
          quant::Act::None, 82);
  qdeconv("QConvTranspose_grouped_dilated", {1, 6, 5, 12}, 3, 3, 3, 2, {1, 2}, {0, 1, 1, 0}, {2, 1}, true, nlo,
          quant::Act::None, 83);
  // QResize: nearest in ONNX's coordinate / rounding modes, and linear (quant::lerp2d), odd sizes and scales.
  auto qresize = [&](std::string name, Shape x, std::string mode, std::string ctm, std::string nearest, float sh,
                     float sw) {
    Builder b(name, OpType::QResize);
    b.in(random_i8(x, 90, -128, 127, 0.1));
    b.attr("mode", attr_s(mode)).attr("coordinate_transformation_mode", attr_s(ctm));
    b.attr("nearest_mode", attr_s(nearest)).attr("scales", attr_floats({sh, sw}));
    v.push_back(b.done(DType::i8));
  };
  qresize("QResize_nearest_asym_floor_x2", {1, 7, 5, 13}, "nearest", "asymmetric", "floor", 2.f, 2.f);
  qresize("QResize_nearest_asym_floor_x4", {2, 3, 5, 24}, "nearest", "asymmetric", "floor", 4.f, 4.f);
  qresize("QResize_nearest_halfpixel_round", {1, 7, 9, 5}, "nearest", "half_pixel", "round_prefer_floor", 1.7f, 0.6f);
  qresize("QResize_nearest_align_ceil", {1, 5, 7, 3}, "nearest", "align_corners", "ceil", 2.3f, 1.5f);
  qresize("QResize_linear_halfpixel", {1, 7, 5, 13}, "linear", "half_pixel", "round_prefer_floor", 2.f, 3.f);
  qresize("QResize_linear_pytorch_down", {2, 11, 13, 7}, "linear", "pytorch_half_pixel", "floor", 0.5f, 0.7f);
  qresize("QResize_linear_align_corners", {1, 5, 6, 67}, "linear", "align_corners", "floor", 2.5f, 1.75f);
  qresize("QResize_linear_asymmetric", {1, 4, 9, 33}, "linear", "asymmetric", "floor", 1.5f, 2.f);
  // QMulGate with a HardSigmoid gate (PP-LCNet's SE): pre-activation gates on both sides of the clamps.
  for (auto [name, x, gate] : {std::tuple{"QMulGate_hardsigmoid_per_image", Shape{2, 5, 7, 37}, Shape{2, 37, 1, 1}},
                               std::tuple{"QMulGate_hardsigmoid_shared", Shape{1, 9, 3, 21}, Shape{1, 21, 1, 1}}}) {
    Builder b(name, OpType::QMulGate);
    b.in(random_i8(x, 29)).in(test::random_f32(gate, 30, -5.f, 5.f)).attr("scale", attr_f(1.3f));
    b.attr("gate_act", attr_i(1)).attr("gate_alpha", attr_f(1.f / 6)).attr("gate_beta", attr_f(0.5f));
    v.push_back(b.done(DType::i8));
  }
  // QAdd: plain, saturation-heavy with ReLU, clipped.
  auto qadd = [&](std::string name, Shape s, float sa, float sb, float lo, float hi, double sat) {
    Builder b(name, OpType::QAdd);
    b.in(random_i8(s, 25, -128, 127, sat)).in(random_i8(s, 26, -128, 127, sat));
    b.attr("scale_a", attr_f(sa)).attr("scale_b", attr_f(sb));
    if (lo != quant::kNoLo) b.attr("act_lo", attr_f(lo));
    if (hi != quant::kNoHi) b.attr("act_hi", attr_f(hi));
    v.push_back(b.done(DType::i8));
  };
  qadd("QAdd_plain", {1, 7, 11, 13}, 0.7311f, 0.4177f, quant::kNoLo, quant::kNoHi, 0);
  qadd("QAdd_saturating_relu", {2, 5, 13, 11}, 1.37f, 0.913f, 0.f, quant::kNoHi, 0.5);
  qadd("QAdd_clip", {5, 7, 11}, 0.5f, 0.5f, -20.5f, 33.25f, 0.2);  // ties at .5 everywhere
  // QConv.
  auto qconv = [&](std::string name, Shape x, int64_t K, int64_t group, int64_t kh, int64_t kw,
                   std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dil, bool bias,
                   bool residual, float lo, float hi, float hot = 1.f, double sat = 0) {
    const int64_t Cg = x[3] / group;
    const int64_t OH = (x[1] + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / strides[0] + 1;
    const int64_t OW = (x[2] + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / strides[1] + 1;
    Builder b(name, OpType::QConv);
    b.in(random_i8(x, 30, -128, 127, sat)).cst(random_i8({K, Cg, kh, kw}, 31, -127, 127));
    if (bias) b.cst(random_bias(K, 32, 20000.f));
    else if (residual) b.none();
    if (residual) b.in(random_i8({x[0], OH, OW, K}, 33, -128, 127, sat));
    b.attr("group", attr_i(group)).attr("strides", attr_ints(strides)).attr("pads", attr_ints(pads));
    b.attr("dilations", attr_ints(dil)).attr("multiplier", attr_floats(mults(K, Cg * kh * kw, 34, hot)));
    if (residual) b.attr("residual_scale", attr_f(0.8137f));
    if (lo != quant::kNoLo) b.attr("act_lo", attr_f(lo));
    if (hi != quant::kNoHi) b.attr("act_hi", attr_f(hi));
    v.push_back(b.done(DType::i8));
  };
  const float no_lo = quant::kNoLo, no_hi = quant::kNoHi;
  qconv("QConv_3x3_pad1_bias", {1, 11, 13, 5}, 7, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, no_lo, no_hi);
  qconv("QConv_strided_asym_relu", {2, 13, 11, 7}, 5, 1, 3, 2, {2, 3}, {1, 0, 2, 1}, {1, 1}, true, false, 0.f, no_hi);
  qconv("QConv_dilated_clip", {1, 13, 13, 5}, 11, 1, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}, false, false, -17.f, 23.5f);
  qconv("QConv_1x1_residual_relu", {1, 7, 5, 13}, 11, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, 0.f, no_hi);
  qconv("QConv_grouped_residual", {1, 7, 11, 10}, 15, 5, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true, no_lo, no_hi);
  qconv("QConv_depthwise_relu", {2, 11, 7, 13}, 13, 13, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, 0.f, no_hi);
  qconv("QConv_depthwise_s2_residual", {1, 13, 11, 32}, 32, 32, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true, no_lo,
        no_hi);
  qconv("QConv_saturating_residual_clip", {2, 7, 13, 11}, 13, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true, -64.f,
        100.f, 8.f, 0.6);
  qconv("QConv_all_min_input", {1, 5, 7, 11}, 5, 1, 3, 3, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, false, no_lo, no_hi, 1.f,
        1.0);
  // 256 channels x 3x3 with uniform weights: |acc| reaches 128 * 2304 * 64 > 2^24, where float(acc) rounds
  // (vcvtdq2ps and static_cast<float> round the same way, to nearest even).
  qconv("QConv_big_acc_epilogue", {1, 5, 7, 256}, 13, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, true, no_lo, no_hi,
        1.f, 0.7);
  qconv("QConv_64ch_3x3", {1, 13, 11, 64}, 64, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, 0.f, no_hi);
  qconv("QConv_residual_batched_steps", {3, 41, 39, 16}, 97, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, 0.f,
        no_hi);
  // Shapes of the cuda backend's GEMM path (im2col + cuBLASLt + own epilogue, kernels_gemm.h): Cin 3/17/64,
  // Cout 7/64/130 (not multiples of 4: padded GEMM rows), 7x7 / 3x3 / 1x1 (Cin 64: no im2col), stride 2, batch 3.
  qconv("QConv_7x7_s2_cin3_b3", {3, 19, 17, 3}, 64, 1, 7, 7, {2, 2}, {3, 3, 3, 3}, {1, 1}, true, false, 0.f, no_hi);
  qconv("QConv_3x3_s2_cin17_cout130_residual", {1, 9, 11, 17}, 130, 1, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true,
        no_lo, no_hi);
  qconv("QConv_1x1_cin64_cout130_b3_clip", {3, 5, 7, 64}, 130, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, -20.f,
        30.f);
  qconv("QConv_1x1_s2_cin64_cout7", {1, 9, 7, 64}, 7, 1, 1, 1, {2, 2}, {0, 0, 0, 0}, {1, 1}, false, false, no_lo, no_hi);
  // Non-linear epilogue activations (quant::requantize_act; always the s32 + own-epilogue route). multiplier is
  // the dequantization here: real values of a few units, so SiLU/Sigmoid/HardSwish see their curved parts.
  auto qconv_act = [&](std::string name, Shape x, int64_t K, int64_t group, int64_t kh, quant::Act act, float sy,
                       uint32_t seed, float act_mul = 1.f, float act_add = 0.f, bool residual = false,
                       int64_t stride = 1) {
    const int64_t Cg = x[3] / group;
    Builder b(name, OpType::QConv);
    b.in(random_i8(x, seed, -128, 127)).cst(random_i8({K, Cg, kh, kh}, seed + 1, -127, 127));
    b.cst(random_bias(K, seed + 2, 20000.f));
    if (residual) {  // added after the activation (quant::requantize_act_residual)
      const int64_t OH = (x[1] + 2 * (kh / 2) - kh) / stride + 1, OW = (x[2] + 2 * (kh / 2) - kh) / stride + 1;
      b.in(random_i8({x[0], OH, OW, K}, seed + 4, -128, 127)).attr("residual_scale", attr_f(0.6731f));
    }
    if (stride != 1) b.attr("strides", attr_ints({stride, stride}));
    b.attr("group", attr_i(group)).attr("pads", attr_ints({kh / 2, kh / 2, kh / 2, kh / 2}));
    std::vector<float> dq = mults(K, Cg * kh * kh, seed + 3, 1.f);
    for (float& d : dq) d *= 0.05f;  // mults() maps a typical |acc| to ~40; here ~2 real units
    b.attr("multiplier", attr_floats(dq)).attr("act", attr_i(static_cast<int64_t>(act)));
    b.attr("act_alpha", attr_f(0.1f)).attr("out_scale", attr_f(sy));
    if (act_mul != 1.f || act_add != 0.f) b.attr("act_mul", attr_f(act_mul)).attr("act_add", attr_f(act_add));
    v.push_back(b.done(DType::i8));
  };
  qconv_act("QConv_silu_3x3", {2, 9, 11, 13}, 19, 1, 3, quant::Act::Silu, 0.047f, 50);
  qconv_act("QConv_silu_depthwise", {1, 13, 7, 35}, 35, 35, 3, quant::Act::Silu, 0.031f, 51);
  qconv_act("QConv_sigmoid_1x1", {1, 5, 7, 21}, 17, 1, 1, quant::Act::Sigmoid, 1.f / 127, 52);
  qconv_act("QConv_hardswish_grouped", {1, 7, 9, 12}, 18, 3, 3, quant::Act::HardSwish, 0.05f, 53);
  // A scalar affine after the activation (PP-LCNet's HardSwish -> Mul -> Add), folded into the epilogue.
  qconv_act("QConv_hardswish_affine_dw", {1, 9, 11, 27}, 27, 27, 3, quant::Act::HardSwish, 0.02f, 56, 0.4763f, -0.0757f);
  qconv_act("QConv_silu_affine_1x1", {2, 5, 7, 13}, 17, 1, 1, quant::Act::Silu, 0.03f, 57, 1.37f, 0.5f);
  qconv_act("QConv_leakyrelu_saturating", {2, 7, 5, 9}, 11, 1, 3, quant::Act::LeakyRelu, 0.01f, 54);
  // s32 outputs of more than 1 MiB: the s32 route runs one image (or a few) per oneDNN call.
  qconv_act("QConv_hardswish_1x1_cin64", {3, 5, 7, 64}, 7, 1, 1, quant::Act::HardSwish, 0.05f, 56);
  qconv_act("QConv_sigmoid_7x7_cin5", {1, 11, 9, 5}, 130, 1, 7, quant::Act::Sigmoid, 1.f / 127, 57);
  qconv_act("QConv_silu_batched_steps", {3, 41, 39, 16}, 97, 1, 1, quant::Act::Silu, 0.05f, 55);
  // Zero points (quant.h; QuantizeOptions::asymmetric_activations): x_zero_point on the input, padded taps a real
  // zero (oneDNN's padding compensation), with and without out_zero_point, on both routes (fused and s32).
  auto with_zp = [&](const std::string& name, int64_t xzp, int64_t yzp) {
    Case& c = v.back();
    c.name = name;
    c.g.nodes[0].attrs["x_zero_point"] = attr_i(xzp);
    if (yzp != 0) c.g.nodes[0].attrs["out_zero_point"] = attr_i(yzp);
  };
  qconv_act("QConv_xzp_silu_dw_s2", {1, 13, 11, 35}, 35, 35, 3, quant::Act::Silu, 0.009f, 70, 1.f, 0.f, false, 2);
  with_zp("QConv_xzp_silu_dw_s2", -91, -97);
  qconv_act("QConv_xzp_silu_dw", {2, 9, 7, 32}, 32, 32, 3, quant::Act::Silu, 0.009f, 71);
  with_zp("QConv_xzp_silu_dw", -128, -90);
  qconv("QConv_xzp_3x3_s23_asym_pads", {1, 9, 11, 17}, 19, 1, 3, 3, {2, 3}, {1, 0, 2, 1}, {1, 1}, true, false, no_lo,
        no_hi);
  with_zp("QConv_xzp_3x3_s23_asym_pads", 127, 0);
  qconv("QConv_xzp_grouped_relu", {1, 7, 11, 10}, 15, 5, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, 0.f, no_hi);
  with_zp("QConv_xzp_grouped_relu", -77, 0);
  qconv("QConv_xzp_1x1_residual", {2, 5, 7, 13}, 17, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, no_lo, no_hi);
  with_zp("QConv_xzp_1x1_residual", -100, 0);
  qconv_act("QConv_xzp_silu_1x1", {2, 5, 7, 24}, 48, 1, 1, quant::Act::Silu, 0.009f, 72);
  with_zp("QConv_xzp_silu_1x1", -93, -91);
  // YOLOX-like 3x3 layers (oneDNN's brgconv family at these sizes, with its own padding compensation).
  qconv_act("QConv_xzp_silu_3x3_c96_26", {1, 26, 26, 96}, 96, 1, 3, quant::Act::Silu, 0.009f, 73);
  with_zp("QConv_xzp_silu_3x3_c96_26", -97, -96);
  qconv_act("QConv_xzp_silu_3x3_s2_c48_52", {1, 52, 52, 48}, 96, 1, 3, quant::Act::Silu, 0.009f, 74, 1.f, 0.f, false, 2);
  with_zp("QConv_xzp_silu_3x3_s2_c48_52", -99, -95);
  // A residual added after the activation (YOLOX's x + SiLU(conv(...))): channels not multiples of 16, 1x1 and
  // 3x3, stride 2, several images per oneDNN step (the residual's offset), an affine before the residual.
  qconv_act("QConv_silu_then_residual_3x3", {2, 9, 11, 13}, 19, 1, 3, quant::Act::Silu, 0.047f, 60, 1.f, 0.f, true);
  qconv_act("QConv_silu_then_residual_1x1_s2", {1, 11, 9, 21}, 5, 1, 1, quant::Act::Silu, 0.03f, 61, 1.f, 0.f, true, 2);
  qconv_act("QConv_silu_then_residual_3x3_s2", {1, 13, 12, 24}, 24, 1, 3, quant::Act::Silu, 0.02f, 62, 1.f, 0.f, true,
            2);
  qconv_act("QConv_hardswish_then_residual_dw", {1, 9, 11, 27}, 27, 27, 3, quant::Act::HardSwish, 0.05f, 63, 1.f, 0.f,
            true);
  qconv_act("QConv_silu_affine_then_residual", {2, 5, 7, 13}, 17, 1, 1, quant::Act::Silu, 0.03f, 64, 1.37f, 0.5f, true);
  qconv_act("QConv_silu_then_residual_batched_steps", {3, 41, 39, 16}, 97, 1, 1, quant::Act::Silu, 0.05f, 65, 1.f, 0.f,
            true);
  // The sum post-op must be one fma, as quant::requantize_residual: acc = -2 (x = -2 through an identity
  // kernel), multiplier 1, residual 3, residual_scale = 6990507 * 2^-23. Exactly, 3 * rs = 2.5 + 2^-23, so
  // fmaf(rs, 3, -2) = 0.5 + 2^-23 rounds to 1, while a separately rounded product is 2.5 (a tie, to even) and
  // gives 0.5 -> 0. 3x3 with only the centre tap, and 1x1, to reach both oneDNN kernel families.
  for (int64_t kk : {int64_t{3}, int64_t{1}}) {
    const int64_t C = 16;
    Tensor x(DType::i8, {1, 5, 7, C}), r(DType::i8, {1, 5, 7, C}), w(DType::i8, {C, C, kk, kk});
    std::fill(x.data<int8_t>(), x.data<int8_t>() + x.numel(), int8_t{-2});
    std::fill(r.data<int8_t>(), r.data<int8_t>() + r.numel(), int8_t{3});
    for (int64_t k = 0; k < C; ++k) w.data<int8_t>()[((k * C + k) * kk + kk / 2) * kk + kk / 2] = 1;
    Builder b("QConv_sum_is_fma_" + std::to_string(kk) + "x" + std::to_string(kk), OpType::QConv);
    b.in(x).cst(w).none().in(r);
    b.attr("pads", attr_ints({kk / 2, kk / 2, kk / 2, kk / 2}));
    b.attr("multiplier", attr_floats(std::vector<float>(C, 1.f))).attr("residual_scale", attr_f(std::ldexp(6990507.f, -23)));
    v.push_back(b.done(DType::i8));
  }
  // The bias must be added to the accumulator before the scale: for these (x, w, bias, multiplier) rows,
  // float(x*w + bias) * m and float(x*w) * m + float(bias) * m round to different integers (found by search).
  // Output (i, i) of a K=1 QLinear / 1x1 QConv over 5 rows/pixels and 5 channels sees row i's values.
  {
    const std::vector<int8_t> xs{122, 79, -92, 86, -15}, ws{-121, -100, 65, -11, -87};
    const std::vector<float> bs{5464, -11847, 18121, 16445, 16748};
    const uint32_t mbits[] = {0x3c0183a9, 0x3bd040ec, 0x3bf18e6e, 0x3c00700d, 0x3bc31f8d};
    std::vector<float> ms;
    for (uint32_t u : mbits) ms.push_back(std::bit_cast<float>(u));
    {
      Builder b("QLinear_bias_before_scale", OpType::QLinear);
      b.in(Tensor::from<int8_t>({5, 1}, xs)).cst(Tensor::from<int8_t>({5, 1}, ws)).cst(Tensor::from<float>({5}, bs));
      b.attr("multiplier", attr_floats(ms));
      v.push_back(b.done(DType::i8));
    }
    {
      Builder b("QConv_bias_before_scale", OpType::QConv);
      b.in(Tensor::from<int8_t>({1, 1, 5, 1}, xs)).cst(Tensor::from<int8_t>({5, 1, 1, 1}, ws));
      b.cst(Tensor::from<float>({5}, bs)).attr("multiplier", attr_floats(ms));
      v.push_back(b.done(DType::i8));
    }
  }
  // QLinear.
  auto qlinear = [&](std::string name, Shape x, int64_t N, bool bias, float lo, float hi, float hot = 1.f,
                     double sat = 0) {
    const int64_t K = x.back();
    Builder b(name, OpType::QLinear);
    b.in(random_i8(x, 40, -128, 127, sat)).cst(random_i8({N, K}, 41, -127, 127));
    if (bias) b.cst(random_bias(N, 42, 30000.f));
    b.attr("multiplier", attr_floats(mults(N, K, 43, hot)));
    if (lo != quant::kNoLo) b.attr("act_lo", attr_f(lo));
    if (hi != quant::kNoHi) b.attr("act_hi", attr_f(hi));
    v.push_back(b.done(DType::i8));
  };
  qlinear("QLinear_2d_bias", {7, 13}, 11, true, no_lo, no_hi);
  for (auto [act, nm] : {std::pair{quant::Act::Silu, "silu"}, std::pair{quant::Act::Sigmoid, "sigmoid"}}) {
    Builder b(std::string("QLinear_") + nm, OpType::QLinear);
    b.in(random_i8({3, 5, 37}, 45, -128, 127)).cst(random_i8({19, 37}, 46, -127, 127)).cst(random_bias(19, 47, 30000.f));
    std::vector<float> dq = mults(19, 37, 48, 1.f);
    for (float& d : dq) d *= 0.05f;
    b.attr("multiplier", attr_floats(dq)).attr("act", attr_i(static_cast<int64_t>(act))).attr("out_scale", attr_f(0.04f));
    v.push_back(b.done(DType::i8));
  }
  qlinear("QLinear_3d_relu", {3, 5, 11}, 13, true, 0.f, no_hi);
  qlinear("QLinear_nobias_saturating", {5, 64}, 7, false, -30.f, 30.f, 8.f, 0.5);
  qlinear("QLinear_big_k", {3, 1500}, 13, true, no_lo, no_hi, 1.f, 0.7);
  // Pools.
  auto qpool = [&](std::string name, OpType op, Shape x, std::map<std::string, Attr> attrs, double sat = 0,
                   int hi = 127) {
    Builder b(name, op);
    b.in(random_i8(x, 50, -128, hi, sat));
    for (auto& [k, a] : attrs) b.attr(k, a);
    v.push_back(b.done(DType::i8));
  };
  qpool("QMaxPool_3x3_s2_pad", OpType::QMaxPool, {2, 13, 11, 7},
        {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}});
  qpool("QMaxPool_dilated_asym", OpType::QMaxPool, {1, 11, 13, 67},
        {{"kernel", attr_ints({2, 3})}, {"strides", attr_ints({1, 2})}, {"pads", attr_ints({0, 2, 1, 1})},
         {"dilations", attr_ints({2, 2})}});
  // All -128 inside the window: padding must not win (it would give 0 if it took part).
  qpool("QMaxPool_all_min_window", OpType::QMaxPool, {1, 7, 5, 13},
        {{"kernel", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}}, 1.0, -128);
  qpool("QAvgPool_exclude_pad", OpType::QAvgPool, {2, 11, 7, 13},
        {{"kernel", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}, {"multiplier", attr_f(0.917f)}});
  qpool("QAvgPool_include_pad_s2", OpType::QAvgPool, {1, 13, 13, 5},
        {{"kernel", attr_ints({3, 2})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 1, 1})},
         {"count_include_pad", attr_i(1)}, {"multiplier", attr_f(1.31f)}});
  qpool("QAvgPool_saturating", OpType::QAvgPool, {1, 7, 11, 67},
        {{"kernel", attr_ints({2, 2})}, {"multiplier", attr_f(3.7f)}}, 0.8);
  qpool("QAvgPool_all_min_window", OpType::QAvgPool, {1, 5, 7, 11},
        {{"kernel", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}, {"multiplier", attr_f(1.f)}}, 1.0, -128);
  qpool("QAvgPool_global", OpType::QAvgPool, {2, 7, 5, 13}, {{"global", attr_i(1)}, {"multiplier", attr_f(0.77f)}});
  qpool("QAvgPool_global_wide", OpType::QAvgPool, {1, 11, 13, 300}, {{"global", attr_i(1)}, {"multiplier", attr_f(1.f)}},
        0.3);
  // With an input zero point: padded taps are real zeros (include_pad counts them, they add nothing).
  qpool("QAvgPool_zero_point_include_pad", OpType::QAvgPool, {1, 13, 11, 21},
        {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})},
         {"count_include_pad", attr_i(1)}, {"multiplier", attr_f(1.13f)}, {"x_zero_point", attr_i(-97)}});
  qpool("QAvgPool_zero_point_exclude_pad", OpType::QAvgPool, {2, 7, 9, 67},
        {{"kernel", attr_ints({2, 3})}, {"pads", attr_ints({0, 1, 1, 1})}, {"multiplier", attr_f(0.71f)},
         {"x_zero_point", attr_i(-60)}}, 0.3);
  qpool("QAvgPool_global_zero_point", OpType::QAvgPool, {2, 11, 13, 300},
        {{"global", attr_i(1)}, {"multiplier", attr_f(1.9f)}, {"x_zero_point", attr_i(-110)}});
  // QConcat along C (NHWC) with rescaling and a plain copy, and along an outer axis.
  {
    Builder b("QConcat_channels", OpType::QConcat);
    b.in(random_i8({1, 7, 5, 13}, 60, -128, 127, 0.2)).in(random_i8({1, 7, 5, 11}, 61)).in(random_i8({1, 7, 5, 5}, 62));
    b.attr("axis", attr_i(3)).attr("scales", attr_floats({0.613f, 1.f, 1.79f}));
    v.push_back(b.done(DType::i8));
  }
  {
    Builder b("QConcat_axis1", OpType::QConcat);
    b.in(random_i8({2, 5, 7, 11}, 63)).in(random_i8({2, 13, 7, 11}, 64));
    b.attr("axis", attr_i(1)).attr("scales", attr_floats({1.f, 0.5f}));
    v.push_back(b.done(DType::i8));
  }
  {
    Builder b("QConcat_axis0_big", OpType::QConcat);
    b.in(random_i8({5, 7000}, 65)).in(random_i8({11, 7000}, 66));
    b.attr("axis", attr_i(0)).attr("scales", attr_floats({1.5f, 1.f}));
    v.push_back(b.done(DType::i8));
  }
  return v;
}

// ------------------------------------------------------------------------------------------ FP32 eltwise


// Random floats with a few exact specials (±0, ±1, ±6, the Clip bounds below) sprinkled in.
Tensor eltwise_input(const Shape& s, uint32_t seed, float lo = -8.f, float hi = 8.f) {
  Tensor t = test::random_f32(s, seed, lo, hi);
  const float sp[] = {0.f, -0.f, 1.f, -1.f, 6.f, -6.f, -0.5f, 0.75f, -3.f, 3.f};
  float* p = t.data<float>();
  for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]) && static_cast<int64_t>(i) * 3 < t.numel(); ++i)
    if (sp[i] >= lo && sp[i] <= hi) p[i * 3] = sp[i];
  return t;
}

// The FP32 element-wise, normalization and data-movement kernels of eltwise.h. tol(0): bit-identical to the
// oracle (same float operations per element, same std:: functions, same double accumulation order).
// Shapes: the odd 5/7/11/13 ones and sizes just below / above the points where the kernels start to thread
// (2 x 65536 elements for memory-bound loops, 2 x 8192 for transcendental ones).
std::vector<Case> eltwise_cases() {
  std::vector<Case> v;
  const Shape odd{5, 7, 11, 13};
  const std::vector<Shape> cheap_shapes{odd, {131071}, {3, 43691}};
  const std::vector<Shape> transc_shapes{odd, {16383}, {16385}};
  auto unary = [&](std::string name, OpType op, const std::vector<Shape>& shapes, std::map<std::string, Attr> attrs,
                   float lo = -8.f, float hi = 8.f) {
    uint32_t seed = 100;
    for (const Shape& s : shapes) {
      Builder b(name + "_" + std::to_string(numel(s)), op);
      b.in(eltwise_input(s, seed++, lo, hi));
      for (auto& [k, a] : attrs) b.attr(k, a);
      v.push_back(b.tol(0).done());
    }
  };
  unary("F32Relu", OpType::Relu, cheap_shapes, {});
  unary("F32LeakyRelu", OpType::LeakyRelu, cheap_shapes, {{"alpha", attr_f(0.13f)}});
  unary("F32HardSigmoid", OpType::HardSigmoid, cheap_shapes, {{"alpha", attr_f(0.3f)}, {"beta", attr_f(0.4f)}});
  unary("F32HardSwish", OpType::HardSwish, cheap_shapes, {});
  unary("F32Neg", OpType::Neg, cheap_shapes, {});
  unary("F32Abs", OpType::Abs, cheap_shapes, {});
  unary("F32Sqrt", OpType::Sqrt, cheap_shapes, {}, 0.f, 9.f);
  unary("F32Identity", OpType::Identity, cheap_shapes, {});
  unary("F32Dropout", OpType::Dropout, {odd}, {});
  unary("F32Sigmoid", OpType::Sigmoid, transc_shapes, {});
  unary("F32Tanh", OpType::Tanh, transc_shapes, {});
  unary("F32GeluErf", OpType::Gelu, transc_shapes, {});
  unary("F32GeluTanh", OpType::Gelu, transc_shapes, {{"approximate", attr_s("tanh")}});
  unary("F32Erf", OpType::Erf, transc_shapes, {});
  unary("F32Exp", OpType::Exp, transc_shapes, {});
  unary("F32Softplus", OpType::Softplus, transc_shapes, {});
  unary("F32Mish", OpType::Mish, transc_shapes, {});
  unary("F32Elu", OpType::Elu, transc_shapes, {{"alpha", attr_f(0.7f)}});
  unary("F32ClipAttrs", OpType::Clip, {odd}, {{"min", attr_f(-0.5f)}, {"max", attr_f(0.75f)}});
  for (const Shape& s : cheap_shapes) {
    Builder b("F32Clip_" + std::to_string(numel(s)), OpType::Clip);
    b.in(eltwise_input(s, 7)).cst(Tensor::from<float>({}, {-0.5f})).cst(Tensor::from<float>({}, {6.f}));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Clip_min_only", OpType::Clip);
    b.in(eltwise_input(odd, 8)).cst(Tensor::from<float>({}, {0.f}));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Clip_max_only", OpType::Clip);
    b.in(eltwise_input(odd, 9)).none().cst(Tensor::from<float>({}, {0.75f}));
    v.push_back(b.tol(0).done());
  }
  // Binary: every op on every broadcast pattern (constant second operands as the layout pass makes them, and
  // runtime ones), Add with each post-op.
  struct Pat { std::string name; Shape a, b; bool b_const; };
  const std::vector<Pat> pats{
      {"same", odd, odd, false},
      {"scalar", odd, {1}, true},
      {"scalar_rank0", {7, 11}, {}, false},
      {"scalar_first", {1}, {5, 7, 13}, false},
      {"lastdim", odd, {13}, true},
      {"lastdim_111C", {2, 7, 11, 13}, {1, 1, 1, 13}, true},
      {"nhwc_N11C", {2, 7, 11, 13}, {2, 1, 1, 13}, false},
      {"nchw_1C11", {2, 13, 7, 11}, {1, 13, 1, 1}, true},
      {"nchw_C11", {2, 13, 7, 11}, {13, 1, 1}, true},
      {"general", {5, 1, 11}, {7, 1}, false},
      {"general_first_bcast", {7, 1}, {5, 7, 11}, false},
      {"big_same", {3, 43691}, {3, 43691}, false},
      {"big_lastdim", {2, 256, 257}, {257}, true},
      {"big_nhwc_N11C", {2, 56, 37, 32}, {2, 1, 1, 32}, false},
      {"big_nchw_C11", {1, 32, 67, 67}, {32, 1, 1}, true},
  };
  const std::pair<std::string, OpType> ops[] = {{"Add", OpType::Add}, {"Sub", OpType::Sub}, {"Mul", OpType::Mul},
                                                {"Div", OpType::Div}, {"Min", OpType::Min}, {"Max", OpType::Max}};
  uint32_t seed = 300;
  for (const auto& [opname, op] : ops)
    for (const Pat& p : pats) {
      Builder b("F32" + opname + "_" + p.name, op);
      b.in(eltwise_input(p.a, seed++));
      // Divisors away from 0; Min/Max operands on a coarse grid so that ties occur.
      Tensor bt = op == OpType::Div ? test::random_f32(p.b, seed++, 0.5f, 3.f) : eltwise_input(p.b, seed++);
      if (op == OpType::Min || op == OpType::Max) {
        float* q = bt.data<float>();
        for (int64_t i = 0; i < bt.numel(); ++i) q[i] = std::round(q[i] * 2.f) / 2.f;
      }
      if (p.b_const) b.cst(std::move(bt));
      else b.in(std::move(bt));
      v.push_back(b.tol(0).done());
    }
  const std::tuple<std::string, Activation, float, float> acts[] = {{"relu", Activation::Relu, 0.f, 0.f},
                                                                    {"clip", Activation::Clip, -0.5f, 6.f},
                                                                    {"leaky", Activation::LeakyRelu, 0.1f, 0.f},
                                                                    {"hardswish", Activation::HardSwish, 0.f, 0.f},
                                                                    {"sigmoid", Activation::Sigmoid, 0.f, 0.f}};
  for (const auto& [aname, act, al, be] : acts)
    for (const Pat& p : {pats[0], pats[4], pats[7], pats[11]}) {
      Builder b("F32Add_" + p.name + "_post_" + aname, OpType::Add);
      b.in(eltwise_input(p.a, seed++));
      if (p.b_const) b.cst(eltwise_input(p.b, seed++));
      else b.in(eltwise_input(p.b, seed++));
      v.push_back(b.post(act, al, be).tol(0).done());
    }
  // Softmax / LogSoftmax (double accumulation as the oracle, same order): last axis, a middle axis, big rows.
  auto softmax = [&](std::string name, OpType op, Shape s, int64_t axis) {
    Builder b(name, op);
    b.in(eltwise_input(s, seed++, -6.f, 6.f)).attr("axis", attr_i(axis));
    v.push_back(b.tol(0).done());
  };
  softmax("F32Softmax_last", OpType::Softmax, odd, -1);
  softmax("F32Softmax_axis1", OpType::Softmax, {5, 7, 11, 13}, 1);
  softmax("F32Softmax_rows_big", OpType::Softmax, {3, 7, 1031}, 2);
  softmax("F32LogSoftmax_last", OpType::LogSoftmax, {7, 13}, -1);
  softmax("F32LogSoftmax_big", OpType::LogSoftmax, {33, 1031}, -1);
  // LayerNormalization over the last dim(s), scale/bias as constants.
  auto layernorm = [&](std::string name, Shape x, int64_t axis, Shape ps, bool bias) {
    Builder b(name, OpType::LayerNormalization);
    b.in(eltwise_input(x, seed++, -3.f, 5.f));
    b.cst(test::random_f32(ps, seed++, 0.5f, 1.5f));
    if (bias) b.cst(test::random_f32(ps, seed++));
    b.attr("axis", attr_i(axis)).attr("epsilon", attr_f(1e-5f));
    v.push_back(b.tol(0).done());
  };
  layernorm("F32LayerNorm_last", {5, 7, 13}, -1, {13}, true);
  layernorm("F32LayerNorm_two_dims", {5, 7, 13}, 1, {7, 13}, true);
  layernorm("F32LayerNorm_suffix_param", {5, 7, 13}, 1, {13}, true);
  layernorm("F32LayerNorm_nobias", {11, 13}, -1, {13}, false);
  layernorm("F32LayerNorm_big", {16, 65, 192}, -1, {192}, true);
  // BatchNormalization, NCHW inference.
  for (const Shape& s : std::vector<Shape>{{2, 13, 7, 11}, {2, 5, 131}, {1, 7, 157, 131}}) {
    const int64_t C = s[1];
    Builder b("F32BatchNorm_" + std::to_string(numel(s)), OpType::BatchNormalization);
    b.in(eltwise_input(s, seed++));
    b.cst(test::random_f32({C}, seed++, 0.5f, 2.f));
    b.cst(test::random_f32({C}, seed++));
    b.cst(test::random_f32({C}, seed++));
    b.cst(test::random_f32({C}, seed++, 0.1f, 3.f)).attr("epsilon", attr_f(1e-3f));
    v.push_back(b.tol(0).done());
  }
  // Concat on every axis, several inputs, one big.
  auto concat = [&](std::string name, std::vector<Shape> shapes, int64_t axis, DType dt = DType::f32) {
    Builder b(name, OpType::Concat);
    for (const Shape& s : shapes) b.in(dt == DType::f32 ? eltwise_input(s, seed++) : random_i8(s, seed++));
    b.attr("axis", attr_i(axis));
    v.push_back(b.tol(0).done(dt));
  };
  concat("F32Concat_axis0", {{5, 7, 11}, {7, 7, 11}}, 0);
  concat("F32Concat_axis1", {{2, 5, 7, 11}, {2, 13, 7, 11}, {2, 1, 7, 11}}, 1);
  concat("F32Concat_axis_last", {{2, 7, 11, 5}, {2, 7, 11, 13}}, -1);
  concat("F32Concat_axis1_3d", {{5, 7, 11}, {5, 13, 11}}, 1);
  concat("F32Concat_big_channels", {{1, 56, 56, 24}, {1, 56, 56, 40}}, 3);
  concat("F32Concat_big_axis0", {{3, 43691}, {2, 43691}}, 0);
  concat("I8Concat_axis1", {{2, 5, 7}, {2, 11, 7}}, 1, DType::i8);
  // Transpose: NCHW <-> NHWC, last-two swap, reversal, a middle swap, the attention (2,0,3,1,4), i8, big.
  auto transpose = [&](std::string name, Shape s, std::vector<int64_t> perm, DType dt = DType::f32) {
    Builder b(name, OpType::Transpose);
    b.in(dt == DType::f32 ? eltwise_input(s, seed++) : random_i8(s, seed++));
    if (!perm.empty()) b.attr("perm", attr_ints(perm));
    v.push_back(b.tol(0).done(dt));
  };
  transpose("F32Transpose_to_nhwc", odd, {0, 2, 3, 1});
  transpose("F32Transpose_to_nchw", odd, {0, 3, 1, 2});
  transpose("F32Transpose_last_two", odd, {0, 1, 3, 2});
  transpose("F32Transpose_reverse_default", odd, {});
  transpose("F32Transpose_middle", odd, {0, 2, 1, 3});
  transpose("F32Transpose_swap_outer", odd, {1, 0, 2, 3});
  transpose("F32Transpose_perm_3102", odd, {3, 1, 0, 2});
  transpose("F32Transpose_qkv", {2, 13, 3, 5, 7}, {2, 0, 3, 1, 4});
  transpose("F32Transpose_unit_dims", {1, 13, 1, 7}, {3, 1, 2, 0});
  transpose("F32Transpose_identity", odd, {0, 1, 2, 3});
  transpose("I8Transpose_to_nhwc", odd, {0, 2, 3, 1}, DType::i8);
  transpose("F32Transpose_big_to_nhwc", {1, 32, 113, 111}, {0, 2, 3, 1});
  transpose("F32Transpose_big_to_nchw", {2, 57, 55, 33}, {0, 3, 1, 2});
  transpose("F32Transpose_big_rows", {16, 65, 3, 64}, {0, 2, 1, 3});
  // Shape-only ops: a copy.
  {
    Builder b("F32Reshape", OpType::Reshape);
    b.in(eltwise_input(odd, seed++)).cst(Tensor::from<int64_t>({2}, {35, -1}));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Reshape_big", OpType::Reshape);
    b.in(eltwise_input({3, 43691}, seed++)).cst(Tensor::from<int64_t>({3}, {1, 43691, 3}));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Flatten", OpType::Flatten);
    b.in(eltwise_input(odd, seed++)).attr("axis", attr_i(2));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Squeeze", OpType::Squeeze);
    b.in(eltwise_input({5, 1, 11, 1}, seed++)).cst(Tensor::from<int64_t>({2}, {1, 3}));
    v.push_back(b.tol(0).done());
  }
  {
    Builder b("F32Unsqueeze", OpType::Unsqueeze);
    b.in(eltwise_input({5, 11}, seed++)).cst(Tensor::from<int64_t>({1}, {1}));
    v.push_back(b.tol(0).done());
  }
  return v;
}

TEST(HarnessEltwise, CpuMatchesRefBitForBit) {
  for (const Case& c : eltwise_cases()) run_case(c);
}

TEST(HarnessFp32, CpuMatchesRef) {
  for (const Case& c : fp32_cases()) run_case(c);
}

TEST(HarnessInt8, CpuMatchesRefBitForBit) {
  for (const Case& c : int8_cases()) run_case(c);
}

// A fused residual whose producer is in the plan: QConv says its output may take the residual's buffer
// (Kernel::inplace_input), so the plan runs the sum post-op in place instead of copying the residual into
// dst first. Graph: r = QConv_a(x); y = QConv_b(x, residual r); optionally r is also read after y (a graph
// output, or another QConv), where the buffer must not be shared. Odd shapes; both the fused and the s32 +
// own-epilogue paths; bit-exact against the ref plan, and the sharing itself is checked.
TEST(HarnessInt8, InPlaceResidual) {
  enum class Later { None, GraphOutput, Node };
  for (Later later : {Later::None, Later::GraphOutput, Later::Node})
    for (int64_t kb : {int64_t{1}, int64_t{3}})
      for (bool epilogue : {false, true}) {
        const std::string name = "QConv_inplace_residual_" + std::to_string(kb) + "x" + std::to_string(kb) +
                                 (later == Later::None ? "" : later == Later::GraphOutput ? "_r_is_output" : "_r_read_later") +
                                 (epilogue ? "_epilogue" : "");
        SCOPED_TRACE(name);
        const int64_t N = 2, H = 9, W = 7, C = 13, K = 11;
        Graph g;
        const int x = g.add_value("x", DType::i8);
        g.inputs = {x};
        auto qconv = [&](const std::string& nm, int in, int64_t cin, int64_t k, int residual, uint32_t seed) {
          Node n;
          n.op = OpType::QConv;
          n.name = nm;
          n.inputs = {in, g.add_constant(nm + "_w", random_i8({K, cin, k, k}, seed, -127, 127)),
                      g.add_constant(nm + "_b", random_bias(K, seed + 1, 20000.f))};
          if (residual >= 0) n.inputs.push_back(residual);
          n.attrs["pads"] = attr_ints({k / 2, k / 2, k / 2, k / 2});
          n.attrs["multiplier"] = attr_floats(mults(K, cin * k * k, seed + 2));
          if (residual >= 0) n.attrs["residual_scale"] = attr_f(0.8137f);
          n.attrs["act_lo"] = attr_f(0.f);
          const int y = g.add_value(nm + "_y", DType::i8);
          n.outputs = {y};
          g.nodes.push_back(n);
          return y;
        };
        const int r = qconv("a", x, C, 1, -1, 40);
        const int y = qconv("b", x, C, kb, r, 50);
        g.outputs = {y};
        if (later == Later::GraphOutput) g.outputs.push_back(r);
        if (later == Later::Node) g.outputs.push_back(qconv("c", r, K, 1, -1, 60));
        g.finalize();
        const std::vector<Tensor> feeds{random_i8({N, H, W, C}, 70, -128, 127, 0.1)};
        Case c{name, g, feeds};
        std::vector<Tensor> want;
        for (const Tensor& t : run_plan(c, "ref", nullptr)) want.push_back(t);
        std::unique_ptr<EnvVar> epi;
        if (epilogue) epi = std::make_unique<EnvVar>("OCTET_QCONV_EPILOGUE", "1");
        EnvVar strict("OCTET_CPU_STRICT", "1");
        PlanOptions opt;
        auto plan = Plan::build(g, opt);
        for (int rep = 0; rep < 2; ++rep) {  // the second run starts from buffers the first one left behind
          std::vector<Tensor> got;
          for (const Tensor& t : plan->run(feeds)) got.push_back(t.clone());
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < want.size(); ++i) expect_same(c, got[i], want[i], "(plan, run " + std::to_string(rep) + ")");
        }
        for (const std::string& line : plan->describe()) EXPECT_NE(line.find("[cpu]"), std::string::npos) << line;
        const bool shared = plan->tensor(r).raw() == plan->tensor(y).raw();
        EXPECT_EQ(shared, later == Later::None) << "residual buffer shared with the output " << plan->tensor(r).raw() << " " << plan->tensor(y).raw() << " " << plan->describe().size() << " " << r << " " << y << " " << plan->graph().nodes.size();
      }
}

// QConv's s32 route in bands of output rows (BackendOptions::qconv_band_bytes, OCTET_QCONV_BAND_BYTES), forced
// on small odd shapes: >= 3 bands with a short last one, halo rows of the middle bands real data, padding only
// where the band reaches the image's border (oneDNN's zero-point compensation there and only there), the residual
// and the output at the band's rows, several images. Bit for bit against ref; the op string proves the bands ran.
TEST(HarnessInt8, BandedQConv) {
  struct B {
    std::string name;
    Shape x;
    int64_t K, group, kh, kw;
    std::vector<int64_t> strides, pads, dil;
    bool silu, residual;
    int64_t xzp, yzp, rows;  // output rows per band
  };
  const std::vector<B> cases = {
      {"3x3_pad1_s1", {1, 23, 13, 13}, 19, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, 0, 0, 4},
      {"3x3_pad1_s2", {1, 25, 11, 13}, 19, 1, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, false, 0, 0, 3},
      {"3x3_pad1_s2_xzp_residual", {2, 26, 9, 16}, 24, 1, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true, -97, -91, 3},
      {"1x1_residual_b2", {2, 17, 9, 21}, 17, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, true, 0, 0, 5},
      {"1x1_xzp", {1, 19, 7, 24}, 48, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, false, -93, -90, 4},
      {"5x5_pad2_xzp", {1, 19, 9, 11}, 13, 1, 5, 5, {1, 1}, {2, 2, 2, 2}, {1, 1}, true, false, -128, 0, 4},
      // Bands of 2 rows under a top / bottom padding of 3: the second and second-to-last bands are padded too.
      {"7x7_pad3_padded_middle_bands", {1, 11, 7, 5}, 6, 1, 7, 7, {1, 1}, {3, 3, 3, 3}, {1, 1}, true, true, 101, 0, 2},
      {"3x3_dil2_xzp_residual", {1, 17, 13, 7}, 9, 1, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}, true, true, -77, 0, 3},
      {"3x2_s21_asym_pads_xzp", {1, 21, 11, 9}, 7, 1, 3, 2, {2, 1}, {2, 1, 0, 2}, {1, 1}, false, false, 127, 0, 3},
      {"3x3_asym_pads_unread_rows", {1, 22, 8, 6}, 5, 1, 3, 3, {3, 1}, {0, 1, 1, 1}, {1, 1}, true, false, -50, 0, 2},
      {"depthwise_xzp", {1, 19, 11, 32}, 32, 32, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, -91, -97, 4},
      {"depthwise_s2_residual_xzp", {1, 21, 9, 35}, 35, 35, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, true, -120, 0, 2},
      {"grouped", {1, 15, 7, 12}, 18, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, false, 0, 0, 4},
  };
  uint32_t seed = 900;
  for (const B& t : cases) {
    const int64_t Cg = t.x[3] / t.group;
    const int64_t OH = (t.x[1] + t.pads[0] + t.pads[2] - ((t.kh - 1) * t.dil[0] + 1)) / t.strides[0] + 1;
    const int64_t OW = (t.x[2] + t.pads[1] + t.pads[3] - ((t.kw - 1) * t.dil[1] + 1)) / t.strides[1] + 1;
    const int64_t bands = (OH + t.rows - 1) / t.rows;
    ASSERT_GE(bands, 3) << t.name;
    ASSERT_NE(OH % t.rows, 0) << t.name << ": no short last band";
    Builder b("QConv_banded_" + t.name, OpType::QConv);
    b.in(random_i8(t.x, seed++));
    b.cst(random_i8({t.K, Cg, t.kh, t.kw}, seed++, -127, 127));
    b.cst(random_bias(t.K, seed++, 20000.f));
    if (t.residual) b.in(random_i8({t.x[0], OH, OW, t.K}, seed++)).attr("residual_scale", attr_f(0.6731f));
    b.attr("group", attr_i(t.group)).attr("strides", attr_ints(t.strides)).attr("pads", attr_ints(t.pads));
    b.attr("dilations", attr_ints(t.dil));
    std::vector<float> m = mults(t.K, Cg * t.kh * t.kw, seed++, 1.f);
    if (t.silu) {
      for (float& d : m) d *= 0.05f;  // real values of a few units (as qconv_act above)
      b.attr("act", attr_i(static_cast<int64_t>(quant::Act::Silu))).attr("out_scale", attr_f(0.02f));
    } else {
      b.attr("act_lo", attr_f(-20.f));
    }
    b.attr("multiplier", attr_floats(m));
    if (t.xzp != 0) b.attr("x_zero_point", attr_i(t.xzp));
    if (t.yzp != 0) b.attr("out_zero_point", attr_i(t.yzp));
    Case c = b.done(DType::i8);
    // rows * OW * K * 4 bytes per band; one image's s32 (OH rows) is more than twice that.
    const std::string band_bytes = std::to_string(t.rows * OW * t.K * 4);
    EnvVar band("OCTET_QCONV_BAND_BYTES", band_bytes.c_str());
    run_case(c);  // both routes (the fused one bands nothing: no act, or it runs the s32 route anyway)
    const std::string want = std::to_string(bands) + " bands of " + std::to_string(t.rows) + " rows";
    EXPECT_NE(cpu::last_dnnl_op().find(want), std::string::npos) << c.name << ": ran as " << cpu::last_dnnl_op();
  }
}

// The SIMD row kernels against their scalar twins directly, on every length 0..70 (all tails), special
// floats included. Independent of the dispatch, which picks once per process.
TEST(HarnessRowKernels, SimdEqualsScalarTwin) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq") ||
      !__builtin_cpu_supports("avx512vl"))
    GTEST_SKIP() << "no AVX-512";
  const cpu::QRowKernels& s = cpu::q_row_kernels_avx512();
  std::printf("[ harness  ] row kernels dispatched: %s\n", cpu::q_row_kernels().isa);
  std::mt19937 rng(7);
  for (int64_t n = 0; n <= 70; ++n) {
    Tensor xf = test::random_f32({n + 1}, static_cast<uint32_t>(n), -300, 300);
    float* xp = xf.data<float>();
    if (n > 5) xp[1] = std::nanf(""), xp[2] = INFINITY, xp[3] = -INFINITY, xp[4] = 2.5f, xp[5] = -0.5f;
    Tensor a = random_i8({n + 1}, 100 + static_cast<uint32_t>(n)), b = random_i8({n + 1}, 200 + static_cast<uint32_t>(n));
    Tensor acc = random_i32({n + 1}, 300 + static_cast<uint32_t>(n), -3000000, 3000000);
    Tensor bias = random_bias(n + 1, 400 + static_cast<uint32_t>(n), 100000.f);
    std::vector<float> m = random_floats(static_cast<size_t>(n + 1), 500 + static_cast<uint32_t>(n), 1e-5f, 1e-4f);
    std::vector<int8_t> y1(static_cast<size_t>(n) + 1), y2(static_cast<size_t>(n) + 1);
    std::vector<float> f1(static_cast<size_t>(n) + 1), f2(static_cast<size_t>(n) + 1);
    // A guard element past the n written: masked-off lanes compute zeros, so a store past n must show as a
    // changed guard, not as an equal 0.
    y1[static_cast<size_t>(n)] = y2[static_cast<size_t>(n)] = 0x5A;
    f1[static_cast<size_t>(n)] = f2[static_cast<size_t>(n)] = 77.f;
    cpu::quantize_f32_s8_ref(xp, y1.data(), n, 1.f);
    s.quantize_f32_s8(xp, y2.data(), n, 1.f);
    EXPECT_EQ(y1, y2) << "quantize n=" << n;
    cpu::dequantize_s8_f32_ref(a.data<int8_t>(), f1.data(), n, 0.0137f);
    s.dequantize_s8_f32(a.data<int8_t>(), f2.data(), n, 0.0137f);
    EXPECT_EQ(0, std::memcmp(f1.data(), f2.data(), f1.size() * sizeof(float))) << "dequantize n=" << n;
    cpu::add_s8_ref(a.data<int8_t>(), b.data<int8_t>(), y1.data(), n, 0.75f, 1.25f, -100.f, 90.5f);
    s.add_s8(a.data<int8_t>(), b.data<int8_t>(), y2.data(), n, 0.75f, 1.25f, -100.f, 90.5f);
    EXPECT_EQ(y1, y2) << "add n=" << n;
    cpu::rescale_s8_ref(a.data<int8_t>(), y1.data(), n, 1.5f);
    s.rescale_s8(a.data<int8_t>(), y2.data(), n, 1.5f);
    EXPECT_EQ(y1, y2) << "rescale n=" << n;
    std::vector<float> mch = random_floats(static_cast<size_t>(n + 1), 550 + static_cast<uint32_t>(n), 0.f, 2.5f);
    for (auto [xzp, yzp] : {std::pair{0, 0}, std::pair{-93, -101}, std::pair{-128, 0}, std::pair{0, 77}}) {
      cpu::rescale_ch_s8_ref(a.data<int8_t>(), mch.data(), y1.data(), n, xzp, yzp);
      s.rescale_ch_s8(a.data<int8_t>(), mch.data(), y2.data(), n, xzp, yzp);
      EXPECT_EQ(y1, y2) << "rescale_ch n=" << n << " zero points " << xzp << ", " << yzp;
    }
    for (int variant = 0; variant < 4; ++variant) {
      const float* bp = variant & 1 ? bias.data<float>() : nullptr;
      const int8_t* rp = variant & 2 ? b.data<int8_t>() : nullptr;
      cpu::requant_s32_s8_ref(acc.data<int32_t>(), bp, m.data(), rp, 0.71f, -120.f, quant::kNoHi, n, y1.data());
      s.requant_s32_s8(acc.data<int32_t>(), bp, m.data(), rp, 0.71f, -120.f, quant::kNoHi, n, y2.data());
      EXPECT_EQ(y1, y2) << "requant n=" << n << " variant " << variant;
    }
    // Non-linear epilogues: dequant spreads v = (acc + bias) * dequant over about [-300, 300], past exp's
    // clamps at -87 / 88, and output steps of 0.5 (1/2) saturate the large ones.
    std::vector<float> dq = random_floats(static_cast<size_t>(n + 1), 700 + static_cast<uint32_t>(n), 1e-6f, 1e-4f);
    for (int act = 1; act <= quant::kActLast; ++act)
      for (const float* bp : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data<float>())}) {
        cpu::requant_act_s32_s8_ref(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 2.f, 0.f, nullptr, 0.f, n, y1.data());
        s.requant_act_s32_s8(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 2.f, 0.f, nullptr, 0.f, n, y2.data());
        EXPECT_EQ(y1, y2) << "requant_act n=" << n << " act " << act << (bp ? " bias" : "");
        cpu::requant_act_s32_s8_ref(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 77.f, 0.f, nullptr, 0.f, n, y1.data());
        s.requant_act_s32_s8(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 77.f, 0.f, nullptr, 0.f, n, y2.data());
        EXPECT_EQ(y1, y2) << "requant_act n=" << n << " act " << act << " fine scale";
        // With an affine after the activation (out_mul = a / s_y, out_add = b / s_y): one fma, then rounding.
        cpu::requant_act_s32_s8_ref(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 31.3f, -7.37f, nullptr, 0.f, n, y1.data());
        s.requant_act_s32_s8(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 31.3f, -7.37f, nullptr, 0.f, n, y2.data());
        EXPECT_EQ(y1, y2) << "requant_act n=" << n << " act " << act << " affine";
        // With a residual added after the activation (rs = s_r / s_y); in place too (y is the residual).
        cpu::requant_act_s32_s8_ref(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 31.3f, 0.f, b.data<int8_t>(), 0.61f,
                                    n, y1.data());
        s.requant_act_s32_s8(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 31.3f, 0.f, b.data<int8_t>(), 0.61f, n,
                             y2.data());
        EXPECT_EQ(y1, y2) << "requant_act residual n=" << n << " act " << act;
        {
          std::vector<int8_t> r0(b.data<int8_t>(), b.data<int8_t>() + n), y0(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j)  // the quant.h function, not the twin: the residual does change values
            y0[static_cast<size_t>(j)] = quant::requantize_act_residual(
                acc.data<int32_t>()[j], bp ? bp[j] : 0.f, dq[static_cast<size_t>(j)], static_cast<quant::Act>(act),
                0.13f, 31.3f, 0.f, r0[static_cast<size_t>(j)], 0.61f);
          s.requant_act_s32_s8(acc.data<int32_t>(), bp, dq.data(), act, 0.13f, 31.3f, 0.f, r0.data(), 0.61f, n,
                               r0.data());
          EXPECT_EQ(y0, r0) << "requant_act residual in place n=" << n << " act " << act;
        }
      }
    EXPECT_EQ(0x5A, y2[static_cast<size_t>(n)]) << "a row kernel wrote past n=" << n;
    EXPECT_EQ(77.f, f2[static_cast<size_t>(n)]) << "dequantize wrote past n=" << n;
    // Pools over a 3 x 2 window of n-channel pixels with row stride 5n and pixel stride 2n.
    Tensor px = random_i8({30 * (n + 1)}, 600 + static_cast<uint32_t>(n));
    cpu::maxpool_s8_ref(px.data<int8_t>(), 3, 2, 5 * n, 2 * n, n, y1.data());
    s.maxpool_s8(px.data<int8_t>(), 3, 2, 5 * n, 2 * n, n, y2.data());
    EXPECT_EQ(y1, y2) << "maxpool n=" << n;
    for (int32_t sum_add : {0, 6 * 97, -6 * 127}) {
      cpu::avgpool_s8_ref(px.data<int8_t>(), 3, 2, 5 * n, 2 * n, n, 7, sum_add, 0.93f, y1.data());
      s.avgpool_s8(px.data<int8_t>(), 3, 2, 5 * n, 2 * n, n, 7, sum_add, 0.93f, y2.data());
      EXPECT_EQ(y1, y2) << "avgpool n=" << n << " sum_add " << sum_add;
    }
  }
  // Non-linear epilogues densely over their curved parts, outputs unsaturated: 64k values with v in [-10, 10]
  // and fine output steps, so a float-level difference in exp_approx (a changed coefficient) flips roundings.
  {
    const int64_t n = 1 << 16;
    Tensor acc = random_i32({n}, 800, -1000000, 1000000);
    std::vector<float> dq(static_cast<size_t>(n), 1e-5f);
    std::vector<int8_t> y1(static_cast<size_t>(n)), y2(static_cast<size_t>(n));
    const std::pair<int, float> acts[] = {{1, 1.f / 127}, {2, 10.f / 127}, {3, 10.f / 127}, {4, 10.f / 127}};
    for (auto [act, sy] : acts) {
      cpu::requant_act_s32_s8_ref(acc.data<int32_t>(), nullptr, dq.data(), act, 0.1f, 1.f / sy, 0.f, nullptr, 0.f, n, y1.data());
      s.requant_act_s32_s8(acc.data<int32_t>(), nullptr, dq.data(), act, 0.1f, 1.f / sy, 0.f, nullptr, 0.f, n, y2.data());
      int64_t diff = 0, inner = 0;
      for (int64_t i = 0; i < n; ++i) {
        diff += y1[static_cast<size_t>(i)] != y2[static_cast<size_t>(i)];
        inner += y1[static_cast<size_t>(i)] > -128 && y1[static_cast<size_t>(i)] < 127;
      }
      EXPECT_EQ(diff, 0) << "requant_act dense, act " << act;
      EXPECT_GT(inner, n * 3 / 4) << "act " << act << ": outputs must stay off the int8 limits";
    }
  }
  (void)rng;
}

// The FP32 row kernels (eltwise.h): AVX-512 against the scalar twins on every length 0..70, byte for byte,
// with NaN, infinities, ±0 and values on the Clip bounds (ties of the selects) in the inputs.
TEST(HarnessRowKernels, EltwiseSimdEqualsScalarTwin) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq")) GTEST_SKIP() << "no AVX-512";
  const cpu::EwRowKernels& s = cpu::ew_row_kernels_avx512();
  const cpu::EwRowKernels& r = cpu::ew_row_kernels_ref();
  std::printf("[ harness  ] eltwise row kernels dispatched: %s\n", cpu::ew_row_kernels().isa);
  for (int64_t n = 0; n <= 70; ++n) {
    const size_t m = static_cast<size_t>(n) + 1;
    std::vector<float> a = random_floats(m, 700 + static_cast<uint32_t>(n), -8, 8);
    std::vector<float> b = random_floats(m, 800 + static_cast<uint32_t>(n), -8, 8);
    const float sp[] = {std::nanf(""), -std::nanf(""), INFINITY, -INFINITY, 0.f, -0.f, -0.5f, 6.f, -3.f, 3.f};
    for (size_t i = 0; i < m; ++i) {
      if (i % 3 == 0) a[i] = sp[(i / 3) % 10];
      if (i % 5 == 1) b[i] = sp[(i / 5 + 3) % 10];
      if (i % 7 == 2) b[i] = a[i];  // ties for Min/Max
    }
    std::vector<float> y1(m), y2(m);
    // Bit for bit, except that any NaN equals any NaN: which operand's NaN a commutative + or * returns
    // when both are NaN is the compiler's choice of operand order, in the oracle as well.
    auto same = [&](const char* what) {
      for (int64_t i = 0; i < n; ++i) {
        const size_t u = static_cast<size_t>(i);
        if (std::isnan(y1[u]) && std::isnan(y2[u])) continue;
        ASSERT_EQ(std::bit_cast<uint32_t>(y1[u]), std::bit_cast<uint32_t>(y2[u]))
            << what << " n=" << n << " i=" << i << ": " << y1[u] << " vs " << y2[u] << " (a " << a[u] << ", b " << b[u] << ")";
      }
    };
    for (int op = 0; op < static_cast<int>(cpu::EwBin::kCount); ++op)
      for (int mode = 0; mode < static_cast<int>(cpu::EwMode::kCount); ++mode) {
        r.binary[op][mode](a.data(), b.data(), y1.data(), n);
        s.binary[op][mode](a.data(), b.data(), y2.data(), n);
        same(("binary op " + std::to_string(op) + " mode " + std::to_string(mode)).c_str());
      }
    r.relu(a.data(), y1.data(), n), s.relu(a.data(), y2.data(), n), same("relu");
    r.leaky_relu(a.data(), y1.data(), n, 0.1f), s.leaky_relu(a.data(), y2.data(), n, 0.1f), same("leaky_relu");
    r.clip(a.data(), y1.data(), n, -0.5f, 6.f), s.clip(a.data(), y2.data(), n, -0.5f, 6.f), same("clip");
    r.clip(a.data(), y1.data(), n, 3.f, -3.f), s.clip(a.data(), y2.data(), n, 3.f, -3.f), same("clip lo > hi");
    r.clamp(a.data(), y1.data(), n, -0.5f, 6.f), s.clamp(a.data(), y2.data(), n, -0.5f, 6.f), same("clamp");
    r.clamp(a.data(), y1.data(), n, 3.f, -3.f), s.clamp(a.data(), y2.data(), n, 3.f, -3.f), same("clamp lo > hi");
    r.hard_sigmoid(a.data(), y1.data(), n, 0.2f, 0.5f), s.hard_sigmoid(a.data(), y2.data(), n, 0.2f, 0.5f);
    same("hard_sigmoid");
    r.hard_swish(a.data(), y1.data(), n), s.hard_swish(a.data(), y2.data(), n), same("hard_swish");
    r.neg(a.data(), y1.data(), n), s.neg(a.data(), y2.data(), n), same("neg");
    r.abs(a.data(), y1.data(), n), s.abs(a.data(), y2.data(), n), same("abs");
    r.sqrt(a.data(), y1.data(), n), s.sqrt(a.data(), y2.data(), n), same("sqrt");
    r.batchnorm(a.data(), y1.data(), n, 0.3f, 1.7f, 0.9f, -0.2f);
    s.batchnorm(a.data(), y2.data(), n, 0.3f, 1.7f, 0.9f, -0.2f);
    same("batchnorm");
  }
}

// ---------------------------------------------------------------------------------------------------- cuda

// The cuda backend (issue 14, docs/gpu.md) on the same cases, where this build has it and a usable GPU is
// present (else skipped with make_backend's reason): INT8 byte for byte with ref, FP32 within the case's
// tolerance; a node it does not take runs on ref inside its plan. Each case runs twice on one plan (the second
// run reuses the device buffers and constants).
TEST(HarnessCuda, CudaMatchesRef) {
  try {
    make_backend("cuda");
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  for (const auto& cases : {int8_cases(), eltwise_cases(), fp32_cases()})
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      const std::vector<Tensor> want = run_plan(c, "ref", nullptr);
      PlanOptions opt;
      opt.backend = "cuda";
      auto plan = Plan::build(c.g, opt);
      for (int run = 0; run < 2; ++run) {
        std::vector<Tensor> got;
        for (const Tensor& t : plan->run(c.feeds)) got.push_back(t.clone());
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) expect_same(c, got[i], want[i], "(cuda plan)");
      }
      std::printf("[ harness  ] %-40s %s\n", c.name.c_str(), plan->describe().at(0).c_str());
    }
}

}  // namespace
}  // namespace octet
