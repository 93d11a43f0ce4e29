// CalibTable: the artifact of calibration — one amax per named network tensor, in network order, with the
// statistics behind it. Written as a TensorRT cache (cache.h, scales only) and a JSON sidecar (sidecar.h,
// everything).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "calib/algorithms.h"
#include "calib/cache.h"
#include "calib/observer.h"

namespace octet {

struct CalibEntry {
  std::string name;       // network tensor name, exactly as in the ONNX graph
  float amax = 0.f;       // clipping threshold; scale = amax/127; 0 = unquantizable / no data
  Algo algo = Algo::Entropy2;  // algorithm that produced amax (tables may mix algorithms per tensor)
  bool has_stats = false; // false for entries imported from a cache (stats, clipped unknown)
  TensorStats stats;      // everything observed (pass 1 in two-pass mode)
  double clipped = 0.0;   // fraction of histogrammed values with |x| > amax (histogram estimate)
  // amax of other algorithms on the same histogram (octet tune chooses among them), e.g. {"mse", 1.7}.
  // Filled by calibrate_entry where a histogram exists; empty for entries imported from a cache.
  std::vector<std::pair<std::string, float>> candidates;

  float scale() const { return scale_from_amax(amax); }
  bool never_observed() const { return has_stats && !stats.observed(); }
};

struct CalibTable {
  Algo algo = Algo::Entropy2;  // the calibrator's algorithm (cache header token)
  AlgoParams params;
  HistMode hist_mode = HistMode::Fixed;
  std::vector<CalibEntry> entries;

  // nullptr if absent. Linear search (tables have hundreds of entries).
  const CalibEntry* find(std::string_view name) const;
};

// amax and statistics of one observed tensor, with `candidates` (kCandidateAlgos). `curve` as in compute_amax.
// The alternative thresholds calibrate_entry records: entropy2, mse, percentile99.99, percentile99.999,
// minmax (names as in the sidecar).
std::vector<std::pair<std::string, float>> candidate_amax(const Histogram& h, const TensorStats& stats,
                                                          const AlgoParams& params);
CalibEntry calibrate_entry(const std::string& name, const TensorObserver& obs, Algo algo,
                           const AlgoParams& params = {}, std::vector<double>* curve = nullptr);

// The TensorRT cache for `table`: header TRT-<version>-<token of table.algo> (or `algo_token` when given,
// required for percentile/mse, which TensorRT doesn't know), entries in table order, scale = amax/127.
CalibCache to_cache(const CalibTable& table, int trt_version = kDefaultTrtVersion,
                    std::string_view algo_token = {});

// A table from a cache (amax = 127*scale, has_stats = false). The algorithm is taken from the header token
// when it is one TensorRT knows, else `fallback`. Throws Error for a scale check_cache_scales refuses.
CalibTable table_from_cache(const CalibCache& cache, Algo fallback = Algo::Entropy2);

}  // namespace octet
