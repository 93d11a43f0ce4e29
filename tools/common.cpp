#include "common.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/cpus.h"
#include "core/file_io.h"
#include "core/warnings.h"
#include "ir/input_shapes.h"

namespace octet::cli {

void add_runtime_options(Args& a) {
  a.opt("backend", "NAME",
        "execution backend: cpu (oneDNN + own kernels), ref (plain loops) or cuda (NVIDIA Hopper GPU; docs/gpu.md)",
        "cpu");
  a.opt("threads", "T", "threads (0 = all cores)", "0");
}

void apply_threads(const Args& a) {
  int64_t t = a.get_int("threads", 0);
  OCTET_CHECK(t >= 0 && t <= (1 << 20), "--threads must be between 0 and the number of CPUs, got ", t);
  const int64_t cpus = usable_cpus();
  if (t > cpus) {
    std::fprintf(stderr, "note: --threads %lld is more than the %lld CPUs this process may use; using %lld\n",
                 static_cast<long long>(t), static_cast<long long>(cpus), static_cast<long long>(cpus));
    t = cpus;
  }
  if (t > 0) omp_set_num_threads(static_cast<int>(t));
}

EngineOptions engine_options(const ModelSource& m, const Args& a, std::optional<std::string> precision) {
  EngineOptions o;
  if (precision) {
    if (m.plan) {
      const char* have = m.plan->options.int8_amax.empty() ? "fp32" : "int8";
      OCTET_CHECK(*precision == have, "'", m.path, "' is an ", have, " plan but --precision is ", *precision,
                  "; pass --precision ", have, ", or the ONNX model to run it in ", *precision);
    }
    OCTET_CHECK(*precision == "fp32" || *precision == "int8", "--precision is fp32 or int8, got '", *precision, "'");
    o.precision = *precision == "int8" ? Precision::int8 : Precision::fp32;
  }
  // Args::on: given on the command line (not just defaulted); a plan file keeps its own backend.
  o.backend = m.plan && !a.on("backend") ? "" : a.get("backend");
  if (a.has("cache")) o.cache_path = a.get("cache");
  o.fp32_layers = fp32_layers_arg(a);
  if (o.precision == Precision::int8 && !m.qdq_asymmetric.empty() && !a.has("cache")) {
    const std::string mode = a.get("asymmetric");
    OCTET_CHECK(mode.empty() || mode == "simulate" || mode == "symmetric", "--asymmetric is simulate or symmetric, got '",
                mode, "'");
    o.asymmetric = mode == "symmetric" ? AsymmetricPolicy::symmetric : AsymmetricPolicy::simulate;
  }
  return o;
}

std::unique_ptr<Plan> make_plan(ModelSource m, const Args& a, const std::string& precision) {
  if (m.plan)
    OCTET_CHECK(a.get_list("precision").size() <= 1, "'", m.path, "' is a plan with one precision (",
                m.plan->options.int8_amax.empty() ? "fp32" : "int8",
                "); to compare precisions, pass the ONNX model with --cache instead");
  EngineOptions o = engine_options(m, a, precision);
  return api::make_plan(std::move(m), o);
}

void add_shapes_option(Args& a) {
  a.opt("shapes", "NAME:DIMS", "fix the model's dynamic input dimensions, e.g. x:1x3x480x640 (several: comma "
        "separated); the batch dimension stays as the model declares it");
}

ModelSource load_image_model(const std::string& path, const Args& a, const char* command) {
  ModelSource m = load_model(path);
  apply_shapes(m, a);
  OCTET_CHECK(!m.plan, "'", path, "' is a plan; octet ", command, " takes the ONNX model");
  OCTET_CHECK(m.graph.inputs.size() == 1, "octet ", command, ": '", path, "' has ", m.graph.inputs.size(),
              " inputs; octet ", command, " reads image data for single-input models");
  return m;
}

void apply_shapes(ModelSource& m, const Args& a) {
  if (!a.has("shapes")) return;
  OCTET_CHECK(!m.plan, "--shapes applies to ONNX models; '", m.path, "' is a plan, whose shapes were fixed when it "
              "was built");
  set_input_shapes(m.graph, a.get("shapes"));
  if (!m.qdq_graph.inputs.empty()) set_input_shapes(m.qdq_graph, a.get("shapes"));
}

std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, const std::string& precision) {
  apply_threads(a);
  ModelSource m = load_model(model);
  apply_shapes(m, a);
  if (m.plan && !a.on("precision")) {
    OCTET_CHECK(a.get_list("precision").size() <= 1, "'", m.path, "' is a plan with one precision (",
                m.plan->options.int8_amax.empty() ? "fp32" : "int8",
                "); to compare precisions, pass the ONNX model with --cache instead");
    EngineOptions o = engine_options(m, a, std::nullopt);
    return api::make_plan(std::move(m), o);
  }
  return make_plan(std::move(m), a, precision);
}

