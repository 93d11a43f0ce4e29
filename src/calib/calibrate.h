// The calibration driver: runs a model's FP32 graph over a Calibrator's batches, observes every tensor
// TensorRT's EntropyCalibration2 would calibrate (network inputs and every op output before fusion, named as
// in the ONNX graph), and turns the observations into a CalibTable.
//
// Two-pass by default when the calibrator can rewind (absmax, then fixed-range histograms: the same table for
// any batch size, order or split); TensorRT's one-pass growing histograms otherwise or when asked.
// Memory is O(tensors x bins) plus one batch of activations, independent of the number of images.
#pragma once

#include <string>
#include <vector>

#include "calib/padding.h"
#include "calib/sidecar.h"
#include "calib/table.h"
#include "ir/graph.h"
#include "octet/calibrator.h"

namespace octet {

// Threshold refinement, the last step of calibration unless turned off: octet tune's scale search alone
// (src/calib/tune.h; no layer moves to FP32), with the shortcuts of src/calib/refine.h. On a few of the
// calibration samples, every tensor the INT8 plan
// rounds takes, among the thresholds calibration computed from its histogram (CalibEntry::candidates), the one
// that gives the plan's outputs the best SQNR against FP32. The cache keeps its header.
struct RefineOptions {
  int64_t samples = 0;  // samples kept from the last calibration pass; 0: no refinement (TensorRT's thresholds)
  int64_t batch = 8;    // batch size of the trial runs (memory)
  int max_sweeps = 3;   // coordinate-descent sweeps, repeated while one gains 0.1 dB
  // The search's shortcuts (calib/refine.h): candidates screened on this many samples before a run on all of
  // them, and skipped when their local rounding error exceeds prune_ratio x the current one's. 0 and 0: every
  // candidate runs on all samples (the exhaustive search, octet tune's).
  int64_t screen_samples = -1;  // -1: by the size of a sample's output (calib/refine.h)
  double prune_ratio = 4.0;
};

struct RefineChange {
  std::string tensor, choice;  // choice: the candidate taken ("mse", "percentile99.99", ...)
  float from = 0.f, to = 0.f;  // amax
};

struct RefineOutcome {
  bool ran = false;
  std::string skipped;  // why refinement was asked for but did not run (the algorithm's thresholds are kept)
  int64_t samples = 0;
  double sqnr_before_db = 0, sqnr_after_db = 0;  // INT8 vs FP32 outputs on the samples
  int sweeps = 0, trials = 0;
  int pruned = 0, screened_out = 0, confirmations = 0, settled = 0;  // calib/refine.h: ThresholdSearchResult
  int64_t screen_samples = 0, halted = 0;  // screening samples used; confirmations stopped half-way
  int64_t weighted_outputs = 0;  // outputs whose components count alike (calib/output_weights.h)
  double seconds_setup = 0, seconds_build = 0, seconds_screen = 0, seconds_full = 0;
  double seconds = 0;
  std::vector<RefineChange> changes;  // in table order
};

struct CalibOptions {
  AlgoParams params;
  // Network inputs get MinMax whatever the algorithm (their range is the preprocessing's; entropy clips
  // e.g. 28% of Fashion-MNIST's input at its background value). false: TensorRT's behaviour.
  bool inputs_minmax = true;
  bool one_pass = false;        // TensorRT-style growing histogram even when the calibrator can rewind
  bool import_cache = false;    // apply a cache whose header does not match instead of recalibrating
  int trt_version = kDefaultTrtVersion;
  std::string backend = "cpu";  // runtime for the FP32 passes
  bool quiet = false;           // no progress line
  int64_t expected_images = 0;  // for the progress line's ETA (0 = unknown); also spreads the refinement's
                                // samples evenly over the data (unknown: every k-th, k doubling as needed)
  RefineOptions refine;
  // Non-empty: an existing cache is not reused, for this reason (e.g. its sidecar was written for another
  // cache or model; tools/cmd_calibrate.cpp), and calibration runs.
  std::string reject_cache;
  // Letterboxed samples (a calibrator that is a ContentBoxSource): observe only the positions of each mapped
  // activation that lie in the image (calib/padding.h). false: every value, as before (--calib-padding include).
  bool exclude_padding = true;
};

// Which samples the refinement keeps. Octet's own data-set calibrators (DatasetCalibrator) implement this
// too: the refinement then takes its samples by their index in the data set's canonical (unshuffled) order —
// the same samples, in the same order, whatever --shuffle or the batch size — so the whole cache is
// independent of both. A calibrator without it (a custom C++ Calibrator) gets the samples at stream positions
// i * total / count: independent of the batch size, but not of the order the calibrator delivers its samples
// in (the calibration passes themselves are order-independent in two-pass mode).
class SampleIndexSource {
 public:
  virtual ~SampleIndexSource() = default;
  // False for a wrapper whose calibrator has no ids (then the refinement keeps every k-th sample it sees).
  virtual bool provides_ids() const { return true; }
  // Canonical indices of every sample the calibrator will deliver (any order).
  virtual std::vector<int64_t> all_sample_ids() const = 0;
  // Canonical index of each sample of the batch getBatch() returned last, in batch order.
  virtual std::vector<int64_t> batch_sample_ids() const = 0;
};

// The shape of the current batch's inputs, for models with dynamic dimensions other than the batch (a detector of
// dynamic H x W calibrated on images of their own sizes). octet's DatasetCalibrator and TensorCalibrator implement
// it; without it, calibration feeds the model's declared shapes (which must then be static but for the batch).
class BatchShapeSource {
 public:
  virtual ~BatchShapeSource() = default;
  // False for a wrapper whose calibrator does not say.
  virtual bool provides_shapes() const { return true; }
  // Per input (in getBatch's binding order), the shape of one sample of the batch getBatch() returned last
  // (without the batch dimension).
  virtual std::vector<std::vector<int64_t>> batch_sample_shapes() const = 0;
};

// Where the image lies in each sample, for calibrators of letterboxed images (calib/padding.h). octet's
// DatasetCalibrator implements it; a calibrator of raw arrays does not (all values are observed).
class ContentBoxSource {
 public:
  virtual ~ContentBoxSource() = default;
  // False for a wrapper whose calibrator does not say.
  virtual bool provides_boxes() const { return true; }
  // Per sample of the batch getBatch() returned last (batch order): its content box in the first input (in_h == 0:
  // a sample without padding).
  virtual std::vector<ContentBox> batch_content_boxes() const = 0;
};

// What calibration did about letterbox padding (the sidecar's "calib_padding").
struct PaddingOutcome {
  bool exclude = true;          // CalibOptions::exclude_padding
  int64_t padded_samples = 0;   // samples with padding, per pass (0: the data was not letterboxed)
  int64_t masked_tensors = 0;   // tensors observed without their padded positions (exclude only)
};

struct CalibOutcome {
  CalibTable table;
  bool from_cache = false;
  bool cache_rejected = false; // an existing cache was not reused (note says why): it was recalibrated over
  std::string note;            // why a cache was used or ignored
  std::string cache_bytes;     // what was (or would be) written
  int64_t batches = 0;         // per pass
  int64_t images = 0;          // per pass
  double seconds = 0;                   // the calibration passes (the refinement has its own)
  std::vector<HealthWarning> warnings;  // of the algorithm's thresholds
  RefineOutcome refinement;
  PaddingOutcome padding;
};

// The header octet writes for `algo`: TRT-<version>-<token> (percentile/mse use octet's own tokens).
std::string expected_cache_header(Algo algo, int trt_version);

CalibOutcome calibrate(const Graph& model, Calibrator& calibrator, const CalibOptions& opt);

// Names of the tensors calibration observes, in network order (inputs first, then node outputs).
std::vector<std::string> calibrated_tensor_names(const Graph& model);
// Channels-last copies (passes/nhwc.cpp) in the plan graph `g`: a tensor the plan computes only in NHWC is
// observed through that copy (statistics do not depend on layout); transposing copies of an observed tensor
// are never observed. Updates `obs_of` (plan value -> observer, -1 for none) for calibrate() and CalibSession.
void observe_layout_copies(const Graph& g, std::vector<int>& obs_of);

}  // namespace octet
