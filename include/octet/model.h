// A model as octet runs it, loaded from any of the files octet takes:
//   - an ONNX model (FP32);
//   - a Q/DQ ONNX model (ONNX Runtime quantize_static, PyTorch, ModelOpt, `octet quantize`): its FP32 graph
//     plus the activation scales its QuantizeLinear/DequantizeLinear pairs carry, which an INT8 engine uses
//     unless EngineOptions gives a cache; with asymmetric (uint8 / zero point) activations also the model as
//     written, for the exact simulation (AsymmetricPolicy::simulate);
//   - an octet plan file (`octet build`, Engine::save; recognized by its magic bytes, whatever the extension):
//     already optimized, its backend and precision fixed.
//
//   octet::Model m = octet::Model::load("model.onnx");
//   octet::Engine e = octet::Engine::build(std::move(m), {.precision = octet::Precision::int8, .cache_path = "model.cache"});
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octet/types.h"

namespace octet {

namespace api {
struct ModelSource;  // the internal representation (src/api/internal.h)
}

struct TensorSpec {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;  // as declared; -1 for a symbolic dimension (empty when the model declares none)
};

class Model {
 public:
  // Throws octet::Error naming the file on anything octet cannot read or run.
  static Model load(const std::string& path);

  Model(const Model& other);  // deep copy (weights included)
  Model& operator=(const Model& other);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const std::string& path() const;
  bool is_plan() const;       // an octet plan file
  bool is_qdq() const;        // a Q/DQ model (carries activation scales)
  // Activations of a Q/DQ model quantized asymmetrically (uint8 / zero point != 0); empty otherwise.
  const std::vector<std::string>& asymmetric_activations() const;
  std::vector<TensorSpec> inputs() const;
  std::vector<TensorSpec> outputs() const;

  // The internal representation, for octet's own layers (src/api); not part of the stable API.
  const api::ModelSource& source() const { return *src_; }
  api::ModelSource& source() { return *src_; }

 private:
  explicit Model(std::unique_ptr<api::ModelSource> src);
  std::unique_ptr<api::ModelSource> src_;
};

}  // namespace octet
