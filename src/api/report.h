// octet report: one self-contained HTML page that shows where INT8 loses accuracy and why.
//
// What it gathers, over the samples the caller feeds (two passes over the same samples):
//   pass 0: the calibration observers' statistics (CalibSession, as `octet calibrate`), the per-tensor error of
//           the INT8 plan against FP32 (LayerErrorMeter, as `octet eval --layers`) and the outputs of both plans
//           (top-1 where labels are given, agreement, output SQNR);
//   pass 1: the histograms over [0, absmax] (2048 bins, as calibration).
// Then per calibrated tensor, in network order: every candidate threshold computed from its histogram
// (entropy2, entropy, mse, percentile99.99, percentile99.999, minmax), the one the INT8 plan uses (the cache's
// amax), the KL and MSE search curves, the clipped share at the chosen threshold, the health flags, what the
// refinement changed (the cache's sidecar), the SQNR / cosine of INT8 against FP32 and the SQNR drop from the
// tensor's nearest measured inputs (the "cliff"); per ONNX node its precision, why, and MACs.
//
// The data is one JSON document (report_json below); report_html embeds it in a page whose small inline script
// draws the charts (SVG) and makes the tables sortable: no network access, opens from disk.
//
// JSON (format "octet-report", version 1):
// { "format", "version", "octet_version", "model", "cache", "cache_header", "algorithm", "images", "backend",
//   "summary": {"images", "labelled", "fp32_top1", "int8_top1" (null without labels), "agreement" (top-1 of
//               both equal; null unless the first output is N x classes),
//               "output_sqnr_db" (null: equal), "int8_layers", "fp32_layers" (float layers: nodes with a float
//               output), "int8_layer_share", "index_layers" (nodes computing only shapes / indices), "mac_layers",
//               "int8_mac_layers" (Conv, ConvTranspose, MatMul, Gemm), "macs", "int8_macs", "int8_mac_share"},
//   "refinement": the sidecar's record or null,
//   "tensors": [{"name", "node", "op", "index", "quantized" (the INT8 plan uses its scale), "int8" (held as int8),
//                "chosen" (amax the plan uses), "algorithm", "algo_amax" (the algorithm's, recomputed here),
//                "candidates": {name: amax}, "clipped" (share of |x| > chosen), "flags": [names], "warnings":
//                [lines], "refined": {"choice", "from", "to"} or null, "min", "max", "absmax", "mean", "count",
//                "hist": {"range", "counts": [512]}, "kl": {"x0", "dx", "y"}, "mse": {"x0", "dx", "y"} (x in amax
//                units; y null where infinite), "measured" (has error data), "sqnr_db", "cosine", "saturated",
//                "drop_db" (SQNR of its nearest measured inputs minus its own)}],
//   "cliff": [indices into tensors, largest drop first],
//   "layers": [{"node", "op", "precision", "why", "macs", "index_op"}],   // every ONNX node
//   "ref_fallback": [lines of Plan::describe that run on ref under another backend] }
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/internal.h"
#include "calib/layer_error.h"
#include "calib/session.h"

namespace octet::api {

struct ReportOptions {
  std::string backend = "cpu";  // for the calibration observers' FP32 plan
  std::string model_path, cache_path;
  int cliff_count = 8;          // tensors listed (and opened) at the cliff
  int hist_bins = 512;          // the 2048 calibration bins summed down to this many (a divisor of 2048)
  int curve_points = 256;       // KL / MSE curves: at most this many points (minimum of each group)
};

class ReportBuilder {
 public:
  // `model`: the ONNX FP32 graph (shapes applied); `fp32` / `int8`: plans of it, the INT8 one built from the
  // cache in `cache` (load_tune_input: scales, and the sidecar's statistics and refinement record when present).
  ReportBuilder(const Graph& model, Plan& fp32, Plan& int8, TuneInput cache, const ReportOptions& opt);
  ~ReportBuilder();

  int pass() const { return pass_; }
  static constexpr int passes() { return 2; }
  // One batch of the model's single input; `labels` per sample (-1: unlabelled), may be empty; `boxes`: where
  // each letterboxed image lies (calib/padding.h), empty for none. The histograms leave the padding out as the
  // cache's calibration did (its sidecar's calib_padding; without one, as octet calibrate's default does).
  void add(const Tensor& x, const std::vector<int>& labels, const std::vector<ContentBox>& boxes = {});
  void next_pass();
  nlohmann::json finish() const;

 private:
  Graph model_;
  Plan& fp32_;
  Plan& int8_;
  TuneInput cache_;
  ReportOptions opt_;
  std::unique_ptr<CalibSession> session_;
  std::unique_ptr<LayerErrorMeter> meter_;
  int pass_ = 0;
  int64_t images_ = 0, classified_ = 0, labelled_ = 0, fp32_correct_ = 0, int8_correct_ = 0, agree_ = 0;
  double signal_ = 0, noise_ = 0;
};

// The page: report_json's document embedded (with "</" escaped) in HTML with inline CSS and script.
std::string report_html(const nlohmann::json& report);

}  // namespace octet::api
