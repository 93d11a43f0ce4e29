#include "calib/formats.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace octet {

const char* scale_format_name(ScaleFormat f) {
  switch (f) {
    case ScaleFormat::TrtCache: return "trt";
    case ScaleFormat::OrtJson: return "ort-json";
    case ScaleFormat::OrtText: return "ort-text";
  }
  return "?";
}

ScaleFormat scale_format_from_name(std::string_view s) {
  if (s == "trt") return ScaleFormat::TrtCache;
  if (s == "ort-json" || s == "json") return ScaleFormat::OrtJson;
  if (s == "ort-text" || s == "ort") return ScaleFormat::OrtText;
  fail("unknown scales format '", s, "' (trt, ort-json, ort-text)");
}

ScaleFormat detect_scale_format(std::string_view b) {
  size_t i = 0;
  while (i < b.size() && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) ++i;
  if (b.substr(i, 4) == "TRT-") return ScaleFormat::TrtCache;
  if (i < b.size() && b[i] == '{') return ScaleFormat::OrtJson;
  return ScaleFormat::OrtText;
}

namespace {

// amax read from a table -> scale. An amax that is exactly 127 * s for a float32 s (the double octet writes
// for scales no float32 amax reaches) gives s; anything else is taken as float32 and divided in float32, like
// TensorRT's and ORT's readers (amax / 127.0f).
float scale_from_amax_text(double amax) {
  double q = amax / 127.0;
  if (static_cast<double>(static_cast<float>(q)) == q && q * 127.0 == amax) return static_cast<float>(q);
  return scale_from_amax(static_cast<float>(amax));
}

float scale_from_range(double lo, double hi, const std::string& name, std::string_view what) {
  double amax = std::max(std::fabs(lo), std::fabs(hi));
  if (!std::isfinite(amax)) fail("cannot read '", what, "': tensor '", name, "' has a range that is not finite");
  return scale_from_amax_text(amax);
}

// The shortest decimal that reads back as the same float32 (Python's float() then np.float32 included).
std::string float_text(float v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// amax text for a scale: the float32 127 * scale when it divides back exactly (~99% of scales), else the exact
// double 127 * scale (ORT rounds it to the nearest float32, octet reads it back exactly).
std::string amax_text(float scale) {
  float a = amax_from_scale(scale);
  if (a / 127.0f == scale) return float_text(a);
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, 127.0 * static_cast<double>(scale));
  return std::string(buf, r.ptr);
}

double json_number(const nlohmann::json& j, const std::string& name, const char* key, std::string_view what) {
  const nlohmann::json* v = &j;
  if (v->is_object()) {
    if (!v->contains("data")) fail("cannot read '", what, "': tensor '", name, "': '", key, "' has no \"data\"");
    v = &(*v)["data"];
  }
  while (v->is_array()) {  // numpy arrays of one element
    if (v->size() != 1) fail("cannot read '", what, "': tensor '", name, "': '", key, "' is not a single number");
    v = &(*v)[0];
  }
  if (!v->is_number()) fail("cannot read '", what, "': tensor '", name, "': '", key, "' is not a number");
  return v->get<double>();
}

}  // namespace

CalibCache parse_ort_json(std::string_view bytes, std::string_view what, const std::string& header) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    fail("cannot read '", what, "': not JSON (", e.what(), ")");
  }
  // ORT writes {"CLS": "TensorsData", "data": {...}}; older versions wrote the {name: [lo, hi]} map itself.
  const nlohmann::json* data = &j;
  if (j.is_object() && j.contains("data") && j["data"].is_object()) data = &j["data"];
  if (!data->is_object()) fail("cannot read '", what, "': expected an object of tensor ranges");
  CalibCache c;
  c.header = header;
  for (auto it = data->begin(); it != data->end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    double lo, hi;
    if (v.is_object()) {
      if (!v.contains("lowest") || !v.contains("highest"))
        fail("cannot read '", what, "': tensor '", name, "' has no lowest/highest");
      lo = json_number(v["lowest"], name, "lowest", what);
      hi = json_number(v["highest"], name, "highest", what);
    } else if (v.is_array() && v.size() == 2) {
      lo = json_number(v[0], name, "lowest", what);
      hi = json_number(v[1], name, "highest", what);
    } else {
      fail("cannot read '", what, "': tensor '", name, "' is neither {lowest, highest} nor [lo, hi]");
    }
    if (name.empty() || name.find_first_of("\r\n") != std::string::npos)
      fail("cannot read '", what, "': a tensor name is empty or contains a line break");
    c.entries.push_back({name, scale_from_range(lo, hi, name, what)});
  }
  return c;
}

