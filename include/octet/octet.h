// octet's public C++ API. Link against the octet libraries (CMake target octet_all).
#pragma once

#include <string>

#include "octet/calibrator.h"

namespace octet {

struct CalibrateModelOptions {
  int trt_version = 0;        // cache header version (0: octet's default, a current TensorRT 10)
  bool quiet = true;          // no progress line on stderr
  bool inputs_minmax = true;  // network inputs calibrated with MinMax (false: with the calibrator's algorithm)
  // Threshold refinement (README, "Calibration"): on this many of the calibration samples (kept from the last
  // pass, evenly spread: every k-th), each tensor takes the recorded threshold that brings the INT8 outputs
  // closest to FP32. 0: none — the algorithm's thresholds as computed (for entropy2, TensorRT's).
  int refine_samples = 128;
};

// Calibrates the ONNX model at `onnx_path` with `calibrator` — exactly what `octet calibrate` does — and
// returns the TensorRT calibration cache text, which is also handed to calibrator.writeCalibrationCache()
// (once, after the refinement).
// A valid cache from calibrator.readCalibrationCache() is returned as is, without calling getBatch.
// Throws octet::Error (a std::runtime_error) with a message naming the file, tensor or node on bad input.
std::string calibrate_model(const std::string& onnx_path, Calibrator& calibrator,
                            const CalibrateModelOptions& options = {});

}  // namespace octet
