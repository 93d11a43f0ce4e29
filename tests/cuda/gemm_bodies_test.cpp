// The GEMM path's bodies (kernels_gemm.h) on the CPU: weight packing + im2col (or the activations directly for
// a 1x1 stride-1 conv) + an int32 GEMM in the cuBLASLt TN layout (here plain loops) + GemmEpilogueBody give
// QConvBody's / QLinearBody's outputs byte for byte (those equal ref: kernel_bodies_test.cpp), on odd shapes
// with every epilogue; and the GEMM sizes meet cuBLASLt's int8 rules (m, k multiples of 4). The cuBLASLt GEMM
// itself runs only on a GPU (tests/cuda_gpu, tests/ops HarnessCuda).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "backends/cuda/kernels_gemm.h"
#include "quant/quant.h"

namespace octet {
namespace {

using namespace cuda;

std::vector<int8_t> rnd_i8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(u(rng));
  return v;
}
std::vector<float> rnd_f(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// C = A^T B in cuBLASLt's column-major TN layout: A [m][k] rows, B [n][k] rows, C [n][m] rows (ldc = m).
std::vector<int32_t> gemm_tn(const int8_t* A, const int8_t* B, int64_t m, int64_t n, int64_t k) {
  std::vector<int32_t> C(static_cast<size_t>(m * n));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      int32_t s = 0;
      for (int64_t q = 0; q < k; ++q) s += int32_t{A[i * k + q]} * int32_t{B[j * k + q]};
      C[static_cast<size_t>(j * m + i)] = s;
    }
  return C;
}

struct Case {
  int64_t N, H, W, C, M, kh, kw, s, pad;
  bool bias, residual;
  quant::Act act;
  float lo, hi;
};

// The GEMM path's output for QConvArgs a (pointers to host data).
std::vector<int8_t> via_gemm(const QConvArgs& a, const GemmShape& g) {
  std::vector<int8_t> A(static_cast<size_t>(g.Mp * g.Kp), 99);
  run_on_host<PackWeightsBody>({a.w, A.data(), g.M, a.win.C, a.win.kh, a.win.kw, g.Mp, g.Kp});
  std::vector<int8_t> cols;
  const int8_t* B = a.x;
  if (!g.direct) {
    cols.assign(static_cast<size_t>(g.P * g.Kp), 99);  // every byte must be written (padding too)
    run_on_host<Im2colBody>({a.x, cols.data(), a.win, g.Kp});
    B = cols.data();
  }
  const std::vector<int32_t> acc = gemm_tn(A.data(), B, g.Mp, g.P, g.Kp);
  std::vector<int8_t> y(static_cast<size_t>(g.P * g.M));
  GemmEpilogueArgs e{acc.data(), a.bias, a.multiplier, a.residual, y.data(), g.P, g.M, g.Mp, a.ep};
  run_on_host<GemmEpilogueBody>(e);
  return y;
}

TEST(CudaGemmBodies, ConvViaIm2colGemmEpilogueEqualsQConvBody) {
  const float no_lo = quant::kNoLo, no_hi = quant::kNoHi;
  const std::vector<Case> cases = {
      {3, 11, 9, 3, 64, 7, 7, 2, 3, true, false, quant::Act::None, 0.f, no_hi},
      {1, 9, 11, 17, 130, 3, 3, 2, 1, true, true, quant::Act::None, no_lo, no_hi},
      {3, 5, 7, 64, 130, 1, 1, 1, 0, true, true, quant::Act::None, -20.f, 30.f},  // direct (no im2col)
      {1, 7, 5, 64, 7, 1, 1, 2, 0, false, false, quant::Act::None, no_lo, no_hi},   // 1x1 stride 2: im2col
      {1, 6, 5, 5, 7, 3, 3, 1, 1, true, false, quant::Act::Silu, no_lo, no_hi},
      {2, 5, 6, 12, 9, 1, 1, 1, 0, true, false, quant::Act::Sigmoid, no_lo, no_hi},  // direct with an act
      {1, 7, 7, 8, 13, 3, 3, 1, 1, true, false, quant::Act::HardSwish, no_lo, no_hi},
      {1, 6, 7, 5, 11, 3, 3, 1, 0, true, false, quant::Act::LeakyRelu, no_lo, no_hi},
      {1, 6, 7, 21, 6, 3, 3, 1, 1, true, true, quant::Act::None, 0.f, no_hi},
      {1, 9, 7, 13, 19, 3, 3, 2, 1, true, true, quant::Act::Silu, no_lo, no_hi},  // residual after the activation
      {2, 5, 6, 12, 9, 1, 1, 1, 0, false, true, quant::Act::Silu, no_lo, no_hi},  // the same, direct
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "Cin " << c.C << " Cout " << c.M << " " << c.kh << "x" << c.kw << " s" << c.s);
    const int64_t OH = (c.H + 2 * c.pad - c.kh) / c.s + 1, OW = (c.W + 2 * c.pad - c.kw) / c.s + 1;
    const std::vector<int8_t> x = rnd_i8(static_cast<size_t>(c.N * c.H * c.W * c.C), ++seed);
    const std::vector<int8_t> w = rnd_i8(static_cast<size_t>(c.M * c.C * c.kh * c.kw), ++seed);
    const std::vector<float> bias = rnd_f(static_cast<size_t>(c.M), ++seed, -3000.f, 3000.f);
    const std::vector<int8_t> res = rnd_i8(static_cast<size_t>(c.N * OH * OW * c.M), ++seed);
    const bool act = c.act != quant::Act::None;
    const std::vector<float> mult = rnd_f(static_cast<size_t>(c.M), ++seed, act ? 1e-4f : 2e-4f, act ? 4e-3f : 0.02f);
    QConvArgs a{};
    a.x = x.data(), a.w = w.data(), a.bias = c.bias ? bias.data() : nullptr;
    a.residual = c.residual ? res.data() : nullptr, a.multiplier = mult.data();
    a.win = Win2{c.N, c.H, c.W, c.C, OH, OW, c.kh, c.kw, c.s, c.s, 1, 1, c.pad, c.pad, c.pad, c.pad};
    a.K = c.M, a.group = 1;
    a.ep = quant::EpilogueArgs{0.8137f, c.lo, c.hi, c.act, 0.1f, 1.f / 0.05f, 0.f};
    std::vector<int8_t> want(static_cast<size_t>(a.count()));
    a.y = want.data();
    run_on_host<QConvBody>(a);
    const GemmShape g = conv_gemm_shape(a.win, c.M);
    EXPECT_EQ(g.Mp % 4, 0);
    EXPECT_EQ(g.Kp % 4, 0);
    EXPECT_GE(g.Kp, g.K);
    EXPECT_EQ(g.direct, c.kh == 1 && c.s == 1 && c.C % 4 == 0);
    const std::vector<int8_t> got = via_gemm(a, g);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0);
    int distinct = 0;  // the case exercises the epilogue (not all outputs saturated to one value)
    for (size_t i = 1; i < want.size(); ++i) distinct += want[i] != want[0];
    EXPECT_GT(distinct, 0);
  }
}

