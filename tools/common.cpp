#include "common.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/file_io.h"
#include "calib/sidecar.h"
#include "calib/table.h"
#include "onnx/import.h"
#include "onnx/qdq_import.h"

namespace octet::cli {

void add_runtime_options(Args& a) {
  a.opt("backend", "NAME", "execution backend: cpu (oneDNN + own kernels) or ref (plain loops)", "cpu");
  a.opt("threads", "T", "threads (0 = all cores)", "0");
}

void apply_threads(const Args& a) {
  int64_t t = a.get_int("threads", 0);
  OCTET_CHECK(t >= 0, "--threads must be >= 0");
  if (t > 0) omp_set_num_threads(static_cast<int>(t));
}

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

// `check_precision` false: --precision was not given (run, bench), the plan's own applies.
std::unique_ptr<Plan> plan_of_file(const ModelSource& m, const Args& a, const std::string& precision,
                                   bool check_precision) {
  const PlanContents& c = *m.plan;
  const std::string have = plan_precision(c);
  OCTET_CHECK(a.get_list("precision").size() <= 1, "'", m.path, "' is a plan with one precision (", have,
              "); to compare precisions, pass the ONNX model with --cache instead");
  OCTET_CHECK(!check_precision || precision == have, "'", m.path, "' is an ", have, " plan but --precision is ",
              precision, "; pass --precision ", have, ", or the ONNX model to run it in ", precision);
  // Args::on: given on the command line (not just defaulted).
  OCTET_CHECK(!a.on("backend") || a.get("backend") == c.options.backend, "'", m.path, "' is a plan for backend ",
              c.options.backend, "; make one for ", a.get("backend"), " with octet build --backend ", a.get("backend"));
  OCTET_CHECK(!a.on("cache") && !a.on("fp32-layers"), "'", m.path,
              "' is a plan: its scales and FP32 layers are fixed; --cache and --fp32-layers go to octet build");
  return plan_from_contents(c, m.path);
}

}  // namespace

std::unique_ptr<Plan> make_plan(ModelSource m, const Args& a, const std::string& precision) {
  if (m.plan) return plan_of_file(m, a, precision, /*check_precision=*/true);
  PlanOptions o;
  o.backend = a.get("backend");
  if (precision == "int8") {
    if (a.has("cache")) o.int8_amax = load_amax(a.get("cache"));
    else if (simulates_asymmetric(m, a)) {
      // The model as written, Q/DQ nodes and all, in FP32 kernels: QuantizeLinear/DequantizeLinear round and
      // clamp exactly as ONNX defines them (uint8, zero points), so the result is the model's INT8 arithmetic
      // up to float summation order -- its accuracy, at FP32 speed.
      OCTET_CHECK(!a.has("fp32-layers"), "--fp32-layers: '", m.path, "' runs as a simulation of its own Q/DQ "
                  "(asymmetric activations), which decides itself what is quantized; with --asymmetric symmetric "
                  "it runs as an INT8 plan that --fp32-layers applies to");
      static bool said = false;  // once per process (eval may build several plans)
      if (!said)
        std::fprintf(stderr,
                     "note: '%s' has %zu asymmetric (uint8 / zero point != 0) activation(s), e.g. '%s'; octet's INT8 "
                     "kernels are symmetric int8, so its INT8 is simulated: FP32 arithmetic with the model's exact "
                     "Q/DQ rounding (its accuracy, FP32 speed). --asymmetric symmetric maps them to int8 kernels "
                     "instead (INT8 speed, about one bit less precision per tensor)\n",
                     m.path.c_str(), m.qdq_asymmetric.size(), m.qdq_asymmetric[0].c_str());
      said = true;
      PlanOptions fo;
      fo.backend = o.backend;
      return Plan::build(std::move(m.qdq_graph), fo);
    } else {
      for (const auto& w : m.qdq_warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      o.int8_amax = m.qdq_amax;
      // Round where the Q/DQ model rounds: a Conv whose output has its own pair before a Relu (ONNX Runtime's
      // symmetric QDQ) requantizes twice there, so octet must not fuse the Relu past that pair.
      for (const auto& [name, amax] : m.qdq_amax) o.keep_unfused.insert(name);
    }
    OCTET_CHECK(!o.int8_amax.empty(), "--precision int8 needs --cache FILE (make one with octet calibrate) or a Q/DQ model");
    o.fp32_layers = fp32_layers_from(a);
  } else {
    OCTET_CHECK(precision == "fp32", "--precision is fp32 or int8, got '", precision, "'");
  }
  return Plan::build(std::move(m.graph), o);
}

std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, const std::string& precision) {
  apply_threads(a);
  ModelSource m = load_model(model);
  if (m.plan) return plan_of_file(m, a, precision, /*check_precision=*/a.on("precision"));
  return make_plan(std::move(m), a, precision);
}