CalibCache parse_ort_text(std::string_view bytes, std::string_view what, const std::string& header) {
  CalibCache c;
  c.header = header;
  std::set<std::string> seen;
  size_t pos = 0;
  int line_no = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty()) continue;
    size_t sp = line.find_last_of(" \t");
    if (sp == std::string_view::npos || sp == 0)
      fail("cannot read '", what, "' line ", line_no, ": expected 'name amax'");
    std::string name(line.substr(0, sp));
    std::string num(line.substr(sp + 1));
    double amax = 0.0;
    auto r = std::from_chars(num.data(), num.data() + num.size(), amax);
    if (r.ec != std::errc() || r.ptr != num.data() + num.size() || !std::isfinite(amax))
      fail("cannot read '", what, "' line ", line_no, ": '", num, "' is not a number");
    if (!seen.insert(name).second) fail("cannot read '", what, "' line ", line_no, ": tensor '", name, "' appears twice");
    c.entries.push_back({name, scale_from_range(0.0, amax, name, what)});
  }
  if (c.entries.empty()) fail("cannot read '", what, "': no 'name amax' lines");
  return c;
}

std::string serialize_scales(const CalibCache& cache, ScaleFormat f) {
  if (f == ScaleFormat::TrtCache) return serialize_cache(cache);
  std::map<std::string, float> sorted;  // ORT writes sorted keys; values are scales
  for (const auto& e : cache.entries) {
    OCTET_CHECK(std::isfinite(e.scale) && e.scale >= 0.f, "tensor '", e.name, "' has scale ", e.scale);
    OCTET_CHECK(!e.name.empty() && e.name.find_first_of("\r\n") == std::string::npos,
                "a tensor name is empty or contains a line break");
    sorted[e.name] = e.scale;
  }
  std::string out;
  if (f == ScaleFormat::OrtText) {
    for (const auto& [name, scale] : sorted) out += name + " " + amax_text(scale) + "\n";
    return out;
  }
  // JSON by hand so the numbers are the shortest float32 spellings (nlohmann prints doubles).
  auto number = [](const std::string& v) {
    return "{\"data\": " + v + ", \"dtype\": \"float32\", \"CLS\": \"numpy.array\"}";
  };
  out = "{\"CLS\": \"TensorsData\", \"data\": {";
  bool first = true;
  for (const auto& [name, scale] : sorted) {
    out += first ? "" : ", ";
    first = false;
    std::string amax = amax_text(scale);
    out += nlohmann::json(name).dump() + ": {\"lowest\": " + number((scale > 0.f ? "-" : "") + amax) +
           ", \"highest\": " + number(amax) +
           ", \"CLS\": \"TensorData\"}";
  }
  out += "}, \"calibration_method\": {\"CLS\": \"CalibrationMethod\", \"value\": \"CalibrationMethod.MinMax\"}}\n";
  return out;
}

CalibCache read_scales_file(const std::string& path, ScaleFormat* fmt, const std::string& default_header) {
  const std::string bytes = read_file(path, "scales file", 1ull << 30);  // regular files only (core/file_io.h)
  ScaleFormat d = detect_scale_format(bytes);
  if (fmt) *fmt = d;
  switch (d) {
    case ScaleFormat::TrtCache: return parse_cache(bytes, path);
    case ScaleFormat::OrtJson: return parse_ort_json(bytes, path, default_header);
    case ScaleFormat::OrtText: return parse_ort_text(bytes, path, default_header);
  }
  fail("cannot read '", path, "'");
}

}  // namespace octet
