#include "calib/sidecar.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"

namespace octet {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "octet-calibration-sidecar";
constexpr int kFormatVersion = 1;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

float get_float(const json& j, const char* key, float dflt) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  return j[key].get<float>();
}

const char* zero_policy_name(ZeroPolicy z) {
  switch (z) {
    case ZeroPolicy::Z0: return "Z0";
    case ZeroPolicy::Z1: return "Z1";
    case ZeroPolicy::Z2: return "Z2";
  }
  return "?";
}

template <typename E, size_t N>
E enum_from(const std::string& s, const std::pair<E, const char*> (&rows)[N], const char* what) {
  for (const auto& [e, name] : rows)
    if (s == name) return e;
  fail("unknown ", what, " '", s, "'");
}

const std::pair<ZeroPolicy, const char*> kZero[] = {
    {ZeroPolicy::Z0, "Z0"}, {ZeroPolicy::Z1, "Z1"}, {ZeroPolicy::Z2, "Z2"}};
const std::pair<ThresholdConvention, const char*> kThr[] = {
    {ThresholdConvention::Trt, "trt"}, {ThresholdConvention::BinEdge, "bin_edge"}};
const std::pair<TieBreak, const char*> kTie[] = {
    {TieBreak::PreferLarger, "prefer_larger"}, {TieBreak::PreferSmaller, "prefer_smaller"}};

json params_json(const AlgoParams& p) {
  return json{{"percentile", p.percentile},
              {"legacy_quantile", p.legacy_quantile},
              {"legacy_regression_cutoff", p.legacy_regression_cutoff},
              {"zero_policy", zero_policy_name(p.zero_policy)},
              {"threshold", p.threshold == ThresholdConvention::Trt ? "trt" : "bin_edge"},
              {"tie_break", p.tie_break == TieBreak::PreferLarger ? "prefer_larger" : "prefer_smaller"},
              {"start_bin", p.start_bin},
              {"quant_levels", p.quant_levels},
              {"min_amax", p.min_amax},
              {"kl_error_limit", p.kl_error_limit}};
}

AlgoParams params_from(const json& j) {
  AlgoParams p;
  p.percentile = j.value("percentile", p.percentile);
  p.legacy_quantile = j.value("legacy_quantile", p.legacy_quantile);
  p.legacy_regression_cutoff = j.value("legacy_regression_cutoff", p.legacy_regression_cutoff);
  p.zero_policy = enum_from(j.value("zero_policy", std::string("Z0")), kZero, "zero policy");
  p.threshold = enum_from(j.value("threshold", std::string("trt")), kThr, "threshold convention");
  p.tie_break = enum_from(j.value("tie_break", std::string("prefer_larger")), kTie, "tie break");
  p.start_bin = j.value("start_bin", p.start_bin);
  p.quant_levels = j.value("quant_levels", p.quant_levels);
  p.min_amax = j.value("min_amax", p.min_amax);
  p.kl_error_limit = j.value("kl_error_limit", 0.0);  // sidecars from before the limit: TensorRT's thresholds
  return p;
}

bool unquantizable(const CalibEntry& e) { return e.has_stats && e.amax == 0.f && e.stats.absmax() > 0.f; }

}  // namespace

json sidecar_to_json(const CalibTable& table, const SidecarMeta& meta) {
  json tensors = json::array();
  for (const auto& e : table.entries) {
    json t{{"name", e.name},
           {"amax", num(e.amax)},
           {"scale", num(e.scale())},
           {"scale_hex", scale_hex(e.scale())},
           {"algorithm", algo_name(e.algo)}};
    if (e.has_stats) {
      const TensorStats& s = e.stats;
      t["min"] = num(s.min);
      t["max"] = num(s.max);
      t["absmax"] = num(s.absmax());
      t["count"] = s.count;
      t["zeros"] = s.zeros;
      t["nan"] = s.nans;
      t["inf"] = s.infs;
      t["mean"] = num(s.mean());
      t["clipped"] = num(e.clipped);
      if (!e.candidates.empty()) {
        json c = json::object();
        for (const auto& [k, v] : e.candidates) c[k] = num(v);
        t["candidates"] = std::move(c);
      }
      t["flags"] = json{{"all_zero", s.all_zero()},     {"constant", s.constant()},
                        {"nan", s.nans > 0},            {"inf", s.infs > 0},
                        {"never_observed", !s.observed()}, {"unquantizable", unquantizable(e)}};
    }
    tensors.push_back(std::move(t));
  }
  json j{{"format", kFormat},
              {"format_version", kFormatVersion},
              {"octet_version", meta.octet_version},
              {"cache_header", meta.cache_header},
              {"algorithm", algo_name(table.algo)},
              {"params", params_json(table.params)},
              {"histogram", json{{"bins", Histogram::kBins},
                                 {"mode", table.hist_mode == HistMode::Fixed ? "two-pass" : "one-pass"}}},
              {"model_hash", meta.model_hash},
              {"data_hash", meta.data_hash},
              {"batches", meta.batches},
              {"images", meta.images},
              {"fp32_layers", meta.fp32_layers},
              {"tensors", std::move(tensors)}};
  if (!meta.refinement.is_null()) j["refinement"] = meta.refinement;
  if (!meta.warnings.is_null()) j["warnings"] = meta.warnings;
  if (!meta.calib_padding.is_null()) j["calib_padding"] = meta.calib_padding;
  return j;
}

