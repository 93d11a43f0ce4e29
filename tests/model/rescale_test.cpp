// Plan::update_int8_amax and Plan::run_from (runtime/plan.h), what the refinement's trials run on: a plan whose
// scales were changed in place gives the outputs of a plan built with those scales, bit for bit, and so does a
// run of only the steps from the first changed one; on the repo's Fashion-MNIST model and the CIFAR-10 models
// of ../shared (skipped without them), on the cpu and ref backends, for random scale changes (including one
// that keeps a layer FP32, which changes the graph and rebuilds the plan).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "onnx/import.h"
#include "runtime/plan.h"
#include "test_util.h"

using namespace octet;

namespace {

// amax = max |x| of every FP32 tensor of the unfused FP32 plan on `input` (names as in the ONNX model).
std::map<std::string, float> minmax_amax(const Graph& g, const Tensor& input) {
  PlanOptions po;
  po.backend = "ref";
  po.fuse = false;
  po.fold_batchnorm = false;
  auto plan = Plan::build(g, po);
  std::map<std::string, float> amax;
  Plan::Observer obs = [&](int v, const Tensor& t) {
    if (t.dtype() != DType::f32) return;
    float m = 0.f;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data<float>()[i]));
    if (m > 0.f && std::isfinite(m)) amax[plan->graph().value(v).name] = m;
  };
  plan->run({input}, &obs);
  return amax;
}

bool same_outputs(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].dtype() != b[i].dtype() || a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()) != 0)
      return false;
  return true;
}

std::vector<Tensor> copies(const std::vector<Tensor>& v) {
  std::vector<Tensor> c;
  for (const Tensor& t : v) c.push_back(t.clone());
  return c;
}

void check_model(const Graph& g, const Shape& in_shape, const std::string& backend) {
  SCOPED_TRACE(g.name + " on " + backend);
  const Tensor x = test::random_f32(in_shape, 7, -2.f, 2.f);
  std::map<std::string, float> amax = minmax_amax(g, x);
  PlanOptions po;
  po.backend = backend;
  po.int8_amax = amax;
  po.rescalable = true;
  po.keep_all_outputs = true;
  auto plan = Plan::build(g, po);
  const std::vector<std::string> scaled = plan->quantize_report().scaled_tensors;
  ASSERT_GE(scaled.size(), 3u);
  const std::vector<Tensor> first = copies(plan->run({x}));
  const std::vector<Tensor> saved = plan->saved_tensors();
  std::mt19937 rng(11);
  int rebuilt = 0, downstream = 0;
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::map<std::string, float> trial = po.int8_amax;
    // One to three tensors get a scale 0.3x to 3x the first one (round 4: one tensor amax 0 -> its layer FP32).
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < n; ++k) {
      const std::string& name = scaled[rng() % scaled.size()];
      trial[name] = amax[name] * std::exp(std::uniform_real_distribution<float>(-1.2f, 1.1f)(rng));
    }
    if (round == 4) trial[scaled[scaled.size() / 2]] = 0.f;
    // From the starting scales each time, so that run_from can start from the saved run.
    if (round > 0) plan->update_int8_amax(po.int8_amax);
    const Plan::ScaleUpdate u = plan->update_int8_amax(trial);
    rebuilt += u.rebuilt;
    PlanOptions fresh_opt = po;
    fresh_opt.int8_amax = trial;
    fresh_opt.rescalable = false;
    fresh_opt.keep_all_outputs = false;
    auto fresh = Plan::build(g, fresh_opt);
    const std::vector<Tensor> want = copies(fresh->run({x}));
    EXPECT_TRUE(same_outputs(plan->run({x}), want)) << "updated plan != a plan built with the scales";
    if (!u.rebuilt) {
      downstream += u.first_step > 0;
      EXPECT_TRUE(same_outputs(plan->run_from(u.first_step, {x}, saved), want))
          << "run from step " << u.first_step << " of " << plan->steps() << " != a plan built with the scales";
    }
    EXPECT_EQ(plan->quantize_report().scaled_tensors, fresh->quantize_report().scaled_tensors);
    // A plan that does not keep its tensors, from a snapshot of its live values halfway (what the refinement's
    // runs over all samples start from), after a run on other inputs has overwritten its buffers.
    {
      const size_t half = std::min(fresh->steps() - 1, fresh->steps() / 2 + static_cast<size_t>(round));
      std::vector<Tensor> snap;
      EXPECT_TRUE(same_outputs(fresh->run_from(0, {x}, {}, half, &snap), want));
      size_t kept = 0;
      for (const Tensor& t : snap) kept += t.defined();
      EXPECT_EQ(kept, fresh->live_values(half).size());
      fresh->run({test::random_f32(in_shape, 99 + round, -2.f, 2.f)});
      EXPECT_TRUE(same_outputs(fresh->run_from(half, {x}, snap), want)) << "run from a snapshot at step " << half;
      std::vector<Tensor> again;
      EXPECT_TRUE(same_outputs(fresh->run_from(half, {x}, snap, fresh->steps() - 1, &again), want));
      EXPECT_TRUE(same_outputs(fresh->run_from(fresh->steps() - 1, {x}, again), want));
    }
    // A change must show: the outputs differ from the first run's (the test can fail).
    if (round == 0) {
      EXPECT_FALSE(same_outputs(want, first));
    }
  }
  EXPECT_GE(downstream, 1);
  // Back to the starting scales: the first outputs again.
  plan->update_int8_amax(po.int8_amax);
  EXPECT_TRUE(same_outputs(plan->run({x}), first));
  EXPECT_TRUE(same_outputs(plan->run_from(plan->steps(), {x}, saved), first));
  (void)rebuilt;
}

}  // namespace

