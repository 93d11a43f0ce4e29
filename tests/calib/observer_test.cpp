#include "calib/observer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"

namespace octet {
namespace {

std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Two-pass observation of `data` fed in batches of `batch` values, in `order` (indices of batches).
TensorObserver two_pass(const std::vector<float>& data, size_t batch, bool shuffle) {
  std::vector<size_t> starts;
  for (size_t s = 0; s < data.size(); s += batch) starts.push_back(s);
  if (shuffle) std::shuffle(starts.begin(), starts.end(), std::mt19937(7));
  TensorObserver obs;
  for (size_t s : starts) obs.observe_absmax(data.data() + s, std::min(batch, data.size() - s));
  for (size_t s : starts) obs.observe_hist(data.data() + s, std::min(batch, data.size() - s));
  return obs;
}

TEST(TensorStats, CountsAndExtremes) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {0.f, -0.f, 1.5f, -3.25f, nan, inf, -inf, 2.f};
  for (int i = 0; i < 37; ++i) v.push_back(0.5f);  // exercise the vector body and the tail
  v.push_back(nan);                                // tail: NaN, Inf, zero, extremes
  v.push_back(-inf);
  v.push_back(0.f);
  v.push_back(-7.f);
  TensorStats s;
  s.observe(v.data(), v.size());
  EXPECT_EQ(v.size() % 16, 1u);
  EXPECT_EQ(s.count, v.size());
  EXPECT_EQ(s.zeros, 3u);
  EXPECT_EQ(s.nans, 2u);
  EXPECT_EQ(s.infs, 3u);
  EXPECT_EQ(s.min, -7.f);
  EXPECT_EQ(s.max, 2.f);
  EXPECT_EQ(s.absmax(), 7.f);
  EXPECT_DOUBLE_EQ(s.sum, 1.5 - 3.25 + 2 + 37 * 0.5 - 7);
  // Same statistics whatever the batching (all code paths: vector body, tail, blocks).
  for (size_t batch : {size_t{1}, size_t{3}, size_t{16}, size_t{17}}) {
    TensorStats t;
    for (size_t i = 0; i < v.size(); i += batch) t.observe(v.data() + i, std::min(batch, v.size() - i));
    EXPECT_EQ(t.count, s.count);
    EXPECT_EQ(t.zeros, s.zeros);
    EXPECT_EQ(t.nans, s.nans);
    EXPECT_EQ(t.infs, s.infs);
    EXPECT_EQ(t.min, s.min);
    EXPECT_EQ(t.max, s.max);
    EXPECT_DOUBLE_EQ(t.sum, s.sum);
  }
  EXPECT_FALSE(s.all_zero());
  EXPECT_FALSE(s.constant());

  TensorStats z;
  std::vector<float> zeros(100, 0.f);
  z.observe(zeros.data(), zeros.size());
  EXPECT_TRUE(z.all_zero());
  EXPECT_EQ(z.absmax(), 0.f);

  TensorStats c;
  std::vector<float> cst(50, -0.75f);
  c.observe(cst.data(), cst.size());
  EXPECT_TRUE(c.constant());

