// Calibration caches and scale tables: read, write and convert between TensorRT caches
// ("TRT-<version>-<Algo>" + "tensor: hex scale" lines), ONNX Runtime's calibration.json and text
// calibration.cache, and (read only) Q/DQ ONNX models.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace octet {

enum class CacheFormat { trt, ort_json, ort_text };

struct ScaleEntry {
  std::string name;
  float scale = 0.f;  // amax = 127 x scale
};

struct ScaleTable {
  std::string header;  // TensorRT cache header, e.g. "TRT-101300-EntropyCalibration2"
  std::vector<ScaleEntry> entries;
  std::map<std::string, float> amax() const;
};

// Reads any of the formats (detected from the bytes; a Q/DQ .onnx by its extension). Tables without a header
// get `header` (default: TRT-<octet's default version>-EntropyCalibration2). `format` receives what was read
// (nullopt for a Q/DQ model).
ScaleTable read_scales(const std::string& path, std::optional<CacheFormat>* format = nullptr,
                       const std::string& header = {});
// Serializes in `format` / writes atomically.
std::string serialize_scales(const ScaleTable& table, CacheFormat format);
void write_scales(const std::string& path, const ScaleTable& table, CacheFormat format = CacheFormat::trt);
// A TensorRT cache header for `trt_version` ("10.13.0" or "101300") and algorithm token.
std::string cache_header(const std::string& trt_version, const std::string& algo_token = "EntropyCalibration2");
// The layers octet tune recorded in the sidecar <cache_path>.json (empty without one).
std::vector<std::string> cache_fp32_layers(const std::string& cache_path);

}  // namespace octet
