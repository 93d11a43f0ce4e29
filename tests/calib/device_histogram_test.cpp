// The device bodies of calibration's observer passes (src/backends/cuda/kernels_hist.h), run on the CPU,
// against the CPU observer (calib/observer.h) bit for bit: absmax, every bin count, zeros, non-finite values;
// and batch invariance: the counts of a data set fed in batches of any size are the same.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cuda/kernels.h"
#include "backends/cuda/kernels_hist.h"
#include "calib/observer.h"

namespace octet {
namespace {

using namespace cuda;

std::vector<float> data(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, 2.f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng() % 100;
    v[i] = r < 20 ? 0.f : r < 21 ? -0.f : g(rng);  // many zeros (a ReLU output's), both signs
  }
  v[7] = std::numeric_limits<float>::quiet_NaN();
  v[11] = std::numeric_limits<float>::infinity();
  v[13] = -std::numeric_limits<float>::infinity();
  return v;
}

float absmax_on_body(const std::vector<float>& x, size_t batch) {
  uint32_t bits = 0;
  for (size_t b = 0; b < x.size(); b += batch) {
    AbsMaxArgs a{x.data() + b, static_cast<int64_t>(std::min(batch, x.size() - b)), &bits};
    run_on_host<AbsMaxBody>(a);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TEST(DeviceHistogram, AbsMaxAndCountsEqualTheCpuObserverBitForBit) {
  static_assert(kHistBins == Histogram::kBins);
  const std::vector<float> x = data(100003, 5);
  TensorStats st;
  st.observe(x.data(), x.size());
  const float amax = st.absmax();
  for (size_t batch : {x.size(), size_t{1000}, size_t{7}}) EXPECT_EQ(absmax_on_body(x, batch), amax) << batch;

  // Ranges: the data's absmax (the largest value lands exactly on the top edge), and a smaller one
  // (values beyond it clamp into the last bin).
  for (float range : {amax, amax / 3.f}) {
    Histogram h = Histogram::fixed(range);
    h.observe(x.data(), x.size());
    std::vector<unsigned long long> counts(kHistBins, 0);
    unsigned long long zeros = 0, nonfinite = 0;
    const float inv_w = static_cast<float>(static_cast<double>(kHistBins) / static_cast<double>(range));
    for (size_t batch : {size_t{4096}, size_t{333}}) {  // batch-invariant: counts of any batching add up the same
      std::fill(counts.begin(), counts.end(), 0ULL);
      zeros = nonfinite = 0;
      for (size_t b = 0; b < x.size(); b += batch) {
        HistogramArgs a{x.data() + b, static_cast<int64_t>(std::min(batch, x.size() - b)), inv_w, counts.data(), &zeros, &nonfinite};
        run_on_host<HistogramBody>(a);
      }
      for (int k = 0; k < kHistBins; ++k)
        ASSERT_EQ(counts[static_cast<size_t>(k)], h.counts()[static_cast<size_t>(k)]) << "bin " << k << " range " << range;
      EXPECT_EQ(zeros, h.zeros_in_bins());
      EXPECT_EQ(nonfinite, h.skipped_nonfinite());
    }
  }
}

}  // namespace
}  // namespace octet
