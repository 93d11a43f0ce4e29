// JSON sidecar `<cache>.json` next to a TensorRT cache: what the cache can't hold — amax in full, the
// algorithm and its parameters, observed ranges, clipping, flags — plus hashes of model and data, so a
// cache can be traced to what produced it. And the health check that turns statistics into warnings.
//
// Layout (format_version 1; tensors in table order):
// {
//   "format": "octet-calibration-sidecar", "format_version": 1, "octet_version": "0.1.0",
//   "cache_header": "TRT-101300-EntropyCalibration2",
//   "algorithm": "entropy2", "params": {"percentile": 99.99, ..., "zero_policy": "Z0", ...},
//   "histogram": {"bins": 2048, "mode": "two-pass"},
//   "model_hash": "...", "data_hash": "...", "batches": 16, "images": 512, "fp32_layers": ["/conv3"],
//   "tensors": [ {"name": "conv1", "amax": 1.0, "scale": 0.00787, "scale_hex": "3c010204",
//                 "algorithm": "entropy2", "min": -0.9, "max": 1.0, "absmax": 1.0, "count": 802816,
//                 "zeros": 0, "nan": 0, "inf": 0, "mean": 0.1, "clipped": 1.2e-5,
//                 "candidates": {"entropy2": 1.0, "mse": 0.9, "percentile99.99": 0.95, ..., "minmax": 1.0},
//                 "flags": {"all_zero": false, "constant": false, "nan": false, "inf": false,
//                           "never_observed": false, "unquantizable": false}} ],
//   "refinement": {"samples": 128, "sqnr_before_db": 10.5, "sqnr_after_db": 19.4, "sweeps": 3, "trials": 925, "seconds": 60,
//                  "changes": [{"tensor": "conv1", "choice": "mse", "from": 1.0, "to": 0.9}]}
// }
// "calib_padding" (letterboxed data only): {"mode": "exclude"|"include", "padded_samples": N per pass,
// "masked_tensors": tensors observed without their padded positions} (calib/padding.h).
// "refinement" (octet calibrate's threshold refinement; absent with --no-refine) lists the tensors whose amax
// is not the algorithm's; their "clipped" still describes the algorithm's threshold (candidates[algorithm]).
// Non-finite numbers (min/max of a never-observed tensor) are written as null. Entries imported from a
// cache (no statistics) carry only name/amax/scale/scale_hex/algorithm.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calib/table.h"
#include "core/version.h"

namespace octet {


struct SidecarMeta {
  std::string octet_version = kOctetVersion;
  std::string cache_header;  // the header of the cache this sidecar belongs to (may be empty)
  std::string model_hash;    // opaque strings from the caller (e.g. "sha256:...")
  std::string data_hash;
  int64_t batches = 0;
  int64_t images = 0;
  // Layers (ONNX node names) that run FP32 in INT8 plans made with this cache: chosen by octet tune; build,
  // eval, bench and quantize use them unless --fp32-layers is given.
  std::vector<std::string> fp32_layers;
  // What octet calibrate's threshold refinement did (samples, SQNR before/after, tensors changed); null when
  // the cache holds the algorithm's thresholds as computed.
  nlohmann::json refinement;
  // The calibration's health warnings, every one (the CLI shows a few of each kind and points here):
  // [{"tensor", "issue" (health_issue_name), "message"}]; null when there were none.
  nlohmann::json warnings;
  // Letterbox padding left out of the histograms or not (calib/padding.h); null when the data had none.
  nlohmann::json calib_padding;
};

nlohmann::json sidecar_to_json(const CalibTable& table, const SidecarMeta& meta);
// Inverse of sidecar_to_json (params, algorithms and per-tensor statistics restored; sums are not
// stored, so stats.sum = mean * finite count and sumsq = 0). Throws Error on a malformed document.
CalibTable sidecar_from_json(const nlohmann::json& j, SidecarMeta* meta = nullptr);

// "<cache>.json" written atomically (write_file_atomic), pretty-printed with 1-space indent.
void write_sidecar(const std::string& path, const CalibTable& table, const SidecarMeta& meta);
CalibTable read_sidecar(const std::string& path, SidecarMeta* meta = nullptr);

// Health check (DESIGN.md "Health checks": reported, never silently written).
enum class HealthIssue {
  NeverObserved,   // the runtime never fed this tensor: it has no scale
  AllZero,         // every value was 0: amax 0, scale "0" in the cache
  Constant,        // one value throughout (e.g. a folded constant): calibration is meaningless
  NonFinite,       // NaN or Inf seen (ignored by the histograms)
  HeavyClipping,   // more than `clip_threshold` of the values lie above amax
  Unquantizable,   // amax is 0 although non-zero values were seen (below AlgoParams::min_amax)
};
const char* health_issue_name(HealthIssue k);  // "never_observed", "all_zero", ...

struct HealthWarning {
  std::string tensor;
  HealthIssue issue;
  std::string message;  // one line naming the tensor: "tensor 'conv1': 12 NaN and 3 Inf values ..."
};

// Warnings for every entry with statistics, in table order (an entry may get several), except entries named
// in `quiet_tensors` (shape/index arithmetic: calib/shape_values.h).
std::vector<HealthWarning> health_check(const CalibTable& table, double clip_threshold = 1e-3,
                                        const std::set<std::string>& quiet_tensors = {});

}  // namespace octet
