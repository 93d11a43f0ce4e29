// Accuracy repair after calibration (octet tune): measure how far an INT8 plan's outputs are from FP32 on a
// few representative samples (no labels needed) and reduce that error in two steps.
//
// 1. Scale search. For every tensor whose scale the INT8 plan uses, in network order, try the other
//    thresholds calibration recorded for it (CalibEntry::candidates: entropy2, mse, percentile99.99,
//    percentile99.999, minmax — all from the same histogram) and keep the one that gives the plan's outputs
//    the highest SQNR against FP32 (coordinate descent: sweeps repeated, up to `max_sweeps`, while a sweep
//    gains `min_gain_db`). The result is still an ordinary per-tensor table, so it is written as a TensorRT
//    cache like any other. octet calibrate runs this step alone by default ("threshold refinement").
// 2. Mixed precision. Rank units — each INT8 layer, and for each quantized tensor the INT8 layers around it
//    (producer and consumers: a badly scaled tensor stops being rounded only when all of them run FP32) — by
//    the output SQNR with that unit in FP32, then add units to the FP32 set in that order while each one
//    raises the SQNR by at least `min_gain_db`, up to `max_fp32_layers` layers in all.
//
// Error measure: SQNR = 10 log10(sum y^2 / sum (y_int8 - y)^2) over all outputs and samples, y the FP32 plan's
// output. Every trial builds a plan and runs all samples, so the cost is (trials) x (one pass over the
// samples); a few hundred trials for a CIFAR-size network on 128 samples.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/paired_drop.h"
#include "calib/table.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace octet {

// A task metric of the INT8 plan's outputs against the FP32 plan's over all samples (octet tune --task: box F1
// of decoded detections, mask IoU of probability maps). Higher is better; 1 when they agree. Each trial calls
// begin(), add() once per batch (in batch order, the same batches every trial), then score().
class TuneTask {
 public:
  virtual ~TuneTask() = default;
  virtual std::string name() const = 0;  // "box F1", "mask IoU": for messages
  virtual void begin() = 0;
  // `batch`: the batch's index; `fp32` / `int8`: the outputs of the two plans; `inputs`: the batch.
  virtual void add(size_t batch, const std::vector<Tensor>& fp32, const std::vector<Tensor>& int8,
                   const std::vector<Tensor>& inputs) = 0;
  virtual double score() const = 0;
};

// Mixed precision to a budget (octet tune --budget / --min-agreement / --min-sqnr): every target given must
// hold on the samples. Top-1 compares the argmax of the first output with `TuneOptions::labels`; agreement
// with the FP32 plan's argmax.
struct TuneBudget {
  double max_top1_drop = -1;   // points (0.1 = a tenth of a percent of the samples); < 0: not a target
  double min_agreement = -1;   // fraction in [0, 1] of samples whose INT8 top-1 equals FP32's; < 0: not a target
  double min_sqnr_db = -1e300; // output SQNR vs FP32; -1e300: not a target
  double min_task_score = -1;  // TuneOptions::task's score (box F1, mask IoU) at least this; < 0: not a target
  bool any() const {
    return max_top1_drop >= 0 || min_agreement >= 0 || min_sqnr_db > -1e299 || min_task_score >= 0;
  }
};

// What one trial measured on all samples.
struct TuneMetrics {
  double sqnr_db = 0;
  double agreement = 0;      // fraction of samples, INT8 top-1 == FP32 top-1
  double top1 = -1;          // INT8 top-1 in percent (-1 without labels)
  double fp32_top1 = -1;     // FP32 top-1 in percent (-1 without labels)
  double task_score = -1;    // TuneOptions::task's score (-1 without one)
  PairedDrop paired;         // with labels: the samples FP32 gets right and INT8 wrong, and the other way
};

