// The repo's Fashion-MNIST model and its entropy2 calibration on synthetic data, shared by the threshold-search
// tests (tune_test, refine_test): calibrated once per test binary (the slow part, especially under the
// sanitizers).
#pragma once

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "onnx/import.h"
#include "test_util.h"

namespace octet::test {

inline Graph fmnist() { return import_onnx_file(source_dir() + "/models/fmnist_cnn.onnx").graph; }

inline CalibTable calibrated(const Graph& g) {
  static const CalibTable table = [&] {
    TensorCalibrator c({{"input", random_f32({24, 1, 28, 28}, 5, -0.8f, 2.0f)}}, 8, "", Algo::Entropy2);
    CalibOptions o;
    o.quiet = true;
    return calibrate(g, c, o).table;
  }();
  return table;
}

}  // namespace octet::test
