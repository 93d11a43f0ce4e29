// octet eval MODEL --data DIR <preprocessing> [--precision fp32,int8 --cache C]: top-1 accuracy over a
// labelled set; with both precisions also the agreement of INT8 with FP32 and the SQNR of the outputs.
#include <cmath>
#include <cstdio>
#include <string>

#include "calib/layer_error.h"
#include "calib/paired_drop.h"
#include "calib/sqnr.h"
#include "commands.h"
#include "common.h"
#include "core/progress.h"
#include "octet/log.h"

namespace octet::cli {

namespace {

// Index of the largest of n values (first on ties, like numpy.argmax).
int64_t argmax(const float* p, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (p[i] > p[best]) best = i;
  return best;
}

// JSON has no infinity: an SQNR of equal signals is written as "inf".
nlohmann::json db_json(double db) { return std::isfinite(db) ? nlohmann::json(db) : nlohmann::json("inf"); }

struct Run {
  std::string precision;
  std::unique_ptr<Plan> plan;
  int64_t correct = 0;
  std::vector<int64_t> pred;  // of the current batch
};

}  // namespace

int cmd_eval(int argc, char** argv) {
  // Detectors and segmenters: their own flags and metrics (cmd_eval_task.cpp).
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "--task" || std::string(argv[i]).rfind("--task=", 0) == 0)
      return cmd_eval_task(argc, argv);
  Args a("eval", "MODEL.onnx --data PATH [preprocessing] [--precision fp32,int8 --cache C] [options]",
         "Top-1 accuracy of a classifier over a labelled image folder (sub-folders = classes, sorted) or IDX set.\n"
         "The first output must be N x K scores. With --precision fp32,int8 it also reports how often the INT8\n"
         "and FP32 top-1 agree and the SQNR of the INT8 outputs against FP32.");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("batch", "N", "batch size", "32");
  a.opt("precision", "P[,P]", "fp32, int8, or both", "fp32");
  add_int8_options(a);
  a.opt("json", "FILE", "write {\"fp32\": {\"top1\", \"images\"}, \"int8\": {...}, \"agreement\", \"sqnr_db\"} to FILE");
  a.flag("layers", "with --precision fp32,int8: also the error of every tensor of the INT8 plan against FP32 "
         "(SQNR, cosine, share of int8 values at the limits) -- where INT8 loses accuracy. Runs both plans once more "
         "per batch and holds one batch of FP32 activations: lower --batch for large models");
  a.flag("force", "overwrite an existing --json file");
  a.flag("quiet", "no progress line");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet eval: give exactly one model file");
  int64_t batch = a.get_int("batch", 32);
  OCTET_CHECK(batch > 0, "--batch must be positive");
  check_json_output(a);
  apply_threads(a);
  ModelSource model = load_model(a.positional()[0]);
  apply_shapes(model, a);
  std::vector<Run> runs;
  for (const auto& p : a.get_list("precision")) runs.push_back({p, make_plan(model, a, p), 0, {}});
  OCTET_CHECK(!runs.empty(), "octet eval: --precision is empty");
  std::unique_ptr<LayerErrorMeter> layers;
  if (a.on("layers")) {
    OCTET_CHECK(runs.size() == 2 && runs[0].precision == "fp32" && runs[1].precision == "int8",
                "octet eval --layers: pass --precision fp32,int8");
    OCTET_CHECK(runs[1].plan->is_int8(), "octet eval --layers: the INT8 side runs as a simulation of an asymmetric "
                "Q/DQ model (no int8 tensors to compare); pass --asymmetric symmetric");
    layers = std::make_unique<LayerErrorMeter>(*runs[0].plan, *runs[1].plan);
  }
  // A model of fixed batch B runs B images at a time (the last batch padded with zeros).
  const int64_t fixed_batch = declared_batch(runs[0].plan->graph());
  if (fixed_batch > 0 && fixed_batch != batch) {
    if (a.on("batch"))
      log_message(LogLevel::note, "the model's batch is fixed at " + std::to_string(fixed_batch) + "; --batch " +
                                      std::to_string(batch) + " ignored");
    batch = fixed_batch;
  }
  auto data = open_data(a, true);
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(*runs[0].plan), a.on("skip-bad-images"));
  Progress progress("eval", static_cast<int64_t>(data->size()), a.on("quiet"));
  int64_t seen = 0, agree = 0;
  PairedDrop paired;  // runs[0] (the reference) vs runs[1]
  double signal = 0, noise = 0;
  while (int64_t n = batcher.next()) {
    Tensor x = n < batch && fixed_batch <= 0 ? batcher.batch().first(n) : batcher.batch();
    std::vector<Tensor> first_out;
    for (size_t r = 0; r < runs.size(); ++r) {
      Run& run = runs[r];
      auto outs = run.plan->run({x});
      const Tensor& y = outs[0];
      OCTET_CHECK(y.rank() == 2 && y.dim(0) == x.dim(0) && y.dtype() == DType::f32, "octet eval: output '",
                  run.plan->graph().value(run.plan->graph().outputs[0]).name, "' is ", shape_str(y.shape()),
                  "; expected N x classes");
      int64_t k = y.dim(1);
      run.pred.assign(static_cast<size_t>(n), 0);
      for (int64_t i = 0; i < n; ++i) {
        int label = batcher.labels()[static_cast<size_t>(i)];
        OCTET_CHECK(label < k, "label ", label, " is outside the model's ", k, " classes");
        run.pred[static_cast<size_t>(i)] = argmax(y.data<float>() + i * k, k);
        run.correct += run.pred[static_cast<size_t>(i)] == label;
      }
      if (r == 0) {
        first_out.push_back(y.clone());
      } else {
        add_sqnr_sums(first_out[0].data<float>(), y.data<float>(), n * k, signal, noise);
        for (int64_t i = 0; i < n; ++i) {
          const size_t u = static_cast<size_t>(i);
          agree += runs[0].pred[u] == run.pred[u];
          paired.add(runs[0].pred[u] == batcher.labels()[u], run.pred[u] == batcher.labels()[u]);
        }
      }
    }
    if (layers) layers->add(x);
    seen += n;
    progress.update(static_cast<int64_t>(batcher.position()));
  }
  progress.finish();
  OCTET_CHECK(seen > 0, "octet eval: no images could be evaluated");
  nlohmann::json j;
  for (const Run& run : runs) {
    double top1 = static_cast<double>(run.correct) / static_cast<double>(seen);
    std::printf("%-5s top-1 %.2f%%  (%lld / %lld images)\n", run.precision.c_str(), 100.0 * top1,
                static_cast<long long>(run.correct), static_cast<long long>(seen));
    j[run.precision] = {{"top1", top1}, {"images", seen}};
  }
  if (runs.size() > 1) {
    double agreement = static_cast<double>(agree) / static_cast<double>(seen);
    const double sqnr = sqnr_db(signal, noise);
    std::printf("agreement %.2f%% of top-1 predictions equal; output SQNR %.1f dB (%s vs %s)\n", 100.0 * agreement,
                sqnr, runs[1].precision.c_str(), runs[0].precision.c_str());
    std::printf("top-1 drop %.2f +- %.2f points (95%%): %lld image(s) right in %s and wrong in %s, %lld the other way\n",
                paired.drop_points(), paired.ci95_points(), static_cast<long long>(paired.lost),
                runs[0].precision.c_str(), runs[1].precision.c_str(), static_cast<long long>(paired.gained));
    j["agreement"] = agreement;
    j["sqnr_db"] = db_json(sqnr);
    j["paired"] = {{"lost", paired.lost}, {"gained", paired.gained}, {"drop_points", paired.drop_points()},
                   {"ci95_points", paired.ci95_points()}};
    // INT8 costing more than 0.3 points: say what repairs it (calibrate -> tune -> eval is the documented path).
    const double lost = static_cast<double>(runs[0].correct - runs[1].correct) / static_cast<double>(seen);
    if (runs[0].precision == "fp32" && runs[1].precision == "int8" && lost > 0.003 && !a.on("layers"))
    {
      char pts[32];
      std::snprintf(pts, sizeof pts, "%.2f", 100.0 * lost);
      log_message(LogLevel::note, std::string("INT8 loses ") + pts + " points of top-1 here. `octet eval ... --layers` "
                  "shows where the error enters; `octet tune MODEL --cache C --data <calibration images> -o TUNED` "
                  "repairs it without labels (README, \"Repairing accuracy\").");
    }
  }
  if (layers) {
    std::vector<LayerError> rows = layers->results();
    std::printf("per-tensor error of INT8 vs FP32 over %lld images (%zu tensors, execution order; saturated = int8 "
                "values at -128 / 127; KIND asym: int8 with a zero point, saturated at 127 only):\n",
                static_cast<long long>(seen), rows.size());
    std::printf("  %-56s %-18s %-5s %8s %9s %9s\n", "TENSOR", "OP", "KIND", "SQNR dB", "cosine", "saturated");
    for (const LayerError& e : rows) {
      std::printf("  %-56s %-18s %-5s %8.1f %9.5f %8.3f%%\n", e.tensor.c_str(), e.op.c_str(),
                  !e.int8 ? "fp32" : e.zero_point != 0 ? "asym" : "int8", e.sqnr(), e.cosine(),
                  100.0 * e.saturated_share());
      j["layers"].push_back({{"tensor", e.tensor}, {"op", e.op}, {"int8", e.int8}, {"zero_point", e.zero_point},
                             {"sqnr_db", db_json(e.sqnr())}, {"cosine", e.cosine()}, {"saturated", e.saturated_share()},
                             {"values", e.values}});
    }
  }
  if (batcher.skipped()) std::printf("skipped %zu unreadable images\n", batcher.skipped());
  if (a.has("json")) write_json(a.get("json"), j);
  return 0;
}

}  // namespace octet::cli
