// octet cache show|diff|convert: inspect, compare and rewrite TensorRT calibration caches.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "calib/cache.h"
#include "commands.h"
#include "common.h"

namespace octet::cli {

namespace {

// What the cache's sidecar (octet calibrate / tune) says beyond the scales: the tensors the threshold refinement
// moved (name -> "choice, was amax X") and the layers octet tune keeps in FP32. Empty without a matching sidecar.
struct SidecarNotes {
  std::map<std::string, std::string> refined;
  std::string summary;
  std::vector<std::string> fp32_layers;
};
SidecarNotes sidecar_notes(const std::string& cache_path, const std::string& header) {
  SidecarNotes n;
  const std::optional<SidecarMeta> m = api::cache_sidecar_meta(cache_path);
  if (!m || (!m->cache_header.empty() && m->cache_header != header)) return n;  // none, or another cache's
  const SidecarMeta& meta = *m;
  n.fp32_layers = meta.fp32_layers;
  const nlohmann::json& r = meta.refinement;
  if (r.is_object() && r.contains("changes")) {
    char b[160];
    std::snprintf(b, sizeof b, "%zu tensors on %lld samples (output SQNR vs FP32 %.2f -> %.2f dB); marked *",
                  r["changes"].size(), static_cast<long long>(r.value("samples", int64_t{0})),
                  r.value("sqnr_before_db", 0.0), r.value("sqnr_after_db", 0.0));
    n.summary = b;
    for (const auto& c : r["changes"]) {
      std::snprintf(b, sizeof b, "%s, was amax %.6g", c.value("choice", std::string("?")).c_str(), c.value("from", 0.0));
      n.refined[c.value("tensor", std::string())] = b;
    }
  }
  return n;
}

int show(const Args& a) {
  OCTET_CHECK(a.positional().size() == 2, "octet cache show: give one cache file");
  check_json_output(a);
  CalibCache c = read_cache_file(a.positional()[1]);
  CacheHeader h = parse_cache_header(c.header);
  std::printf("header   %s  (TensorRT version %d, algorithm %s)\nentries  %zu\n", c.header.c_str(), h.version,
              h.algo_token.c_str(), c.entries.size());
  const SidecarNotes notes = sidecar_notes(a.positional()[1], c.header);
  if (!notes.summary.empty()) std::printf("refined  %s\n", notes.summary.c_str());
  if (!notes.fp32_layers.empty()) {
    std::printf("fp32     %zu layer(s) kept in FP32 by octet tune:", notes.fp32_layers.size());
    for (const auto& l : notes.fp32_layers) std::printf(" %s", l.c_str());
    std::printf("\n");
  }
  nlohmann::json j = {{"header", c.header}, {"entries", nlohmann::json::array()}};
  for (const auto& e : c.entries) {
    auto r = notes.refined.find(e.name);
    const bool refined = r != notes.refined.end();
    if (refined)
      std::printf("* %-48s %-9s scale %-13.6g amax %-10.6g refined: %s\n", e.name.c_str(), scale_hex(e.scale).c_str(),
                  e.scale, amax_from_scale(e.scale), r->second.c_str());
    else
      std::printf("  %-48s %-9s scale %-13.6g amax %.6g\n", e.name.c_str(), scale_hex(e.scale).c_str(), e.scale,
                  amax_from_scale(e.scale));
    nlohmann::json je = {{"name", e.name}, {"hex", scale_hex(e.scale)}, {"scale", e.scale}, {"amax", amax_from_scale(e.scale)}};
    if (refined) je["refined"] = r->second;
    j["entries"].push_back(std::move(je));
  }
  if (!notes.fp32_layers.empty()) j["fp32_layers"] = notes.fp32_layers;
  if (a.has("json")) write_json(a.get("json"), j);
  return 0;
}

int diff(const Args& a) {
  OCTET_CHECK(a.positional().size() == 3, "octet cache diff: give two cache files");
  CalibCache x = read_cache_file(a.positional()[1]), y = read_cache_file(a.positional()[2]);
  double tol = a.get_double("tolerance", 0.0);
  std::map<std::string, float> ys;
  for (const auto& e : y.entries) ys[e.name] = e.scale;
  if (x.header != y.header) std::printf("header   %s  vs  %s\n", x.header.c_str(), y.header.c_str());
  int differ = 0, only_x = 0, same = 0;
  for (const auto& e : x.entries) {
    auto it = ys.find(e.name);
    if (it == ys.end()) {
      std::printf("only in first   %s\n", e.name.c_str());
      ++only_x;
      continue;
    }
    double rel = std::fabs(e.scale - it->second) / std::max(std::fabs(static_cast<double>(it->second)), 1e-30);
    if (e.scale == it->second || rel <= tol) {
      ++same;
    } else {
      std::printf("%-48s %s vs %s  (amax %.6g vs %.6g, %+.2f%%)\n", e.name.c_str(), scale_hex(e.scale).c_str(),
                  scale_hex(it->second).c_str(), amax_from_scale(e.scale), amax_from_scale(it->second),
                  100.0 * (e.scale - it->second) / it->second);
      ++differ;
    }
    ys.erase(it);
  }
  for (const auto& [name, s] : ys) std::printf("only in second  %s\n", name.c_str());
  std::printf("%d equal, %d differ, %d only in first, %zu only in second\n", same, differ, only_x, ys.size());
  return (differ || only_x || !ys.empty() || x.header != y.header) ? 1 : 0;
}

int convert(const Args& a) {
  OCTET_CHECK(a.positional().size() == 2, "octet cache convert: give one cache file (and -o/--output)");
  std::string out = a.required("output");
  check_output(out, a.on("force"), "--output");
  CalibCache c = read_cache_file(a.positional()[1]);
  check_cache_scales(c, "'" + a.positional()[1] + "'");  // no NaN/Inf/negative/denormal scale passed on to TensorRT
  CacheHeader h = parse_cache_header(c.header);
  std::string v = a.get("trt-version");
  int version = h.version;
  if (!v.empty()) version = v.find('.') != std::string::npos ? trt_version_number(v) : std::stoi(v);
  std::string token = a.has("algo-token") ? a.get("algo-token") : h.algo_token;
  c.header = make_cache_header(version, token);
  write_cache_file(out, c);
  std::printf("wrote %s (%s, %zu entries)\n", out.c_str(), c.header.c_str(), c.entries.size());
  return 0;
}

}  // namespace

int cmd_cache(int argc, char** argv) {
  Args a("cache", "show FILE | diff A B | convert FILE --output OUT [--trt-version V]",
         "show: print every entry's scale (hex and float) and amax = 127 x scale; with the cache's sidecar, also\n"
         "which tensors octet calibrate's refinement moved (marked *) and the layers octet tune keeps in FP32.\n"
         "diff: compare two caches entry by entry (exit status 1 when they differ).\n"
         "convert: rewrite the header for another TensorRT version (or algorithm token); entries unchanged.");
  a.opt("output", "OUT", "convert: the file to write");
  a.opt("trt-version", "V", "convert: TensorRT version for the new header (10.9.0, 8.6.1 or 100900)");
  a.opt("algo-token", "TOKEN", "convert: algorithm token for the new header (e.g. EntropyCalibration2)");
  a.opt("tolerance", "REL", "diff: relative scale difference still counted as equal", "0");
  a.opt("json", "FILE", "show: also write the entries as JSON");
  a.flag("force", "convert: overwrite OUT; show: overwrite the --json file");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(!a.positional().empty(), "octet cache: say show, diff or convert (see --help)");
  const std::string& verb = a.positional()[0];
  if (verb == "show") return show(a);
  if (verb == "diff") return diff(a);
  if (verb == "convert") return convert(a);
  fail("octet cache: unknown action '", verb, "' (show, diff, convert)");
}

}  // namespace octet::cli
