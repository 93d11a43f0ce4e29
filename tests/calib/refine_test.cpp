// The refinement's threshold search (src/calib/refine.h) on the repo's Fashion-MNIST model with synthetic data:
// without its shortcuts it is octet tune's scale search, decision for decision; with them it still repairs a
// threshold damaged on purpose, runs fewer trials over all samples, and gives the same table every time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "calib/refine.h"
#include "calib/tune.h"
#include "onnx/import.h"
#include "runtime/plan.h"
#include "calib/fmnist_calib.h"
#include "test_util.h"

using namespace octet;

namespace {

using test::calibrated;
using test::fmnist;

// 16 samples in batches of 4.
std::vector<std::vector<Tensor>> samples() {
  std::vector<std::vector<Tensor>> b;
  for (uint32_t i = 0; i < 4; ++i) b.push_back({test::random_f32({4, 1, 28, 28}, 100 + i, -0.8f, 2.0f)});
  return b;
}

// A ReLU output whose scale the INT8 plan uses gets amax = its minmax candidate / 40: most of its values clip.
std::string damage(const Graph& g, CalibTable& t) {
  PlanOptions po;
  for (const auto& e : t.entries) po.int8_amax[e.name] = e.amax;
  auto plan = Plan::build(g, po);
  const auto& used = plan->quantize_report().scaled_tensors;
  for (auto& e : t.entries)
    if (e.name != "input" && std::count(used.begin(), used.end(), e.name) && !e.candidates.empty() &&
        e.name.find("Relu") != std::string::npos)
      for (const auto& [k, v] : e.candidates)
        if (k == "minmax") {
          e.amax = v / 40.f;
          return e.name;
        }
  return {};
}

ThresholdSearchOptions exhaustive() {
  ThresholdSearchOptions o;
  o.screen_samples = 0;
  o.prune_ratio = 0;
  return o;
}

}  // namespace

TEST(Refine, WithoutShortcutsItIsTunesScaleSearch) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  const std::string victim = damage(g, t);
  ASSERT_FALSE(victim.empty());
  TuneOptions to;
  to.max_fp32_layers = 0;
  TuneResult tr = tune(g, t, samples(), to);
  ThresholdSearchResult r = search_thresholds(g, t, samples(), exhaustive());
  EXPECT_EQ(r.pruned, 0);
  EXPECT_EQ(r.screened_out, 0);
  EXPECT_EQ(r.trials + 1, tr.trials);  // tune counts its starting run as a trial
  EXPECT_EQ(r.sweeps, tr.sweeps);
  EXPECT_NEAR(r.sqnr_start_db, tr.sqnr_start_db, 1e-9);
  EXPECT_NEAR(r.sqnr_db, tr.sqnr_scales_db, 1e-9);
  ASSERT_EQ(r.changes.size(), tr.steps.size());
  for (size_t i = 0; i < r.changes.size(); ++i) {
    EXPECT_EQ(r.changes[i].tensor, tr.steps[i].target);
    EXPECT_EQ(r.changes[i].choice, tr.steps[i].choice);
  }
  ASSERT_EQ(r.table.entries.size(), tr.table.entries.size());
  for (size_t i = 0; i < r.table.entries.size(); ++i)
    EXPECT_EQ(r.table.entries[i].amax, tr.table.entries[i].amax) << r.table.entries[i].name;
}

TEST(Refine, ShortcutsRepairTheDamageWithFewerFullRuns) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  const std::string victim = damage(g, t);
  ASSERT_FALSE(victim.empty());
  ThresholdSearchResult full = search_thresholds(g, t, samples(), exhaustive());
  ThresholdSearchOptions o;
  o.screen_samples = 4;  // of 16
  ThresholdSearchResult fast = search_thresholds(g, t, samples(), o);
  EXPECT_GT(fast.sqnr_db, fast.sqnr_start_db + 3.0) << "victim " << victim;
  bool repaired = false;
  for (const auto& c : fast.changes) repaired = repaired || c.tensor == victim;
  EXPECT_TRUE(repaired) << victim;
  // Every candidate was either pruned, screened out or confirmed on all samples.
  EXPECT_GT(fast.pruned + fast.screened_out, 0);
  EXPECT_EQ(fast.trials, fast.screened_out + fast.confirmations);
  EXPECT_LT(fast.confirmations, full.trials);
  // An accepted change passed the same rule as in the exhaustive search: it gained on all samples.
  double prev = fast.sqnr_start_db;
  for (const auto& c : fast.changes) {
    EXPECT_GT(c.sqnr_db, prev + 0.01) << c.tensor;
    prev = c.sqnr_db;
  }
  EXPECT_EQ(prev, fast.sqnr_db);
}

TEST(Refine, SameSamplesSameTable) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  damage(g, t);
  ThresholdSearchOptions o;
  o.screen_samples = 4;
  ThresholdSearchResult a = search_thresholds(g, t, samples(), o), b = search_thresholds(g, t, samples(), o);
  ASSERT_EQ(a.table.entries.size(), b.table.entries.size());
  for (size_t i = 0; i < a.table.entries.size(); ++i) EXPECT_EQ(a.table.entries[i].amax, b.table.entries[i].amax);
  EXPECT_EQ(a.trials, b.trials);
  EXPECT_EQ(a.sqnr_db, b.sqnr_db);
}

