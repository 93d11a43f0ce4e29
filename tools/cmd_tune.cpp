// octet tune MODEL --cache C --data PATH <preprocessing> -o TUNED: repair INT8 accuracy without labels —
// per-tensor threshold search and automatic mixed precision (src/calib/tune.h).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "calib/sidecar.h"
#include "calib/tune.h"
#include "commands.h"
#include "common.h"
#include "core/progress.h"
#include "io/dataset.h"
#include "octet/log.h"

namespace octet::cli {

namespace {

std::string db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

}  // namespace

int cmd_tune(int argc, char** argv) {
  Args a("tune", "MODEL.onnx --cache C --data PATH [preprocessing] -o TUNED.cache [options]",
         "Repair INT8 accuracy after calibration, without labels: on a few calibration samples, compare the INT8\n"
         "plan's outputs with FP32 (SQNR) and (1) for every quantized tensor pick, among the thresholds calibration\n"
         "recorded in C.json (entropy2, mse, percentile99.99, percentile99.999, minmax), the one that gives the\n"
         "best outputs; (2) move the few layers that help most to FP32. Writes TUNED (a TensorRT cache with the\n"
         "chosen scales, same header) and TUNED.json (sidecar with \"fp32_layers\", which octet build, eval, bench\n"
         "and quantize then use). C must come from octet calibrate (its sidecar holds the candidates).");
  a.opt("cache", "C", "calibration cache from octet calibrate (with its C.json sidecar)");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("output", "TUNED", "tuned cache to write (and TUNED.json)");
  a.opt("samples", "N", "samples used, spread evenly over --data", "128");
  a.opt("batch", "N", "batch size of the trial runs (larger: more memory; a model with a fixed batch runs that)", "8");
  a.opt("max-fp32", "N", "at most N layers moved to FP32 (-1: 10% of the INT8 layers; 0: no mixed precision)", "-1");
  a.opt("min-gain", "DB", "a layer goes to FP32 only if it raises the output SQNR by at least this", "0.1");
  a.opt("sweeps", "N", "at most N sweeps of the threshold search over all tensors (stops when a sweep gains less than --min-gain)", "3");
  a.flag("no-scale-search", "keep the calibrated thresholds (mixed precision only)");
  a.flag("scale-search", "search thresholds even when octet calibrate already refined them (by default a refined "
         "cache goes straight to mixed precision)");
  a.opt("fp32-layers", "NODE,...", "layers kept in FP32 from the start (never moved back)");
  a.opt("json", "FILE", "write the report (SQNR before/after, steps, per-layer sensitivity) to FILE");
  a.flag("force", "overwrite TUNED and the --json file");
  a.flag("quiet", "no progress line");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet tune: give exactly one model file");
  const std::string model_path = a.positional()[0], cache_path = a.required("cache"), out = a.required("output");
  a.required("data");
  check_output(out, a.on("force"), "-o");
  check_output(out + ".json", /*overwrite=*/true, "sidecar");  // the tuned cache's own sidecar goes with it
  check_json_output(a);
  {
    std::error_code ec;
    OCTET_CHECK(!std::filesystem::equivalent(cache_path, out, ec), "octet tune: -o would overwrite the input cache '",
                cache_path, "'; write the tuned cache to a new file");
  }
  int64_t samples = a.get_int("samples", 128), batch = a.get_int("batch", 8);
  OCTET_CHECK(samples > 0 && batch > 0, "--samples and --batch must be positive");
  apply_threads(a);

  ModelSource m = load_model(model_path);
  apply_shapes(m, a);
  OCTET_CHECK(!m.plan, "'", model_path, "' is a plan; octet tune takes the ONNX model");
  OCTET_CHECK(m.graph.inputs.size() == 1, "octet tune: '", model_path, "' has ", m.graph.inputs.size(),
              " inputs; tune reads image data for single-input models");

  api::TuneInput in = api::load_tune_input(cache_path);
  const SidecarMeta& meta = in.meta;
  const std::string& sidecar = in.sidecar;
  const bool have_candidates = in.have_candidates;
  OCTET_CHECK(!(a.on("scale-search") && a.on("no-scale-search")), "give --scale-search or --no-scale-search, not both");
  bool search = !a.on("no-scale-search");
  if (search && !a.on("scale-search") && !meta.refinement.is_null()) {
    search = false;
    log_message(LogLevel::note, "octet calibrate already refined these thresholds; mixed precision only "
                                "(--scale-search searches again)");
  }
  if (search && !have_candidates)
    log_message(LogLevel::note, "'" + sidecar + "' has no threshold candidates (a sidecar from octet calibrate has "
                                "them); doing mixed precision only");

  // A model with a fixed batch in its input shape runs that batch (complete batches only).
  const int64_t fixed_batch = declared_batch(m.graph);
  if (fixed_batch > 0) batch = fixed_batch;

  // Samples, spread over the data set, preprocessed once.
  auto data = spread(open_data(a, false), static_cast<size_t>(samples));
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(m.graph), a.on("skip-bad-images"));
  std::vector<std::vector<Tensor>> batches;
  int64_t n_samples = 0;
  while (int64_t n = batcher.next()) {
    if (n < batch && fixed_batch > 0) break;
    batches.push_back({n < batch ? batcher.batch().first(n).clone() : batcher.batch().clone()});
    n_samples += n;
  }
  OCTET_CHECK(n_samples > 0, "octet tune: no samples could be read from '", a.get("data"), "'");

