// Calibration through the api layer: octet's data calibrators chosen by the data's kind, the .old copy of a
// mismatched cache and the sidecar octet calibrate writes (moved from tools/cmd_calibrate.cpp), the public
// calibrate() and calibrate_model() (was src/calib/public_api.cpp).
#include <filesystem>
#include <fstream>
#include <set>

#include "api/internal.h"
#include "core/file_io.h"
#include "calib/builtin_calibrators.h"
#include "core/file_io.h"
#include "onnx/import.h"

namespace octet::api {

namespace {

bool ends_with(const std::string& s, const char* suf) {
  std::string x(suf);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// The sidecar's "refinement" (sidecar.h).
nlohmann::json refinement_json(const RefineOutcome& r) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : r.changes) changes.push_back({{"tensor", c.tensor}, {"choice", c.choice}, {"from", c.from}, {"to", c.to}});
  return {{"samples", r.samples}, {"sqnr_before_db", r.sqnr_before_db}, {"sqnr_after_db", r.sqnr_after_db},
          {"sweeps", r.sweeps}, {"trials", r.trials}, {"pruned", r.pruned}, {"screened_out", r.screened_out},
          {"confirmations", r.confirmations}, {"settled", r.settled}, {"screen_samples", r.screen_samples},
          {"halted", r.halted}, {"weighted_outputs", r.weighted_outputs},
          {"seconds", r.seconds},
          {"seconds_parts", {{"setup", r.seconds_setup}, {"build", r.seconds_build}, {"screen", r.seconds_screen},
                             {"full", r.seconds_full}}},
          {"changes", changes}};
}

}  // namespace

OwningCalibrator::OwningCalibrator(std::unique_ptr<Dataset> ds, std::unique_ptr<FileCacheCalibrator> inner,
                                   int64_t samples)
    : ds_(std::move(ds)), inner_(std::move(inner)), samples_(samples),
      ids_(dynamic_cast<const SampleIndexSource*>(inner_.get())),
      shapes_(dynamic_cast<const BatchShapeSource*>(inner_.get())),
      boxes_(dynamic_cast<const ContentBoxSource*>(inner_.get())) {}

int OwningCalibrator::batchSize() const { return inner_->batchSize(); }
bool OwningCalibrator::getBatch(void* bindings[], const char* names[], int nb) {
  const bool ok = inner_->getBatch(bindings, names, nb);
  const int n = inner_->takeLastBatchSize();
  if (n >= 0) setLastBatchSize(n);
  return ok;
}
bool OwningCalibrator::rewind() { return inner_->rewind(); }
std::optional<std::string> OwningCalibrator::readCalibrationCache() { return inner_->readCalibrationCache(); }
void OwningCalibrator::writeCalibrationCache(const void* data, size_t length) { inner_->writeCalibrationCache(data, length); }
std::string OwningCalibrator::algorithm() const { return inner_->algorithm(); }
bool OwningCalibrator::provides_ids() const { return ids_ != nullptr; }
std::vector<int64_t> OwningCalibrator::all_sample_ids() const { return ids_ ? ids_->all_sample_ids() : std::vector<int64_t>{}; }
std::vector<int64_t> OwningCalibrator::batch_sample_ids() const {
  return ids_ ? ids_->batch_sample_ids() : std::vector<int64_t>{};
}

std::unique_ptr<OwningCalibrator> make_data_calibrator(const std::string& data_path, const Graph& model, const Shape& chw,
                                                       const std::function<std::unique_ptr<Dataset>()>& open,
                                                       const Preprocess& preprocess, int batch,
                                                       const std::string& cache_path, Algo algo, bool skip_bad,
                                                       bool limit_or_shuffle_given) {
  std::unique_ptr<Dataset> ds;
  std::unique_ptr<FileCacheCalibrator> calibrator;
  int64_t expected = 0;
  if (ends_with(data_path, ".npz") || ends_with(data_path, ".npy") || ends_with(data_path, ".raw") ||
      ends_with(data_path, ".bin")) {
    auto arrays = load_calibration_arrays(data_path, chw);
    check_calibration_arrays(arrays, model, data_path);
    auto tc = std::make_unique<TensorCalibrator>(std::move(arrays), batch, cache_path, algo);
    expected = tc->samples();
    if (limit_or_shuffle_given)
      log_message(LogLevel::note, "--limit, --skip and --shuffle apply to image and IDX data only; every sample of '" +
                                      data_path + "' is used");
    calibrator = std::move(tc);
  } else {
    ds = open();
    expected = static_cast<int64_t>(ds->size());
    calibrator = std::make_unique<DatasetCalibrator>(*ds, preprocess, batch, chw, cache_path, algo, skip_bad);
  }
  return std::make_unique<OwningCalibrator>(std::move(ds), std::move(calibrator), expected);
}

