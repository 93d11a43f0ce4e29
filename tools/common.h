// Pieces shared by several subcommands: command-line flags -> the api layer's typed options, threads, JSON
// output files, the layer table. The policy itself (plan vs ONNX vs Q/DQ, scales, FP32 layers) is in src/api.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/internal.h"
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
// A model as octet runs it (plan file, ONNX, Q/DQ ONNX): src/api/internal.h.
using api::ModelSource;
using api::load_model;
// The EngineOptions that the flags of add_int8_options / add_runtime_options say, for `precision` (nullopt:
// not given — a plan file's own; fp32 for a model). --asymmetric is checked where it applies (an asymmetric
// Q/DQ model without --cache), as before.
EngineOptions engine_options(const ModelSource& m, const Args& a, std::optional<std::string> precision);
// A plan of `m` (api::make_plan) for precision "fp32" or "int8" with the command's flags.
// Takes `m` by value: pass std::move(m) when it is not needed afterwards.
std::unique_ptr<Plan> make_plan(ModelSource m, const Args& a, const std::string& precision);
// --shapes NAME:DIMS (added with the preprocessing flags): fixes dynamic input dimensions of an ONNX model.
void add_shapes_option(Args& a);
void apply_shapes(ModelSource& m, const Args& a);
// load_model + apply_shapes for the commands that read image data into an ONNX model (tune, report): a plan
// file or a model with several inputs is an error naming `command` and the model.
ModelSource load_image_model(const std::string& path, const Args& a, const char* command);
// load_model + apply_shapes + make_plan. For a plan file, `precision` is checked only when --precision was given.
std::unique_ptr<Plan> load_plan(const std::string& model, const Args& a, const std::string& precision = "fp32");

// Runs `inputs` (N samples each) `chunk` samples at a time (0: all at once) and concatenates the outputs; a model
// whose inputs declare a fixed batch runs that many at a time (the last chunk padded with zeros, its extra rows
// dropped), so any number of samples runs through it. Outputs are copies.
std::vector<Tensor> run_in_chunks(Plan& plan, const std::vector<Tensor>& inputs, int64_t chunk = 0);

// The precision a plan gives each layer and why: api::layer_table.
using api::LayerRow;
using api::layer_table;
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

// Adds --cache, --asymmetric and --fp32-layers (INT8 plans).
void add_int8_options(Args& a);
// True when --precision int8 of `m` runs as a simulation of its asymmetric Q/DQ (api::simulates_asymmetric).
bool simulates_asymmetric(const ModelSource& m, const Args& a);
// --fp32-layers as a list ('none': empty), or nullopt when not given (the cache's sidecar decides).
std::optional<std::vector<std::string>> fp32_layers_arg(const Args& a);

}  // namespace octet::cli
