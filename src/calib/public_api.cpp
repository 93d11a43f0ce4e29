// include/octet/octet.h on top of the calibration driver.
#include "calib/calibrate.h"
#include "octet/octet.h"
#include "onnx/import.h"

namespace octet {

std::string calibrate_model(const std::string& onnx_path, Calibrator& calibrator, const CalibrateModelOptions& options) {
  ImportResult model = import_onnx_file(onnx_path);
  CalibOptions o;
  if (options.trt_version > 0) o.trt_version = options.trt_version;
  o.quiet = options.quiet;
  o.inputs_minmax = options.inputs_minmax;
  o.refine.samples = options.refine_samples;
  return calibrate(model.graph, calibrator, o).cache_bytes;
}

}  // namespace octet
