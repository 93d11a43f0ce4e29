// The api layer's internals: the policy that turns files and typed options into plans, caches and Q/DQ
// models, shared by the public API (include/octet/) and the CLI (tools/). Moved here from tools/common.cpp
// and tools/cmd_*.cpp; everything a user of the library needs is reachable through include/octet/ too.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "calib/formats.h"
#include "calib/sidecar.h"
#include "calib/tune.h"
#include "io/dataset.h"
#include "octet/calibrate.h"
#include "octet/detect.h"
#include "octet/engine.h"
#include "octet/log.h"
#include "octet/model.h"
#include "onnx/qdq_export.h"
#include "runtime/plan.h"
#include "runtime/plan_file.h"

namespace octet::api {

// A model as octet runs it: the FP32 graph, and — for a Q/DQ model (ONNX Runtime quantize_static, PyTorch,
// ModelOpt, octet quantize) — the activation scales its Q/DQ pairs carried, which an INT8 plan uses unless
// a cache overrides them.
// A plan file (octet build; recognized by its magic bytes, whatever the extension) is loaded instead: its
// graph is already optimized and its backend and precision are fixed.
struct ModelSource {
  Graph graph;
  std::map<std::string, float> qdq_amax;  // empty for a plain FP32 model
  // A Q/DQ model with asymmetric activations: the model as read (Q/DQ nodes kept, for AsymmetricPolicy::simulate),
  // those tensors, and the import's warnings (logged when they are mapped to symmetric int8).
  Graph qdq_graph;
  std::vector<std::string> qdq_asymmetric, qdq_warnings;
  std::string path;
  std::shared_ptr<const PlanContents> plan;  // set for a plan file (graph and qdq_amax then empty)
};
ModelSource load_model(const std::string& path);

// A plan of `m` for options.precision (fp32 when not given; for a plan file, its own): INT8 scales from
// options.amax, else options.cache_path, else the model's Q/DQ.
// For a plan file: a given precision must be the plan's, a given backend its backend, and a cache, amax and
// FP32 layers are refused (they need the ONNX model).
// Takes `m` by value: pass std::move(m) when it is not needed afterwards, so the model's weights can be
// released as the plan replaces them.
std::unique_ptr<Plan> make_plan(ModelSource m, const EngineOptions& options);

// amax per tensor name (127 x scale) from a TensorRT calibration cache.
std::map<std::string, float> load_amax(const std::string& cache_path);
// True when Precision::int8 of `m` runs as a simulation: a Q/DQ model with asymmetric activations, no cache,
// AsymmetricPolicy::simulate (make_plan then builds an FP32 plan of the Q/DQ graph as written).
bool simulates_asymmetric(const ModelSource& m, const EngineOptions& options);
// The metadata of the JSON sidecar next to `cache_path` (octet calibrate / tune; its cache_header says which
// cache it was written for), or nothing when there is none; an unreadable one is ignored with a warning.
std::optional<SidecarMeta> cache_sidecar_meta(const std::string& cache_path);
// The layers an INT8 plan keeps in FP32: options.fp32_layers when given, else the "fp32_layers" that octet
// tune wrote into the cache's sidecar (with a note), else none.
std::vector<std::string> fp32_layers_from(const EngineOptions& options);
// Refuses (Error naming the tensor and its cache line) a scale of 0 in `cache_path` for a tensor the INT8 plan
// would quantize (QuantizeReport::zero_scale_tensors), unless octet's own sidecar records that amax 0.
void check_zero_scales(const QuantizeReport& report, const std::string& cache_path);
// "fnv1a64:<hex>" of a file's bytes: identifies the model a cache was made from.
std::string file_fingerprint(const std::string& path);

// --- calibration ---
// octet's calibrator for the data at `path`: arrays (.npz .npy .raw .bin: TensorCalibrator, any number of
// inputs, checked against `model`'s inputs) or images through `open` (a Dataset: folder, IDX). It owns the data
// set, forwards the sample ids of a DatasetCalibrator (the refinement's order-independent choice) and the
// deferred cache write (defer_write / commit: the sidecar is written first, the cache is the commit point).
class OwningCalibrator : public DataCalibrator, public SampleIndexSource, public BatchShapeSource,
                         public ContentBoxSource {
 public:
  OwningCalibrator(std::unique_ptr<Dataset> ds, std::unique_ptr<FileCacheCalibrator> inner, int64_t samples);
  int batchSize() const override;
  bool getBatch(void* bindings[], const char* names[], int nb) override;
  bool rewind() override;
  std::optional<std::string> readCalibrationCache() override;
  void writeCalibrationCache(const void* data, size_t length) override;
  std::string algorithm() const override;
  int64_t samples() const override { return samples_; }
  bool provides_ids() const override;
  std::vector<int64_t> all_sample_ids() const override;
  std::vector<int64_t> batch_sample_ids() const override;
  bool provides_shapes() const override { return shapes_ != nullptr; }
  std::vector<std::vector<int64_t>> batch_sample_shapes() const override {
    return shapes_ ? shapes_->batch_sample_shapes() : std::vector<std::vector<int64_t>>{};
  }
  bool provides_boxes() const override { return boxes_ != nullptr; }
  std::vector<ContentBox> batch_content_boxes() const override {
    return boxes_ ? boxes_->batch_content_boxes() : std::vector<ContentBox>{};
  }
  FileCacheCalibrator& file() { return *inner_; }

 private:
  std::unique_ptr<Dataset> ds_;
  std::unique_ptr<FileCacheCalibrator> inner_;
  int64_t samples_;
  const SampleIndexSource* ids_;
  const BatchShapeSource* shapes_;
  const ContentBoxSource* boxes_;
};
// `limit_or_shuffle_given`: --limit/--skip/--shuffle, which apply to image data only (noted for arrays).
std::unique_ptr<OwningCalibrator> make_data_calibrator(const std::string& path, const Graph& model, const Shape& chw,
                                                       const std::function<std::unique_ptr<Dataset>()>& open,
                                                       const Preprocess& preprocess, int batch,
                                                       const std::string& cache_path, Algo algo, bool skip_bad,
                                                       bool limit_or_shuffle_given);
// Whether an existing cache's sidecar belongs to it and to the model (octet calibrate decides reuse with it).
struct CacheSidecarCheck {
  std::string reject;            // non-empty: why the cache is not reused (CalibOptions::reject_cache)
  bool sidecar_missing = false;  // a cache without a (readable) sidecar: reused, statistics unavailable
  std::string model_hash;        // file_fingerprint of the model
};
// `calib_padding` ("exclude" / "include"; empty: not checked): a cache whose sidecar records the other
// --calib-padding is not reused either (same header, other thresholds).
CacheSidecarCheck check_cache_sidecar(const std::string& cache_path, const std::string& model_path,
                                      const std::string& calib_padding = "");
// The calibration's health warnings as reported (CLI, sidecar "warnings", CalibrationResult::warnings):
// clipping warnings describe the algorithm's threshold, so none for tensors the refinement moved.
std::vector<HealthWarning> reported_warnings(const CalibOutcome& r);
// The sidecar octet calibrate writes next to the cache; returns its metadata.
SidecarMeta write_calibration_sidecar(const std::string& cache_path, const CalibOutcome& r, const std::string& model_hash,
                                      const std::string& data_source);
CalibrationResult to_public(const CalibOutcome& r);

// --- tune ---
// The table octet tune starts from: the cache's scales, with statistics and candidates from its sidecar when
// present and matching (else the cache alone).
struct TuneInput {
  CalibCache cache;
  CalibTable table;
  SidecarMeta meta;
  std::string sidecar;
  bool have_candidates = false;
};
TuneInput load_tune_input(const std::string& cache_path);
// Every ONNX node of `model` that runs FP32 because of `fp32_layers` in the INT8 plan of `table`: the layers
// and the nodes fused into them, in model order (the exclusion list other tools take).
std::vector<std::string> fp32_onnx_nodes(const Graph& model, const CalibTable& table,
                                         const std::vector<std::string>& fp32_layers, const std::string& backend);
// Writes the tuned cache (same header) and its sidecar (fp32_layers; calibrate's refinement record dropped when
// the thresholds were searched again).
void write_tuned(const std::string& out, const TuneInput& in, const CalibTable& table,
                 const std::vector<std::string>& fp32_layers, bool searched_scales, const std::string& model_path);

// The task objective of octet tune --task (calib/tune.h TuneTask) on the first output: "detect" decodes it
// (`decode`; input_h / input_w are taken from each batch) and scores box F1 of INT8 against the FP32 boxes at
// `match_iou` (1 when neither has a box); "segment" scores mask IoU of the maps > `mask_threshold`. Throws Error
// for another task name; a first output of the wrong shape is an Error (naming it) in the first trial.
// `output` names the first output in errors.
std::shared_ptr<TuneTask> make_tune_task(const std::string& task, const DecodeOptions& decode, double match_iou,
                                         float mask_threshold, const std::string& output);

// --- Q/DQ export ---
// What octet's INT8 plan of `model` does, for the export to put Q/DQ where octet rounds (see qdq.cpp).
// `float_read`, when given: the tensors of opt.int8_tensors that an FP32 node of the plan reads unrounded.
// `held`, when given: the int8 tensors the plan holds at another tensor's scale (an input read only by an int8
// Concat: the Concat's scale), with that scale.
void mirror_plan(const std::string& model, const CalibCache& cache, QdqExportOptions& opt,
                 std::vector<std::string>& notes, std::set<std::string>* float_read = nullptr,
                 std::map<std::string, float>* held = nullptr);

// ONNX Runtime quantize_static arguments that make its QDQ model round the tensors octet's INT8 plan of `model`
// (scales `cache`, `fp32_layers` in FP32) rounds, with the same scales, and no others (ort_kwargs.cpp):
// {"kwargs": {...}, "rounded_tensors", "int16_tensors", "not_reproduced", "rounded_for_every_reader", "usage"}.
nlohmann::json ort_quantize_static_args(const std::string& model, const CalibCache& cache,
                                        const std::vector<std::string>& fp32_layers);
// Scales of a Q/DQ model's activation QuantizeLinear nodes, in graph order, as a cache with `header`
// (`strict`: refuse asymmetric activations instead of converting them).
CalibCache scales_from_qdq_model(const std::string& path, const std::string& header, bool strict);

// --- plan introspection ---
// The precision a plan gives each layer and why (octet build --verbose, octet info on a plan).
struct LayerRow {
  std::string node, op, precision, why;
};
// With `onnx` (the model the plan was built from): one row per ONNX node, fused and folded ones included.
// Without: one row per QuantizeReport line (INT8 plans) or per executed node (FP32 plans).
std::vector<LayerRow> layer_table(const Graph& plan_graph, const QuantizeReport& report, bool int8,
                                  const Graph* onnx = nullptr);

// --- engine ---
struct EngineImpl {
  std::unique_ptr<Plan> plan;
  std::vector<Shape> shapes;  // of the last reshape
};

}  // namespace octet::api
