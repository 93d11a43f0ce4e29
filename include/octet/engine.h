// Engine: a model optimized for one backend and precision, ready to run — octet's equivalent of a TensorRT
// engine. Built from a Model with EngineOptions; saved as a plan file that Model::load reads back.
//
//   octet::EngineOptions o;
//   o.precision = octet::Precision::int8;
//   o.cache_path = "model.cache";                     // TensorRT calibration cache (octet calibrate / tune)
//   octet::Engine engine = octet::Engine::build(octet::Model::load("model.onnx"), o);
//   auto outs = engine.run({{"input", octet::TensorView::of(x.data(), {8, 1, 28, 28})}});
//   engine.save("model.plan");
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

namespace api {
struct EngineImpl;  // src/api/internal.h
}

enum class Precision { fp32, int8 };

// The precision an engine gives a layer and why ("int8", "fp32", or "-" for a node folded or removed).
struct LayerPrecision {
  std::string node, op, precision, why;
};
const char* precision_name(Precision p);  // "fp32", "int8"

// A Q/DQ model whose activations are asymmetric (uint8 / zero point), run at Precision::int8 without a cache:
enum class AsymmetricPolicy {
  simulate,   // the model's own Q/DQ, exactly, in FP32 kernels (its accuracy, FP32 speed)
  symmetric,  // mapped to octet's symmetric int8 kernels (INT8 speed, about one bit less precision per tensor)
};

struct EngineOptions {
  // nullopt: fp32 for an ONNX model, the plan's own for a plan file (a given precision must then be the plan's).
  std::optional<Precision> precision;
  // INT8 scales: `amax` (ONNX tensor name -> amax = 127 x scale) when not empty, else the TensorRT cache at
  // `cache_path`, else a Q/DQ model's own scales. Refused for a plan file (its scales are fixed).
  std::string cache_path;
  std::map<std::string, float> amax;
  // ONNX node names an INT8 engine keeps in FP32. nullopt: those octet tune recorded in the cache's sidecar
  // (<cache_path>.json), else none.
  std::optional<std::vector<std::string>> fp32_layers;
  // "cpu" (oneDNN + octet's kernels) or "ref" (plain loops). Empty: cpu; for a plan file, the plan's.
  std::string backend;
  int threads = 0;  // OpenMP threads (0: leave as is — all cores unless OMP_NUM_THREADS says otherwise; more
                    // than the CPUs this process may use are clamped to them)
  AsymmetricPolicy asymmetric = AsymmetricPolicy::simulate;
};

class Engine {
 public:
  // Takes the model by value: pass std::move(model) when it is not needed afterwards, so its weights can be
  // released as the engine replaces them. Throws octet::Error.
  static Engine build(Model model, const EngineOptions& options = {});

  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  // Runs on named inputs (every model input, host memory; a batch of any size the model allows) and returns
  // every output by name, as tensors the caller owns.
  std::map<std::string, HostTensor> run(const std::map<std::string, TensorView>& inputs);

  std::vector<TensorSpec> inputs() const;
  std::vector<TensorSpec> outputs() const;
  // Input shapes with the symbolic first dimension set to `batch` (others to 1).
  std::vector<Shape> input_shapes(int64_t batch = 1) const;
  // Precision::int8 for a quantized engine (an asymmetric Q/DQ model run as a simulation is fp32).
  Precision precision() const;
  const std::string& backend() const;
  // Every layer's precision and why: one row per quantization decision (INT8 engines) or executed node (FP32).
  std::vector<LayerPrecision> layers() const;
  // One line per executed node (name, op, backend), after a run or at batch 1.
  std::vector<std::string> describe();
  // Writes the engine as a plan file (atomically).
  void save(const std::string& plan_path) const;

  // octet's own layers (src/api, the CLI): the internal plan. Not part of the stable API.
  api::EngineImpl& impl() { return *impl_; }

 private:
  explicit Engine(std::unique_ptr<api::EngineImpl> impl);
  std::unique_ptr<api::EngineImpl> impl_;
};

}  // namespace octet