std::vector<Tensor> run_in_chunks(Plan& plan, const std::vector<Tensor>& inputs, int64_t chunk) {
  const Graph& g = plan.graph();
  OCTET_CHECK(!inputs.empty() && inputs[0].rank() >= 1, "no input to run");
  const int64_t n = inputs[0].dim(0);
  for (const Tensor& t : inputs)
    OCTET_CHECK(t.rank() >= 1 && t.dim(0) == n, "the inputs hold different numbers of samples (", n, " and ",
                t.rank() >= 1 ? t.dim(0) : 0, ")");
  const int64_t fixed = declared_batch(g);
  if (fixed > 0) chunk = fixed;  // a model of fixed batch runs that many at a time
  if (chunk <= 0 || chunk >= n) {
    if (fixed <= 0 || n == fixed) {
      std::vector<Tensor> outs;
      for (const Tensor& t : plan.run(inputs)) outs.push_back(t.clone());
      return outs;
    }
  }
  std::vector<std::vector<Tensor>> parts;
  for (int64_t c = 0; c < n; c += chunk) {
    const int64_t k = std::min(chunk, n - c);
    std::vector<Tensor> in;
    for (const Tensor& t : inputs) {
      Shape s = t.shape();
      const size_t row = static_cast<size_t>(t.nbytes() / static_cast<size_t>(n));
      s[0] = chunk;
      Tensor x(t.dtype(), s);  // the last chunk of a fixed-batch model is padded with zeros
      std::memset(x.raw(), 0, x.nbytes());
      std::memcpy(x.raw(), static_cast<const char*>(t.raw()) + static_cast<size_t>(c) * row, static_cast<size_t>(k) * row);
      if (fixed <= 0 && k < chunk) x = x.first(k);
      in.push_back(x);
    }
    std::vector<Tensor> outs = plan.run(in);
    std::vector<Tensor> kept;
    for (size_t o = 0; o < outs.size(); ++o) {
      OCTET_CHECK(outs[o].rank() >= 1 && outs[o].dim(0) == in[0].dim(0), "output '", g.value(g.outputs[o]).name,
                  "' is ", shape_str(outs[o].shape()), ": no batch dimension to run ", n, " samples ", chunk,
                  " at a time by");
      kept.push_back(outs[o].first(k).clone());
    }
    parts.push_back(std::move(kept));
  }
  std::vector<Tensor> outs;
  for (size_t o = 0; o < parts[0].size(); ++o) {
    Shape s = parts[0][o].shape();
    s[0] = n;
    Tensor y(parts[0][o].dtype(), s);
    size_t at = 0;
    for (const auto& p : parts) {
      OCTET_CHECK(p[o].rank() == y.rank(), "output '", g.value(g.outputs[o]).name, "' changes rank between chunks");
      for (int64_t d = 1; d < y.rank(); ++d)
        OCTET_CHECK(p[o].dim(d) == y.dim(d), "output '", g.value(g.outputs[o]).name, "' changes shape between chunks");
      std::memcpy(static_cast<char*>(y.raw()) + at, p[o].raw(), p[o].nbytes());
      at += p[o].nbytes();
    }
    outs.push_back(std::move(y));
  }
  return outs;
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

void write_json(const std::string& path, const nlohmann::json& j_in) {
  // Every warning so far (the terminal shows a few of each kind: core/warnings.h) goes into the report too.
  nlohmann::json j = j_in;
  if (WarningCollector* c = WarningCollector::active(); c && j.is_object() && !j.contains("warnings")) {
    j["warnings"] = nlohmann::json::array();
    for (const auto& w : c->all()) j["warnings"].push_back({{"kind", w.kind}, {"message", w.text}});
    if (path != "-") c->add_full_list("'" + path + "' (\"warnings\")");
  }
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
  a.opt("letterbox", "H[,W]", "keep the aspect ratio: scale to fit HxW, pad the rest with --pad-value (YOLO)");
  a.opt("pad-value", "V", "--letterbox padding, a pixel value before --scale/--mean/--std", "114");
  a.opt("pad-placement", "WHERE", "--letterbox: center (Ultralytics) or topleft (YOLOX: padding at bottom/right)",
        "center");
  a.opt("limit-side", "N", "models of dynamic HxW: resize so the longer side is at most N (PP-OCR's limit_side_len); "
        "without --size each image keeps its own size");
  a.opt("multiple", "M", "models of dynamic HxW: round each side to a multiple of M (PP-OCR: 32)");
  add_shapes_option(a);
}

Preprocess preprocess_from_args(const Args& a) {
  Preprocess p;
  if (a.has("size")) {
    auto s = a.get_floats("size");
    OCTET_CHECK(s.size() == 1 || s.size() == 2, "--size expects H or H,W");
    for (float x : s)  // 0 or 0.5 would silently mean "the model's size"
      OCTET_CHECK(x >= 1.f && x <= 65536.f && x == std::floor(x), "--size must be positive integers H[,W], got '",
                  a.get("size"), "'");
    p.height = static_cast<int>(s[0]);
    p.width = static_cast<int>(s.size() == 2 ? s[1] : s[0]);
  }
  p.resize = static_cast<int>(a.get_int("resize", 0));
  OCTET_CHECK(!a.has("resize") || (p.resize >= 1 && a.get_int("resize", 0) <= 65536),
              "--resize must be a positive integer, got '", a.get("resize"), "'");
  p.mean = a.get_floats("mean");
  p.std = a.get_floats("std");
  p.scale = static_cast<float>(a.get_double("scale", 1.0 / 255.0));
  p.bgr = a.on("bgr");
  if (a.on("gray")) p.channels = 1;
  p.interp = interp_from_name(a.get("interp"));
  if (a.has("letterbox")) {
    OCTET_CHECK(!a.has("size") && !a.has("resize"), "--letterbox H[,W] gives the output size; leave out --size and "
                "--resize");
    auto s = a.get_floats("letterbox");
    OCTET_CHECK(s.size() == 1 || s.size() == 2, "--letterbox expects H or H,W");
    for (float x : s)
      OCTET_CHECK(x >= 1.f && x <= 65536.f && x == std::floor(x), "--letterbox must be positive integers H[,W], got '",
                  a.get("letterbox"), "'");
    p.letterbox = true;
    p.height = static_cast<int>(s[0]);
    p.width = static_cast<int>(s.size() == 2 ? s[1] : s[0]);
  }
  OCTET_CHECK(!a.on("pad-value") || a.has("letterbox"), "--pad-value applies to --letterbox");
  OCTET_CHECK(!a.on("pad-placement") || a.has("letterbox"), "--pad-placement applies to --letterbox");
  p.pad_value = static_cast<float>(a.get_double("pad-value", 114.0));
  p.pad_placement = pad_placement_from_name(a.get("pad-placement"));
  const int64_t limit = a.get_int("limit-side", 0), multiple = a.get_int("multiple", 0);
  OCTET_CHECK(!a.has("limit-side") || (limit >= 1 && limit <= 65536), "--limit-side must be a positive integer, got '",
              a.get("limit-side"), "'");
  OCTET_CHECK(!a.has("multiple") || (multiple >= 1 && multiple <= 65536), "--multiple must be a positive integer, got '",
              a.get("multiple"), "'");
  p.limit_side = static_cast<int>(limit);
  p.multiple = static_cast<int>(multiple);
  return p;
}

void add_data_options(Args& a) {
  a.opt("data", "PATH", "image folder (class sub-folders for eval), IDX file/prefix, or .npy of NCHW samples");
  a.opt("limit", "N", "use only the first N samples (after --shuffle and --skip)");
  a.opt("skip", "N", "leave out the first N samples (after --shuffle): with the same --shuffle --seed, --limit N and --skip N split a set in two (tune on one part, evaluate on the other)");
  a.flag("shuffle", "shuffle the samples (with --seed)");
  a.opt("seed", "N", "shuffle seed", "0");
  a.flag("skip-bad-images", "warn about and skip images that cannot be decoded instead of stopping");
}

std::unique_ptr<Dataset> open_data(const Args& a, bool need_labels) {
  DatasetOptions o;
  o.shuffle = a.on("shuffle");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  int64_t limit = a.get_int("limit", 0);
  OCTET_CHECK(!a.has("limit") || limit >= 1, "--limit must be >= 1, got ", limit, " (leave it out to use every sample)");
  o.limit = static_cast<size_t>(limit);
  const int64_t skip = a.get_int("skip", 0);
  OCTET_CHECK(skip >= 0, "--skip must be >= 0, got ", skip);
  o.skip = static_cast<size_t>(skip);
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

bool simulates_asymmetric(const ModelSource& m, const Args& a) {
  if (m.qdq_asymmetric.empty() || a.has("cache")) return false;
  return api::simulates_asymmetric(m, engine_options(m, a, "int8"));
}

void add_int8_options(Args& a) {
  a.opt("cache", "FILE", "calibration cache (TensorRT format) for --precision int8");
  a.opt("asymmetric", "MODE", "Q/DQ models with uint8 / zero-point activations (ONNX Runtime's default): "
        "'simulate' (default) runs the model's Q/DQ exactly with FP32 kernels (its accuracy, FP32 speed); "
        "'symmetric' maps those tensors to octet's symmetric int8 kernels (INT8 speed, ~1 bit less precision)");
  a.opt("fp32-layers", "NODE,...", "ONNX node names to keep in FP32 in the INT8 plan (default: those octet tune "
        "recorded in the cache's .json sidecar; 'none' for none)");
}

std::optional<std::vector<std::string>> fp32_layers_arg(const Args& a) {
  if (!a.has("fp32-layers")) return std::nullopt;
  std::vector<std::string> l = a.get_list("fp32-layers");
  if (l.size() == 1 && l[0] == "none") l.clear();
  return l;
}

}  // namespace octet::cli