  TuneOptions opt;
  opt.backend = a.get("backend");
  opt.search_scales = search && have_candidates;
  opt.max_fp32_layers = static_cast<int>(a.get_int("max-fp32", -1));
  opt.min_gain_db = a.get_double("min-gain", 0.1);
  opt.max_sweeps = static_cast<int>(a.get_int("sweeps", 3));
  OCTET_CHECK(opt.max_sweeps >= 1, "--sweeps must be at least 1");
  opt.fp32_layers = a.get_list("fp32-layers");
  Progress progress("tune", 0, a.on("quiet"), "trials");
  opt.progress = [&](int done, int planned, const std::string&) {
    progress.set_total(planned);
    progress.update(done);
  };
  TuneResult r = tune(m.graph, in.table, batches, opt);
  progress.finish();

  int scale_changes = 0;
  for (const auto& s : r.steps) scale_changes += s.kind == "scale";
  std::printf("output SQNR vs FP32 on %lld samples: %s dB calibrated -> %s dB after %d threshold change(s) -> %s dB with "
              "%zu layer(s) in FP32 (%d INT8 layers; %d trial runs)\n",
              static_cast<long long>(n_samples), db(r.sqnr_start_db).c_str(), db(r.sqnr_scales_db).c_str(),
              scale_changes, db(r.sqnr_final_db).c_str(), r.fp32_layers.size(), r.int8_layers, r.trials);
  for (const auto& s : r.steps) {
    if (s.kind == "scale")
      std::printf("  scale %-50s %-17s amax %.6g -> %.6g  (%s dB)\n", s.target.c_str(), s.choice.c_str(),
                  static_cast<double>(s.amax_before), static_cast<double>(s.amax_after), db(s.sqnr_db).c_str());
    else
      std::printf("  fp32  %-50s (%s dB)\n", s.target.c_str(), db(s.sqnr_db).c_str());
  }

  api::write_tuned(out, in, r.table, r.fp32_layers, opt.search_scales, model_path);
  std::printf("wrote %s and %s.json (fp32_layers: %zu)\n", out.c_str(), out.c_str(), r.fp32_layers.size());

  if (a.has("json")) {
    nlohmann::json steps = nlohmann::json::array(), sens = nlohmann::json::array();
    for (const auto& s : r.steps)
      steps.push_back({{"kind", s.kind}, {"target", s.target}, {"choice", s.choice}, {"amax_before", s.amax_before},
                       {"amax_after", s.amax_after}, {"sqnr_db", s.sqnr_db}});
    for (const auto& [layer, v] : r.layer_sensitivity) sens.push_back({{"layer", layer}, {"sqnr_db_alone_fp32", v}});
    write_json(a.get("json"), {{"samples", n_samples}, {"sqnr_start_db", r.sqnr_start_db},
                               {"sqnr_scales_db", r.sqnr_scales_db}, {"sqnr_final_db", r.sqnr_final_db},
                               {"fp32_layers", r.fp32_layers}, {"int8_layers", r.int8_layers}, {"trials", r.trials},
                               {"steps", steps}, {"layer_sensitivity", sens}});
  }
  return 0;
}

}  // namespace octet::cli
