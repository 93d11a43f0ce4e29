// Streaming per-tensor statistics and |x| histograms for calibration (§2.4).
// (§ numbers: calibration-spec.md, the calibration spec kept with the team's shared documents, outside this
// repository.)
//
// Memory is O(bins) per tensor, never O(images); counts are 64-bit. Two ways to feed a tensor:
//
//   Two-pass (default, DESIGN.md "Calibration"): result independent of batch size, order and sharding.
//     TensorObserver obs;                       // HistMode::Fixed
//     for batch: obs.observe_absmax(x, n);      // pass 1: statistics (incl. absmax)
//     for batch: obs.observe_hist(x, n);        // pass 2: histogram over [0, absmax], width absmax/2048
//   Shards: merge pass-1 observers first (merge_stats), start pass 2 from the merged absmax, then merge
//   the pass-2 histograms (counts add; ranges must be equal).
//
//   One-pass, TensorRT-compatible (HistMode::Growing): range set by the first batch with a non-zero
//   max, doubled (power of two, bins merged pairwise) whenever a later batch exceeds it.
//     TensorObserver obs(HistMode::Growing);
//     for batch: obs.observe(x, n);
//
// NaN and ±Inf are counted in TensorStats and never enter a histogram or min/max/absmax.
// Not thread-safe: one observer per tensor per thread; merge to combine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace octet {

// Statistics of every value seen. min/max/absmax/sum/sumsq are over finite values only.
struct TensorStats {
  uint64_t count = 0;   // all values, including NaN/Inf
  uint64_t zeros = 0;   // exact ±0
  uint64_t nans = 0;
  uint64_t infs = 0;
  float min = std::numeric_limits<float>::infinity();   // +inf until a finite value is seen
  float max = -std::numeric_limits<float>::infinity();  // -inf until a finite value is seen
  double sum = 0;       // of finite values (for mean / constant detection in reports)
  double sumsq = 0;

  void observe(const float* x, size_t n);
  void merge(const TensorStats& o);

  uint64_t finite() const { return count - nans - infs; }
  // max |x| over finite values; 0 when none was seen.
  float absmax() const;
  bool observed() const { return count > 0; }
  // Every finite value is 0 (and at least one value was seen). NaN/Inf are reported separately.
  bool all_zero() const { return finite() > 0 && zeros == finite(); }
  // All finite values equal and not all zero (min == max != 0).
  bool constant() const { return finite() > 0 && min == max && min != 0.f; }
  double mean() const { return finite() ? sum / static_cast<double>(finite()) : 0.0; }
};

enum class HistMode {
  Fixed,    // range fixed before observing (two-pass); values above it clamp into the last bin
  Growing,  // TensorRT one-pass: range from the first non-zero batch, grows by powers of two
};

// Histogram of |x| with kBins equal bins over [0, range): bin j holds |x| in [j*w, (j+1)*w), w = range/kBins,
// and |x| >= range (including the top value itself) clamps into bin kBins-1.
class Histogram {
 public:
  static constexpr int kBins = 2048;

  // An empty Growing histogram (no range yet).
  Histogram() = default;
  // A Fixed histogram over [0, range]. range <= 0 (tensor all zero / never seen) gives an empty
  // histogram that ignores everything it is fed.
  static Histogram fixed(float range);
  static Histogram growing() { return Histogram(); }

  // Adds |x| of every finite value. Growing mode: computes the batch max first and grows the range if
  // needed (a batch whose max is 0 before any range exists is only remembered as zeros_before_range()).
  void observe(const float* x, size_t n);
  // Growing mode only: as observe(), with the batch's finite absmax already known (e.g. from TensorStats).
  void observe_with_max(const float* x, size_t n, float batch_absmax);

  // Adds other's counts. Fixed: both ranges must be equal (else Error). Growing: ranges must differ by
  // a power of two; the smaller is folded into the larger (both empty/zero: nothing to do).
  void merge(const Histogram& other);

  HistMode mode() const { return mode_; }
  bool empty() const { return range_ <= 0.f; }  // no range, no counts
  float range() const { return range_; }        // histogram max; 0 when empty
  double bin_width() const { return static_cast<double>(range_) / kBins; }
  const std::array<uint64_t, kBins>& counts() const { return counts_; }
  uint64_t total() const;                // sum of counts
  uint64_t zeros_in_bins() const { return zeros_; }  // exact zeros counted in bin 0 (for zero policy Z1)
  uint64_t zeros_before_range() const { return zeros_before_; }
  uint64_t skipped_nonfinite() const { return nonfinite_; }

  // Growing mode: double the range 2^k times, merging bins (cnt'[j >> k] += cnt[j]). Public for tests.
  void grow(int k);

 private:
  friend class TensorObserver;  // state() / from_state()
  void add(const float* x, size_t n);  // the hot loop: bins |x| with the current range

  HistMode mode_ = HistMode::Growing;
  float range_ = 0.f;
  std::array<uint64_t, kBins> counts_{};
  uint64_t zeros_ = 0;
  uint64_t zeros_before_ = 0;
  uint64_t nonfinite_ = 0;
};

// Every field of a TensorObserver, for exporting and importing observer state exactly (calib/session.h).
struct ObserverState {
  HistMode mode = HistMode::Fixed;
  TensorStats stats;
  bool hist_started = false;
  float range_override = -1.f;
  HistMode hist_mode = HistMode::Growing;
  float hist_range = 0.f;
  std::array<uint64_t, Histogram::kBins> counts{};
  uint64_t zeros = 0, zeros_before = 0, nonfinite = 0;
};

// Statistics + histogram of one named network tensor.
class TensorObserver {
 public:
  ObserverState state() const;
  static TensorObserver from_state(const ObserverState& s);

  explicit TensorObserver(HistMode mode = HistMode::Fixed) : mode_(mode) {
    if (mode == HistMode::Growing) hist_ = Histogram::growing();
  }

  // Two-pass, pass 1. Must not be called after observe_hist().
  void observe_absmax(const float* x, size_t n);
  // Two-pass, pass 2. The first call fixes the histogram range to stats().absmax() (or to
  // set_range()'s value). Statistics are not updated again in pass 2.
  void observe_hist(const float* x, size_t n);
  // Overrides the pass-2 range (e.g. the absmax merged over shards). Before the first observe_hist().
  void set_range(float range);
  // One-pass (Growing mode): statistics and histogram from the same batch.
  void observe(const float* x, size_t n);

  // Combines pass-1 statistics of another shard (call before pass 2).
  void merge_stats(const TensorObserver& o) { stats_.merge(o.stats_); }
  // Combines statistics and histograms (pass 2 done on both, same range; or both Growing).
  void merge(const TensorObserver& o);

  HistMode mode() const { return mode_; }
  const TensorStats& stats() const { return stats_; }
  const Histogram& hist() const { return hist_; }
  bool hist_started() const { return hist_started_; }

 private:
  HistMode mode_;
  TensorStats stats_;
  Histogram hist_;
  bool hist_started_ = false;
  float range_override_ = -1.f;
};

}  // namespace octet
