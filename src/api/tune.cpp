// octet tune through the api layer: the table with the sidecar's candidates, and the tuned cache + sidecar
// (moved from tools/cmd_tune.cpp); the public tune().
#include <cmath>
#include <filesystem>
#include <set>

#include "api/internal.h"
#include "calib/tune.h"
#include "core/progress.h"
#include "octet/tune.h"

namespace octet::api {

TuneInput load_tune_input(const std::string& cache_path) {
  TuneInput in;
  // The table: the sidecar (with candidates) when present and matching the cache, else the cache alone.
  CalibCache& cache = in.cache;
  cache = read_cache_file(cache_path);
  check_cache_scales(cache, "'" + cache_path + "'");
  CalibTable& table = in.table;
  table = table_from_cache(cache);
  SidecarMeta& meta = in.meta;
  const std::string& sidecar = in.sidecar = cache_path + ".json";
  bool& have_candidates = in.have_candidates;
  if (std::filesystem::exists(sidecar)) {
    CalibTable st = read_sidecar(sidecar, &meta);
    OCTET_CHECK(meta.cache_header.empty() || meta.cache_header == cache.header, "'", sidecar, "' belongs to a cache with header '",
                meta.cache_header, "', not '", cache.header, "'");
    // The cache's scales rule (it may have been edited); statistics and candidates come from the sidecar.
    for (auto& e : table.entries)
      if (const CalibEntry* s = st.find(e.name)) {
        float amax = e.amax;
        e = *s;
        e.amax = amax;
        have_candidates = have_candidates || !e.candidates.empty();
      }
    table.params = st.params;
    table.hist_mode = st.hist_mode;
  }
  return in;
}

std::vector<std::string> fp32_onnx_nodes(const Graph& model, const CalibTable& table,
                                         const std::vector<std::string>& fp32_layers, const std::string& backend) {
  if (fp32_layers.empty()) return {};
  PlanOptions po;
  po.backend = backend;
  for (const auto& e : table.entries)
    if (e.amax > 0.f && std::isfinite(e.amax)) po.int8_amax[e.name] = amax_from_scale(scale_from_amax(e.amax));
  po.fp32_layers = fp32_layers;
  auto plan = Plan::build(model, po);
  const std::set<std::string> fp32(fp32_layers.begin(), fp32_layers.end());
  std::vector<std::string> out;
  const std::string tag = "fused into '";
  for (const LayerRow& r : layer_table(plan->graph(), plan->quantize_report(), true, &model)) {
    std::string host = r.why.rfind(tag, 0) == 0 ? r.why.substr(tag.size(), r.why.find('\'', tag.size()) - tag.size()) : r.node;
    if (fp32.count(r.node) || fp32.count(host)) out.push_back(r.node);
  }
  return out;
}

void write_tuned(const std::string& out, const TuneInput& in, const CalibTable& table,
                 const std::vector<std::string>& fp32_layers, bool searched_scales, const std::string& model_path) {
  const CacheHeader h = parse_cache_header(in.cache.header);
  SidecarMeta meta = in.meta;
  meta.cache_header = in.cache.header;
  meta.fp32_layers = fp32_layers;
  if (searched_scales) meta.refinement = nullptr;  // calibrate's record no longer describes these thresholds
  if (meta.model_hash.empty()) meta.model_hash = file_fingerprint(model_path);
  write_sidecar(out + ".json", table, meta);  // first: the cache is the commit point (as octet calibrate)
  write_cache_file(out, to_cache(table, h.version, h.algo_token));
}

namespace {
struct TunedState {
  TuneInput in;
  CalibTable table;
  std::string model_path;
};
}  // namespace

}  // namespace octet::api

namespace octet {

TuningResult tune(const Model& model, const std::string& cache_path, const std::vector<std::vector<HostTensor>>& samples,
                  const TuningOptions& options) {
  OCTET_CHECK(!model.is_plan(), "'", model.path(), "' is a plan; tune takes the ONNX model");
  auto st = std::make_shared<api::TunedState>();
  st->in = api::load_tune_input(cache_path);
  st->model_path = model.path();
  bool search = options.scale_search;
  if (search && !options.force_scale_search && !st->in.meta.refinement.is_null()) search = false;
  std::vector<std::vector<Tensor>> batches;
  for (const auto& b : samples) {
    std::vector<Tensor> ins;
    for (const auto& t : b) {
      HostTensor c = t.clone();  // the Tensor view keeps the copy alive
      auto keep = std::make_shared<HostTensor>(c);
      ins.push_back(Tensor::view(c.dtype(), c.shape(), keep->data(), keep));
    }
    batches.push_back(std::move(ins));
  }
  TuneOptions o;
  o.backend = options.backend;
  o.search_scales = search && st->in.have_candidates;
  o.max_fp32_layers = options.max_fp32_layers;
  o.min_gain_db = options.min_gain_db;
  o.max_sweeps = options.max_sweeps;
  o.fp32_layers = options.fp32_layers;
  o.budget.max_top1_drop = options.max_top1_drop;
  o.budget.min_agreement = options.min_agreement;
  o.budget.min_sqnr_db = options.min_sqnr_db;
  o.labels = options.labels;
  OCTET_CHECK(o.budget.max_top1_drop < 0 || !o.labels.empty(), "tune: a top-1 budget needs labels (TuningOptions::labels)");
  Progress progress("tune", 0, options.quiet, "trials");
  o.progress = [&](int done, int planned, const std::string&) {
    progress.set_total(planned);
    progress.update(done);
  };
  TuneResult r = octet::tune(model.source().graph, st->in.table, batches, o);
  progress.finish();
  TuningResult out;
  out.sqnr_start_db = r.sqnr_start_db;
  out.sqnr_scales_db = r.sqnr_scales_db;
  out.sqnr_final_db = r.sqnr_final_db;
  out.fp32_layers = r.fp32_layers;
  for (const auto& s : r.steps) out.steps.push_back({s.kind, s.target, s.choice, s.amax_before, s.amax_after, s.sqnr_db});
  out.int8_layers = r.int8_layers;
  out.trials = r.trials;
  out.searched_scales = o.search_scales;
  out.budget_met = r.budget_met;
  out.agreement = r.metrics_final.agreement;
  out.top1 = r.metrics_final.top1;
  out.fp32_top1 = r.metrics_final.fp32_top1;
  out.macs_total = r.macs_total;
  out.macs_int8 = r.macs_int8;
  out.fp32_nodes = api::fp32_onnx_nodes(model.source().graph, r.table, r.fp32_layers, o.backend);
  const CacheHeader h = parse_cache_header(st->in.cache.header);
  out.cache = serialize_cache(to_cache(r.table, h.version, h.algo_token));
  st->table = std::move(r.table);
  out.state = st;
  return out;
}

void TuningResult::save(const std::string& cache_path) const {
  OCTET_CHECK(state != nullptr, "TuningResult::save: not a result of octet::tune");
  const auto& st = *static_cast<const api::TunedState*>(state.get());
  api::write_tuned(cache_path, st.in, st.table, fp32_layers, searched_scales, st.model_path);
}

}  // namespace octet
