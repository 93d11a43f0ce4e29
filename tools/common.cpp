#include "common.h"

#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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
  m.graph = import_onnx_file(path).graph;
  if (has_qdq(m.graph)) {
    QdqImportResult q = import_qdq(m.graph);
    for (const auto& w : q.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    m.graph = std::move(q.graph);
    m.qdq_amax = std::move(q.amax);
  }
  return m;
}

std::unique_ptr<Plan> make_plan(const ModelSource& m, const Args& a, const std::string& precision) {
  PlanOptions o;
  o.backend = a.get("backend");
  if (precision == "int8") {
    if (a.has("cache")) o.int8_amax = load_amax(a.get("cache"));
    else o.int8_amax = m.qdq_amax;
    OCTET_CHECK(!o.int8_amax.empty(), "--precision int8 needs --cache FILE (make one with octet calibrate) or a Q/DQ model");
    o.fp32_layers = a.get_list("fp32-layers");
  } else {
    OCTET_CHECK(precision == "fp32", "--precision is fp32 or int8, got '", precision, "'");
  }
  return Plan::build(m.graph, o);
}

std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, const std::string& precision) {
  apply_threads(a);
  return make_plan(load_model(model), a, precision);
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::string text = j.dump(2) + "\n";
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return;
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    OCTET_CHECK(f.good(), "cannot write '", tmp, "'");
    f << text;
    OCTET_CHECK(f.good(), "cannot write '", tmp, "'");
  }
  std::filesystem::rename(tmp, path);
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

Shape input_chw(const Plan& plan) {
  const Graph& g = plan.graph();
  OCTET_CHECK(!g.inputs.empty(), "the model has no inputs");
  const Value& v = g.value(g.inputs[0]);
  Shape chw;
  for (size_t i = 1; i < v.declared.size(); ++i) chw.push_back(v.declared[i].value);
  return chw;
}

std::string file_fingerprint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  OCTET_CHECK(f.good(), "cannot read '", path, "'");
  uint64_t h = 1469598103934665603ull;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    for (std::streamsize i = 0; i < f.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ull;
    }
  }
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

void add_int8_options(Args& a) {
  a.opt("cache", "FILE", "calibration cache (TensorRT format) for --precision int8");
  a.opt("fp32-layers", "NODE,...", "ONNX node names to keep in FP32 in the INT8 plan");
}


}  // namespace octet::cli
