// Plan files (runtime/plan_file.h) on models/fmnist_cnn.onnx: FP32 and INT8 plans (amax from the absmax of
// an FP32 run on random data) saved and loaded back run bit-identically to the in-memory plan; another
// format version, truncation at every 1/37th of the file and random byte flips are octet::Error, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "onnx/import.h"
#include "quant/quant.h"
#include "runtime/plan_file.h"
#include "test_util.h"

using namespace octet;

namespace {

std::string fmnist() { return test::source_dir() + "/models/fmnist_cnn.onnx"; }

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("octet_plan_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::string& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

Tensor input(uint32_t seed) { return test::random_f32({4, 1, 28, 28}, seed, -0.8f, 2.0f); }

// max|x| of every tensor of an unfused FP32 run over `inputs` (fmnist: three random batches): a plausible
// calibration table with the ONNX names.
std::map<std::string, float> absmax_table(const Graph& g, std::vector<Tensor> inputs = {}) {
  if (inputs.empty())
    for (uint32_t s = 1; s <= 3; ++s) inputs.push_back(input(100 + s));
  PlanOptions o;
  o.backend = "ref";
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

std::unique_ptr<Plan> build(const std::string& backend, bool int8, std::vector<std::string> fp32_layers = {}) {
  Graph g = import_onnx_file(fmnist()).graph;
  PlanOptions o;
  o.backend = backend;
  if (int8) o.int8_amax = absmax_table(g);
  o.fp32_layers = std::move(fp32_layers);
  return Plan::build(std::move(g), o);
}

void expect_same_outputs(Plan& a, Plan& b) {
  for (uint32_t seed : {1u, 2u}) {
    Tensor x = input(seed);
    std::vector<Tensor> ya;
    for (const auto& t : a.run({x})) ya.push_back(t.clone());
    auto yb = b.run({x});
    ASSERT_EQ(ya.size(), yb.size());
    for (size_t i = 0; i < ya.size(); ++i) {
      ASSERT_EQ(ya[i].dtype(), yb[i].dtype());
      ASSERT_EQ(ya[i].shape(), yb[i].shape());
      EXPECT_EQ(std::memcmp(ya[i].raw(), yb[i].raw(), ya[i].nbytes()), 0) << "output " << i << " differs";
    }
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A small graph built node by node: one declared input "x"; node() appends a node with one output named
// "<name>_out" and returns that value.
struct GraphBuilder {
  Graph g;
  explicit GraphBuilder(std::vector<int64_t> x_shape) {
    g.opset = 17;
    const int x = g.add_value("x");
    for (int64_t d : x_shape) g.value(x).declared.push_back({d, ""});
    g.value(x).has_declared_shape = true;
    g.inputs = {x};
  }
  int input() const { return g.inputs[0]; }
  int node(OpType op, const std::string& name, std::vector<int> in, std::map<std::string, Attr> attrs = {}) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = {g.add_value(name + "_out")};
    n.attrs = std::move(attrs);
    g.nodes.push_back(n);
    return n.outputs[0];
  }
};

}  // namespace

TEST(PlanFile, RoundTripIsBitIdentical) {
  struct Case {
    std::string backend;
    bool int8;
  };
  for (const Case& c : {Case{"cpu", false}, Case{"cpu", true}, Case{"ref", true}}) {
    SCOPED_TRACE(c.backend + (c.int8 ? " int8" : " fp32"));
    auto plan = build(c.backend, c.int8);
    ASSERT_EQ(plan->is_int8(), c.int8);
    if (c.int8) {
      ASSERT_GT(plan->quantize_report().int8_nodes, 0);
    }
    std::string path = temp_path(c.backend + (c.int8 ? "_int8.plan" : "_fp32.plan"));
    save_plan(*plan, path);
    ASSERT_TRUE(is_plan_file(path));
    EXPECT_FALSE(is_plan_file(fmnist()));
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
    auto loaded = load_plan_file(path);
    EXPECT_EQ(loaded->is_int8(), c.int8);
    EXPECT_EQ(loaded->options().backend, c.backend);
    EXPECT_EQ(loaded->graph().nodes.size(), plan->graph().nodes.size());
    EXPECT_LE(loaded->graph().values.size(), plan->graph().values.size());  // unused values dropped
    for (const Value& v : loaded->graph().values) EXPECT_GE(plan->graph().find(v.name), 0) << v.name;
    const auto& ra = plan->quantize_report();
    const auto& rb = loaded->quantize_report();
    EXPECT_EQ(ra.int8_nodes, rb.int8_nodes);
    EXPECT_EQ(ra.fp32_nodes, rb.fp32_nodes);
    ASSERT_EQ(ra.lines.size(), rb.lines.size());
    for (size_t i = 0; i < ra.lines.size(); ++i) {
      EXPECT_EQ(ra.lines[i].node, rb.lines[i].node);
      EXPECT_EQ(ra.lines[i].precision, rb.lines[i].precision);
      EXPECT_EQ(ra.lines[i].why, rb.lines[i].why);
    }
    expect_same_outputs(*plan, *loaded);
    EXPECT_EQ(plan->describe(), loaded->describe());
    // Saving the loaded plan gives the same bytes (nothing lost or reordered).
    EXPECT_EQ(serialize_plan(*loaded), read_bytes(path));
    PlanContents pc = read_plan_file(path);
    EXPECT_EQ(pc.header.format_version, kPlanFormatVersion);
    EXPECT_EQ(pc.header.octet_version, kPlanOctetVersion);
    EXPECT_EQ(pc.header.backend, c.backend);
    EXPECT_EQ(pc.header.built_on, detect_cpu_level());
    EXPECT_EQ(pc.header.requires_level, c.int8 && c.backend == "cpu" ? detect_cpu_level() : CpuLevel::Generic);
    EXPECT_EQ(pc.header.target, "");  // only device backends (cuda) have one
    std::filesystem::remove(path);
  }
}

TEST(PlanFile, KeepsFp32LayersAndReasons) {
  Graph g = import_onnx_file(fmnist()).graph;
  std::string first_conv;
  for (const Node& n : g.nodes)
    if (n.op == OpType::Conv) {
      first_conv = n.name;
      break;
    }
  auto plan = build("cpu", true, {first_conv});
  std::string path = temp_path("fp32layers.plan");
  save_plan(*plan, path);
  auto loaded = load_plan_file(path);
  EXPECT_EQ(loaded->options().fp32_layers, std::vector<std::string>{first_conv});
  bool found = false;
  for (const auto& l : loaded->quantize_report().lines)
    if (l.node == first_conv) {
      found = true;
      EXPECT_EQ(l.precision, "fp32");
      EXPECT_EQ(l.why, "kept FP32 as requested");
    }
  EXPECT_TRUE(found);
  expect_same_outputs(*plan, *loaded);
  std::filesystem::remove(path);
}

TEST(PlanFile, OtherFormatVersionIsRefused) {
  auto plan = build("cpu", false);
  std::string bytes = serialize_plan(*plan);
  uint32_t v = kPlanFormatVersionZeroPoints + 1;
  std::memcpy(bytes.data() + 8, &v, 4);
  std::string path = temp_path("v2.plan");
  write_bytes(path, bytes);
  std::string msg = error_of([&] { load_plan_file(path); });
  EXPECT_NE(msg.find("cannot load plan '" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("plan format version " + std::to_string(v)), std::string::npos) << msg;
  EXPECT_NE(msg.find("reads format versions " + std::to_string(kPlanFormatVersion) + " and " +
                     std::to_string(kPlanFormatVersionZeroPoints)),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("octet build"), std::string::npos) << msg;
  std::filesystem::remove(path);

  EXPECT_NE(error_of([&] { parse_plan("OCTETPLX....", "x.plan"); }).find("not an octet plan"), std::string::npos);
}

TEST(PlanFile, CpuLevelIsChecked) {
  PlanHeader h;
  h.requires_level = CpuLevel::Avx512Vnni;
  std::string msg = error_of([&] { check_plan_cpu(h, CpuLevel::Avx2, "m.plan"); });
  EXPECT_NE(msg.find("avx512_vnni"), std::string::npos) << msg;
  EXPECT_NE(msg.find("this CPU has only avx2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("octet build"), std::string::npos) << msg;
  EXPECT_EQ(error_of([&] { check_plan_cpu(h, CpuLevel::Avx512Vnni, "m.plan"); }), "");
  h.requires_level = CpuLevel::Generic;
  EXPECT_EQ(error_of([&] { check_plan_cpu(h, CpuLevel::Generic, "m.plan"); }), "");
  for (CpuLevel l : {CpuLevel::Generic, CpuLevel::Avx2, CpuLevel::Avx512, CpuLevel::Avx512Vnni})
    EXPECT_EQ(cpu_level_from_name(cpu_level_name(l)), l);
  EXPECT_FALSE(cpu_level_from_name("sse2"));
}

// A cuda plan records the GPU architecture it was built for (format 4) and is refused on another.
TEST(PlanFile, TargetIsRecordedAndChecked) {
  auto plan = build("cpu", true);
  PlanContents c = parse_plan(serialize_plan(*plan), "m.plan");
  c.header.backend = "cuda";
  c.header.target = "sm_90";
  const PlanContents back = parse_plan(serialize_plan(c), "m.plan");
  EXPECT_EQ(back.header.target, "sm_90");
  EXPECT_EQ(error_of([&] { check_plan_target(back.header, "sm_90", "m.plan"); }), "");
  std::string msg = error_of([&] { check_plan_target(back.header, "sm_100", "m.plan"); });
  EXPECT_NE(msg.find("cannot run plan 'm.plan': it was built for cuda target sm_90"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backend is sm_100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("octet build"), std::string::npos) << msg;
  msg = error_of([&] { check_plan_target(back.header, "", "m.plan"); });
  EXPECT_NE(msg.find("backend is (none)"), std::string::npos) << msg;
  PlanHeader none;
  EXPECT_EQ(error_of([&] { check_plan_target(none, "sm_90", "m.plan"); }), "");
}

TEST(PlanFile, TruncatedAndCorruptFilesAreErrors) {
  auto plan = build("cpu", true);
  const std::string bytes = serialize_plan(*plan);
  // Truncated at every 1/37th: refused by the checksum, and by the parser itself when that is skipped.
  for (int k = 0; k < 37; ++k) {
    size_t len = bytes.size() * static_cast<size_t>(k) / 37;
    SCOPED_TRACE(len);
    std::string_view cut(bytes.data(), len);
    EXPECT_NE(error_of([&] { parse_plan(cut, "cut.plan"); }), "");
    EXPECT_NE(error_of([&] { parse_plan(cut, "cut.plan", /*verify_checksum=*/false); }), "");
  }
  std::string path = temp_path("cut.plan");
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  std::string msg = error_of([&] { load_plan_file(path); });
  EXPECT_NE(msg.find("cannot load plan '" + path + "'"), std::string::npos) << msg;
  std::filesystem::remove(path);

  // Random byte flips: the checksum catches them; without it the parser returns or throws octet::Error.
  std::mt19937 rng(5);
  std::uniform_int_distribution<size_t> pos(0, bytes.size() - 1);
  for (int i = 0; i < 200; ++i) {
    std::string b = bytes;
    size_t p = i < 100 ? pos(rng) % std::min<size_t>(bytes.size(), 4096) : pos(rng);  // headers and graph too
    b[p] = static_cast<char>(b[p] ^ (1 + rng() % 255));
    SCOPED_TRACE(p);
    EXPECT_NE(error_of([&] { parse_plan(b, "flip.plan"); }), "");
    try {
      parse_plan(b, "flip.plan", false);
    } catch (const Error&) {
    }
  }
  // Huge counts in an otherwise valid prefix are bounded by the file size, not allocated.
  std::string huge = bytes.substr(0, 12);
  huge += std::string("\xff\xff\xff\x7f", 4);
  EXPECT_NE(error_of([&] { parse_plan(huge, "huge.plan", false); }), "");
}

// The quantization pass rounds in int8 only where the result stays int8: fmnist's GlobalAveragePool feeds
// Flatten (FP32), so it averages in FP32 on the dequantized input instead of rounding once more; MaxPool (no
// rounding) and the convs stay int8.
TEST(QuantizePass, RoundingPassThroughOpsStayFp32WhenOnlyFp32Reads) {
  Graph g = import_onnx_file(fmnist()).graph;
  PlanOptions o;
  o.int8_amax = absmax_table(g);
  auto plan = Plan::build(g, o);
  std::map<std::string, QuantizeReport::Line> by;
  for (const auto& l : plan->quantize_report().lines) by[l.node] = l;
  ASSERT_TRUE(by.count("/GlobalAveragePool") && by.count("/MaxPool") && by.count("/b2/b2.0/Conv"));
  EXPECT_EQ(by["/GlobalAveragePool"].precision, "fp32");
  EXPECT_NE(by["/GlobalAveragePool"].why.find("read only in FP32"), std::string::npos) << by["/GlobalAveragePool"].why;
  EXPECT_EQ(by["/MaxPool"].precision, "int8");
  EXPECT_EQ(by["/b2/b2.0/Conv"].precision, "int8");
  EXPECT_EQ(by["/fc/Gemm"].precision, "int8");
}

// A DenseNet-like chain: c1 = Concat(a, b) is read by a Conv (int8 pays: no extra rounding before it);
// c2 = Concat(c1, c) only by another Concat, c3 = Concat(c2, a) only by a Sigmoid. An int8 c2 would
// re-round c1's channels to c2's scale for nothing: c2 and c3 stay FP32, c1 stays int8.
TEST(QuantizePass, ConcatChainsReadOnlyInFp32StayFp32) {
  GraphBuilder gb({1, 4, 5, 5});
  Graph& g = gb.g;
  const int x = gb.input();
  auto conv = [&](const std::string& name, int in, int64_t cin, uint32_t seed) {
    int w = g.add_constant(name + "_w", test::random_f32({4, cin, 3, 3}, seed));
    return gb.node(OpType::Conv, name, {in, w}, {{"pads", attr_ints({1, 1, 1, 1})}});
  };
  const int a = conv("convA", x, 4, 1), b = conv("convB", a, 4, 2);
  const int c1 = gb.node(OpType::Concat, "concat1", {a, b}, {{"axis", attr_i(1)}});
  const int c = conv("convC", c1, 8, 3);
  const int c2 = gb.node(OpType::Concat, "concat2", {c1, c}, {{"axis", attr_i(1)}});
  const int c3 = gb.node(OpType::Concat, "concat3", {c2, a}, {{"axis", attr_i(1)}});
  g.outputs = {gb.node(OpType::Sigmoid, "sigmoid", {c3})};
  g.finalize();
  PlanOptions o;
  for (const auto& v : g.values)
    if (!v.constant) o.int8_amax[v.name] = 4.f;
  auto plan = Plan::build(g, o);
  std::map<std::string, QuantizeReport::Line> by;
  for (const auto& l : plan->quantize_report().lines) by[l.node] = l;
  EXPECT_EQ(by["convC"].precision, "int8");
  EXPECT_EQ(by["concat1"].precision, "int8");
  EXPECT_EQ(by["concat2"].precision, "fp32") << by["concat2"].why;
  EXPECT_NE(by["concat2"].why.find("read only in FP32"), std::string::npos) << by["concat2"].why;
  EXPECT_EQ(by["concat3"].precision, "fp32") << by["concat3"].why;
}

// A squeeze-excitation block with SiLU written as Mul(y, Sigmoid(y)) (EfficientNet):
//   a = SiLU(convA(x)); gate = Sigmoid(convS(GlobalAveragePool(a))); y = convB(a * gate)
// FP32 plans fuse the SiLU into convA. INT8 plans apply it in convA's epilogue (act = Silu: a is read by int8
// ops, so its rounding is needed anyway), while the gate, read only by the Mul, is not rounded: convS stops at
// its pre-activation tensor, the Sigmoid runs in FP32, and the Mul is a QMulGate (int8 a times the FP32 gate). The cpu INT8 plan equals the ref one bit
// for bit and stays close to FP32; a plan file keeps the activation.
TEST(QuantizePass, SiluFusedIntoTheEpilogueAndGatesStayFp32) {
  GraphBuilder gb({2, 8, 7, 9});
  Graph& g = gb.g;
  const int x = gb.input();
  auto conv = [&](const std::string& name, int in, int64_t cout, int64_t cin, int64_t k, uint32_t seed) {
    int w = g.add_constant(name + "_w", test::random_f32({cout, cin, k, k}, seed, -0.4f, 0.4f));
    int b = g.add_constant(name + "_b", test::random_f32({cout}, seed + 7, -0.5f, 0.5f));
    return gb.node(OpType::Conv, name, {in, w, b}, {{"pads", attr_ints({k / 2, k / 2, k / 2, k / 2})}});
  };
  const int ya = conv("convA", x, 12, 8, 3, 1);
  const int sa = gb.node(OpType::Sigmoid, "sigA", {ya});
  const int a = gb.node(OpType::Mul, "siluA", {sa, ya});  // operands in the other order than Mul(y, s)
  const int p = gb.node(OpType::GlobalAveragePool, "gap", {a});
  const int gate = gb.node(OpType::Sigmoid, "gate", {conv("convS", p, 12, 12, 1, 2)});
  const int m = gb.node(OpType::Mul, "excite", {a, gate});
  g.outputs = {conv("convB", m, 5, 12, 3, 3)};
  g.finalize();

  std::vector<Tensor> xs;
  for (uint32_t s : {11u, 12u, 13u}) xs.push_back(test::random_f32({2, 8, 7, 9}, s, -2.f, 2.f));
  const std::map<std::string, float> amax = absmax_table(g, xs);
  PlanOptions fo;
  fo.backend = "ref";
  fo.fuse = false;
  auto unfused = Plan::build(g, fo);
  std::vector<Tensor> want;
  for (const Tensor& t : xs) want.push_back(unfused->run({t})[0].clone());

  // FP32: SiLU fused into convA, same outputs.
  for (const char* backend : {"ref", "cpu"}) {
    PlanOptions o;
    o.backend = backend;
    auto plan = Plan::build(g, o);
    bool silu = false;
    for (const Node& n : plan->graph().nodes) {
      silu = silu || n.post.act == Activation::Silu;
      EXPECT_NE(n.name, "siluA") << backend << ": the SiLU Mul should be fused";
    }
    EXPECT_TRUE(silu) << backend;
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor y = plan->run({xs[i]})[0].clone();
      for (int64_t k = 0; k < y.numel(); ++k)
        ASSERT_NEAR(y.data<float>()[k], want[i].data<float>()[k], 1e-4f * (1.f + std::fabs(want[i].data<float>()[k])))
            << backend;
    }
  }

  // Tensors a Q/DQ model rounds stay materialized (PlanOptions::keep_unfused): the SiLU's output may be one (the
  // fused conv writes it), its input may not (then nothing is fused after convA).
  for (const auto& [keep, fused] : {std::pair{"siluA_out", true}, std::pair{"convA_out", false}}) {
    PlanOptions o;
    o.keep_unfused = {keep};
    auto plan = Plan::build(g, o);
    bool silu = false;
    for (const Node& n : plan->graph().nodes) silu = silu || n.post.act == Activation::Silu;
    EXPECT_EQ(silu, fused) << "keeping " << keep;
  }

  // INT8.
  std::vector<std::vector<Tensor>> got;
  for (const char* backend : {"ref", "cpu"}) {
    PlanOptions o;
    o.backend = backend;
    o.int8_amax = amax;
    auto plan = Plan::build(g, o);
    const Graph& pg = plan->graph();
    std::map<std::string, const Node*> by;
    for (const Node& n : pg.nodes) by[n.name] = &n;
    ASSERT_TRUE(by.count("convA") && by.count("convS") && by.count("convB")) << backend;
    EXPECT_EQ(by["convA"]->op, OpType::QConv);
    EXPECT_EQ(by["convA"]->attr_i("act", 0), static_cast<int64_t>(quant::Act::Silu)) << backend;
    EXPECT_EQ(by["convS"]->op, OpType::QConv);
    EXPECT_EQ(by["convS"]->attr_i("act", 0), 0) << "the gate is read only in FP32: " << backend;
    ASSERT_TRUE(by.count("excite")) << backend;
    EXPECT_EQ(by["excite"]->op, OpType::QMulGate) << backend << ": int8 x times the FP32 gate, read by convB";
    int sigmoids = 0;
    for (const Node& n : pg.nodes) sigmoids += n.op == OpType::Sigmoid;
    EXPECT_EQ(sigmoids, 1) << backend << ": the gate's Sigmoid runs in FP32, SiLU's is fused";
    got.emplace_back();
    for (const Tensor& t : xs) got.back().push_back(plan->run({t})[0].clone());
    if (std::string(backend) == "cpu") {
      const std::string path = temp_path("silu.plan");
      save_plan(*plan, path);
      auto loaded = load_plan_file(path);
      std::filesystem::remove(path);
      for (size_t i = 0; i < xs.size(); ++i) {
        const Tensor y = loaded->run({xs[i]})[0];
        EXPECT_EQ(std::memcmp(y.raw(), got.back()[i].raw(), y.nbytes()), 0) << "loaded plan, input " << i;
      }
    }
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(std::memcmp(got[0][i].raw(), got[1][i].raw(), got[0][i].nbytes()), 0) << "cpu INT8 != ref INT8, input " << i;
    double dot = 0, n1 = 0, n2 = 0;
    for (int64_t k = 0; k < want[i].numel(); ++k) {
      const double u = got[1][i].data<float>()[k], v = want[i].data<float>()[k];
      dot += u * v, n1 += u * u, n2 += v * v;
    }
    EXPECT_GT(dot / std::sqrt(n1 * n2), 0.995) << "INT8 vs FP32 cosine, input " << i;
  }
}

TEST(PlanFile, DirectoryIsNoPlanAndNotRead) {
  const std::string dir = testing::TempDir() + "/octet_plan_dir.plan";
  std::filesystem::create_directories(dir);
  EXPECT_FALSE(is_plan_file(dir));
  try {
    read_plan_file(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}
