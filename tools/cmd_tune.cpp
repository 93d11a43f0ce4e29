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
#include "octet/detect.h"
#include "octet/log.h"

namespace octet::cli {

namespace {

std::string db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

nlohmann::json metrics_json(const TuneMetrics& m) {
  nlohmann::json j = {{"agreement", m.agreement}, {"sqnr_db", std::isfinite(m.sqnr_db) ? nlohmann::json(m.sqnr_db) : nlohmann::json(db(m.sqnr_db))}};
  if (m.top1 >= 0)
    j.update({{"top1", m.top1}, {"fp32_top1", m.fp32_top1}, {"top1_drop", m.fp32_top1 - m.top1},
              {"top1_lost", m.paired.lost}, {"top1_gained", m.paired.gained},
              {"top1_drop_ci95", m.paired.ci95_points()}});
  if (m.task_score >= 0) j["task_score"] = m.task_score;
  return j;
}

// The FP32 nodes in the forms other tools take them. ModelOpt matches nodes_to_exclude as regular expressions
// (re.match), so each name is escaped and anchored to match that node alone.
nlohmann::json exclusion_lists(const std::vector<std::string>& nodes) {
  std::string trt, sep;
  std::vector<std::string> patterns;
  for (const auto& n : nodes) {
    trt += sep + n + ":fp32";
    sep = ",";
    std::string p;
    for (char c : n) {
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) p += '\\';
      p += c;
    }
    patterns.push_back(p + "$");
  }
  return {{"nodes", nodes},
          {"onnxruntime", {{"nodes_to_exclude", nodes},
                           {"usage", "onnxruntime.quantization.quantize_static(..., nodes_to_exclude=nodes_to_exclude)"}}},
          {"trtexec", {{"args", nodes.empty() ? std::string() : "--precisionConstraints=obey --layerPrecisions=" + trt},
                       {"usage", "trtexec --onnx=model.qdq.onnx --int8 --fp16 <args>"}}},
          {"modelopt", {{"nodes_to_exclude", patterns},
                        {"usage", "modelopt.onnx.quantization.quantize(..., nodes_to_exclude=nodes_to_exclude)"}}}};
}

}  // namespace