CacheSidecarCheck check_cache_sidecar(const std::string& cache_path, const std::string& model_path,
                                      const std::string& calib_padding) {
  // The sidecar must belong to the cache (same header) and the model: a cache left by a run whose sidecar
  // write failed, or by two runs that raced, is recalibrated rather than reused. A cache without a sidecar
  // (e.g. made by TensorRT) is reused. A cache that is not reused is kept as OUT.old (FileCacheCalibrator).
  CacheSidecarCheck c;
  c.model_hash = file_fingerprint(model_path);
  const std::string sidecar_path = cache_path + ".json";
  if (file_kind(cache_path) == "missing") return c;
  // Only a regular file is read (a FIFO or link there is refused naming it, core/file_io.h).
  const std::string bytes = read_file(cache_path, "calibration cache", 64ull << 20);
  std::string cache_header = bytes.substr(0, bytes.find('\n'));
  if (!cache_header.empty() && cache_header.back() == '\r') cache_header.pop_back();
  if (file_kind(sidecar_path) == "missing") {
    c.sidecar_missing = true;
  } else if (std::optional<SidecarMeta> meta = cache_sidecar_meta(cache_path)) {
    if (meta->cache_header != cache_header)
      c.reject = "its sidecar '" + sidecar_path + "' was written for a cache with header '" + meta->cache_header +
                 "', not '" + cache_header + "'";
    else if (!meta->model_hash.empty() && meta->model_hash != c.model_hash)
      c.reject = "its sidecar '" + sidecar_path + "' says it was made for another model (" + meta->model_hash + ", '" +
                 model_path + "' is " + c.model_hash + ")";
    else if (const std::string was = meta->calib_padding.is_object() ? meta->calib_padding.value("mode", "") : "";
             !calib_padding.empty() && !was.empty() && was != calib_padding)
      c.reject = "its sidecar says it was calibrated with --calib-padding " + was + ", not " + calib_padding;
  } else {
    c.sidecar_missing = true;  // unreadable: cache_sidecar_meta warned
  }
  return c;
}

std::vector<HealthWarning> reported_warnings(const CalibOutcome& r) {
  std::set<std::string> refined;
  for (const auto& c : r.refinement.changes) refined.insert(c.tensor);
  std::vector<HealthWarning> out;
  for (const auto& w : r.warnings)
    if (w.issue != HealthIssue::HeavyClipping || !refined.count(w.tensor)) out.push_back(w);
  return out;
}

SidecarMeta write_calibration_sidecar(const std::string& cache_path, const CalibOutcome& r, const std::string& model_hash,
                                      const std::string& data_source) {
  SidecarMeta meta;
  meta.cache_header = r.cache_bytes.substr(0, r.cache_bytes.find('\n'));
  meta.model_hash = model_hash;
  meta.data_hash = "source:" + data_source;
  meta.batches = r.batches;
  meta.images = r.images;
  if (r.refinement.ran) meta.refinement = refinement_json(r.refinement);
  if (r.padding.padded_samples > 0)
    meta.calib_padding = {{"mode", r.padding.exclude ? "exclude" : "include"},
                          {"padded_samples", r.padding.padded_samples},
                          {"masked_tensors", r.padding.masked_tensors}};
  for (const auto& w : reported_warnings(r))
    meta.warnings.push_back({{"tensor", w.tensor}, {"issue", health_issue_name(w.issue)}, {"message", w.message}});
  write_sidecar(cache_path + ".json", r.table, meta);
  return meta;
}

CalibrationResult to_public(const CalibOutcome& r) {
  CalibrationResult p;
  p.cache = r.cache_bytes;
  p.header = r.cache_bytes.substr(0, r.cache_bytes.find('\n'));
  p.from_cache = r.from_cache;
  p.note = r.note;
  p.tensors = r.table.entries.size();
  p.images = r.images;
  p.batches = r.batches;
  p.two_pass = r.table.hist_mode == HistMode::Fixed;
  p.seconds = r.seconds;
  for (const auto& w : reported_warnings(r)) p.warnings.push_back(w.message);
  p.refined = r.refinement.ran;
  p.refinement_skipped = r.refinement.skipped;
  p.sqnr_before_db = r.refinement.sqnr_before_db;
  p.sqnr_after_db = r.refinement.sqnr_after_db;
  for (const auto& c : r.refinement.changes) p.refined_tensors.push_back({c.tensor, c.choice, c.from, c.to});
  p.state = std::make_shared<const CalibOutcome>(r);
  return p;
}

}  // namespace octet::api

