// Runs ONNX's own backend node tests (Debian's libonnx-testdata, or $ONNX_NODE_TESTS) for every op octet
// supports, on the ref and cpu backends, comparing with the expected outputs (rtol 1e-3, atol 1e-5).
// Cases that use something octet deliberately does not support are listed in kKnownUnsupported with the
// reason; every other case whose ops are all in ops.inc must pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "onnx/import.h"
#include "runtime/plan.h"

namespace fs = std::filesystem;
using namespace octet;

namespace {

std::string node_test_dir() {
  const char* e = std::getenv("ONNX_NODE_TESTS");
  std::string d = e ? e : "/usr/share/libonnx-testdata/data/node";
  return fs::is_directory(d) ? d : "";
}

// Prefixes of test names octet does not run, with the reason.
const std::map<std::string, std::string> kKnownUnsupported = {
    {"test_cast_FLOAT_to_FLOAT16", "float16"},
    {"test_cast_FLOAT16", "float16"},
    {"test_cast_DOUBLE_to_FLOAT16", "float16"},
    {"test_batchnorm_epsilon_training_mode", "training-mode BatchNormalization"},
    {"test_batchnorm_example_training_mode", "training-mode BatchNormalization"},
    {"test_cast_BFLOAT16", "bfloat16"},
    {"test_cast_FLOAT_to_BFLOAT16", "bfloat16"},
    {"test_cast_FLOAT_to_STRING", "strings"},
    {"test_cast_STRING", "strings"},
    {"test_castlike", "CastLike is not an octet op"},
    {"test_training_dropout", "training-mode dropout"},
    {"test_dropout_default_mask_ratio", "training-mode dropout"},
};

std::string known_reason(const std::string& name) {
  for (const auto& [prefix, why] : kKnownUnsupported)
    if (name.rfind(prefix, 0) == 0) return why;
  return "";
}

std::vector<std::string> list_cases() {
  std::vector<std::string> cases;
  std::string d = node_test_dir();
  if (d.empty()) return cases;
  for (const auto& e : fs::directory_iterator(d))
    if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  return cases;
}

bool close(const Tensor& got, const Tensor& want, std::string& why) {
  if (got.shape() != want.shape()) {
    why = "shape " + shape_str(got.shape()) + " vs expected " + shape_str(want.shape());
    return false;
  }
  if (got.dtype() != want.dtype()) {
    why = std::string("dtype ") + dtype_name(got.dtype()) + " vs expected " + dtype_name(want.dtype());
    return false;
  }
  auto g = got.to_f32(), w = want.to_f32();
  if (want.dtype() == DType::f64) {
    // to_f32 loses nothing that a 1e-3 tolerance would notice
  }
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    if (std::isinf(w[i]) && g[i] == w[i]) continue;
    if (!(std::fabs(g[i] - w[i]) <= 1e-5 + 1e-3 * std::fabs(w[i]))) {
      why = "element " + std::to_string(i) + ": " + std::to_string(g[i]) + " vs expected " + std::to_string(w[i]);
      return false;
    }
  }
  return true;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, Matches) {
  const std::string name = GetParam();
  fs::path dir = fs::path(node_test_dir()) / name;
  ImportOptions io;
  io.strict = false;
  ImportResult r;
  try {
    r = import_onnx_file((dir / "model.onnx").string(), io);
  } catch (const Error& e) {
    std::string msg = e.what();
    // Models using data types octet does not handle are out of scope; anything else must import.
    if (msg.find("data type") != std::string::npos) GTEST_SKIP() << msg;
    FAIL() << msg;
  }
  if (!r.unsupported.empty()) GTEST_SKIP() << "uses ops octet does not implement: " << r.unsupported[0];
  std::string why = known_reason(name);
  if (!why.empty()) GTEST_SKIP() << "known unsupported: " << why;
  for (int v : r.graph.inputs)
    if (r.graph.value(v).dtype == DType::f16) GTEST_SKIP() << "float16 input";
  for (const auto& set : fs::directory_iterator(dir)) {
    if (!set.is_directory() || set.path().filename().string().rfind("test_data_set", 0) != 0) continue;
    std::vector<Tensor> inputs, expected;
    for (size_t i = 0; fs::exists(set.path() / ("input_" + std::to_string(i) + ".pb")); ++i)
      inputs.push_back(read_tensor_proto_file((set.path() / ("input_" + std::to_string(i) + ".pb")).string()));
    for (size_t i = 0; fs::exists(set.path() / ("output_" + std::to_string(i) + ".pb")); ++i)
      expected.push_back(read_tensor_proto_file((set.path() / ("output_" + std::to_string(i) + ".pb")).string()));
    for (const char* backend : {"ref", "cpu"}) {
      PlanOptions opt;
      opt.backend = backend;
      std::vector<Tensor> outs;
      try {
        auto plan = Plan::build(r.graph, opt);
        outs = plan->run(inputs);
      } catch (const Error& e) {
        // Shape-like inputs (Reshape's shape, Slice's starts, Resize's scales...) must be known when octet
        // builds a plan; these tests feed them as graph inputs, so bind every input as a constant and retry.
        if (std::string(e.what()).find("computed from data at run time") == std::string::npos)
          FAIL() << backend << ": " << e.what();
        Graph g = r.graph;
        for (size_t i = 0; i < g.inputs.size(); ++i) g.value(g.inputs[i]).constant = inputs[i];
        g.inputs.clear();
        try {
          outs = Plan::build(g, opt)->run({});
        } catch (const Error& e2) {
          FAIL() << backend << " (inputs bound as constants): " << e2.what();
        }
      }
      ASSERT_EQ(outs.size(), expected.size());
      for (size_t o = 0; o < outs.size(); ++o) {
        std::string diff;
        EXPECT_TRUE(close(outs[o], expected[o], diff)) << backend << " output " << o << ": " << diff;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Onnx, OnnxNodeTest, ::testing::ValuesIn(list_cases()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

TEST(OnnxNodeTests, TestDataIsPresent) {
  if (node_test_dir().empty()) GTEST_SKIP() << "libonnx-testdata not installed (apt-get install libonnx-testdata)";
  EXPECT_GT(list_cases().size(), 500u);
}

}  // namespace