struct TuneOptions {
  std::string backend = "cpu";
  bool search_scales = true;
  int max_sweeps = 3;          // scale search: at most this many sweeps over the tensors
  // Mixed precision: at most this many layers moved to FP32 (0: none; -1: 10% of the INT8 layers, at least 1).
  int max_fp32_layers = -1;
  double min_gain_db = 0.1;    // a scale change must gain more than 0.01 dB; a layer in FP32 this much
  std::vector<std::string> fp32_layers;  // layers already kept in FP32 (the user's); never moved back
  // Mixed precision to a budget instead of the SQNR-gain rule above: the fewest layers in FP32 (any layers)
  // that meet every target (TuneBudget): layers ranked by the output SQNR with each alone in FP32, the
  // shortest prefix of that ranking that meets the budget (binary search, verified), then every chosen layer
  // tried back in INT8 and left there when the budget still holds. max_fp32_layers is ignored.
  // Layers are ranked by their SQNR gain per MAC (a unit's cost: its MACs, plus 1% of the mean layer's so that
  // layers without MACs are not free), and pruning tries the costliest layers back in INT8 first, then pairs
  // of them: the aim is the cheapest FP32 set in MACs that meets the budget. Only units that raise the output
  // SQNR alone are candidates: one that moves the outputs further from FP32 changes a top-1 count by chance.
  // A budget no ranked prefix meets gives the prefix tried that came closest (the first target, then the SQNR),
  // or no FP32 layer when all INT8 came as close.
  TuneBudget budget;
  // Budget mode: the FP32 layers may take at most 1 - this share of the MACs (0: no floor). When the budget
  // cannot be met above it, the answer is the set tried that came closest (budget_met false).
  double min_int8_mac_share = 0;
  std::vector<int> labels;  // class of each sample, in batch order (needed for max_top1_drop)
  std::shared_ptr<TuneTask> task;  // scored every trial when set (needed for min_task_score)
  // Budget mode: the ranking trials (one per layer or unit, most of the cost) run on batches spread evenly over
  // the samples, at least this many samples (0: all); the search and pruning still measure every sample.
  int rank_samples = 0;
  // Progress: called after every trial with (trials done, trials planned so far, what was tried).
  std::function<void(int, int, const std::string&)> progress;
};

struct TuneStep {
  std::string kind;    // "scale" or "fp32"
  std::string target;  // tensor (scale) or layer (fp32)
  std::string choice;  // candidate name (scale) or "" (fp32)
  float amax_before = 0.f, amax_after = 0.f;  // scale steps
  double sqnr_db = 0;  // output SQNR after the step
};

struct TuneResult {
  CalibTable table;                     // the input table with the chosen amax per tensor
  std::vector<std::string> fp32_layers; // the user's plus the ones chosen here
  double sqnr_start_db = 0, sqnr_scales_db = 0, sqnr_final_db = 0;
  std::vector<TuneStep> steps;          // accepted changes, in order
  std::vector<std::pair<std::string, double>> layer_sensitivity;  // layer -> SQNR with it alone in FP32
  int trials = 0;
  int sweeps = 0;                       // scale-search sweeps run
  int int8_layers = 0;
  // Budget mode (TuneOptions::budget): whether the final choice meets it, and its metrics before / after.
  bool budget_met = false;
  TuneMetrics metrics_start, metrics_final;
  // MACs (multiply-accumulates of Conv, ConvTranspose, Gemm, MatMul per sample) of the final plan: all, and
  // those that run INT8. Computed in every mode.
  double macs_total = 0, macs_int8 = 0;
};

// `batches`: the samples, each batch one tensor per graph input (in graph-input order). The table's entries
// must carry candidates for the scale search (a sidecar from octet calibrate); entries without them keep
// their amax. Throws Error if there are no samples or the model cannot be quantized with the table.
TuneResult tune(const Graph& model, const CalibTable& table, const std::vector<std::vector<Tensor>>& batches,
                const TuneOptions& opt = {});

// Multiply-accumulates per sample of every Conv, ConvTranspose, Gemm and MatMul node (by ONNX node name) at
// `input_shapes` (the first dimension of the first input is the batch the count is divided by). Throws Error
// when shapes cannot be propagated.
std::map<std::string, double> node_macs(const Graph& model, const std::vector<Shape>& input_shapes);

// SQNR in dB of `test` against `ref` (sum over all tensors); +inf when they are equal.
double sqnr_db(const std::vector<std::vector<Tensor>>& ref, const std::vector<std::vector<Tensor>>& test);

}  // namespace octet