std::vector<LayerRow> layer_table(const Graph& pg, const QuantizeReport& report, bool int8, const Graph* onnx) {
  std::map<std::string, const QuantizeReport::Line*> by_node;
  for (const auto& l : report.lines) by_node[l.node] = &l;
  std::vector<LayerRow> rows;
  if (!onnx) {
    if (int8) {
      for (const auto& l : report.lines) rows.push_back({l.node, l.op, l.precision, l.why});
    } else {
      for (const Node& n : pg.nodes) rows.push_back({n.name, op_name(n.op), "fp32", "FP32 plan"});
    }
    return rows;
  }
  // Tensors the fusion pass folded into another node's kernel -> that node.
  std::map<std::string, int> fused_into;
  for (size_t i = 0; i < pg.nodes.size(); ++i)
    for (const auto& t : pg.nodes[i].post.fused_names) fused_into[t] = static_cast<int>(i);
  for (const Node& n : onnx->nodes) {
    LayerRow r{n.name, op_name(n.op), "fp32", ""};
    if (auto it = by_node.find(n.name); it != by_node.end()) {
      r.precision = it->second->precision;
      r.why = it->second->why;
      rows.push_back(r);
      continue;
    }
    // Not quantized on its own: fused into a neighbour (whose precision it shares), folded, or removed.
    int host = -1;
    for (int o : n.outputs) {
      const std::string& name = onnx->value(o).name;
      if (auto f = fused_into.find(name); f != fused_into.end()) host = f->second;
      // Its output now comes from another node (an activation fused into a Conv), possibly as the int8 or
      // channels-last twin the passes name "<tensor>::int8" / "<tensor>::nhwc".
      for (const char* suffix : {"", "::int8", "::nhwc"}) {
        if (host >= 0) break;
        int v = pg.find(name + suffix);
        if (v >= 0 && pg.value(v).producer >= 0 && pg.nodes[static_cast<size_t>(pg.value(v).producer)].name != n.name)
          host = pg.value(v).producer;
      }
      if (host >= 0) break;
    }
    // Past the layout and quantization plumbing the passes insert ("<tensor>::to_nchw", "::dequantize") to the
    // node that computes the value.
    for (int hop = 0; hop < 4 && host >= 0; ++hop) {
      const Node& h = pg.nodes[static_cast<size_t>(host)];
      if (h.name.find("::") == std::string::npos || h.inputs.empty() || h.inputs[0] < 0) break;
      host = pg.value(h.inputs[0]).producer;
    }
    if (host >= 0 && pg.nodes[static_cast<size_t>(host)].name == n.name) host = -1;  // itself, not fused
    if (host >= 0) {
      const Node& h = pg.nodes[static_cast<size_t>(host)];
      auto it = by_node.find(h.name);
      r.precision = it != by_node.end() ? it->second->precision : (int8 ? op_is_internal(h.op) ? "int8" : "fp32" : "fp32");
      r.why = "fused into '" + h.name + "' (" + op_name(h.op) + ")";
    } else if (int v = n.outputs.empty() ? -1 : pg.find(onnx->value(n.outputs[0]).name); v >= 0 && pg.is_const(v)) {
      r.precision = "-";
      r.why = "folded into a constant";
    } else if (!int8 && std::any_of(pg.nodes.begin(), pg.nodes.end(), [&](const Node& p) { return p.name == n.name; })) {
      r.why = "FP32 plan";
    } else {
      r.precision = "-";
      r.why = "removed by the graph passes";
    }
    if (!int8 && host >= 0) r.why = "FP32 plan; " + r.why;
    rows.push_back(r);
  }
  return rows;
}

void print_layer_table(const std::vector<LayerRow>& rows) {
  size_t wn = 4, wo = 2;
  for (const auto& r : rows) {
    wn = std::max(wn, r.node.size());
    wo = std::max(wo, r.op.size());
  }
  std::printf("  %-*s  %-*s  %-9s  %s\n", static_cast<int>(wn), "NODE", static_cast<int>(wo), "OP", "PRECISION", "WHY");
  for (const auto& r : rows)
    std::printf("  %-*s  %-*s  %-9s  %s\n", static_cast<int>(wn), r.node.c_str(), static_cast<int>(wo), r.op.c_str(),
                r.precision.c_str(), r.why.c_str());
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::string text = j.dump(2) + "\n";
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return;
  }
  write_file_atomic(path, text);
}

void check_json_output(const Args& a) {
  if (a.has("json") && a.get("json") != "-") check_output(a.get("json"), a.on("force"), "--json");
}

