// The cuda backend on a GPU (skipped, with the reason, where cudaGetDeviceCount finds no usable device):
// (1) the real kernels, launched through cuda::launch on device copies of the inputs, give exactly what the
// same bodies give on the CPU (tests/cuda/ checks those against ref), INT8 and FP32 alike; (2) whole CIFAR-10
// models (OCTET_SHARED) as INT8 plans on backend "cuda" give the ref backend's INT8 plan's outputs bit for bit
// and the cpu plan's top-1 (bitwise equality with cpu is printed), also with observers (Kernel::to_host) and over several runs and batch sizes.
// (3) Without a device, make_backend("cuda") is a clear error (this part runs everywhere).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/args.h"
#include "backends/cuda/cublaslt.h"
#include "backends/cuda/kernels_hist.h"
#include "backends/cuda/launch.h"
#include "octet/device.h"
#include "onnx/import.h"
#include "runtime/plan.h"
#include "ref_op_util.h"
#include "test_util.h"

namespace octet {
namespace {

using namespace cuda;

// Why there is no usable device ("" when there is one).
std::string no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
  if (n == 0) return "no CUDA device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "cudaGetDeviceProperties failed";
  if (p.major != 9 || p.minor != 0) return std::string(p.name) + " is not sm_90 (this build is sm_90a only)";
  return "";
}

// Skips the test when ../shared (OCTET_SHARED) does not hold DIR.
#define REQUIRE_DIR(dir)                                                                 \
  do {                                                                                   \
    if (test::shared_dir().empty() || !std::filesystem::exists(dir))                     \
      GTEST_SKIP() << "no " << (dir) << " (OCTET_SHARED)";                               \
  } while (0)

#define REQUIRE_GPU()                                              \
  do {                                                             \
    const std::string why = no_device_reason();                    \
    if (!why.empty()) {                                            \
      GTEST_SKIP() << "no usable GPU: " << why;                    \
    }                                                              \
  } while (0)

// Device copies of host buffers, freed at the end of the test.
class Dev {
 public:
  ~Dev() {
    for (void* p : bufs_) cudaFree(p);
  }
  template <class T>
  T* copy(const T* host, size_t n) {
    void* d = nullptr;
    EXPECT_EQ(cudaMalloc(&d, n * sizeof(T) + 1), cudaSuccess);
    if (host) {
      EXPECT_EQ(cudaMemcpy(d, host, n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
    bufs_.push_back(d);
    return static_cast<T*>(d);
  }
  template <class T>
  std::vector<T> back(const T* dev, size_t n) {
    std::vector<T> h(n);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(h.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  std::vector<void*> bufs_;
};

std::vector<int8_t> random_i8(size_t n, uint32_t seed, int lo = -128) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(u(rng));
  return v;
}
std::vector<float> random_f(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

using test::make_node;

TEST(CudaGpu, QConvKernelsEqualTheirCpuBodies) {
  REQUIRE_GPU();
  struct C {
    Shape x;
    int64_t K, group, k;
    std::vector<int64_t> strides, pads;
    int act;
  };
  const std::vector<C> cases = {{{2, 9, 7, 6}, 9, 1, 3, {1, 1}, {1, 1, 1, 1}, 0},
                                {{1, 11, 9, 5}, 7, 1, 3, {2, 2}, {1, 0, 2, 1}, 0},
                                {{2, 8, 8, 6}, 6, 6, 3, {1, 1}, {1, 1, 1, 1}, 0},
                                {{1, 7, 5, 12}, 9, 3, 1, {1, 1}, {0, 0, 0, 0}, 2},
                                {{1, 6, 6, 8}, 8, 8, 3, {2, 2}, {1, 1, 1, 1}, 3}};
  uint32_t seed = 1;
  for (const C& c : cases) {
    std::map<std::string, Attr> attrs = {{"strides", attr_ints(c.strides)}, {"pads", attr_ints(c.pads)},
                                         {"dilations", attr_ints({1, 1})}, {"group", attr_i(c.group)}};
    attrs["multiplier"] = attr_floats(random_f(static_cast<size_t>(c.K), ++seed, 1e-4f, 0.03f));
    if (c.act) {
      attrs["act"] = attr_i(c.act);
      attrs["out_scale"] = attr_f(0.02f);
    } else {
      attrs["act_lo"] = attr_f(0.f);
      attrs["residual_scale"] = attr_f(0.8f);
    }
    Node n = make_node(OpType::QConv, attrs);
    const Shape w = {c.K, c.x[3] / c.group, c.k, c.k};
    QConvArgs a = qconv_args(n, c.x, w);
    const auto x = random_i8(static_cast<size_t>(numel(c.x)), ++seed);
    const auto wt = random_i8(static_cast<size_t>(numel(w)), ++seed, -127);
    const auto bias = random_f(static_cast<size_t>(c.K), ++seed, -2000.f, 2000.f);
    const auto res = random_i8(static_cast<size_t>(a.count()), ++seed);
    const std::vector<float> mult = n.attr_floats("multiplier");
    std::vector<int8_t> host(static_cast<size_t>(a.count()));
    QConvArgs h = a;
    h.x = x.data(), h.w = wt.data(), h.bias = bias.data(), h.multiplier = mult.data(), h.y = host.data();
    h.residual = c.act ? nullptr : res.data();
    run_on_host<QConvBody>(h);
    Dev dev;
    QConvArgs d = h;
    d.x = dev.copy(x.data(), x.size()), d.w = dev.copy(wt.data(), wt.size());
    d.bias = dev.copy(bias.data(), bias.size()), d.multiplier = dev.copy(mult.data(), mult.size());
    d.residual = c.act ? nullptr : dev.copy(res.data(), res.size());
    d.y = dev.copy<int8_t>(nullptr, host.size());
    launch<QConvBody>(d, nullptr);
    EXPECT_EQ(dev.back(d.y, host.size()), host) << "case with " << c.K << " channels, group " << c.group;
  }
}

TEST(CudaGpu, ElementwiseAndPoolKernelsEqualTheirCpuBodies) {
  REQUIRE_GPU();
  const Shape s = {2, 9, 7, 5};
  const size_t n = static_cast<size_t>(numel(s));
  const auto xa = random_i8(n, 1), xb = random_i8(n, 2);
  const auto xf = random_f(n, 3, -5.f, 5.f);
  Dev dev;
  {  // QAdd
    QAddArgs a = qadd_args(make_node(OpType::QAdd, {{"scale_a", attr_f(0.7f)}, {"scale_b", attr_f(1.3f)}}), s);
    std::vector<int8_t> host(n);
    a.a = xa.data(), a.b = xb.data(), a.y = host.data();
    run_on_host<QAddBody>(a);
    a.a = dev.copy(xa.data(), n), a.b = dev.copy(xb.data(), n), a.y = dev.copy<int8_t>(nullptr, n);
    launch<QAddBody>(a, nullptr);
    EXPECT_EQ(dev.back(a.y, n), host) << "QAdd";
  }
  for (OpType op : {OpType::QMaxPool, OpType::QAvgPool}) {
    QPoolArgs a = qpool_args(make_node(op, {{"kernel", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                       {"pads", attr_ints({1, 1, 1, 1})}, {"multiplier", attr_f(0.9f)}}),
                             s);
    const size_t m = static_cast<size_t>(a.count());
    std::vector<int8_t> host(m);
    a.x = xa.data(), a.y = host.data();
    if (op == OpType::QMaxPool) run_on_host<QMaxPoolBody>(a);
    else run_on_host<QAvgPoolBody>(a);
    a.x = dev.copy(xa.data(), n), a.y = dev.copy<int8_t>(nullptr, m);
    if (op == OpType::QMaxPool) launch<QMaxPoolBody>(a, nullptr);
    else launch<QAvgPoolBody>(a, nullptr);
    EXPECT_EQ(dev.back(a.y, m), host) << op_name(op);
  }
  {  // Quantize to NHWC and Dequantize back to NCHW
    QuantizeArgs q = quantize_args(make_node(OpType::Quantize, {{"scale", attr_f(0.031f)}, {"to_nhwc", attr_i(1)}}), s);
    std::vector<int8_t> host(n);
    q.x = xf.data(), q.y = host.data();
    run_on_host<QuantizeBody>(q);
    q.x = dev.copy(xf.data(), n), q.y = dev.copy<int8_t>(nullptr, n);
    launch<QuantizeBody>(q, nullptr);
    EXPECT_EQ(dev.back(q.y, n), host) << "Quantize";
    DequantizeArgs d = dequantize_args(make_node(OpType::Dequantize, {{"scale", attr_f(0.031f)}, {"to_nchw", attr_i(1)}}),
                                       {2, 7, 5, 9});
    std::vector<float> fhost(n);
    d.x = host.data(), d.y = fhost.data();
    run_on_host<DequantizeBody>(d);
    d.x = dev.copy(host.data(), n), d.y = dev.copy<float>(nullptr, n);
    launch<DequantizeBody>(d, nullptr);
    EXPECT_EQ(dev.back(d.y, n), fhost) << "Dequantize";
  }
  {  // global average pool (FP32, exact: the same double sum)
    GlobalPoolArgs g = global_pool_args(make_node(OpType::PoolNhwc, {{"mode", attr_s("avg")}, {"global", attr_i(1)}}), s);
    const size_t m = static_cast<size_t>(g.count());
    std::vector<float> host(m);
    g.x = xf.data(), g.y = host.data();
    run_on_host<GlobalPoolBody>(g);
    g.x = dev.copy(xf.data(), n), g.y = dev.copy<float>(nullptr, m);
    launch<GlobalPoolBody>(g, nullptr);
    EXPECT_EQ(dev.back(g.y, m), host) << "global average";
  }
}

TEST(CudaGpu, LinearConcatGateLayoutAndBinaryKernelsEqualTheirCpuBodies) {
  REQUIRE_GPU();
  Dev dev;
  {  // QLinear with SiLU
    QLinearArgs a = qlinear_args(make_node(OpType::QLinear, {{"multiplier", attr_floats(random_f(13, 5, 1e-5f, 3e-4f))},
                                                        {"act", attr_i(2)}, {"out_scale", attr_f(0.03f)}}),
                                 {7, 61}, {13, 61});
    const auto x = random_i8(7 * 61, 6), w = random_i8(13 * 61, 7, -127);
    const auto bias = random_f(13, 8, -900.f, 900.f);
    const std::vector<float> mult = random_f(13, 5, 1e-5f, 3e-4f);
    std::vector<int8_t> host(static_cast<size_t>(a.count()));
    a.x = x.data(), a.w = w.data(), a.bias = bias.data(), a.multiplier = mult.data(), a.y = host.data();
    run_on_host<QLinearBody>(a);
    a.x = dev.copy(x.data(), x.size()), a.w = dev.copy(w.data(), w.size()), a.bias = dev.copy(bias.data(), 13);
    a.multiplier = dev.copy(mult.data(), 13), a.y = dev.copy<int8_t>(nullptr, host.size());
    launch<QLinearBody>(a, nullptr);
    EXPECT_EQ(dev.back(a.y, host.size()), host) << "QLinear";
  }
  const Shape s = {2, 5, 3, 7};
  const size_t n = static_cast<size_t>(numel(s));
  const auto xi = random_i8(n, 9);
  const auto xf = random_f(n, 10, -3.f, 3.f), gate = random_f(14, 11, 0.f, 1.f);
  {  // QMulGate, a gate per image and channel
    QMulGateArgs a = qmulgate_args(make_node(OpType::QMulGate, {{"scale", attr_f(1.6f)}}), s, {2, 7, 1, 1});
    std::vector<int8_t> host(n);
    a.x = xi.data(), a.g = gate.data(), a.y = host.data();
    run_on_host<QMulGateBody>(a);
    a.x = dev.copy(xi.data(), n), a.g = dev.copy(gate.data(), gate.size()), a.y = dev.copy<int8_t>(nullptr, n);
    launch<QMulGateBody>(a, nullptr);
    EXPECT_EQ(dev.back(a.y, n), host) << "QMulGate";
  }
  {  // QConcat of two inputs on the channel axis
    const Shape s2 = {2, 5, 3, 4}, y = {2, 5, 3, 11};
    const auto x2 = random_i8(static_cast<size_t>(numel(s2)), 12);
    auto parts = qconcat_args(make_node(OpType::QConcat, {{"axis", attr_i(3)}, {"scales", attr_floats({0.7f, 1.f})}}),
                              {s, s2}, y);
    const size_t m = static_cast<size_t>(numel(y));
    std::vector<int8_t> host(m);
    const int8_t* xs[2] = {xi.data(), x2.data()};
    for (size_t i = 0; i < 2; ++i) {
      QConcatPartArgs a = parts[i];
      a.x = xs[i], a.y = host.data();
      run_on_host<QConcatPartBody>(a);
    }
    int8_t* dy = dev.copy<int8_t>(nullptr, m);
    for (size_t i = 0; i < 2; ++i) {
      QConcatPartArgs a = parts[i];
      a.x = dev.copy(xs[i], static_cast<size_t>(a.count())), a.y = dy;
      launch<QConcatPartBody>(a, nullptr);
    }
    EXPECT_EQ(dev.back(dy, m), host) << "QConcat";
  }
  {  // ToNhwc of f32
    TransposeArgs a = layout_args(make_node(OpType::ToNhwc, {}), s);
    a.elem_bytes = 4;
    std::vector<float> host(n);
    a.x = xf.data(), a.y = host.data();
    run_on_host<TransposeBody>(a);
    a.x = dev.copy(xf.data(), n), a.y = dev.copy<float>(nullptr, n);
    launch<TransposeBody>(a, nullptr);
    EXPECT_EQ(dev.back(static_cast<float*>(a.y), n), host) << "ToNhwc";
  }
  {  // Mul by a per-channel constant (broadcast)
    const auto c = random_f(5, 13, 0.5f, 2.f);
    BinaryArgs a = binary_args(make_node(OpType::Mul, {}), s, {5, 1, 1}, s);
    std::vector<float> host(n);
    a.a = xf.data(), a.b = c.data(), a.y = host.data();
    run_on_host<BinaryBody>(a);
    a.a = dev.copy(xf.data(), n), a.b = dev.copy(c.data(), c.size()), a.y = dev.copy<float>(nullptr, n);
    launch<BinaryBody>(a, nullptr);
    EXPECT_EQ(dev.back(a.y, n), host) << "Mul";
  }
}

// ---- whole models ----

std::map<std::string, float> absmax_table(const Graph& g, const std::vector<Tensor>& inputs) {
  PlanOptions o;
  o.backend = "cpu";
  o.fold_batchnorm = false;
  o.fuse = false;
  auto plan = Plan::build(g, o);
  std::map<std::string, float> amax;
  Plan::Observer obs = [&](int v, const Tensor& t) {
    if (t.dtype() != DType::f32) return;
    float m = 0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data<float>()[i]));
    float& a = amax[plan->graph().value(v).name];
    a = std::max(a, m);
  };
  for (const Tensor& x : inputs) plan->run({x}, &obs);
  return amax;
}

TEST(CudaGpu, Cifar10Int8PlansEqualRefAndCpu) {
  REQUIRE_GPU();
  const std::string dir = test::shared_dir() + "/models/cifar10";
  REQUIRE_DIR(dir);
  for (const char* name : {"resnet20", "mobilenetv2", "densenet40", "effnet_se", "vit_tiny"}) {
    SCOPED_TRACE(name);
    Graph g = import_onnx_file(dir + "/" + name + ".onnx").graph;
    std::vector<Tensor> calib;
    for (uint32_t s = 0; s < 3; ++s) calib.push_back(test::random_f32({4, 3, 32, 32}, 10 + s, -2.f, 2.f));
    const auto amax = absmax_table(g, calib);
    std::map<std::string, std::unique_ptr<Plan>> plans;
    for (const char* backend : {"ref", "cpu", "cuda"}) {
      PlanOptions o;
      o.backend = backend;
      o.int8_amax = amax;
      plans[backend] = Plan::build(g, o);
    }
    for (int64_t batch : {5, 1, 5}) {
      const Tensor x = test::random_f32({batch, 3, 32, 32}, 77 + static_cast<uint32_t>(batch), -2.f, 2.f);
      const Tensor want = plans["ref"]->run({x})[0].clone();
      const Tensor cpu = plans["cpu"]->run({x})[0].clone();
      const Tensor got = plans["cuda"]->run({x})[0].clone();
      ASSERT_EQ(got.shape(), want.shape());
      EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << "cuda INT8 != ref INT8, batch " << batch;
      // The cpu plan runs its FP32 layers with oneDNN (other summation orders than ref), so equality with it
      // is reported, and its top-1 required.
      const bool same_as_cpu = std::memcmp(got.raw(), cpu.raw(), cpu.nbytes()) == 0;
      std::printf("%s batch %lld: cuda INT8 %s the cpu INT8 plan's outputs\n", name, static_cast<long long>(batch),
                  same_as_cpu ? "equals" : "differs from");
      const int64_t classes = got.shape().back();
      for (int64_t r = 0; r < batch; ++r) {
        const float* a = got.data<float>() + r * classes;
        const float* c = cpu.data<float>() + r * classes;
        EXPECT_EQ(std::max_element(a, a + classes) - a, std::max_element(c, c + classes) - c) << "sample " << r;
      }
    }
    // describe() lists the steps, which exist from the first run on (it was empty before: session 8's version
    // of this test counted before running and saw 0).
    int on_cuda = 0;
    for (const std::string& line : plans["cuda"]->describe()) on_cuda += line.find("[cuda]") != std::string::npos;
    EXPECT_GT(on_cuda, 0);
    const std::string stats = plans["cuda"]->backend().stats();
    std::printf("%s: %s\n", name, stats.c_str());
    if (cuda::cublaslt_available() && stats.find(" 0 of 0 ") == std::string::npos) {
      EXPECT_EQ(stats.find(" 0 of "), std::string::npos) << "no layer on the GEMM path";
    }
    // With an observer every node's output must be the device's (Kernel::to_host). The cuda plan is NHWC with
    // layout nodes that ref's NCHW plan lacks, so it is compared with the cpu plan (the same passes, the same
    // graph): every INT8 tensor byte for byte (cpu INT8 == ref INT8 is the ops harness's), FP32 by shape
    // (oneDNN sums in other orders).
    const Tensor x = test::random_f32({2, 3, 32, 32}, 99, -2.f, 2.f);
    std::map<int, Tensor> seen_cpu, seen_cuda;
    Plan::Observer keep_cpu = [&](int v, const Tensor& t) { seen_cpu[v] = t.clone(); };
    Plan::Observer keep_cuda = [&](int v, const Tensor& t) { seen_cuda[v] = t.clone(); };
    plans["cpu"]->run({x}, &keep_cpu);
    plans["cuda"]->run({x}, &keep_cuda);
    ASSERT_EQ(seen_cpu.size(), seen_cuda.size());
    int int8_seen = 0;
    for (const auto& [v, t] : seen_cpu) {
      ASSERT_TRUE(seen_cuda.count(v)) << "value " << v;
      const Tensor& c = seen_cuda.at(v);
      ASSERT_EQ(c.shape(), t.shape()) << "value " << v;
      if (t.dtype() != DType::i8) continue;
      ++int8_seen;
      EXPECT_EQ(std::memcmp(t.raw(), c.raw(), t.nbytes()), 0) << "observed INT8 value " << v;
    }
    EXPECT_GT(int8_seen, 0);
  }
}

// The FP32 compute kernels (ConvNhwc, windowed pools, MatMul/Gemm, Softmax, LayerNormalization) against their
// CPU bodies: within 1e-5 of max |y| (expf / exp on the device may differ from the host's in the last bits;
// everything else is the same operations in the same order, --fmad=false).
void expect_near_all(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double mx = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mx = std::max(mx, std::fabs(double{want[i]}));
    err = std::max(err, std::fabs(double{got[i]} - double{want[i]}));
  }
  EXPECT_LE(err, 1e-5 * (mx + 1e-30)) << what;
}

// Without cuBLASLt (OCTET_CUBLASLT names a library that is not there) octet says so and the QConv/QLinear
// kernels run the simple ones (a fresh process: the library is loaded once per process). Runs without a GPU too.
TEST(CudaGpu, MissingCublasLtIsSaid) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("OCTET_CUBLASLT", "/nonexistent/libcublasLt.so.13", 1);
        std::fprintf(stderr, "available %d: %s\n", static_cast<int>(cuda::cublaslt_available()),
                     cuda::cublaslt_status().c_str());
        std::exit(0);
      },
      testing::ExitedWithCode(0),
      "available 0: cuBLASLt not found \\(tried /nonexistent/libcublasLt.so.13.*\\): QConv/QLinear run the simple kernels");
}

TEST(CudaGpu, Fp32ComputeKernelsEqualTheirCpuBodies) {
  REQUIRE_GPU();
  Dev dev;
  {
    const Shape xs = {2, 9, 7, 6}, ws = {4, 3, 3, 3};
    Node n = test::make_node(OpType::ConvNhwc, {{"strides", attr_ints({2, 1})}, {"pads", attr_ints({1, 1, 1, 0})},
                                                {"dilations", attr_ints({1, 2})}, {"group", attr_i(2)}});
    n.post.act = Activation::Silu;
    ConvF32Args a = conv_f32_args(n, xs, ws);
    const Tensor x = test::random_f32(xs, 1), w = test::random_f32(ws, 2), b = test::random_f32({4}, 3);
    const Tensor r = test::random_f32({static_cast<int64_t>(a.count())}, 4);
    std::vector<float> host(static_cast<size_t>(a.count()));
    a.x = x.data<float>(), a.w = w.data<float>(), a.bias = b.data<float>(), a.residual = r.data<float>(), a.y = host.data();
    run_on_host<ConvF32Body>(a);
    a.x = dev.copy(x.data<float>(), x.numel()), a.w = dev.copy(w.data<float>(), w.numel());
    a.bias = dev.copy(b.data<float>(), 4), a.residual = dev.copy(r.data<float>(), r.numel());
    a.y = dev.copy<float>(nullptr, host.size());
    launch<ConvF32Body>(a, nullptr);
    expect_near_all(dev.back(a.y, host.size()), host, "ConvNhwc");
  }
  for (const char* mode : {"max", "avg"}) {
    const Shape xs = {2, 7, 9, 3};
    Node n = test::make_node(OpType::PoolNhwc, {{"mode", attr_s(mode)}, {"kernel", attr_ints({3, 2})},
                                                {"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 1, 1})},
                                                {"count_include_pad", attr_i(1)}});
    PoolF32Args a = pool_f32_args(n, xs);
    const Tensor x = test::random_f32(xs, 5);
    std::vector<float> host(static_cast<size_t>(a.count()));
    a.x = x.data<float>(), a.y = host.data();
    run_on_host<PoolF32Body>(a);
    a.x = dev.copy(x.data<float>(), x.numel()), a.y = dev.copy<float>(nullptr, host.size());
    launch<PoolF32Body>(a, nullptr);
    expect_near_all(dev.back(a.y, host.size()), host, mode);
  }
  {
    const Shape as = {3, 1, 5, 7}, bs = {2, 7, 4};
    Node n = test::make_node(OpType::MatMul, {});
    MatMulF32Args a = matmul_f32_args(n, as, bs);
    const Tensor A = test::random_f32(as, 6), B = test::random_f32(bs, 7);
    std::vector<float> host(static_cast<size_t>(a.count()));
    a.a = A.data<float>(), a.b = B.data<float>(), a.y = host.data();
    run_on_host<MatMulF32Body>(a);
    a.a = dev.copy(A.data<float>(), A.numel()), a.b = dev.copy(B.data<float>(), B.numel());
    a.y = dev.copy<float>(nullptr, host.size());
    launch<MatMulF32Body>(a, nullptr);
    expect_near_all(dev.back(a.y, host.size()), host, "MatMul");
  }
  {
    const Shape xs = {4, 3, 10};
    const Tensor x = test::random_f32(xs, 8, -5.f, 5.f), sc = test::random_f32({10}, 9), bi = test::random_f32({10}, 10);
    Node sm = test::make_node(OpType::Softmax, {{"axis", attr_i(1)}});
    SoftmaxF32Args a = softmax_f32_args(sm, xs);
    std::vector<float> host(static_cast<size_t>(x.numel()));
    a.x = x.data<float>(), a.y = host.data();
    run_on_host<SoftmaxF32Body>(a);
    a.x = dev.copy(x.data<float>(), x.numel()), a.y = dev.copy<float>(nullptr, host.size());
    launch<SoftmaxF32Body>(a, nullptr);
    expect_near_all(dev.back(a.y, host.size()), host, "Softmax");
    Node ln = test::make_node(OpType::LayerNormalization, {{"axis", attr_i(-1)}});
    LayerNormF32Args l = layernorm_f32_args(ln, xs);
    l.x = x.data<float>(), l.scale = sc.data<float>(), l.bias = bi.data<float>(), l.y = host.data();
    run_on_host<LayerNormF32Body>(l);
    l.x = dev.copy(x.data<float>(), x.numel()), l.scale = dev.copy(sc.data<float>(), 10), l.bias = dev.copy(bi.data<float>(), 10);
    l.y = dev.copy<float>(nullptr, host.size());
    launch<LayerNormF32Body>(l, nullptr);
    expect_near_all(dev.back(l.y, host.size()), host, "LayerNormalization");
  }
}

// A whole FP32 forward on the device (calibration's): every compute node of the CIFAR-10 models runs on cuda,
// and the outputs are ref's within 1e-4 of max |logit|. Then CUDA graphs: the same plan run again and again
// (graphs recorded in the second run, replayed after) and with an observer in between gives the same bytes
// as the first (eager) run.
TEST(CudaGpu, Cifar10Fp32ForwardAndGraphReplays) {
  REQUIRE_GPU();
  const std::string dir = test::shared_dir() + "/models/cifar10";
  REQUIRE_DIR(dir);
  for (const char* name : {"resnet20", "mobilenetv2", "densenet40", "effnet_se", "vit_tiny"}) {
    SCOPED_TRACE(name);
    Graph g = import_onnx_file(dir + "/" + name + ".onnx").graph;
    PlanOptions o;
    o.backend = "cuda";
    auto plan = Plan::build(g, o);
    int on_host = 0;
    for (const std::string& line : plan->describe())
      if (line.find("[cuda]") == std::string::npos) {
        ++on_host;
        std::printf("%s: on the host: %s\n", name, line.c_str());
      }
    const Tensor x = test::random_f32({3, 3, 32, 32}, 5, -2.f, 2.f);
    const Tensor want = run_reference(g, {x})[0];
    const Tensor first = plan->run({x})[0].clone();
    double mx = 0;
    for (int64_t i = 0; i < want.numel(); ++i) mx = std::max(mx, std::fabs(double{want.data<float>()[i]}));
    EXPECT_LE(test::max_abs_error(first, want), 1e-4 * mx);
    Plan::Observer nothing = [](int, const Tensor&) {};
    for (int i = 0; i < 6; ++i) {
      const Tensor again = i == 3 ? plan->run({x}, &nothing)[0].clone() : plan->run({x})[0].clone();
      EXPECT_EQ(std::memcmp(again.raw(), first.raw(), first.nbytes()), 0) << "run " << i;
    }
    std::printf("%s: %d node(s) on the host; %s\n", name, on_host, plan->backend().stats().c_str());
  }
}

// Calibration's observer passes on the device (atomics) give the CPU bodies' absmax and counts exactly.
TEST(CudaGpu, HistogramKernelsEqualTheirCpuBodies) {
  REQUIRE_GPU();
  Dev dev;
  std::vector<float> x = test::random_f32({1 << 20}, 21, -4.f, 4.f).to_f32();
  for (size_t i = 0; i < x.size(); i += 5) x[i] = 0.f;
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[9] = -std::numeric_limits<float>::infinity();
  uint32_t host_bits = 0;
  AbsMaxArgs m{x.data(), static_cast<int64_t>(x.size()), &host_bits};
  run_on_host<AbsMaxBody>(m);
  m.x = dev.copy(x.data(), x.size());
  const uint32_t zero_bits = 0;
  m.absmax_bits = dev.copy(&zero_bits, 1);
  launch<AbsMaxBody>(m, nullptr);
  EXPECT_EQ(dev.back(m.absmax_bits, 1)[0], host_bits);
  float range;
  std::memcpy(&range, &host_bits, sizeof range);
  std::vector<unsigned long long> counts(kHistBins + 2, 0);
  HistogramArgs h{x.data(), static_cast<int64_t>(x.size()), static_cast<float>(double(kHistBins) / double(range)),
                  counts.data(), counts.data() + kHistBins, counts.data() + kHistBins + 1};
  run_on_host<HistogramBody>(h);
  const std::vector<unsigned long long> zero(kHistBins + 2, 0);
  unsigned long long* d = dev.copy(zero.data(), zero.size());
  h.x = m.x, h.counts = d, h.zeros = d + kHistBins, h.nonfinite = d + kHistBins + 1;
  launch<HistogramBody>(h, nullptr);
  EXPECT_EQ(dev.back(d, zero.size()), counts);
}

// Runs everywhere: without a device the backend is a clear error, not a crash.
TEST(CudaGpu, NoDeviceIsAClearError) {
  if (no_device_reason().empty()) GTEST_SKIP() << "a GPU is present";
  const std::string msg = test::error_of([] { make_backend("cuda"); });
  EXPECT_NE(msg.find("backend 'cuda': no usable NVIDIA GPU: "), std::string::npos) << msg;
}

// octet/device.h, what a Python calibrator's device pointers go through: device and pinned host memory read back
// exactly (an odd size), plain host memory and made-up addresses refused naming why; without a device, the
// reason (this part runs everywhere).
TEST(CudaGpu, DeviceMemoryIsReadForCalibrators) {
  EXPECT_TRUE(cuda_built());
  std::vector<float> host(1237), back(1237, -1.f);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.37f - 100.f;
  const size_t bytes = host.size() * sizeof(float);
  if (!no_device_reason().empty()) {
    const std::string msg =
        test::error_of([&] { copy_device_to_host(back.data(), reinterpret_cast<const void*>(0x7f00dead0000), 4); });
    EXPECT_EQ(msg.rfind("cannot read device memory: ", 0), 0u) << msg;
    return;
  }
  Dev dev;
  const float* d = dev.copy(host.data(), host.size());
  copy_device_to_host(back.data(), d, bytes);
  EXPECT_EQ(std::memcmp(back.data(), host.data(), bytes), 0);
  void* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, bytes), cudaSuccess);
  std::memcpy(pinned, host.data(), bytes);
  std::fill(back.begin(), back.end(), -1.f);
  copy_device_to_host(back.data(), pinned, bytes);
  EXPECT_EQ(std::memcmp(back.data(), host.data(), bytes), 0);
  cudaFreeHost(pinned);
  for (const void* p : {static_cast<const void*>(host.data()), reinterpret_cast<const void*>(0x7f00dead0000)}) {
    const std::string msg = test::error_of([&] { copy_device_to_host(back.data(), p, bytes); });
    EXPECT_NE(msg.find("it is not CUDA memory"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace octet