  TensorStats none;
  EXPECT_FALSE(none.observed());
  EXPECT_EQ(none.absmax(), 0.f);
}

TEST(TensorStats, MergeEqualsWhole) {
  auto v = uniform(10007, 1, -4.f, 3.f);
  TensorStats whole, a, b;
  whole.observe(v.data(), v.size());
  a.observe(v.data(), 5000);
  b.observe(v.data() + 5000, v.size() - 5000);
  a.merge(b);
  EXPECT_EQ(a.count, whole.count);
  EXPECT_EQ(a.min, whole.min);
  EXPECT_EQ(a.max, whole.max);
  EXPECT_NEAR(a.sum, whole.sum, 1e-6 * std::fabs(whole.sum) + 1e-3);
}

TEST(Histogram, FixedRangeBinsAndClamp) {
  Histogram h = Histogram::fixed(2.f);  // w = 2/2048
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {0.f, -0.f, 2.f, -2.f, 5.f, 1.f, nan, std::numeric_limits<float>::infinity(), 0.001f};
  h.observe(v.data(), v.size());
  EXPECT_EQ(h.counts()[0], 2u);                    // exact zeros
  EXPECT_EQ(h.counts()[1024], 1u);                 // 1.0
  EXPECT_EQ(h.counts()[1], 1u);                    // 0.001 * 1024 = 1.02
  EXPECT_EQ(h.counts()[Histogram::kBins - 1], 3u); // ±2 (the top value) and 5 (above range) clamp
  EXPECT_EQ(h.total(), 7u);                        // NaN / Inf ignored
  EXPECT_EQ(h.skipped_nonfinite(), 2u);
  EXPECT_EQ(h.zeros_in_bins(), 2u);
}

TEST(Histogram, MatchesScalarBinningOnLargeInputs) {
  // Large enough for the multi-table scatter, with zeros, NaN, Inf and values above the range.
  auto v = uniform(300007, 2, -3.f, 3.f);
  for (size_t i = 0; i < v.size(); i += 2) v[i] = std::max(v[i], 0.f);
  v[5] = std::numeric_limits<float>::quiet_NaN();
  v[77777] = -std::numeric_limits<float>::infinity();
  v[300006] = std::numeric_limits<float>::quiet_NaN();  // in the tail
  v[1000] = 10.f;
  Histogram h = Histogram::fixed(2.5f);
  h.observe(v.data(), v.size());
  std::array<uint64_t, Histogram::kBins> ref{};
  const float inv = static_cast<float>(2048.0 / 2.5);
  for (float x : v) {
    const float a = std::fabs(x);
    if (!std::isfinite(a)) continue;
    const float f = a * inv;
    ++ref[f < 2048.f ? static_cast<size_t>(f) : 2047];
  }
  EXPECT_EQ(h.counts(), ref);
  EXPECT_EQ(h.skipped_nonfinite(), 3u);
  EXPECT_EQ(h.total(), v.size() - 3);
}

TEST(Histogram, TwoPassIndependentOfBatchingAndOrder) {
  auto v = uniform(50021, 3, -5.f, 7.f);  // one batch uses the multi-table scatter, small batches don't
  for (size_t i = 0; i < v.size(); i += 3) v[i] = std::max(v[i], 0.f);  // some zeros
  v[17] = std::numeric_limits<float>::quiet_NaN();
  const TensorObserver ref = two_pass(v, v.size(), false);
  EXPECT_EQ(ref.hist().range(), ref.stats().absmax());
  EXPECT_EQ(ref.hist().total(), v.size() - 1);
  for (size_t batch : {size_t{1}, size_t{7}, size_t{32}}) {
    for (bool shuffle : {false, true}) {
      const TensorObserver o = two_pass(v, batch, shuffle);
      EXPECT_EQ(o.hist().range(), ref.hist().range()) << batch;
      EXPECT_EQ(o.hist().counts(), ref.hist().counts()) << "batch " << batch << " shuffle " << shuffle;
    }
  }
}

TEST(Histogram, ShardsMergeByAddition) {
  auto v = uniform(9000, 5, -1.f, 1.f);
  const TensorObserver ref = two_pass(v, 100, false);
  TensorObserver a, b;
  a.observe_absmax(v.data(), 4000);
  b.observe_absmax(v.data() + 4000, 5000);
  TensorObserver all;
  all.merge_stats(a);
  all.merge_stats(b);
  const float range = all.stats().absmax();
  a.set_range(range);
  b.set_range(range);
  a.observe_hist(v.data(), 4000);
  b.observe_hist(v.data() + 4000, 5000);
  a.merge(b);
  EXPECT_EQ(a.hist().counts(), ref.hist().counts());
  EXPECT_EQ(a.stats().count, 9000u);

  Histogram x = Histogram::fixed(1.f), y = Histogram::fixed(2.f);
  float one = 0.5f;
  y.observe(&one, 1);
  EXPECT_THROW(x.merge(y), Error);
}

TEST(Histogram, OnePassGrowthMergesPairwise) {
  // Batch 1: max 1.0 -> range 1.0. Batch 2: max 1.5 -> range 2.0 (one doubling).
  auto b1 = uniform(5000, 11, 0.f, 1.f);
  b1.push_back(1.f);
  std::vector<float> b2 = {1.5f, 0.25f, -1.25f};
  Histogram first = Histogram::growing();
  first.observe(b1.data(), b1.size());
  EXPECT_EQ(first.range(), 1.f);

  TensorObserver obs(HistMode::Growing);
  obs.observe(b1.data(), b1.size());
  obs.observe(b2.data(), b2.size());
  const Histogram& h = obs.hist();
  EXPECT_EQ(h.range(), 2.f);
  // Lower 1024 bins: batch 1 merged pairwise, plus batch 2's 0.25 (bin 256 at w = 1/1024).
  for (int j = 0; j < 1024; ++j) {
    uint64_t expect = first.counts()[2 * j] + first.counts()[2 * j + 1];
    if (j == 256) expect += 1;
    ASSERT_EQ(h.counts()[j], expect) << j;
  }
  uint64_t upper = 0;
  for (int j = 1024; j < Histogram::kBins; ++j) upper += h.counts()[j];
  EXPECT_EQ(upper, 2u);  // 1.25 -> bin 1280, 1.5 -> bin 1536
  EXPECT_EQ(h.counts()[1280], 1u);
  EXPECT_EQ(h.counts()[1536], 1u);
  EXPECT_EQ(obs.stats().absmax(), 1.5f);
}

TEST(Histogram, OnePassGrowsByPowersOfTwoAndSkipsLeadingZeros) {
  TensorObserver obs(HistMode::Growing);
  std::vector<float> z(10, 0.f);
  obs.observe(z.data(), z.size());
  EXPECT_TRUE(obs.hist().empty());
  EXPECT_EQ(obs.hist().zeros_before_range(), 10u);
  float a = 0.75f, b = 5.f;
  obs.observe(&a, 1);
  EXPECT_EQ(obs.hist().range(), 0.75f);
  obs.observe(&b, 1);  // 5 / 0.75 = 6.67 -> k = 3 -> range 6
  EXPECT_EQ(obs.hist().range(), 6.f);
  EXPECT_EQ(obs.hist().total(), 2u);
  EXPECT_EQ(obs.stats().zeros, 10u);
}

TEST(Histogram, GrowingMergeAlignsPowersOfTwo) {
  Histogram a = Histogram::growing(), b = Histogram::growing();
  float x = 1.f, y = 4.f, y2 = 1.f;
  a.observe(&x, 1);
  b.observe(&y, 1);
  b.observe(&y2, 1);
  a.merge(b);
  EXPECT_EQ(a.range(), 4.f);
  EXPECT_EQ(a.total(), 3u);
  EXPECT_EQ(a.counts()[512], 1u);  // b's 1.0
  EXPECT_EQ(a.counts()[511], 1u);  // a's 1.0 sat in its last bin (2047 >> 2)
  Histogram c = Histogram::growing();
  float z = 3.f;
  c.observe(&z, 1);
  EXPECT_THROW(a.merge(c), Error);
}

TEST(TensorObserver, PassOrderIsChecked) {
  TensorObserver o;
  float v = 1.f;
  o.observe_absmax(&v, 1);
  o.observe_hist(&v, 1);
  EXPECT_THROW(o.observe_absmax(&v, 1), Error);
  EXPECT_THROW(o.observe(&v, 1), Error);
  TensorObserver g(HistMode::Growing);
  EXPECT_THROW(g.observe_hist(&v, 1), Error);
}

TEST(TensorObserver, AllZeroTensorHasEmptyHistogram) {
  TensorObserver o;
  std::vector<float> z(64, 0.f);
  o.observe_absmax(z.data(), z.size());
  o.observe_hist(z.data(), z.size());
  EXPECT_TRUE(o.hist().empty());
  EXPECT_TRUE(o.stats().all_zero());
}

}  // namespace
}  // namespace octet
