// Calibration: an FP32 model and representative data in, a TensorRT calibration cache out.
//
//   auto cal = octet::make_data_calibrator(model, {.path = "images/", .preprocess = {.mean = {...}}}, "model.cache");
//   octet::CalibrationResult r = octet::calibrate(model, *cal);   // r.cache: the cache text, also written
//
// Data comes from a Calibrator (octet/calibrator.h: yours, or one of octet's from make_data_calibrator). The
// default two-pass mode (absmax, then fixed-range histograms) gives a result independent of batch size and
// order; then, unless refine.samples is 0, the thresholds are refined without labels (README, "Calibration").
// For calibration driven in steps (shards, several processes): octet/calibration_session.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/calibrator.h"
#include "octet/data.h"
#include "octet/model.h"

namespace octet {

struct RefinementOptions {
  int64_t samples = 128;  // calibration samples (kept from the last pass, spread evenly); 0: no refinement
  int64_t batch = 8;      // batch size of the trial runs (memory)
  int max_sweeps = 3;
  // Shortcuts of the search: each candidate threshold is first tried on this many samples (spread over the
  // refinement samples) and runs on all of them only when it wins there; a candidate whose rounding error on its
  // own tensor exceeds prune_ratio x the current threshold's is not tried. 0 and 0: every candidate runs on all
  // samples (slower; what octet did before). screen_samples -1: by the size of a sample's output (16 for a
  // classifier, down to 4 for a detector's map).
  int64_t screen_samples = -1;
  double prune_ratio = 4.0;
};

struct CalibrationOptions {
  int trt_version = 0;          // cache header version (0: octet's default, a current TensorRT 10)
  bool quiet = true;            // no progress line on stderr
  bool inputs_minmax = true;    // network inputs calibrated with MinMax (false: with the calibrator's algorithm)
  bool one_pass = false;        // TensorRT's one-pass growing histograms even when the calibrator can rewind
  bool import_cache = false;    // use a cache whose header does not match instead of recalibrating
  double percentile = 99.99;    // for algorithm "percentile"
  double legacy_quantile = 0.9999;  // for algorithm "legacy"
  // entropy / entropy2: a tensor whose KL threshold gives more than this many times the smallest achievable
  // quantization error (MSE) takes the MSE threshold instead (SiLU networks); 0: TensorRT's thresholds exactly.
  double kl_error_limit = 1.5;
  std::string backend = "cpu";  // runtime of the FP32 passes
  int64_t expected_samples = 0; // for the progress line and the spread of the refinement's samples (0: unknown)
  RefinementOptions refine;
  std::string reject_cache;     // non-empty: the calibrator's cache is not reused, for this reason (check_cache_file)
  // Letterboxed images (make_data_calibrator with ImagePreprocess::letterbox): "exclude" observes only the
  // activations whose receptive centre lies in the image, not in the padding (README "Calibration"); "include"
  // observes every value. Calibrators that give raw arrays always observe every value.
  std::string calib_padding = "exclude";
};

struct RefinedTensor {
  std::string tensor, choice;  // choice: the candidate threshold taken ("mse", "percentile99.99", ...)
  float from = 0.f, to = 0.f;  // amax
};

struct CalibrationResult {
  std::string cache;          // the TensorRT calibration cache text (also given to writeCalibrationCache)
  std::string header;         // its first line
  bool from_cache = false;    // readCalibrationCache() gave a valid cache; nothing was calibrated
  std::string note;           // why a cache was used or ignored
  size_t tensors = 0;
  int64_t images = 0, batches = 0;  // per pass
  bool two_pass = true;
  double seconds = 0;
  std::vector<std::string> warnings;  // health warnings of the algorithm's thresholds
  // Refinement: ran, or why not (refinement_skipped); SQNR of the INT8 outputs vs FP32 before and after.
  bool refined = false;
  std::string refinement_skipped;
  double sqnr_before_db = 0, sqnr_after_db = 0;
  std::vector<RefinedTensor> refined_tensors;
  // Writes `cache_path` and its JSON sidecar <cache_path>.json as `octet calibrate --cache` does (the sidecar
  // first: the cache is the commit point). `model_path` and `data_source` are recorded in the sidecar (the model's
  // fingerprint, "source:<data_source>"). A result taken from a cache (from_cache) writes the cache alone.
  void save(const std::string& cache_path, const std::string& model_path = {}, const std::string& data_source = {}) const;

  std::shared_ptr<const void> state;  // internal: the table and statistics save() writes
};

// Calibrates `model` (an FP32 or Q/DQ ONNX model, not a plan) with `calibrator`. Throws octet::Error.
CalibrationResult calibrate(const Model& model, Calibrator& calibrator, const CalibrationOptions& options = {});

// One of octet's calibrators (all can rewind: two-pass mode) over `data`, reading and writing the cache file
// `cache_path` (empty: none), for `algorithm` (entropy2, entropy, minmax, percentile, mse, legacy).
// samples(): how many samples one pass reads (for CalibrationOptions::expected_samples).
class DataCalibrator : public Calibrator {
 public:
  virtual int64_t samples() const = 0;
};
std::unique_ptr<DataCalibrator> make_data_calibrator(const Model& model, const DataOptions& data,
                                                     const std::string& cache_path, int batch = 32,
                                                     const std::string& algorithm = "entropy2");

// Compatibility: calibrates the ONNX model at `onnx_path` — what `octet calibrate` does — and returns the cache
// text, which is also handed to calibrator.writeCalibrationCache() (once, after the refinement).
struct CalibrateModelOptions {
  int trt_version = 0;
  bool quiet = true;
  bool inputs_minmax = true;
  int refine_samples = 128;  // 0: no refinement (the algorithm's thresholds; for entropy2, TensorRT's)
};
std::string calibrate_model(const std::string& onnx_path, Calibrator& calibrator,
                            const CalibrateModelOptions& options = {});

// The checks `octet calibrate --cache PATH` makes before calibrating, for callers that manage the cache file
// themselves (the Python package): only a regular file may be at PATH and its sidecar PATH.json (else Error); a
// cache whose sidecar belongs to another cache or another model is not reused (`reject` says why: pass it as
// CalibrationOptions::reject_cache), and so is one calibrated with the other `calib_padding` (its sidecar says which;
// empty: not checked); a cache without a sidecar (made by TensorRT) is reused.
struct CacheFileCheck {
  bool exists = false;           // a cache is at PATH
  std::string reject;            // non-empty: why that cache must not be reused
  bool sidecar_missing = false;  // a cache without a (readable) sidecar
};
CacheFileCheck check_cache_file(const std::string& cache_path, const std::string& model_path,
                                const std::string& calib_padding = "");

}  // namespace octet
