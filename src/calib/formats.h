// Activation scales in other tools' formats, so users can move between TensorRT, ONNX Runtime and Q/DQ models.
//
//   trt       TensorRT calibration cache (cache.h): "TRT-<ver>-<Algo>" + "name: <hex bits of scale>".
//   ort-json  ONNX Runtime's calibration.json (onnxruntime.quantization write_calibration_table /
//             save_tensors_data): {"CLS": "TensorsData", "data": {name: {"lowest": L, "highest": H,
//             "CLS": "TensorData"}, ...}, "calibration_method": {...}}; L/H are numbers or
//             {"data": x, "dtype": "float32", "CLS": "numpy.array"}. ORT's own loader
//             (calibrate.load_tensors_data) reads what octet writes.
//   ort-text  ONNX Runtime's plain calibration.cache: one "name amax" line per tensor, sorted by name, no
//             header (split at the LAST space: names may contain spaces). ORT writes max(highest, lowest),
//             which is amax for the symmetric ranges octet writes.
//   (Q/DQ models are read by onnx/qdq_import.h: scales of the activation QuantizeLinear nodes.)
//
// Reading a table of ranges gives scale = amax / 127 with amax = max(|lowest|, |highest|) (TensorRT's
// symmetric scheme). Writing gives the float32 amax = 127 * scale when amax / 127.0f is the scale again
// (~99% of scales); for the rest no float32 amax divides back exactly (amax's ulp / 127 exceeds the scale's
// ulp), so octet writes the exact double 127 * scale: trt -> ort -> trt keeps every scale bit for bit in
// octet, and ONNX Runtime, reading amax as float32, is one ulp off for those ~1%.
#pragma once

#include <string>
#include <string_view>

#include "calib/cache.h"

namespace octet {

enum class ScaleFormat { TrtCache, OrtJson, OrtText };
const char* scale_format_name(ScaleFormat f);            // "trt", "ort-json", "ort-text"
ScaleFormat scale_format_from_name(std::string_view s);  // throws Error

// Guesses the format of a scales file from its bytes: "TRT-" header -> trt, '{' -> ort-json, else ort-text.
ScaleFormat detect_scale_format(std::string_view bytes);

// Parse ORT formats into a CalibCache (header `header`, entries in file order; ort-json entries in key order).
// Throws Error naming the line / tensor for malformed input, a duplicate name, or a negative/NaN amax.
CalibCache parse_ort_json(std::string_view bytes, std::string_view what, const std::string& header);
CalibCache parse_ort_text(std::string_view bytes, std::string_view what, const std::string& header);

// Serialize entries in a format (trt: serialize_cache; the header is kept). Scales must be finite, >= 0.
std::string serialize_scales(const CalibCache& cache, ScaleFormat f);

// Reads a scales file in any of the formats (detected), `fmt` receives the detected one. ORT files get the
// header `default_header` (a TensorRT cache keeps its own).
CalibCache read_scales_file(const std::string& path, ScaleFormat* fmt = nullptr,
                            const std::string& default_header = "TRT-101300-EntropyCalibration2");

}  // namespace octet
