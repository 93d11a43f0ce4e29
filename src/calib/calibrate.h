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

#include "calib/sidecar.h"
#include "calib/table.h"
#include "ir/graph.h"
#include "octet/calibrator.h"

namespace octet {

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
  int64_t expected_images = 0;  // for the progress line's ETA (0 = unknown)
};

struct CalibOutcome {
  CalibTable table;
  bool from_cache = false;
  std::string note;            // why a cache was used or ignored
  std::string cache_bytes;     // what was (or would be) written
  int64_t batches = 0;         // per pass
  int64_t images = 0;          // per pass
  double seconds = 0;
  std::vector<HealthWarning> warnings;
};

// The header octet writes for `algo`: TRT-<version>-<token> (percentile/mse use octet's own tokens).
std::string expected_cache_header(Algo algo, int trt_version);

CalibOutcome calibrate(const Graph& model, Calibrator& calibrator, const CalibOptions& opt);

// Names of the tensors calibration observes, in network order (inputs first, then node outputs).
std::vector<std::string> calibrated_tensor_names(const Graph& model);

}  // namespace octet