int cmd_tune(int argc, char** argv) {
  Args a("tune", "MODEL.onnx --cache C --data PATH [preprocessing] -o TUNED.cache [options]",
         "Repair INT8 accuracy after calibration, without labels: on a few calibration samples, compare the INT8\n"
         "plan's outputs with FP32 (SQNR) and (1) for every quantized tensor pick, among the thresholds calibration\n"
         "recorded in C.json (entropy2, mse, percentile99.99, percentile99.999, minmax), the one that gives the\n"
         "best outputs; (2) move the few layers that help most to FP32. Writes TUNED (a TensorRT cache with the\n"
         "chosen scales, same header) and TUNED.json (sidecar with \"fp32_layers\", which octet build, eval, bench\n"
         "and quantize then use). C must come from octet calibrate (its sidecar holds the candidates).\n"
         "To a budget (--budget, --min-agreement, --min-sqnr): the fewest layers in FP32, any layers, that meet every\n"
         "target on the samples: of the layers that raise the output SQNR alone in FP32, ranked, the shortest prefix\n"
         "that meets it, then each chosen layer tried back in INT8 (--min-int8-macs: a floor on the INT8 MACs).\n"
         "Prints the INT8 share of MACs; --exclusions writes the layers for ONNX Runtime (nodes_to_exclude),\n"
         "trtexec (--layerPrecisions) and ModelOpt (nodes_to_exclude).\n"
         "Detectors and segmenters, to a task budget (no labels; the metrics of octet eval --task):\n"
         "  --task detect --decode yolox|yolov5|yolov8 --min-f1 F   box F1 of the INT8 boxes vs the FP32 boxes >= F\n"
         "  --task segment --min-iou F                               mask IoU of the INT8 vs FP32 maps >= F");
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
  a.opt("budget", "POINTS", "mixed precision to a budget: the fewest layers in FP32 (any layers) such that top-1 on "
        "--data (labelled: class sub-folders or IDX labels) drops by at most POINTS vs FP32 (0.1 = a tenth of a percent)");
  a.opt("min-agreement", "PCT", "budget without labels: INT8 top-1 equals FP32's on at least PCT % of the samples");
  a.opt("min-sqnr", "DB", "budget without labels: output SQNR vs FP32 at least DB");
  a.opt("task", "TASK", "budget on a task metric of the first output: detect or segment (with --min-f1 / --min-iou)");
  a.opt("decode", "HEAD", "--task detect: the head's layout, yolox, yolov5 [N, A, 5+C] or yolov8 [N, 4+C, A]");
  a.opt("min-f1", "F", "--task detect: box F1 of INT8 vs FP32 (at --match-iou) at least F (0..1) on the samples");
  a.opt("min-iou", "F", "--task segment: mask IoU of INT8 vs FP32 (maps > --mask-threshold) at least F (0..1)");
  a.opt("score-threshold", "S", "--task detect: boxes with score > S count (score = objectness x class probability)", "0.3");
  a.opt("iou", "T", "--task detect: NMS drops a box whose IoU with a higher-scored box of its class is > T", "0.45");
  a.flag("class-agnostic", "--task detect: NMS across classes");
  a.opt("match-iou", "T", "--task detect: an INT8 box matches an FP32 box at IoU >= T", "0.5");
  a.opt("strides", "S,S,...", "--decode yolox: the strides of the anchor grids, in output order", "8,16,32");
  a.opt("mask-threshold", "T", "--task segment: a pixel is in the mask when the map is > T (DBNet: 0.3)", "0.3");
  a.opt("min-int8-macs", "PCT", "budget: keep at least PCT % of the MACs in INT8 (the FP32 layers chosen never take "
        "more; if the budget cannot be met above it, the answer is the set tried that came closest, budget NOT met)", "0");
  a.opt("rank-samples", "N", "budget: rank the layers on N of the samples (spread evenly; the budget is still checked "
        "on all): cheaper for large models, 0: all", "0");
  a.opt("exclusions", "FILE", "write the FP32 layers as other tools take them (JSON): ONNX Runtime quantize_static "
        "nodes_to_exclude, trtexec --layerPrecisions, ModelOpt nodes_to_exclude");
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
  if (a.has("exclusions")) check_output(a.get("exclusions"), a.on("force"), "--exclusions");
  TuneBudget budget;
  if (a.has("budget")) {
    budget.max_top1_drop = a.get_double("budget", -1);
    OCTET_CHECK(budget.max_top1_drop >= 0 && budget.max_top1_drop <= 100, "--budget is a top-1 drop in points "
                "(0 to 100), got '", a.get("budget"), "'");
  }
  if (a.has("min-agreement")) {
    const double pct = a.get_double("min-agreement", -1);
    OCTET_CHECK(pct >= 0 && pct <= 100, "--min-agreement is a percentage (0 to 100), got '", a.get("min-agreement"), "'");
    budget.min_agreement = pct / 100.0;
  }
  if (a.has("min-sqnr")) budget.min_sqnr_db = a.get_double("min-sqnr", 0);
  // The task objective: --task with its threshold; the decode options of octet eval --task.
  std::shared_ptr<TuneTask> task;
  std::pair<std::string, DecodeOptions> task_args;  // the task and its decode, made once the model is read
  const std::string task_name = a.get("task");
  OCTET_CHECK(!a.has("min-f1") || task_name == "detect", "--min-f1 is box F1: give it with --task detect --decode HEAD");
  OCTET_CHECK(!a.has("min-iou") || task_name == "segment", "--min-iou is mask IoU: give it with --task segment");
  OCTET_CHECK(!a.has("decode") || task_name == "detect" || (task_name == "segment" && a.get("decode") == "dbnet"),
              "--decode '", a.get("decode"), "' goes with --task detect (yolox, yolov5, yolov8)");
  if (!task_name.empty()) {
    OCTET_CHECK(task_name == "detect" || task_name == "segment", "--task: 'detect' or 'segment', got '", task_name, "'");
    const bool detect = task_name == "detect";
    const char* limit = detect ? "min-f1" : "min-iou";
    OCTET_CHECK(a.has(limit), "octet tune --task ", task_name, ": give the ", detect ? "box F1" : "mask IoU",
                " INT8 must keep with --", limit, " (e.g. 0.98)");
    budget.min_task_score = a.get_double(limit, -1);
    OCTET_CHECK(budget.min_task_score >= 0 && budget.min_task_score <= 1, "--", limit, " is a fraction (0 to 1), got '",
                a.get(limit), "'");
    DecodeOptions dec;
    if (detect) {
      OCTET_CHECK(a.has("decode"), "octet tune --task detect: give the head's layout with --decode yolox|yolov5|yolov8");
      OCTET_CHECK(a.get("decode") != "dbnet", "--decode dbnet is a segmentation head: use --task segment --min-iou");
      dec.head = detect_head_from_name(a.get("decode"));
      dec.score_threshold = a.get_double("score-threshold", 0.3);
      dec.nms_iou = a.get_double("iou", 0.45);
      OCTET_CHECK(dec.nms_iou > 0 && dec.nms_iou <= 1, "--iou must be in (0, 1], got ", dec.nms_iou);
      dec.class_agnostic = a.on("class-agnostic");
      dec.strides.clear();
      for (const std::string& st : a.get_list("strides")) {
        int v = 0;
        try {
          v = std::stoi(st);
        } catch (const std::exception&) {
        }
        OCTET_CHECK(v > 0, "--strides: '", st, "' is not a positive integer");
        dec.strides.push_back(v);
      }
    }
    task_args = {task_name, dec};
  }
  {
    std::error_code ec;
    OCTET_CHECK(!std::filesystem::equivalent(cache_path, out, ec), "octet tune: -o would overwrite the input cache '",
                cache_path, "'; write the tuned cache to a new file");
  }
  int64_t samples = a.get_int("samples", 128), batch = a.get_int("batch", 8);
  OCTET_CHECK(samples > 0 && batch > 0, "--samples and --batch must be positive");
  apply_threads(a);

  ModelSource m = load_image_model(model_path, a, "tune");
  if (!task_args.first.empty())
    task = api::make_tune_task(task_args.first, task_args.second, a.get_double("match-iou", 0.5),
                               static_cast<float>(a.get_double("mask-threshold", 0.3)),
                               m.graph.value(m.graph.outputs.at(0)).name);

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
  const bool need_labels = budget.max_top1_drop >= 0;
  auto data = spread(open_data(a, need_labels), static_cast<size_t>(samples));
  std::vector<int> labels;
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(m.graph), a.on("skip-bad-images"));
  std::vector<std::vector<Tensor>> batches;
  int64_t n_samples = 0;
  while (int64_t n = batcher.next()) {
    if (n < batch && fixed_batch > 0) break;
    batches.push_back({n < batch ? batcher.batch().first(n).clone() : batcher.batch().clone()});
    n_samples += n;
    if (need_labels)
      for (int64_t i = 0; i < n; ++i) labels.push_back(batcher.labels()[static_cast<size_t>(i)]);
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
  opt.budget = budget;
  opt.labels = labels;
  opt.task = task;
  opt.rank_samples = static_cast<int>(a.get_int("rank-samples", 0));
  OCTET_CHECK(opt.rank_samples >= 0, "--rank-samples must be 0 (all) or positive");
  const double min_macs = a.get_double("min-int8-macs", 0);
  OCTET_CHECK(min_macs >= 0 && min_macs <= 100, "--min-int8-macs is a percentage (0 to 100), got '",
              a.get("min-int8-macs"), "'");
  OCTET_CHECK(min_macs == 0 || budget.any(), "--min-int8-macs bounds a budget's FP32 layers: give --budget, "
              "--min-agreement, --min-sqnr or --task with it");
  opt.min_int8_mac_share = min_macs / 100.0;
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

  const double int8_mac_pct = r.macs_total > 0 ? 100.0 * r.macs_int8 / r.macs_total : -1;
  if (min_macs > 0 && !(r.macs_total > 0))
    log_message(LogLevel::warning, "--min-int8-macs was not applied: the MACs of '" + model_path +
                                       "' are not known (its shapes could not be propagated from the first batch)");
  if (budget.any()) {
    const TuneMetrics& m0 = r.metrics_start;
    const TuneMetrics& m1 = r.metrics_final;
    auto line = [&](const char* what, const TuneMetrics& m) {
      std::printf("  %-22s agreement with FP32 %.2f%%, output SQNR %s dB", what, 100.0 * m.agreement, db(m.sqnr_db).c_str());
      if (m.top1 >= 0)
        std::printf(", top-1 %.2f%% (FP32 %.2f%%, drop %.2f +- %.2f points at 95%%: %lld sample(s) right in FP32 and "
                    "wrong in INT8, %lld the other way)", m.top1, m.fp32_top1, m.fp32_top1 - m.top1,
                    m.paired.ci95_points(), static_cast<long long>(m.paired.lost),
                    static_cast<long long>(m.paired.gained));
      if (task) std::printf(", %s vs FP32 %.4f", task->name().c_str(), m.task_score);
      std::printf("\n");
    };
    std::printf("budget %s on %lld samples with %zu layer(s) in FP32:\n", r.budget_met ? "met" : "NOT met",
                static_cast<long long>(n_samples), r.fp32_layers.size());
    line("all INT8 (calibrated):", m0);
    line("with the FP32 layers:", m1);
    if (!r.budget_met && opt.min_int8_mac_share > 0)
      log_message(LogLevel::warning, "the budget is not met with at least " + db(min_macs) +
                                         "% of the MACs in INT8 (--min-int8-macs): the FP32 layers are the set "
                                         "tried that came closest; lower the floor, or calibrate on more "
                                         "representative data");
    // A top-1 budget narrower than what the samples can resolve is met by luck as often as by the FP32 layers
    // (effnet_se: 0.1 met on 1,000 images, -0.15 to -0.22 on 10,000; docs/benchmarks.md, session 10).
    if (budget.max_top1_drop >= 0 && m1.paired.ci95_points() > budget.max_top1_drop) {
      char msg[512];
      std::snprintf(msg, sizeof msg,
                    "the top-1 drop on these %lld samples is known only to +-%.2f points (95%%, from the %lld "
                    "predictions INT8 changes), wider than the budget %.2f: other images can drop more. Check the "
                    "tuned cache on held-out labelled images (octet eval --precision fp32,int8), or tune on more.",
                    static_cast<long long>(m1.paired.samples), m1.paired.ci95_points(),
                    static_cast<long long>(m1.paired.lost + m1.paired.gained), budget.max_top1_drop);
      log_message(LogLevel::note, msg);
    }
  }
  if (int8_mac_pct >= 0)
    std::printf("INT8 share: %.1f%% of MACs (%.2f of %.2f MMAC per sample), %d of %d layers\n", int8_mac_pct,
                r.macs_int8 / 1e6, r.macs_total / 1e6, r.int8_layers - static_cast<int>(r.fp32_layers.size()), r.int8_layers);
  const std::vector<std::string> fp32_nodes = api::fp32_onnx_nodes(m.graph, r.table, r.fp32_layers, opt.backend);
  nlohmann::json exclusions = exclusion_lists(fp32_nodes);
  if (!fp32_nodes.empty())
    std::printf("exclusions: trtexec %s\n", exclusions["trtexec"]["args"].get<std::string>().c_str());

  api::write_tuned(out, in, r.table, r.fp32_layers, opt.search_scales, model_path);
  std::printf("wrote %s and %s.json (fp32_layers: %zu)\n", out.c_str(), out.c_str(), r.fp32_layers.size());
  if (a.has("exclusions") || a.has("json")) {
    // ONNX Runtime's quantize_static arguments that round what the tuned INT8 plan rounds (not only the
    // FP32 layers): the plan of the cache just written.
    nlohmann::json qs = api::ort_quantize_static_args(model_path, read_cache_file(out), r.fp32_layers);
    if (!qs["not_reproduced"].empty() || !qs["rounded_for_every_reader"].empty())
      log_message(LogLevel::note, "ONNX Runtime quantize_static arguments: " + std::to_string(qs["not_reproduced"].size()) +
                                      " tensor(s) octet rounds that ORT cannot round, " +
                                      std::to_string(qs["rounded_for_every_reader"].size()) +
                                      " rounded for more readers than octet does (listed in the exclusions file)");
    exclusions["onnxruntime"]["quantize_static"] = std::move(qs);
  }

  if (a.has("json")) {
    nlohmann::json steps = nlohmann::json::array(), sens = nlohmann::json::array();
    for (const auto& s : r.steps)
      steps.push_back({{"kind", s.kind}, {"target", s.target}, {"choice", s.choice}, {"amax_before", s.amax_before},
                       {"amax_after", s.amax_after}, {"sqnr_db", s.sqnr_db}});
    for (const auto& [layer, v] : r.layer_sensitivity) sens.push_back({{"layer", layer}, {"sqnr_db_alone_fp32", v}});
    write_json(a.get("json"), {{"samples", n_samples}, {"sqnr_start_db", r.sqnr_start_db},
                               {"sqnr_scales_db", r.sqnr_scales_db}, {"sqnr_final_db", r.sqnr_final_db},
                               {"fp32_layers", r.fp32_layers}, {"int8_layers", r.int8_layers}, {"trials", r.trials},
                               {"steps", steps}, {"layer_sensitivity", sens}, {"budget_met", r.budget_met},
                               {"min_int8_mac_share", opt.min_int8_mac_share},
                               {"metrics_start", metrics_json(r.metrics_start)}, {"metrics_final", metrics_json(r.metrics_final)},
                               {"macs_total", r.macs_total}, {"macs_int8", r.macs_int8},
                               {"int8_mac_share", int8_mac_pct >= 0 ? nlohmann::json(int8_mac_pct / 100.0) : nlohmann::json()},
                               {"fp32_nodes", fp32_nodes}, {"exclusions", exclusions}});
  }
  if (a.has("exclusions")) {
    write_file_atomic(a.get("exclusions"), exclusions.dump(2) + "\n");
    std::printf("wrote %s (ONNX Runtime, trtexec and ModelOpt exclusion lists: %zu node(s))\n", a.get("exclusions").c_str(),
                fp32_nodes.size());
  }
  return 0;
}

}  // namespace octet::cli