TEST(Rescale, InPlaceScalesAreABuildBitForBitFmnist) {
  Graph g = import_onnx_file(test::source_dir() + "/models/fmnist_cnn.onnx").graph;
  g.name = "fmnist";
  for (const char* b : {"cpu", "ref"}) check_model(g, {3, 1, 28, 28}, b);
}

TEST(Rescale, InPlaceScalesAreABuildBitForBitCifar) {
  const std::string shared = test::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found (set OCTET_SHARED)";
  int models = 0;
  // (All five on both backends pass too; the default run keeps to seconds.)
  for (const char* m : {"resnet20", "mobilenetv2", "effnet_se", "vit_tiny"}) {
    const std::string path = shared + "/models/cifar10/" + m + ".onnx";
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) continue;
    std::fclose(f);
    Graph g = import_onnx_file(path).graph;
    g.name = m;
    check_model(g, {2, 3, 32, 32}, "cpu");
    // ref (plain loops) on the smallest: seconds, not minutes.
    if (std::string(m) == "resnet20") check_model(g, {1, 3, 32, 32}, "ref");
    ++models;
  }
  if (models == 0) GTEST_SKIP() << "no CIFAR-10 models in " << shared;
}

TEST(Rescale, NeedsARescalablePlan) {
  Graph g = import_onnx_file(test::source_dir() + "/models/fmnist_cnn.onnx").graph;
  PlanOptions po;
  po.int8_amax = {{"input", 2.f}};
  auto plan = Plan::build(g, po);
  EXPECT_NE(test::error_of([&] { plan->update_int8_amax({{"input", 1.f}}); }).find("rescalable"), std::string::npos);
  EXPECT_NE(test::error_of([&] { plan->run_from(1, {test::random_f32({1, 1, 28, 28}, 1)}, {}); }).find("saved tensors"),
            std::string::npos);
  std::vector<Tensor> partial(plan->graph().values.size());
  EXPECT_NE(test::error_of([&] { plan->run_from(2, {test::random_f32({1, 1, 28, 28}, 1)}, partial); }).find("was not saved"),
            std::string::npos);
}