// The screening sample count follows the size of a sample's output (about 8,192 values, 4 to 16 samples), and
// is what the search reports using.
TEST(Refine, ScreenSamplesFollowTheOutputSize) {
  EXPECT_EQ(refine_screen_count(128 * 10, 128), 16);        // CIFAR-10 classifier
  EXPECT_EQ(refine_screen_count(105 * 1000, 105), 8);       // ImageNet classifier
  EXPECT_EQ(refine_screen_count(64 * 21294, 64), 4);        // yolox_det at 416x416
  EXPECT_EQ(refine_screen_count(64 * 670000, 64), 4);       // ppocr_det at 960
  EXPECT_EQ(refine_screen_count(0, 0), 16);
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  damage(g, t);
  std::vector<std::vector<Tensor>> more = samples();
  for (uint32_t i = 0; i < 4; ++i) more.push_back({test::random_f32({4, 1, 28, 28}, 200 + i, -0.8f, 2.0f)});
  ThresholdSearchOptions o;  // screen_samples -1: by output size
  o.max_sweeps = 1;
  EXPECT_EQ(search_thresholds(g, t, more, o).screen_samples, 16);  // of 32 (10 values a sample)
  EXPECT_EQ(search_thresholds(g, t, samples(), o).screen_samples, 0);  // 16 of 16: no screening
}

// A candidate runs on all samples only when its screen gained more than confirm_db; a confirmation that has not
// gained accept_db on half of the samples stops there (confirm_half) and is rejected.
TEST(Refine, ConfirmationBarAndHalfwayStop) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  damage(g, t);
  ThresholdSearchOptions o;
  o.screen_samples = 4;
  o.confirm_db = 1e9;
  ThresholdSearchResult none = search_thresholds(g, t, samples(), o);
  EXPECT_EQ(none.confirmations, 0);
  EXPECT_TRUE(none.changes.empty());
  EXPECT_EQ(none.trials, none.screened_out);
  o.confirm_db = 0;  // every screen win is confirmed
  o.confirm_half = false;
  ThresholdSearchResult whole = search_thresholds(g, t, samples(), o);
  EXPECT_EQ(whole.halted, 0);
  o.confirm_half = true;
  ThresholdSearchResult half = search_thresholds(g, t, samples(), o);
  EXPECT_LE(half.halted, half.confirmations);
  EXPECT_GT(half.halted, 0);  // fmnist: some confirmations lose on their first half
  // A halted confirmation is a rejection; an accepted change still gained accept_db on all samples.
  double prev = half.sqnr_start_db;
  for (const auto& c : half.changes) {
    EXPECT_GT(c.sqnr_db, prev + 0.01) << c.tensor;
    prev = c.sqnr_db;
  }
  EXPECT_EQ(prev, half.sqnr_db);
}

TEST(Refine, NoSamplesIsAnError) {
  Graph g = fmnist();
  EXPECT_THROW(search_thresholds(g, calibrated(g), {}), Error);
}

// FP32 outputs given by the caller (calibrate() passes those of its calibration pass) stand for the refinement's
// own FP32 run: the same outputs give the same search, other outputs another one, and a batch that does not match
// is refused, naming it.
TEST(Refine, GivenFp32OutputsStandForItsOwn) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  damage(g, t);
  ThresholdSearchOptions o;
  o.screen_samples = 4;  // the screening samples' outputs are picked from the given ones
  o.max_sweeps = 1;
  auto fp32 = Plan::build(g, PlanOptions{});
  std::vector<std::vector<Tensor>> ref;
  for (const auto& b : samples()) {
    std::vector<Tensor> outs;
    for (const Tensor& y : fp32->run(b)) outs.push_back(y.clone());
    ref.push_back(std::move(outs));
  }
  const ThresholdSearchResult own = search_thresholds(g, t, samples(), o);
  const ThresholdSearchResult given = search_thresholds(g, t, samples(), o, &ref);
  EXPECT_EQ(given.sqnr_start_db, own.sqnr_start_db);
  EXPECT_EQ(given.sqnr_db, own.sqnr_db);
  EXPECT_EQ(given.trials, own.trials);
  ASSERT_EQ(given.table.entries.size(), own.table.entries.size());
  for (size_t i = 0; i < own.table.entries.size(); ++i) EXPECT_EQ(given.table.entries[i].amax, own.table.entries[i].amax);
  std::vector<std::vector<Tensor>> other = ref;
  for (auto& outs : other)
    for (Tensor& y : outs) {
      y = y.clone();
      for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] *= 1.5f;
    }
  EXPECT_NE(search_thresholds(g, t, samples(), o, &other).sqnr_start_db, own.sqnr_start_db);
  std::vector<std::vector<Tensor>> short_batch = ref;
  short_batch[2][0] = Tensor(DType::f32, {3, 10});
  const std::string why = test::error_of([&] { search_thresholds(g, t, samples(), o, &short_batch); });
  EXPECT_NE(why.find("batch 2"), std::string::npos) << why;
}
