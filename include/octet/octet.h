// octet's public C++ API: everything a user includes. Link the CMake target octet::octet
// (find_package(octet)). Headers here only; everything under src/ is private.
//
//   #include <octet/octet.h>
//   octet::Model model = octet::Model::load("model.onnx");
//   auto cal = octet::make_data_calibrator(model, {.path = "calib/"}, "model.cache");
//   octet::calibrate(model, *cal);
//   octet::EngineOptions o;
//   o.precision = octet::Precision::int8;
//   o.cache_path = "model.cache";
//   octet::Engine engine = octet::Engine::build(model, o);
//   auto outputs = engine.run({{"input", octet::TensorView::of(data, {1, 3, 224, 224})}});
//
// Errors: octet::Error (a std::runtime_error). Messages: octet::set_log_handler (octet/log.h).
#pragma once

#include "octet/cache.h"
#include "octet/calibrate.h"
#include "octet/calibration_session.h"
#include "octet/calibrator.h"
#include "octet/data.h"
#include "octet/detect.h"
#include "octet/device.h"
#include "octet/engine.h"
#include "octet/error.h"
#include "octet/evaluate.h"
#include "octet/log.h"
#include "octet/model.h"
#include "octet/qdq.h"
#include "octet/tensor.h"
#include "octet/tune.h"
#include "octet/types.h"

namespace octet {

const char* version();  // "0.1.0"

}  // namespace octet