CalibTable sidecar_from_json(const json& j, SidecarMeta* meta) {
  try {
    OCTET_CHECK(j.is_object() && j.value("format", std::string()) == kFormat,
                "not an octet calibration sidecar (missing \"format\": \"", kFormat, "\")");
    const int fv = j.at("format_version").get<int>();
    OCTET_CHECK(fv == kFormatVersion, "sidecar format_version ", fv, " is not supported (this octet reads ",
                kFormatVersion, ")");
    CalibTable t;
    t.algo = parse_algo(j.at("algorithm").get<std::string>());
    if (j.contains("params")) t.params = params_from(j["params"]);
    if (j.contains("histogram"))
      t.hist_mode = j["histogram"].value("mode", std::string("two-pass")) == "one-pass" ? HistMode::Growing
                                                                                          : HistMode::Fixed;
    if (meta) {
      meta->octet_version = j.value("octet_version", std::string());
      meta->cache_header = j.value("cache_header", std::string());
      meta->model_hash = j.value("model_hash", std::string());
      meta->data_hash = j.value("data_hash", std::string());
      meta->batches = j.value("batches", int64_t{0});
      meta->images = j.value("images", int64_t{0});
      meta->fp32_layers = j.value("fp32_layers", std::vector<std::string>{});
      meta->refinement = j.value("refinement", json());
      meta->warnings = j.value("warnings", json());
      meta->calib_padding = j.value("calib_padding", json());
    }
    for (const auto& tj : j.at("tensors")) {
      CalibEntry e;
      e.name = tj.at("name").get<std::string>();
      e.amax = get_float(tj, "amax", 0.f);
      e.algo = tj.contains("algorithm") ? parse_algo(tj["algorithm"].get<std::string>()) : t.algo;
      if (tj.contains("count")) {
        e.has_stats = true;
        TensorStats& s = e.stats;
        s.count = tj.at("count").get<uint64_t>();
        s.zeros = tj.value("zeros", uint64_t{0});
        s.nans = tj.value("nan", uint64_t{0});
        s.infs = tj.value("inf", uint64_t{0});
        s.min = get_float(tj, "min", s.min);
        s.max = get_float(tj, "max", s.max);
        s.sum = (tj.contains("mean") && !tj["mean"].is_null() ? tj["mean"].get<double>() : 0.0) *
                static_cast<double>(s.finite());
        e.clipped = tj.contains("clipped") && !tj["clipped"].is_null() ? tj["clipped"].get<double>() : 0.0;
        if (tj.contains("candidates"))
          for (const auto& [k, v] : tj["candidates"].items())
            if (!v.is_null()) e.candidates.emplace_back(k, v.get<float>());
      }
      t.entries.push_back(std::move(e));
    }
    return t;
  } catch (const json::exception& e) {
    fail("malformed calibration sidecar: ", e.what());
  }
}

void write_sidecar(const std::string& path, const CalibTable& table, const SidecarMeta& meta) {
  write_file_atomic(path, sidecar_to_json(table, meta).dump(1) + "\n");
}

CalibTable read_sidecar(const std::string& path, SidecarMeta* meta) {
  const std::string text = read_file(path, "calibration sidecar", 1ull << 30);  // regular files only
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("cannot read calibration sidecar '", path, "': ", e.what());
  }
  try {
    return sidecar_from_json(j, meta);
  } catch (const Error& e) {
    fail("cannot read calibration sidecar '", path, "': ", e.what());
  }
}

const char* health_issue_name(HealthIssue k) {
  switch (k) {
    case HealthIssue::NeverObserved: return "never_observed";
    case HealthIssue::AllZero: return "all_zero";
    case HealthIssue::Constant: return "constant";
    case HealthIssue::NonFinite: return "nonfinite";
    case HealthIssue::HeavyClipping: return "heavy_clipping";
    case HealthIssue::Unquantizable: return "unquantizable";
  }
  return "?";
}

std::vector<HealthWarning> health_check(const CalibTable& table, double clip_threshold,
                                        const std::set<std::string>& quiet_tensors) {
  std::vector<HealthWarning> out;
  for (const auto& e : table.entries) {
    if (!e.has_stats || quiet_tensors.count(e.name)) continue;
    const TensorStats& s = e.stats;
    const std::string who = "tensor '" + e.name + "': ";
    auto add = [&](HealthIssue k, const std::string& msg) { out.push_back({e.name, k, who + msg}); };
    if (!s.observed()) {
      add(HealthIssue::NeverObserved, "never observed during calibration; it gets no scale");
      continue;
    }
    if (s.nans > 0 || s.infs > 0)
      add(HealthIssue::NonFinite, detail::concat(s.nans, " NaN and ", s.infs, " Inf values among ", s.count,
                                                 " (ignored by the histogram)"));
    if (s.all_zero()) {
      add(HealthIssue::AllZero, detail::concat("all ", s.finite(), " finite values are zero; scale 0"));
    } else if (s.constant()) {
      add(HealthIssue::Constant, detail::concat("constant value ", s.min, " in all ", s.finite(),
                                                " finite values; calibration cannot pick a range"));
    }
    if (unquantizable(e))
      add(HealthIssue::Unquantizable, detail::concat("amax ", s.absmax(), " is below the minimum ",
                                                     table.params.min_amax, "; scale 0"));
    if (e.clipped > clip_threshold)
      add(HealthIssue::HeavyClipping,
          detail::concat(e.clipped * 100.0, "% of values lie above amax ", e.amax, " (observed absmax ",
                         s.absmax(), ", algorithm ", algo_name(e.algo), ")"));
  }
  return out;
}

}  // namespace octet
