// Caches and scale tables through the public API; scales_from_qdq_model moved from tools/cmd_convert.cpp.
#include <cmath>

#include "api/internal.h"
#include "calib/table.h"
#include "core/file_io.h"
#include "core/warnings.h"
#include "calib/sqnr.h"
#include "octet/cache.h"
#include "octet/evaluate.h"
#include "onnx/import.h"
#include "onnx/qdq_import.h"

namespace octet::api {

// Scales of a Q/DQ model's activation QuantizeLinear nodes, in graph order, as a cache with `header`.
CalibCache scales_from_qdq_model(const std::string& path, const std::string& header, bool strict) {
  ImportOptions io;
  io.strict = false;  // only the Q/DQ nodes matter here
  ImportResult r = import_onnx_file(path, io);
  OCTET_CHECK(has_qdq(r.graph), "'", path, "' has no QuantizeLinear/DequantizeLinear nodes");
  QdqImportOptions qo;
  qo.strict_symmetric = strict;
  QdqImportResult q = import_qdq(r.graph, qo);
  for (const auto& w : q.warnings) warn("qdq_import", w);
  CalibCache c;
  c.header = header;
  for (const auto& [name, s] : q.scales) c.entries.push_back({name, s});
  return c;
}

}  // namespace octet::api

namespace octet {

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
ScaleFormat internal_format(CacheFormat f) {
  return f == CacheFormat::ort_json ? ScaleFormat::OrtJson : f == CacheFormat::ort_text ? ScaleFormat::OrtText
                                                                                          : ScaleFormat::TrtCache;
}
CalibCache internal_cache(const ScaleTable& t) {
  CalibCache c;
  c.header = t.header;
  for (const auto& e : t.entries) c.entries.push_back({e.name, e.scale});
  return c;
}
}  // namespace

std::map<std::string, float> ScaleTable::amax() const {
  std::map<std::string, float> m;
  for (const auto& e : entries) m[e.name] = amax_from_scale(e.scale);
  return m;
}

ScaleTable read_scales(const std::string& path, std::optional<CacheFormat>* format, const std::string& header) {
  const std::string h = header.empty() ? make_cache_header(kDefaultTrtVersion, "EntropyCalibration2") : header;
  CalibCache c;
  if (ends_with(path, ".onnx")) {
    c = api::scales_from_qdq_model(path, h, /*strict=*/false);
    if (format) *format = std::nullopt;
  } else {
    ScaleFormat f;
    c = read_scales_file(path, &f, h);
    if (format)
      *format = f == ScaleFormat::OrtJson ? CacheFormat::ort_json
                : f == ScaleFormat::OrtText ? CacheFormat::ort_text : CacheFormat::trt;
  }
  ScaleTable t;
  t.header = c.header;
  for (const auto& e : c.entries) t.entries.push_back({e.name, e.scale});
  return t;
}

std::string serialize_scales(const ScaleTable& table, CacheFormat format) {
  return serialize_scales(internal_cache(table), internal_format(format));
}

void write_scales(const std::string& path, const ScaleTable& table, CacheFormat format) {
  write_file_atomic(path, serialize_scales(table, format));
}

std::string cache_header(const std::string& trt_version, const std::string& algo_token) {
  const int v = trt_version.find('.') != std::string::npos ? trt_version_number(trt_version) : std::stoi(trt_version);
  return make_cache_header(v, algo_token);
}

std::vector<std::string> cache_fp32_layers(const std::string& cache_path) {
  const std::optional<SidecarMeta> m = api::cache_sidecar_meta(cache_path);
  return m ? m->fp32_layers : std::vector<std::string>{};
}

// --- evaluate.h ---

std::vector<int64_t> top1(const HostTensor& y) {
  OCTET_CHECK(y.shape().size() == 2 && y.dtype() == DType::f32, "top1: expected N x classes float32 scores");
  const int64_t n = y.shape()[0], k = y.shape()[1];
  std::vector<int64_t> out(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const float* p = y.data<float>() + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (p[j] > p[best]) best = j;
    out[static_cast<size_t>(i)] = best;
  }
  return out;
}

double top1_accuracy(const HostTensor& scores, const std::vector<int>& labels) {
  const std::vector<int64_t> p = top1(scores);
  OCTET_CHECK(p.size() == labels.size() && !p.empty(), "top1_accuracy: ", p.size(), " rows, ", labels.size(), " labels");
  size_t ok = 0;
  for (size_t i = 0; i < p.size(); ++i) ok += p[i] == labels[i];
  return static_cast<double>(ok) / static_cast<double>(p.size());
}

double agreement(const HostTensor& a, const HostTensor& b) {
  const std::vector<int64_t> x = top1(a), y = top1(b);
  OCTET_CHECK(x.size() == y.size() && !x.empty(), "agreement: ", x.size(), " vs ", y.size(), " rows");
  size_t same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += x[i] == y[i];
  return static_cast<double>(same) / static_cast<double>(x.size());
}

void SqnrSums::add(const HostTensor& ref, const HostTensor& test) {
  OCTET_CHECK(ref.shape() == test.shape() && ref.dtype() == DType::f32 && test.dtype() == DType::f32,
              "sqnr: float32 tensors of equal shape expected");
  add_sqnr_sums(ref.data<float>(), test.data<float>(), ref.numel(), signal, noise);
}
double SqnrSums::db() const { return octet::sqnr_db(signal, noise); }

double sqnr_db(const HostTensor& ref, const HostTensor& test) {
  SqnrSums s;
  s.add(ref, test);
  return s.db();
}

}  // namespace octet