TEST(CudaGemmBodies, LinearViaGemmEqualsQLinearBody) {
  for (auto [rows, K, Nout] : {std::tuple<int64_t, int64_t, int64_t>{3, 64, 10}, {5, 17, 130}, {1, 3, 7}}) {
    SCOPED_TRACE(testing::Message() << rows << "x" << K << " -> " << Nout);
    const std::vector<int8_t> x = rnd_i8(static_cast<size_t>(rows * K), 7), w = rnd_i8(static_cast<size_t>(Nout * K), 8);
    const std::vector<float> bias = rnd_f(static_cast<size_t>(Nout), 9, -500.f, 500.f);
    const std::vector<float> mult = rnd_f(static_cast<size_t>(Nout), 10, 1e-3f, 0.05f);
    QLinearArgs l{};
    l.x = x.data(), l.w = w.data(), l.bias = bias.data(), l.multiplier = mult.data();
    l.rows = rows, l.K = K, l.Nout = Nout;
    l.ep = quant::EpilogueArgs{1.f, quant::kNoLo, quant::kNoHi, quant::Act::None, 0.f, 1.f, 0.f};
    std::vector<int8_t> want(static_cast<size_t>(l.count()));
    l.y = want.data();
    run_on_host<QLinearBody>(l);
    QConvArgs a{};
    a.x = x.data(), a.w = w.data(), a.bias = bias.data(), a.multiplier = mult.data(), a.ep = l.ep;
    a.win = linear_window(rows, K), a.K = Nout, a.group = 1;
    const GemmShape g = conv_gemm_shape(a.win, Nout);
    EXPECT_EQ(g.direct, K % 4 == 0);
    EXPECT_EQ(via_gemm(a, g), want);
  }
}

// A planted bug must show: the columns in (c, i, j) order instead of (i, j, c) differ from QConvBody.
TEST(CudaGemmBodies, WrongTapOrderIsCaught) {
  const std::vector<int8_t> x = rnd_i8(2 * 5 * 5 * 3, 1), w = rnd_i8(4 * 3 * 3 * 3, 2);
  const std::vector<float> mult(4, 0.01f);
  QConvArgs a{};
  a.x = x.data(), a.w = w.data(), a.multiplier = mult.data(), a.K = 4, a.group = 1;
  a.win = Win2{2, 5, 5, 3, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  a.ep = quant::EpilogueArgs{1.f, quant::kNoLo, quant::kNoHi, quant::Act::None, 0.f, 1.f, 0.f};
  std::vector<int8_t> want(static_cast<size_t>(a.count()));
  a.y = want.data();
  run_on_host<QConvBody>(a);
  GemmShape g = conv_gemm_shape(a.win, 4);
  std::vector<int8_t> A(static_cast<size_t>(g.Mp * g.Kp), 0);
  for (int64_t m = 0; m < 4; ++m)  // [m][c][i][j] copied as is: the wrong k order for the columns
    for (int64_t q = 0; q < 27; ++q) A[static_cast<size_t>(m * g.Kp + q)] = w[static_cast<size_t>(m * 27 + q)];
  std::vector<int8_t> cols(static_cast<size_t>(g.P * g.Kp));
  run_on_host<Im2colBody>({a.x, cols.data(), a.win, g.Kp});
  const std::vector<int32_t> acc = gemm_tn(A.data(), cols.data(), g.Mp, g.P, g.Kp);
  std::vector<int8_t> y(want.size());
  run_on_host<GemmEpilogueBody>({acc.data(), nullptr, a.multiplier, nullptr, y.data(), g.P, g.M, g.Mp, a.ep});
  EXPECT_NE(y, want);
  EXPECT_EQ(via_gemm(a, g), want);
}

}  // namespace
}  // namespace octet
