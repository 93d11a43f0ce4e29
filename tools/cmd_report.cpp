// octet report MODEL --cache C --data PATH <preprocessing> -o report.html: one self-contained HTML page of where
// INT8 loses accuracy (src/api/report.h gathers the data and writes the page; this file parses and prints).
#include <cmath>
#include <cstdio>

#include "api/report.h"
#include "commands.h"
#include "common.h"
#include "core/progress.h"
#include "io/dataset.h"

namespace octet::cli {

int cmd_report(int argc, char** argv) {
  Args a("report", "MODEL.onnx --cache C --data PATH [preprocessing] -o REPORT.html [options]",
         "Write one self-contained HTML page (no network; opens from disk in any browser) that shows where INT8\n"
         "loses accuracy: per tensor, in execution order and under its ONNX node name, the histogram (log scale)\n"
         "with every candidate threshold (entropy2, entropy, mse, percentiles, minmax) and the one the cache chose,\n"
         "the KL and MSE curves over thresholds, the clipped share, health flags and what the refinement moved (from\n"
         "C.json); the SQNR and cosine of INT8 against FP32 for every tensor as a chart with the cliff marked; the\n"
         "layers kept in FP32 and why; and a summary (FP32 vs INT8 top-1 when the data has labels, agreement,\n"
         "output SQNR, INT8 share of layers and of MACs). Histograms are computed from --data (give the\n"
         "calibration images to see what calibration saw, or test images to see what it meets).");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("output", "REPORT.html", "page to write");
  a.opt("samples", "N", "samples used, spread evenly over --data", "256");
  a.opt("batch", "N", "batch size", "16");
  a.opt("json", "FILE", "also write the report's data as JSON (what the page draws) to FILE");
  add_int8_options(a);  // --cache (its sidecar C.json, when present, adds the refinement record), --fp32-layers
  a.flag("force", "overwrite REPORT.html and the --json file");
  a.flag("quiet", "no progress line");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet report: give exactly one model file");
  const std::string model_path = a.positional()[0], cache_path = a.required("cache"), out = a.required("output");
  a.required("data");
  check_output(out, a.on("force"), "-o");
  check_json_output(a);
  const int64_t samples = a.get_int("samples", 256);
  int64_t batch = a.get_int("batch", 16);
  OCTET_CHECK(samples > 0 && batch > 0, "--samples and --batch must be positive");
  apply_threads(a);

  ModelSource m = load_image_model(model_path, a, "report");
  api::TuneInput in = api::load_tune_input(cache_path);
  std::unique_ptr<Plan> fp32 = make_plan(m, a, "fp32");
  std::unique_ptr<Plan> int8 = make_plan(m, a, "int8");
  OCTET_CHECK(int8->is_int8(), "octet report: '", model_path, "' with '", cache_path, "' gives no INT8 plan");
  api::ReportOptions ro;
  ro.backend = a.get("backend");
  ro.model_path = model_path;
  ro.cache_path = cache_path;
  api::ReportBuilder builder(m.graph, *fp32, *int8, std::move(in), ro);

  // A model of fixed batch B runs B samples at a time; a last, partial batch is left out (padding would enter the
  // histograms).
  const int64_t fixed_batch = declared_batch(m.graph);
  if (fixed_batch > 0) batch = fixed_batch;
  // Labels where the data has them (class sub-folders, an IDX label file): top-1 of both precisions; else agreement.
  std::unique_ptr<Dataset> all;
  try {
    all = open_data(a, true);
  } catch (const Error&) {
    all = open_data(a, false);
  }
  auto data = spread(std::move(all), static_cast<size_t>(samples));
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(m.graph), a.on("skip-bad-images"));
  Progress progress("report", 2 * static_cast<int64_t>(data->size()), a.on("quiet"));
  int64_t seen = 0;
  for (int pass = 0; pass < api::ReportBuilder::passes(); ++pass) {
    if (pass > 0) {
      builder.next_pass();
      batcher.reset();
    }
    while (int64_t n = batcher.next()) {
      if (fixed_batch > 0 && n < fixed_batch) {
        if (pass == 0)
          std::fprintf(stderr, "note: the model's batch is fixed at %lld; the last %lld samples are left out\n",
                       static_cast<long long>(fixed_batch), static_cast<long long>(n));
        break;
      }
      const Tensor x = n < batch ? batcher.batch().first(n) : batcher.batch();
      builder.add(x, batcher.labels(), content_boxes(batcher.geometries()));
      if (pass == 0) seen += n;
      progress.update(pass * static_cast<int64_t>(data->size()) + static_cast<int64_t>(batcher.position()));
    }
    OCTET_CHECK(seen > 0, "octet report: no samples could be read from '", a.get("data"), "'");
  }
  progress.finish();
  const nlohmann::json j = builder.finish();
  write_file_atomic(out, api::report_html(j));
  if (a.has("json")) write_json(a.get("json"), j);

  const auto& s = j["summary"];
  std::printf("wrote %s: %zu tensors, %lld samples\n", out.c_str(), j["tensors"].size(), static_cast<long long>(seen));
  if (!s["fp32_top1"].is_null())
    std::printf("top-1 FP32 %.2f%%  INT8 %.2f%%  (%lld labelled)\n", 100.0 * s["fp32_top1"].get<double>(),
                100.0 * s["int8_top1"].get<double>(), static_cast<long long>(s["labelled"].get<int64_t>()));
  if (!s["agreement"].is_null()) std::printf("agreement %.2f%%  ", 100.0 * s["agreement"].get<double>());
  char sqnr[32] = "inf";
  if (!s["output_sqnr_db"].is_null()) std::snprintf(sqnr, sizeof sqnr, "%.1f", s["output_sqnr_db"].get<double>());
  std::printf("output SQNR %s dB  float layers in INT8 %lld/%lld  INT8 MACs %.1f%%\n", sqnr,
              static_cast<long long>(s["int8_layers"].get<int64_t>()),
              static_cast<long long>(s["int8_layers"].get<int64_t>() + s["fp32_layers"].get<int64_t>()),
              s["int8_mac_share"].is_null() ? 0.0 : 100.0 * s["int8_mac_share"].get<double>());
  if (!j["cliff"].empty()) {
    std::printf("largest SQNR drops (the cliff):\n");
    for (const auto& i : j["cliff"]) {
      const auto& t = j["tensors"][i.get<size_t>()];
      std::printf("  %-40s %-12s SQNR %6.1f dB  drop %5.1f dB\n", t["node"].get<std::string>().c_str(),
                  t["op"].get<std::string>().c_str(), t["sqnr_db"].is_null() ? INFINITY : t["sqnr_db"].get<double>(),
                  t["drop_db"].get<double>());
    }
  }
  if (batcher.skipped()) std::printf("skipped %zu unreadable images\n", batcher.skipped());
  return 0;
}

}  // namespace octet::cli
