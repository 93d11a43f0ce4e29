// Accuracy repair without labels (octet tune): per-tensor threshold search among the candidates calibration
// recorded in the cache's sidecar, then automatic mixed precision (a few layers to FP32).
//
//   octet::TuningResult r = octet::tune(model, "model.cache", samples);   // samples: batches of input tensors
//   r.save("tuned.cache");   // tuned.cache + tuned.cache.json (with "fp32_layers", which engines then use)
#pragma once

#include <memory>
#include <string>
#include <vector>

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
  std::string cache;  // the tuned TensorRT cache text (same header)
  // Writes `cache_path` and its sidecar <cache_path>.json (atomically).
  void save(const std::string& cache_path) const;

  std::shared_ptr<const void> state;  // internal: the table and sidecar metadata save() writes
};

// `samples`: batches, each one tensor per model input (input order). Throws octet::Error.
TuningResult tune(const Model& model, const std::string& cache_path,
                  const std::vector<std::vector<HostTensor>>& samples, const TuningOptions& options = {});

}  // namespace octet
