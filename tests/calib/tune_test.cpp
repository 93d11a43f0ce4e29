// octet tune (src/calib/tune.h) on the repo's Fashion-MNIST model with synthetic data: a threshold damaged on
// purpose (amax far below the data, so most values clip) must be found and repaired, by the scale search
// (back to one of the recorded candidates) and, with the search off, by moving one layer to FP32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "calib/sidecar.h"
#include "calib/tune.h"
#include "onnx/import.h"
#include "runtime/plan.h"
#include "calib/fmnist_calib.h"
#include "test_util.h"

using namespace octet;

namespace {

using test::calibrated;
using test::fmnist;

std::vector<std::vector<Tensor>> samples() {
  std::vector<std::vector<Tensor>> b;
  for (uint32_t i = 0; i < 2; ++i) b.push_back({test::random_f32({6, 1, 28, 28}, 100 + i, -0.8f, 2.0f)});
  return b;
}

float candidate(const CalibEntry& e, const std::string& name) {
  for (const auto& [k, v] : e.candidates)
    if (k == name) return v;
  return -1.f;
}

// Damages one tensor of `t` on purpose — a ReLU output the INT8 plan of `g` uses the scale of gets amax = its
// observed max / 40, so most of its values clip — and returns its name ("" if none was found).
std::string damage(const Graph& g, CalibTable& t) {
  PlanOptions po;
  for (const auto& e : t.entries) po.int8_amax[e.name] = e.amax;
  auto plan = Plan::build(g, po);
  const auto& used = plan->quantize_report().scaled_tensors;
  for (auto& e : t.entries)
    if (e.name != "input" && std::count(used.begin(), used.end(), e.name) && !e.candidates.empty() &&
        e.name.find("Relu") != std::string::npos) {
      e.amax = candidate(e, "minmax") / 40.f;
      return e.name;
    }
  return {};
}

// The fmnist model, its calibration and one damaged tensor (see damage).
struct Damaged {
  Graph g;
  CalibTable t;
  std::string victim;
};
Damaged damaged() {
  Damaged d{fmnist(), {}, {}};
  d.t = calibrated(d.g);
  d.victim = damage(d.g, d.t);
  return d;
}

}  // namespace

TEST(Tune, CalibrationRecordsCandidates) {
  CalibTable t = calibrated(fmnist());
  const CalibEntry* e = nullptr;
  for (const auto& x : t.entries)
    if (x.stats.absmax() > 0.f) e = &x;
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->candidates.size(), 5u);
  EXPECT_EQ(candidate(*e, "entropy2"), e->amax);            // the table's own algorithm
  EXPECT_EQ(candidate(*e, "minmax"), e->stats.absmax());
  EXPECT_LE(candidate(*e, "percentile99.99"), candidate(*e, "percentile99.999"));
}

TEST(Tune, ScaleSearchRepairsADamagedThreshold) {
  auto [g, t, victim] = damaged();
  ASSERT_FALSE(victim.empty());
  TuneOptions o;
  o.max_fp32_layers = 0;
  TuneResult r = tune(g, t, samples(), o);
  EXPECT_GT(r.sqnr_scales_db, r.sqnr_start_db + 3.0) << "victim " << victim;
  EXPECT_EQ(r.sqnr_final_db, r.sqnr_scales_db);
  EXPECT_TRUE(r.fp32_layers.empty());
  const CalibEntry* e = r.table.find(victim);
  ASSERT_NE(e, nullptr);
  bool is_candidate = false;
  for (const auto& [k, v] : e->candidates) is_candidate = is_candidate || std::fabs(v - e->amax) <= 1e-5f * v;
  EXPECT_TRUE(is_candidate) << victim << " amax " << e->amax;
  bool logged = false;
  for (const auto& s : r.steps) logged = logged || (s.kind == "scale" && s.target == victim);
  EXPECT_TRUE(logged);
}

TEST(Tune, ScaleSearchSweepsAgainOnlyAfterAGain) {
  auto [g, t, victim] = damaged();
  ASSERT_FALSE(victim.empty());
  TuneOptions o;
  o.max_fp32_layers = 0;
  o.max_sweeps = 1;
  TuneResult one = tune(g, t, samples(), o);
  EXPECT_EQ(one.sweeps, 1);
  o.max_sweeps = 5;
  TuneResult more = tune(g, t, samples(), o);
  // The first sweep repairs the damage (> 3 dB), so a second one runs; it starts where the first ended.
  EXPECT_GE(more.sweeps, 2);
  EXPECT_LE(more.sweeps, 5);
  EXPECT_GE(more.sqnr_scales_db, one.sqnr_scales_db);
  EXPECT_GT(more.trials, one.trials);
}

