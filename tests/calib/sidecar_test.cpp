#include "calib/sidecar.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

CalibEntry observed(const std::string& name, const std::vector<float>& v, Algo algo = Algo::Entropy2) {
  TensorObserver o;
  o.observe_absmax(v.data(), v.size());
  o.observe_hist(v.data(), v.size());
  return calibrate_entry(name, o, algo);
}

CalibTable sample_table() {
  std::mt19937 rng(1);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::vector<float> normal(20000);
  for (auto& x : normal) x = n01(rng);
  std::vector<float> uni;
  for (int k = 0; k <= 1000; ++k) uni.push_back(k / 1000.f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CalibTable t;
  t.entries.push_back(observed("input", uni));
  t.entries.push_back(observed("zeros", std::vector<float>(100, 0.f)));
  t.entries.push_back(observed("const", std::vector<float>(100, 3.f)));
  t.entries.push_back(observed("nan", {1.f, nan, 0.5f, std::numeric_limits<float>::infinity()}));
  TensorObserver never;
  t.entries.push_back(calibrate_entry("never", never, Algo::Entropy2));
  // Percentile at 99% clips ~1% of a normal: heavy clipping.
  AlgoParams p99;
  p99.percentile = 99.0;
  TensorObserver o;
  o.observe_absmax(normal.data(), normal.size());
  o.observe_hist(normal.data(), normal.size());
  t.entries.push_back(calibrate_entry("clipped/x:0", o, Algo::Percentile, p99));
  t.entries.push_back(observed("tiny", std::vector<float>(10, 1e-9f), Algo::MinMax));
  return t;
}

TEST(Health, FlagsEachProblemByName) {
  const CalibTable t = sample_table();
  const auto w = health_check(t);
  auto has = [&](const std::string& name, HealthIssue k) {
    for (const auto& x : w)
      if (x.tensor == name && x.issue == k) {
        EXPECT_NE(x.message.find("'" + name + "'"), std::string::npos) << x.message;
        return true;
      }
    return false;
  };
  EXPECT_TRUE(has("zeros", HealthIssue::AllZero));
  EXPECT_TRUE(has("const", HealthIssue::Constant));
  EXPECT_TRUE(has("nan", HealthIssue::NonFinite));
  EXPECT_TRUE(has("never", HealthIssue::NeverObserved));
  EXPECT_TRUE(has("clipped/x:0", HealthIssue::HeavyClipping));
  EXPECT_TRUE(has("tiny", HealthIssue::Unquantizable));
  for (const auto& x : w) EXPECT_NE(x.tensor, "input") << x.message;
  EXPECT_EQ(t.entries[1].amax, 0.f);
  EXPECT_EQ(t.entries[4].amax, 0.f);
  EXPECT_NEAR(t.entries[5].clipped, 0.01, 0.002);
}

TEST(Sidecar, JsonContentAndRoundTrip) {
  const CalibTable t = sample_table();
  SidecarMeta m;
  m.cache_header = "TRT-101300-EntropyCalibration2";
  m.model_hash = "sha256:abc";
  m.data_hash = "sha256:def";
  m.batches = 4;
  m.images = 128;
  const auto j = sidecar_to_json(t, m);
  EXPECT_EQ(j["algorithm"], "entropy2");
  EXPECT_EQ(j["params"]["zero_policy"], "Z0");
  EXPECT_EQ(j["params"]["percentile"], 99.99);
  EXPECT_EQ(j["model_hash"], "sha256:abc");
  EXPECT_EQ(j["images"], 128);
  EXPECT_EQ(j["tensors"].size(), t.entries.size());
  EXPECT_EQ(j["tensors"][0]["name"], "input");
  EXPECT_EQ(j["tensors"][0]["scale_hex"], "3c010a14");  // evenly spaced [0,1]: 2048.5/2048/127
  EXPECT_EQ(j["tensors"][1]["flags"]["all_zero"], true);
  EXPECT_EQ(j["tensors"][1]["scale_hex"], "0");
  EXPECT_EQ(j["tensors"][4]["flags"]["never_observed"], true);
  EXPECT_TRUE(j["tensors"][4]["min"].is_null());
  EXPECT_EQ(j["tensors"][3]["nan"], 1);
  EXPECT_EQ(j["tensors"][5]["algorithm"], "percentile");

  const fs::path path = fs::temp_directory_path() / ("octet_sidecar_" + std::to_string(::getpid()) + ".json");
  write_sidecar(path.string(), t, m);
  SidecarMeta m2;
  const CalibTable back = read_sidecar(path.string(), &m2);
  fs::remove(path);
  EXPECT_EQ(m2.data_hash, "sha256:def");
  EXPECT_EQ(m2.batches, 4);
  ASSERT_EQ(back.entries.size(), t.entries.size());
  for (size_t i = 0; i < t.entries.size(); ++i) {
    EXPECT_EQ(back.entries[i].name, t.entries[i].name);
    EXPECT_EQ(back.entries[i].amax, t.entries[i].amax);
    EXPECT_EQ(back.entries[i].algo, t.entries[i].algo);
    EXPECT_EQ(back.entries[i].stats.count, t.entries[i].stats.count);
    EXPECT_EQ(back.entries[i].stats.min, t.entries[i].stats.min);
  }
  // The health check reads the same from the file.
  EXPECT_EQ(health_check(back).size(), health_check(t).size());
}

TEST(Sidecar, RejectsForeignJson) {
  EXPECT_THROW(sidecar_from_json(nlohmann::json{{"a", 1}}), Error);
  nlohmann::json j = sidecar_to_json(sample_table(), {});
  j["format_version"] = 99;
  EXPECT_THROW(sidecar_from_json(j), Error);
  j["format_version"] = 1;
  j["tensors"][0].erase("name");
  EXPECT_THROW(sidecar_from_json(j), Error);
}

}  // namespace
}  // namespace octet