namespace octet {

CalibrationResult calibrate(const Model& model, Calibrator& calibrator, const CalibrationOptions& options) {
  OCTET_CHECK(!model.is_plan(), "'", model.path(), "' is a plan; calibration takes the ONNX model");
  CalibOptions o;
  o.params.percentile = options.percentile;
  o.params.legacy_quantile = options.legacy_quantile;
  o.params.kl_error_limit = options.kl_error_limit;
  o.one_pass = options.one_pass;
  o.import_cache = options.import_cache;
  o.inputs_minmax = options.inputs_minmax;
  if (options.trt_version > 0) o.trt_version = options.trt_version;
  o.backend = options.backend;
  o.quiet = options.quiet;
  o.expected_images = options.expected_samples;
  o.refine.samples = options.refine.samples;
  o.refine.batch = options.refine.batch;
  o.refine.max_sweeps = options.refine.max_sweeps;
  o.reject_cache = options.reject_cache;
  o.refine.screen_samples = options.refine.screen_samples;
  o.refine.prune_ratio = options.refine.prune_ratio;
  o.exclude_padding = options.calib_padding != "include";
  OCTET_CHECK(options.calib_padding == "exclude" || options.calib_padding == "include",
              "calib_padding must be 'exclude' or 'include', got '", options.calib_padding, "'");
  return api::to_public(octet::calibrate(model.source().graph, calibrator, o));
}

CacheFileCheck check_cache_file(const std::string& cache_path, const std::string& model_path,
                                const std::string& calib_padding) {
  check_output(cache_path, /*overwrite=*/true, "cache");
  check_output(cache_path + ".json", /*overwrite=*/true, "the cache's sidecar");
  CacheFileCheck c;
  c.exists = file_kind(cache_path) != "missing";
  const api::CacheSidecarCheck s = api::check_cache_sidecar(cache_path, model_path, calib_padding);
  c.reject = s.reject;
  c.sidecar_missing = s.sidecar_missing;
  return c;
}

void CalibrationResult::save(const std::string& cache_path, const std::string& model_path,
                             const std::string& data_source) const {
  OCTET_CHECK(!cache_path.empty(), "CalibrationResult::save: no cache path");
  if (!from_cache) {
    OCTET_CHECK(state != nullptr, "CalibrationResult::save: the result holds no calibration statistics");
    const auto& r = *static_cast<const CalibOutcome*>(state.get());
    api::write_calibration_sidecar(cache_path, r, model_path.empty() ? std::string() : api::file_fingerprint(model_path),
                                   data_source);
  }
  write_file_atomic(cache_path, cache);
}

namespace {

Shape first_input_chw(const Model& model) {
  const Graph& g = model.is_plan() ? model.source().plan->graph : model.source().graph;
  OCTET_CHECK(!g.inputs.empty(), "the model has no inputs");
  Shape chw;
  const Value& v = g.value(g.inputs[0]);
  for (size_t i = 1; i < v.declared.size(); ++i) chw.push_back(v.declared[i].value);
  return chw;
}

Preprocess internal_preprocess(const ImagePreprocess& ip) {
  Preprocess p;
  p.height = ip.height;
  p.width = ip.width;
  p.resize = ip.resize;
  p.mean = ip.mean;
  p.std = ip.std;
  p.scale = ip.scale;
  p.bgr = ip.bgr;
  if (ip.gray) p.channels = 1;
  p.interp = interp_from_name(ip.interp);
  p.letterbox = ip.letterbox;
  p.pad_value = ip.pad_value;
  p.pad_placement = pad_placement_from_name(ip.pad_placement);
  p.limit_side = ip.limit_side;
  p.multiple = ip.multiple;
  return p;
}

DatasetOptions internal_dataset_options(const DataOptions& data) {
  DatasetOptions dopt;
  dopt.shuffle = data.shuffle;
  dopt.seed = data.seed;
  dopt.skip = data.skip;
  dopt.limit = data.limit;
  return dopt;
}

}  // namespace

std::unique_ptr<DataCalibrator> make_data_calibrator(const Model& model, const DataOptions& data,
                                                     const std::string& cache_path, int batch,
                                                     const std::string& algorithm) {
  OCTET_CHECK(!model.is_plan(), "'", model.path(), "' is a plan; calibration takes the ONNX model");
  OCTET_CHECK(batch > 0 && batch <= 65536, "batch must be between 1 and 65536");
  const DatasetOptions dopt = internal_dataset_options(data);
  auto open = [&] { return open_dataset(data.path, false, dopt); };
  return api::make_data_calibrator(data.path, model.source().graph, first_input_chw(model), open,
                                   internal_preprocess(data.preprocess), batch, cache_path, parse_algo(algorithm),
                                   data.skip_bad_images, data.limit > 0 || data.skip > 0 || data.shuffle);
}

Samples load_samples(const Model& model, const DataOptions& data, bool labels) {
  auto ds = open_dataset(data.path, labels, internal_dataset_options(data));
  OCTET_CHECK(ds->size() > 0, "'", data.path, "' holds no samples");
  Batcher batcher(*ds, internal_preprocess(data.preprocess), static_cast<int64_t>(ds->size()), first_input_chw(model),
                  data.skip_bad_images);
  const int64_t n = batcher.next();
  Tensor t = batcher.batch().first(n);
  Samples s;
  s.data = HostTensor::copy_of({DType::f32, t.shape(), t.raw(), Device::cpu});
  if (ds->labelled()) s.labels.assign(batcher.labels().begin(), batcher.labels().begin() + n);
  return s;
}

std::string calibrate_model(const std::string& onnx_path, Calibrator& calibrator, const CalibrateModelOptions& options) {
  ImportResult model = import_onnx_file(onnx_path);
  CalibOptions o;
  if (options.trt_version > 0) o.trt_version = options.trt_version;
  o.quiet = options.quiet;
  o.inputs_minmax = options.inputs_minmax;
  o.refine.samples = options.refine_samples;
  return octet::calibrate(model.graph, calibrator, o).cache_bytes;
}

}  // namespace octet