TEST(Tune, MixedPrecisionMovesTheDamagedLayerToFp32) {
  auto [g, t, victim] = damaged();
  ASSERT_FALSE(victim.empty());
  TuneOptions o;
  o.search_scales = false;
  o.max_fp32_layers = 3;
  TuneResult r = tune(g, t, samples(), o);
  // The damaged tensor sits between a conv (ReLU fused) and its consumer: no single layer in FP32 stops it
  // being rounded, the pair around it does.
  EXPECT_GE(r.fp32_layers.size(), 1u);
  EXPECT_LE(r.fp32_layers.size(), 3u);
  EXPECT_GT(r.sqnr_final_db, r.sqnr_start_db + 3.0) << "victim " << victim;
  EXPECT_EQ(r.sqnr_scales_db, r.sqnr_start_db);
  EXPECT_EQ(static_cast<int>(r.layer_sensitivity.size()), r.int8_layers);
  // Built with the chosen layers in FP32, the plan no longer uses the damaged scale.
  PlanOptions po;
  for (const auto& e : t.entries) po.int8_amax[e.name] = e.amax;
  po.fp32_layers = r.fp32_layers;
  auto plan = Plan::build(g, po);
  const auto& used = plan->quantize_report().scaled_tensors;
  EXPECT_EQ(std::count(used.begin(), used.end(), victim), 0);
}

TEST(Tune, UserFp32LayersAreKeptAndNoSamplesIsAnError) {
  Graph g = fmnist();
  CalibTable t = calibrated(g);
  TuneOptions o;
  o.search_scales = false;
  o.max_fp32_layers = 0;
  o.fp32_layers = {g.nodes[0].name};
  TuneResult r = tune(g, t, samples(), o);
  EXPECT_EQ(r.fp32_layers, o.fp32_layers);
  EXPECT_THROW(tune(g, t, {}, o), Error);
}

TEST(Tune, SidecarKeepsCandidatesAndFp32Layers) {
  CalibTable t = calibrated(fmnist());
  SidecarMeta m;
  m.fp32_layers = {"/conv1/Conv", "/fc/Gemm"};
  SidecarMeta back;
  CalibTable u = sidecar_from_json(sidecar_to_json(t, m), &back);
  EXPECT_EQ(back.fp32_layers, m.fp32_layers);
  ASSERT_EQ(u.entries.size(), t.entries.size());
  for (size_t i = 0; i < t.entries.size(); ++i) {
    ASSERT_EQ(u.entries[i].candidates.size(), t.entries[i].candidates.size()) << t.entries[i].name;
    for (const auto& [name, v] : t.entries[i].candidates) EXPECT_EQ(candidate(u.entries[i], name), v) << name;
  }
}

TEST(Tune, SqnrOfIdenticalOutputsIsInfinite) {
  std::vector<std::vector<Tensor>> a = samples();
  EXPECT_TRUE(std::isinf(sqnr_db(a, a)));
  std::vector<std::vector<Tensor>> b = samples();
  b[0][0].data<float>()[0] += 1.f;
  EXPECT_GT(sqnr_db(a, b), 20.0);
  EXPECT_LT(sqnr_db(a, b), 200.0);
}

// The paired top-1 drop (calib/paired_drop.h): counts, points and the 95% interval on hand-computed cases.
TEST(PairedDrop, CountsAndInterval) {
  PairedDrop p;
  EXPECT_EQ(p.drop_points(), 0.0);
  EXPECT_EQ(p.ci95_points(), 0.0);
  // 1,000 samples: 9 right -> wrong, 5 wrong -> right, 986 unchanged (effnet_se's all-INT8 plan on calib/)
  for (int i = 0; i < 9; ++i) p.add(true, false);
  for (int i = 0; i < 5; ++i) p.add(false, true);
  for (int i = 0; i < 900; ++i) p.add(true, true);
  for (int i = 0; i < 86; ++i) p.add(false, false);
  EXPECT_EQ(p.samples, 1000);
  EXPECT_EQ(p.lost, 9);
  EXPECT_EQ(p.gained, 5);
  EXPECT_NEAR(p.drop_points(), 0.4, 1e-12);
  // 1.96 * sqrt((14 - 4^2 / 1000) / 1000^2) * 100
  EXPECT_NEAR(p.ci95_points(), 196.0 * std::sqrt(13.984) / 1000.0, 1e-12);
  // a gain is a negative drop; the interval is symmetric in lost and gained
  PairedDrop q;
  for (int i = 0; i < 5; ++i) q.add(true, false);
  for (int i = 0; i < 9; ++i) q.add(false, true);
  for (int i = 0; i < 986; ++i) q.add(true, true);
  EXPECT_NEAR(q.drop_points(), -0.4, 1e-12);
  EXPECT_NEAR(q.ci95_points(), p.ci95_points(), 1e-12);
  // every prediction changed the same way: no spread left
  PairedDrop r;
  for (int i = 0; i < 4; ++i) r.add(true, false);
  EXPECT_NEAR(r.drop_points(), 100.0, 1e-12);
  EXPECT_NEAR(r.ci95_points(), 0.0, 1e-9);
}