void add_preprocess_options(Args& a) {
  a.opt("size", "H[,W]", "output size; alone: resize the whole image to exactly HxW (default: the model's)");
  a.opt("resize", "S", "resize the shorter side to S, then center-crop --size");
  a.opt("mean", "M[,M,M]", "per-channel mean subtracted after scaling");
  a.opt("std", "S[,S,S]", "per-channel std divided by after the mean");
  a.opt("scale", "F", "pixel scale before mean/std", "0.00392156862745098");
  a.flag("bgr", "keep OpenCV's BGR channel order (default RGB)");
  a.flag("gray", "one grayscale channel");
  a.opt("interp", "MODE", "resize interpolation: bilinear, nearest, area, cubic", "bilinear");
}

Preprocess preprocess_from_args(const Args& a) {
  Preprocess p;
  if (a.has("size")) {
    auto s = a.get_floats("size");
    OCTET_CHECK(s.size() == 1 || s.size() == 2, "--size expects H or H,W");
    p.height = static_cast<int>(s[0]);
    p.width = static_cast<int>(s.size() == 2 ? s[1] : s[0]);
  }
  p.resize = static_cast<int>(a.get_int("resize", 0));
  p.mean = a.get_floats("mean");
  p.std = a.get_floats("std");
  p.scale = static_cast<float>(a.get_double("scale", 1.0 / 255.0));
  p.bgr = a.on("bgr");
  if (a.on("gray")) p.channels = 1;
  p.interp = interp_from_name(a.get("interp"));
  return p;
}

void add_data_options(Args& a) {
  a.opt("data", "PATH", "image folder (class sub-folders for eval), IDX file/prefix, or .npy of NCHW samples");
  a.opt("limit", "N", "use only the first N samples (after --shuffle)");
  a.flag("shuffle", "shuffle the samples (with --seed)");
  a.opt("seed", "N", "shuffle seed", "0");
  a.flag("skip-bad-images", "warn about and skip images that cannot be decoded instead of stopping");
}

std::unique_ptr<Dataset> open_data(const Args& a, bool need_labels) {
  DatasetOptions o;
  o.shuffle = a.on("shuffle");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  int64_t limit = a.get_int("limit", 0);
  OCTET_CHECK(limit >= 0, "--limit must be >= 0");
  o.limit = static_cast<size_t>(limit);
  return open_dataset(a.required("data"), need_labels, o);
}

Shape input_chw(const Plan& plan) { return input_chw(plan.graph()); }

Shape input_chw(const Graph& g) {
  OCTET_CHECK(!g.inputs.empty(), "the model has no inputs");
  const Value& v = g.value(g.inputs[0]);
  Shape chw;
  for (size_t i = 1; i < v.declared.size(); ++i) chw.push_back(v.declared[i].value);
  return chw;
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
  CalibTable t = table_from_cache(read_cache_file(cache_path));
  std::map<std::string, float> m;
  for (const auto& e : t.entries) m[e.name] = e.amax;
  return m;
}

bool simulates_asymmetric(const ModelSource& m, const Args& a) {
  if (m.qdq_asymmetric.empty() || a.has("cache")) return false;
  const std::string mode = a.get("asymmetric");
  OCTET_CHECK(mode.empty() || mode == "simulate" || mode == "symmetric", "--asymmetric is simulate or symmetric, got '",
              mode, "'");
  return mode != "symmetric";
}

void add_int8_options(Args& a) {
  a.opt("cache", "FILE", "calibration cache (TensorRT format) for --precision int8");
  a.opt("asymmetric", "MODE", "Q/DQ models with uint8 / zero-point activations (ONNX Runtime's default): "
        "'simulate' (default) runs the model's Q/DQ exactly with FP32 kernels (its accuracy, FP32 speed); "
        "'symmetric' maps those tensors to octet's symmetric int8 kernels (INT8 speed, ~1 bit less precision)");
  a.opt("fp32-layers", "NODE,...", "ONNX node names to keep in FP32 in the INT8 plan (default: those octet tune "
        "recorded in the cache's .json sidecar; 'none' for none)");
}

std::vector<std::string> fp32_layers_from(const Args& a) {
  if (a.has("fp32-layers")) {
    std::vector<std::string> l = a.get_list("fp32-layers");
    if (l.size() == 1 && l[0] == "none") l.clear();
    return l;
  }
  if (!a.has("cache")) return {};
  const std::optional<SidecarMeta> meta = cache_sidecar_meta(a.get("cache"));
  if (!meta) return {};
  if (!meta->fp32_layers.empty()) {
    static bool said = false;  // once per process (eval builds two plans)
    if (!said)
      std::fprintf(stderr, "note: %zu layer(s) kept in FP32 as recorded by octet tune in '%s.json' (--fp32-layers overrides)\n",
                   meta->fp32_layers.size(), a.get("cache").c_str());
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
    std::fprintf(stderr, "warning: ignoring '%s': %s\n", sidecar.c_str(), e.what());
    return std::nullopt;
  }
  return meta;
}


}  // namespace octet::cli
