// octet's public C++ API. Link against the octet libraries (CMake target octet_all).
#pragma once

#include <string>

#include "octet/calibrator.h"

namespace octet {

struct CalibrateModelOptions {
  int trt_version = 0;        // cache header version (0: octet's default, a current TensorRT 10)
  bool quiet = true;          // no progress line on stderr
  bool inputs_minmax = true;  // network inputs calibrated with MinMax (false: with the calibrator's algorithm)
};

// Calibrates the ONNX model at `onnx_path` with `calibrator` — exactly what `octet calibrate` does — and
// returns the TensorRT calibration cache text, which is also handed to calibrator.writeCalibrationCache().
// A valid cache from calibrator.readCalibrationCache() is returned as is, without calling getBatch.
// Throws octet::Error (a std::runtime_error) with a message naming the file, tensor or node on bad input.
std::string calibrate_model(const std::string& onnx_path, Calibrator& calibrator,
                            const CalibrateModelOptions& options = {});

}  // namespace octet
