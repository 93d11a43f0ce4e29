// octet calibrate MODEL --data PATH <preprocessing> --algo ALGO --cache OUT: TensorRT-compatible calibration.
#include <cmath>
#include <cstdio>
#include <set>

#include "calib/calibrate.h"
#include "calib/sidecar.h"
#include "commands.h"
#include "core/warnings.h"
#include "common.h"
#include "ir/input_shapes.h"
#include "onnx/import.h"

namespace octet::cli {

namespace {

int parse_trt_version(const std::string& s) {
  if (s.find('.') != std::string::npos) return trt_version_number(s);
  try {
    return std::stoi(s);
  } catch (...) {
    fail("--trt-version expects 10.13.0 or 101300, got '", s, "'");
  }
}

}  // namespace

int cmd_calibrate(int argc, char** argv) {
  Args a("calibrate", "MODEL.onnx --data PATH --cache OUT [preprocessing] [options]",
         "Calibrate an FP32 ONNX model on representative data and write a TensorRT calibration cache\n"
         "(TRT-<version>-<Algo> + 'tensor: hex scale' lines) and a JSON sidecar OUT.json with amax, statistics\n"
         "and health flags per tensor. With an existing cache whose header matches, calibration is skipped.\n"
         "Data: an image folder (flat or class sub-folders), an IDX set, a .npy (N x C x H x W float32),\n"
         "a .npz keyed by input name (models with several inputs), or a raw float32 file of samples.\n"
         "Then, unless --no-refine, the thresholds are refined without labels: on --refine-samples of the data,\n"
         "each tensor takes, among the thresholds calibration computed from its histogram (the algorithm's,\n"
         "entropy2, mse, percentile 99.99 / 99.999, minmax), the one that brings the INT8 plan's outputs closest\n"
         "to FP32. The cache keeps its header; the sidecar's \"refinement\" lists what changed.");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("cache", "OUT", "calibration cache to read (if valid) and write");
  a.opt("algo", "ALGO", "entropy2, entropy, minmax, percentile, mse or legacy", "entropy2");
  a.opt("batch", "N", "calibration batch size (the result does not depend on it in the default two-pass mode)", "32");
  a.opt("percentile", "P", "percentile for --algo percentile", "99.99");
  a.opt("quantile", "Q", "quantile for --algo legacy", "0.9999");
  a.opt("kl-error-limit", "R", "entropy/entropy2: where KL's threshold quantizes a tensor with more than R times the "
        "smallest achievable error (MSE), take the MSE threshold (SiLU networks); 0: TensorRT's thresholds exactly",
        "1.5");
  a.opt("trt-version", "V", "TensorRT version written in the cache header (10.13.0 or 101300)", "10.13.0");
  a.flag("one-pass", "TensorRT's one-pass histograms (range doubles as needed; depends on batch order)");
  a.flag("calibrate-inputs", "apply --algo to the network inputs too (TensorRT's behaviour; default: MinMax for inputs)");
  a.opt("calib-padding", "MODE", "exclude: with --letterbox, observe only the activations whose receptive centre lies "
        "in the image, not in the padding (README \"Letterbox padding\"); include: every value, as before", "exclude");
  a.flag("import-cache", "use the scales of an existing cache even if its header does not match");
  a.flag("no-refine", "write the algorithm's thresholds as computed (for entropy2 with --kl-error-limit 0: TensorRT's "
         "IInt8EntropyCalibrator2 cache) instead of refining them");
  a.opt("refine-samples", "N", "calibration samples (spread over --data) the refinement compares INT8 with FP32 on",
        "128");
  a.opt("refine-sweeps", "N", "at most N refinement sweeps over the tensors", "3");
  a.opt("refine-batch", "N", "batch size of the refinement's trial runs (memory: ResNet-50 at 224x224 needs ~0.6 GiB "
        "at 8, ~2 GiB at 32)", "8");
  a.opt("refine-screen", "N", "each candidate threshold is tried on N of the refinement samples first and on all of "
        "them only when it wins there by 0.03 dB (auto: about 8,192 output values, between 4 and 16 samples: 16 for a "
        "10-class classifier, 8 for 1,000 classes, 4 for a detection map; 0: every candidate on all samples, the slower "
        "search before)", "auto");
  a.opt("refine-prune", "R", "skip candidates whose rounding error on their own tensor is over R x the current "
        "threshold's (0: try every candidate)", "4");
  a.flag("quiet", "print only errors and the result (no progress line, notes or warnings)");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet calibrate: give exactly one model file");
  const std::string model_path = a.positional()[0], cache_path = a.required("cache"), data_path = a.required("data");
  // Before the work (core/file_io.h): the cache is read when it is there (and reused when valid) and replaced
  // otherwise, so only a regular file may be at --cache (and at its sidecar and .old); no --force needed.
  check_output(cache_path, /*overwrite=*/true, "--cache");
  check_output(cache_path + ".json", /*overwrite=*/true, "the cache's sidecar");
  apply_threads(a);
  Algo algo = parse_algo(a.get("algo"));
  int64_t batch = a.get_int("batch", 32);
  OCTET_CHECK(batch > 0 && batch <= 65536, "--batch must be between 1 and 65536");
  const bool refining = !a.on("no-refine");
  const int64_t refine_samples = a.get_int("refine-samples", 128), refine_batch = a.get_int("refine-batch", 8),
                refine_sweeps = a.get_int("refine-sweeps", 3);
  OCTET_CHECK(!refining || (refine_samples > 0 && refine_batch > 0 && refine_sweeps > 0),
              "--refine-samples, --refine-batch and --refine-sweeps must be positive");

  ImportResult imported = import_onnx_file(model_path);
  if (a.has("shapes")) set_input_shapes(imported.graph, a.get("shapes"));
  const Graph& model = imported.graph;
  CalibOptions opt;
  opt.params.percentile = a.get_double("percentile", 99.99);
  opt.params.legacy_quantile = a.get_double("quantile", 0.9999);
  opt.params.kl_error_limit = a.get_double("kl-error-limit", 1.5);
  opt.one_pass = a.on("one-pass");
  opt.import_cache = a.on("import-cache");
  opt.inputs_minmax = !a.on("calibrate-inputs");
  opt.trt_version = parse_trt_version(a.get("trt-version"));
  opt.backend = a.get("backend");
  opt.quiet = a.on("quiet");
  const std::string padding = a.get("calib-padding");
  OCTET_CHECK(padding == "exclude" || padding == "include", "--calib-padding expects exclude or include, got '",
              padding, "'");
  opt.exclude_padding = padding == "exclude";
  if (refining) {
    opt.refine.samples = refine_samples;
    opt.refine.batch = refine_batch;
    opt.refine.max_sweeps = static_cast<int>(refine_sweeps);
    const std::string screen = a.get("refine-screen");
    const bool screen_auto = screen == "auto";
    OCTET_CHECK(screen_auto || (!screen.empty() && screen.find_first_not_of("0123456789") == std::string::npos),
                "--refine-screen expects a sample count or auto, got '", screen, "'");
    opt.refine.screen_samples = screen_auto ? 0 : a.get_int("refine-screen", 16);
    opt.refine.prune_ratio = a.get_double("refine-prune", 4.0);
    OCTET_CHECK(opt.refine.screen_samples >= 0 && opt.refine.prune_ratio >= 0 && std::isfinite(opt.refine.prune_ratio),
                "--refine-screen and --refine-prune must be 0 or positive (--refine-screen: or auto)");
    if (screen_auto) opt.refine.screen_samples = -1;
  }

  const Shape chw = input_chw(model);

  const api::CacheSidecarCheck sidecar = api::check_cache_sidecar(cache_path, model_path, padding);
  if (!sidecar.reject.empty()) opt.reject_cache = sidecar.reject;
  std::unique_ptr<api::OwningCalibrator> calibrator =
      api::make_data_calibrator(data_path, model, chw, [&] { return open_data(a, false); }, preprocess_from_args(a),
                                static_cast<int>(batch), cache_path, algo, a.on("skip-bad-images"),
                                a.has("limit") || a.has("skip") || a.on("shuffle"));
  calibrator->file().defer_write(true);  // committed after the sidecar
  const int64_t expected = calibrator->samples();
  opt.expected_images = expected;
  CalibOutcome r = calibrate(model, *calibrator, opt);

  if (!r.note.empty()) std::printf("%s\n", r.note.c_str());
  if (r.from_cache && sidecar.sidecar_missing)
    std::printf("note: '%s' has no sidecar '%s' (a cache made by TensorRT, or its sidecar was removed): per-tensor "
                "statistics are unavailable; delete the cache to recalibrate\n", cache_path.c_str(), (cache_path + ".json").c_str());
  if (!r.from_cache) {
    std::printf("calibrated %zu tensors of '%s' on %lld images (%lld batches of %lld, %s) in %.1f s (%.0f images/s)\n",
                r.table.entries.size(), model_path.c_str(), static_cast<long long>(r.images),
                static_cast<long long>(r.batches), static_cast<long long>(batch),
                r.table.hist_mode == HistMode::Fixed ? "two-pass" : "one-pass", r.seconds,
                static_cast<double>(r.images) * (r.table.hist_mode == HistMode::Fixed ? 2 : 1) / std::max(r.seconds, 1e-9));
    if (r.padding.padded_samples > 0) {
      if (r.padding.exclude)
        std::printf("letterbox padding of %lld samples left out of the histograms of %lld tensors (--calib-padding "
                    "include keeps it)\n", static_cast<long long>(r.padding.padded_samples),
                    static_cast<long long>(r.padding.masked_tensors));
      else
        std::printf("letterbox padding of %lld samples kept in the histograms (--calib-padding include)\n",
                    static_cast<long long>(r.padding.padded_samples));
    }
    const RefineOutcome& rf = r.refinement;
    if (rf.ran) {
      std::printf("refined thresholds on %lld calibration samples: output SQNR vs FP32 %.2f dB -> %.2f dB, %zu of %zu "
                  "tensors changed (%d trial runs, %.1f s; --no-refine keeps %s's)\n",
                  static_cast<long long>(rf.samples), rf.sqnr_before_db, rf.sqnr_after_db, rf.changes.size(),
                  r.table.entries.size(), rf.trials, rf.seconds, algo_name(algo));
    } else if (refining) {
      warn("not_refined", "thresholds not refined (" + rf.skipped + "); the cache holds " + algo_name(algo) + "'s");
    }
    // Health warnings: a few of each kind, the rest summarized (core/warnings.h); all in the sidecar.
    if (WarningCollector* c = WarningCollector::active()) c->add_full_list("'" + cache_path + ".json' (\"warnings\")");
    for (const auto& w : api::reported_warnings(r)) warn(health_issue_name(w.issue), w.message);
    const SidecarMeta meta = api::write_calibration_sidecar(cache_path, r, sidecar.model_hash, data_path);
    calibrator->file().commit();  // after the sidecar: the cache is the commit point
    std::printf("wrote %s (%s) and %s.json%s\n", cache_path.c_str(), meta.cache_header.c_str(), cache_path.c_str(),
                calibrator->file().kept_old() ? ("; the previous cache is kept as '" + cache_path + ".old'").c_str() : "");
  }
  return 0;
}

}  // namespace octet::cli
