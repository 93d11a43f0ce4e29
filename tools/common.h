// Pieces shared by several subcommands: loading a model into a plan, threads, JSON output files.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "io/dataset.h"
#include "runtime/plan.h"

namespace octet::cli {

// Adds --backend and --threads to a command's options.
void add_runtime_options(Args& a);
// Applies --threads (0 = all cores) to OpenMP/oneDNN.
void apply_threads(const Args& a);
// Imports an ONNX model and builds a plan on --backend.
std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, PlanOptions opt = {});
// Writes JSON to `path` atomically (temp file + rename); "-" prints to stdout.
void write_json(const std::string& path, const nlohmann::json& j);

// Adds the preprocessing flags of DESIGN.md (--size --resize --mean --std --scale --bgr --gray --interp).
void add_preprocess_options(Args& a);
Preprocess preprocess_from_args(const Args& a);
// Adds --data --limit --shuffle --seed --skip-bad-images; opens the data set they name.
void add_data_options(Args& a);
std::unique_ptr<Dataset> open_data(const Args& a, bool need_labels);
// The model's first input without the batch dimension (for Preprocess::resolved).
Shape input_chw(const Plan& plan);

// "fnv1a64:<hex>" of a file's bytes: identifies the model a cache was made from.
std::string file_fingerprint(const std::string& path);

// amax per tensor name (127 x scale) from a TensorRT calibration cache.
std::map<std::string, float> load_amax(const std::string& cache_path);
// Adds --cache and --fp32-layers (INT8 plans).
void add_int8_options(Args& a);
// PlanOptions for --precision int8: amax from --cache (required), --fp32-layers.
PlanOptions int8_plan_options(const Args& a);

}  // namespace octet::cli
