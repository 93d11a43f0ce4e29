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
  return e;
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
