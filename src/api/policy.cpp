// Loading a model and making a plan of it: plan file vs ONNX vs Q/DQ, asymmetric simulation, FP32 layers from
// the cache's sidecar. (Moved from tools/common.cpp, which now maps command-line flags to EngineOptions.)
#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "api/internal.h"
#include "core/cpus.h"
#include "core/file_io.h"
#include "core/warnings.h"
#include "calib/table.h"
#include "onnx/import.h"
#include "onnx/qdq_import.h"

namespace octet::api {

namespace {

std::string format(const char* fmt, auto... args) {
  char buf[2048];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

}  // namespace

ModelSource load_model(const std::string& path) {
  ModelSource m;
  m.path = path;
  if (is_plan_file(path)) {
    m.plan = std::make_shared<const PlanContents>(read_plan_file(path));
    return m;
  }
  m.graph = import_onnx_file(path).graph;
  if (has_qdq(m.graph)) {
    QdqImportResult q = import_qdq(m.graph);
    m.qdq_warnings = std::move(q.warnings);
    m.qdq_asymmetric = std::move(q.asymmetric);
    if (!m.qdq_asymmetric.empty()) m.qdq_graph = std::move(m.graph);
    m.graph = std::move(q.graph);
    m.qdq_amax = std::move(q.amax);
  }
  return m;
}

namespace {

const char* plan_precision(const PlanContents& c) { return c.options.int8_amax.empty() ? "fp32" : "int8"; }

// A precision not given: the plan's own applies.
std::unique_ptr<Plan> plan_of_file(const ModelSource& m, const EngineOptions& o) {
  const PlanContents& c = *m.plan;
  const std::string have = plan_precision(c);
  OCTET_CHECK(!o.precision || precision_name(*o.precision) == have, "'", m.path, "' is an ", have,
              " plan but --precision is ", precision_name(*o.precision), "; pass --precision ", have,
              ", or the ONNX model to run it in ", precision_name(*o.precision));
  OCTET_CHECK(o.backend.empty() || o.backend == c.options.backend, "'", m.path, "' is a plan for backend ",
              c.options.backend, "; make one for ", o.backend, " with octet build --backend ", o.backend);
  OCTET_CHECK(o.cache_path.empty() && o.amax.empty() && !o.fp32_layers, "'", m.path,
              "' is a plan: its scales and FP32 layers are fixed; --cache and --fp32-layers go to octet build");
  return plan_from_contents(c, m.path);
}

}  // namespace

std::unique_ptr<Plan> make_plan(ModelSource m, const EngineOptions& eo) {
  OCTET_CHECK(eo.threads >= 0, "EngineOptions::threads must be >= 0, got ", eo.threads);
  if (eo.threads > 0) omp_set_num_threads(std::min(eo.threads, usable_cpus()));  // clamped (core/cpus.h)
  if (m.plan) return plan_of_file(m, eo);
  const Precision precision = eo.precision.value_or(Precision::fp32);
  PlanOptions o;
  o.backend = eo.backend.empty() ? "cpu" : eo.backend;
  if (precision == Precision::int8) {
    if (!eo.amax.empty()) o.int8_amax = eo.amax;
    else if (!eo.cache_path.empty()) o.int8_amax = load_amax(eo.cache_path);
    else if (simulates_asymmetric(m, eo)) {
      // The model as written, Q/DQ nodes and all, in FP32 kernels: QuantizeLinear/DequantizeLinear round and
      // clamp exactly as ONNX defines them (uint8, zero points), so the result is the model's INT8 arithmetic
      // up to float summation order -- its accuracy, at FP32 speed.
      OCTET_CHECK(!eo.fp32_layers, "--fp32-layers: '", m.path, "' runs as a simulation of its own Q/DQ "
                  "(asymmetric activations), which decides itself what is quantized; with --asymmetric symmetric "
                  "it runs as an INT8 plan that --fp32-layers applies to");
      static bool said = false;  // once per process (eval may build several plans)
      if (!said)
        log_message(LogLevel::note,
                    format("'%s' has %zu asymmetric (uint8 / zero point != 0) activation(s), e.g. '%s'; octet's INT8 "
                           "kernels are symmetric int8, so its INT8 is simulated: FP32 arithmetic with the model's exact "
                           "Q/DQ rounding (its accuracy, FP32 speed). --asymmetric symmetric maps them to int8 kernels "
                           "instead (INT8 speed, about one bit less precision per tensor)",
                           m.path.c_str(), m.qdq_asymmetric.size(), m.qdq_asymmetric[0].c_str()));
      said = true;
      PlanOptions fo;
      fo.backend = o.backend;
      return Plan::build(std::move(m.qdq_graph), fo);
    } else {
      for (const auto& w : m.qdq_warnings) warn("qdq_import", w);
      o.int8_amax = m.qdq_amax;
      // Round where the Q/DQ model rounds: a Conv whose output has its own pair before a Relu (ONNX Runtime's
      // symmetric QDQ) requantizes twice there, so octet must not fuse the Relu past that pair.
      for (const auto& [name, amax] : m.qdq_amax) o.keep_unfused.insert(name);
    }
    OCTET_CHECK(!o.int8_amax.empty(), "--precision int8 needs --cache FILE (make one with octet calibrate) or a Q/DQ model");
    o.fp32_layers = fp32_layers_from(eo);
  }
  auto plan = Plan::build(std::move(m.graph), o);
  if (precision == Precision::int8 && eo.amax.empty() && !eo.cache_path.empty())
    check_zero_scales(plan->quantize_report(), eo.cache_path);
  return plan;
}

void check_zero_scales(const QuantizeReport& report, const std::string& cache_path) {
  if (report.zero_scale_tensors.empty()) return;
  // octet calibrate writes 0 for tensors it found all zero or unquantizable (its sidecar says so): those stay
  // FP32 as before. Any other 0 for a tensor the plan would quantize is refused.
  const CalibCache cache = read_cache_file(cache_path);
  CalibTable side;
  if (std::optional<SidecarMeta> meta = cache_sidecar_meta(cache_path); meta && meta->cache_header == cache.header)
    side = read_sidecar(cache_path + ".json");
  for (const std::string& name : report.zero_scale_tensors) {
    const CalibEntry* s = side.find(name);
    if (s && s->has_stats && s->amax == 0.f) continue;
    for (const auto& e : cache.entries)
      if (e.name == name)
        fail("calibration cache ", cache_entry_location(e, "'" + cache_path + "'"), ": tensor '", name,
             "' has scale 0, but the INT8 plan quantizes it (a 0 is valid only for tensors that are not quantized, "
             "such as shape tensors); recalibrate, or keep its layer in FP32 with --fp32-layers");
  }
}

std::string file_fingerprint(const std::string& path) {
  const int fd = open_regular_file(path, "model");  // regular files only (core/file_io.h)
  uint64_t h = 1469598103934665603ull;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      ::close(fd);
      fail("cannot read '", path, "': ", std::strerror(e));
    }
    if (r == 0) break;
    for (ssize_t i = 0; i < r; ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ull;
    }
  }
  ::close(fd);
  char out[40];
  std::snprintf(out, sizeof out, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::map<std::string, float> load_amax(const std::string& cache_path) {
  const CalibCache cache = read_cache_file(cache_path);
  check_cache_scales(cache, "'" + cache_path + "'");
  CalibTable t = table_from_cache(cache);
  std::map<std::string, float> m;
  for (const auto& e : t.entries) m[e.name] = e.amax;
  return m;
}

bool simulates_asymmetric(const ModelSource& m, const EngineOptions& o) {
  if (m.qdq_asymmetric.empty() || !o.cache_path.empty() || !o.amax.empty()) return false;
  return o.asymmetric != AsymmetricPolicy::symmetric;
}

std::vector<std::string> fp32_layers_from(const EngineOptions& o) {
  if (o.fp32_layers) return *o.fp32_layers;
  if (o.cache_path.empty()) return {};
  const std::optional<SidecarMeta> meta = cache_sidecar_meta(o.cache_path);
  if (!meta) return {};
  if (!meta->fp32_layers.empty()) {
    static bool said = false;  // once per process (eval builds two plans)
    if (!said)
      log_message(LogLevel::note, format("%zu layer(s) kept in FP32 as recorded by octet tune in '%s.json' "
                                         "(--fp32-layers overrides)",
                                         meta->fp32_layers.size(), o.cache_path.c_str()));
    said = true;
  }
  return meta->fp32_layers;
}

std::optional<SidecarMeta> cache_sidecar_meta(const std::string& cache_path) {
  const std::string sidecar = cache_path + ".json";
  if (file_kind(sidecar) == "missing") return std::nullopt;
  SidecarMeta meta;
  try {
    read_sidecar(sidecar, &meta);
  } catch (const Error& e) {
    log_message(LogLevel::warning, format("ignoring '%s': %s", sidecar.c_str(), e.what()));
    return std::nullopt;
  }
  return meta;
}

}  // namespace octet::api
