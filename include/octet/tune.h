// Accuracy repair without labels (octet tune): per-tensor threshold search among the candidates calibration
// recorded in the cache's sidecar, then automatic mixed precision (a few layers to FP32).
//
//   octet::TuningResult r = octet::tune(model, "model.cache", samples);   // samples: batches of input tensors
//   r.save("tuned.cache");   // tuned.cache + tuned.cache.json (with "fp32_layers", which engines then use)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octet/detect.h"
#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

struct TuningOptions {
  std::string backend = "cpu";
  // Threshold search: true searches when the sidecar has candidates; by default a cache that octet calibrate
  // already refined goes straight to mixed precision (force_scale_search: search anyway).
  bool scale_search = true;
  bool force_scale_search = false;
  int max_fp32_layers = -1;  // -1: 10% of the INT8 layers; 0: no mixed precision
  double min_gain_db = 0.1;
  int max_sweeps = 3;
  std::vector<std::string> fp32_layers;  // kept in FP32 from the start
  // Mixed precision to a budget (any target set replaces the min_gain_db rule and max_fp32_layers): the fewest
  // layers in FP32 such that every target holds on `samples` — top-1 drop vs FP32 in points (needs `labels`,
  // one class per sample in order), share of samples whose INT8 top-1 equals FP32's (0..1), output SQNR in dB.
  double max_top1_drop = -1;     // < 0: not a target
  double min_agreement = -1;     // < 0: not a target
  double min_sqnr_db = -1e300;   // -1e300: not a target
  std::vector<int> labels;
  // false: progress after every trial ("tune", unit "trials") to the progress handler (octet/log.h), else a
  // line on stderr; true: none.
  bool quiet = true;
  // Task objective (octet tune --task): "detect" — box F1 of the INT8 boxes against the FP32 boxes (the first
  // output decoded by `decode`, NMS, matched at `match_iou`); "segment" — mask IoU of the first output's
  // probability maps > `mask_threshold`. Needs min_task_score (0..1); "" : none.
  std::string task;
  double min_task_score = -1;
  DecodeOptions decode;
  double match_iou = 0.5;
  float mask_threshold = 0.3f;
  // Budget mode: rank the layers on at least this many samples, spread evenly (0: all); the budget is still
  // checked on every sample.
  int rank_samples = 0;
  // Budget mode: at least this share (0..1) of the MACs stays INT8 (0: no floor). A budget that cannot be met
  // (above the floor) gives the FP32 set tried that came closest, or none, with budget_met false.
  double min_int8_mac_share = 0;
};

struct TuningStep {
  std::string kind;    // "scale" or "fp32"
  std::string target;  // tensor or layer
  std::string choice;  // candidate (scale steps)
  float amax_before = 0.f, amax_after = 0.f;
  double sqnr_db = 0;
};

struct TuningResult {
  double sqnr_start_db = 0, sqnr_scales_db = 0, sqnr_final_db = 0;  // output SQNR vs FP32
  std::vector<std::string> fp32_layers;
  std::vector<TuningStep> steps;
  int int8_layers = 0, trials = 0;
  bool searched_scales = false;
  // Budget mode: whether the targets hold with fp32_layers, and the metrics with them (top-1s in percent, -1
  // without labels). Every mode: MACs per sample in all and in INT8, and the ONNX nodes that run FP32 because
  // of fp32_layers (the layers and what is fused into them): ONNX Runtime's / ModelOpt's nodes_to_exclude.
  bool budget_met = false;
  double agreement = 0, top1 = -1, fp32_top1 = -1;
  double task_score_start = -1, task_score = -1;  // the task's score all INT8 and with fp32_layers (-1: no task)
  double macs_total = 0, macs_int8 = 0;
  std::vector<std::string> fp32_nodes;
  std::string cache;  // the tuned TensorRT cache text (same header)
  // Writes `cache_path` and its sidecar <cache_path>.json (atomically).
  void save(const std::string& cache_path) const;

  std::shared_ptr<const void> state;  // internal: the table and sidecar metadata save() writes
};

// `samples`: batches, each one tensor per model input (input order). Throws octet::Error.
TuningResult tune(const Model& model, const std::string& cache_path,
                  const std::vector<std::vector<HostTensor>>& samples, const TuningOptions& options = {});

}  // namespace octet
