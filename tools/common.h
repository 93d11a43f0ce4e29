// Pieces shared by several subcommands: loading a model into a plan, threads, JSON output files.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "core/file_io.h"
#include "calib/sidecar.h"
#include "io/dataset.h"
#include "runtime/plan.h"
#include "runtime/plan_file.h"

namespace octet::cli {

// Adds --backend and --threads to a command's options.
void add_runtime_options(Args& a);
// Applies --threads (0 = all cores) to OpenMP/oneDNN.
void apply_threads(const Args& a);
// A model as octet runs it: the FP32 graph, and — for a Q/DQ model (ONNX Runtime quantize_static, PyTorch,
// ModelOpt, octet quantize) — the activation scales its Q/DQ pairs carried, which an INT8 plan uses unless
// --cache overrides them.
// A plan file (octet build; recognized by its magic bytes, whatever the extension) is loaded instead: its
// graph is already optimized and its backend and precision are fixed.
struct ModelSource {
  Graph graph;
  std::map<std::string, float> qdq_amax;  // empty for a plain FP32 model
  // A Q/DQ model with asymmetric activations: the model as read (Q/DQ nodes kept, for --asymmetric simulate),
  // those tensors, and the import's warnings (printed when they are mapped to symmetric int8).
  Graph qdq_graph;
  std::vector<std::string> qdq_asymmetric, qdq_warnings;
  std::string path;
  std::shared_ptr<const PlanContents> plan;  // set for a plan file (graph and qdq_amax then empty)
};
ModelSource load_model(const std::string& path);
// A plan of `m` on --backend for precision "fp32" or "int8" (scales from --cache, else the model's Q/DQ).
// For a plan file: `precision` must be the plan's, --backend (when given) its backend, and --cache,
// --fp32-layers and a list of several precisions are refused (they need the ONNX model).
// Takes `m` by value: pass std::move(m) when it is not needed afterwards, so the model's weights can be
// released as the plan replaces them.
std::unique_ptr<Plan> make_plan(ModelSource m, const Args& a, const std::string& precision);
// load_model + make_plan. For a plan file, `precision` is checked only when --precision was given.
std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, const std::string& precision = "fp32");

// The precision a plan gives each layer and why (octet build --verbose, octet info on a plan).
struct LayerRow {
  std::string node, op, precision, why;
};
// With `onnx` (the model the plan was built from): one row per ONNX node, fused and folded ones included.
// Without: one row per QuantizeReport line (INT8 plans) or per executed node (FP32 plans).
std::vector<LayerRow> layer_table(const Graph& plan_graph, const QuantizeReport& report, bool int8,
                                  const Graph* onnx = nullptr);
void print_layer_table(const std::vector<LayerRow>& rows);
// Writes JSON to `path` atomically (temp file + rename); "-" prints to stdout.
void write_json(const std::string& path, const nlohmann::json& j);
// Before any work: --json's path (unless "-") may be written (core/file_io.h check_output; an existing file
// only with --force, which the command must declare).
void check_json_output(const Args& a);

// Adds the preprocessing flags of DESIGN.md (--size --resize --mean --std --scale --bgr --gray --interp).
void add_preprocess_options(Args& a);
Preprocess preprocess_from_args(const Args& a);
// Adds --data --limit --shuffle --seed --skip-bad-images; opens the data set they name.
void add_data_options(Args& a);
std::unique_ptr<Dataset> open_data(const Args& a, bool need_labels);
// The model's first input without the batch dimension (for Preprocess::resolved).
Shape input_chw(const Plan& plan);
Shape input_chw(const Graph& model);

// "fnv1a64:<hex>" of a file's bytes: identifies the model a cache was made from.
std::string file_fingerprint(const std::string& path);

// amax per tensor name (127 x scale) from a TensorRT calibration cache.
std::map<std::string, float> load_amax(const std::string& cache_path);
// Adds --cache and --fp32-layers (INT8 plans).
void add_int8_options(Args& a);
// True when --precision int8 of `m` runs as a simulation: a Q/DQ model with asymmetric activations, no
// --cache, --asymmetric not 'symmetric' (make_plan then builds an FP32 plan of the Q/DQ graph as written).
bool simulates_asymmetric(const ModelSource& m, const Args& a);
// The metadata of the JSON sidecar next to `cache_path` (octet calibrate / tune; its cache_header says which
// cache it was written for), or nothing when there is none; an unreadable one is ignored with a warning.
std::optional<SidecarMeta> cache_sidecar_meta(const std::string& cache_path);
// The layers an INT8 plan keeps in FP32: --fp32-layers when given ('none' = none), else the "fp32_layers"
// that octet tune wrote into the --cache's sidecar (with a note on stderr), else none.
std::vector<std::string> fp32_layers_from(const Args& a);


}  // namespace octet::cli
