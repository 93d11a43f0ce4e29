#include "calib/table.h"

#include "core/error.h"

namespace octet {

const CalibEntry* CalibTable::find(std::string_view name) const {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

CalibEntry calibrate_entry(const std::string& name, const TensorObserver& obs, Algo algo, const AlgoParams& params,
                           std::vector<double>* curve) {
  CalibEntry e;
  e.name = name;
  e.algo = algo;
  e.has_stats = true;
  e.stats = obs.stats();
  e.amax = compute_amax(obs.hist(), obs.stats(), algo, params, curve);
  // MinMax needs no histogram; estimate clipping only where one exists.
  e.clipped = obs.hist().empty() ? 0.0 : clipped_fraction(obs.hist(), e.amax);
  if (!obs.hist().empty()) e.candidates = candidate_amax(obs.hist(), obs.stats(), params);
  return e;
}

std::vector<std::pair<std::string, float>> candidate_amax(const Histogram& h, const TensorStats& stats,
                                                          const AlgoParams& params) {
  AlgoParams p = params;
  std::vector<std::pair<std::string, float>> c;
  c.emplace_back("entropy2", compute_amax(h, stats, Algo::Entropy2, p));
  c.emplace_back("mse", compute_amax(h, stats, Algo::Mse, p));
  for (double pct : {99.99, 99.999}) {
    p.percentile = pct;
    c.emplace_back(pct == 99.99 ? "percentile99.99" : "percentile99.999", compute_amax(h, stats, Algo::Percentile, p));
  }
  c.emplace_back("minmax", compute_amax(h, stats, Algo::MinMax, params));
  return c;
}

CalibCache to_cache(const CalibTable& table, int trt_version, std::string_view algo_token) {
  CalibCache c;
  c.header = algo_token.empty() ? make_cache_header(trt_version, table.algo)
                                : make_cache_header(trt_version, algo_token);
  c.entries.reserve(table.entries.size());
  for (const auto& e : table.entries) c.entries.push_back({e.name, e.scale()});
  return c;
}

CalibTable table_from_cache(const CalibCache& cache, Algo fallback) {
  check_cache_scales(cache, "the calibration cache");  // callers check first, naming the file; this is the backstop
  CalibTable t;
  t.algo = fallback;
  const CacheHeader h = parse_cache_header(cache.header);
  try {
    t.algo = algo_from_trt_token(h.algo_token);
  } catch (const Error&) {
    // unknown token: keep the fallback
  }
  t.entries.reserve(cache.entries.size());
  for (const auto& ce : cache.entries) {
    CalibEntry e;
    e.name = ce.name;
    e.amax = amax_from_scale(ce.scale);
    e.algo = t.algo;
    t.entries.push_back(std::move(e));
  }
  return t;
}

}  // namespace octet
