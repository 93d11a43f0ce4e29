// octet::Model and octet::HostTensor over the api layer's ModelSource and core's tensors.
#include <cstring>

#include "api/internal.h"
#include "core/version.h"
#include "octet/octet.h"

namespace octet {

const char* version() { return kOctetVersion; }

int64_t TensorView::numel() const { return octet::numel(shape); }

HostTensor::HostTensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_) OCTET_CHECK(d >= 0, "HostTensor: negative dimension in ", shape_str(shape_));
  data_ = std::shared_ptr<unsigned char[]>(new unsigned char[std::max<size_t>(nbytes(), 1)]());
}
HostTensor HostTensor::copy_of(const TensorView& v) {
  OCTET_CHECK(v.device == Device::cpu, "HostTensor::copy_of: not host memory");
  HostTensor t(v.dtype, v.shape);
  if (t.nbytes()) {
    OCTET_CHECK(v.data != nullptr, "HostTensor::copy_of: null data for ", shape_str(v.shape));
    std::memcpy(t.data(), v.data, t.nbytes());
  }
  return t;
}
int64_t HostTensor::numel() const { return octet::numel(shape_); }
void HostTensor::check_type(DType t) const {
  OCTET_CHECK(t == dtype_, "HostTensor holds ", dtype_name(dtype_), ", not ", dtype_name(t));
}

Model::Model(std::unique_ptr<api::ModelSource> src) : src_(std::move(src)) {}
Model::Model(const Model& o) : src_(std::make_unique<api::ModelSource>(*o.src_)) {}
Model& Model::operator=(const Model& o) {
  if (this != &o) src_ = std::make_unique<api::ModelSource>(*o.src_);
  return *this;
}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path) {
  return Model(std::make_unique<api::ModelSource>(api::load_model(path)));
}
const std::string& Model::path() const { return src_->path; }
bool Model::is_plan() const { return src_->plan != nullptr; }
bool Model::is_qdq() const { return !src_->qdq_amax.empty() || !src_->qdq_asymmetric.empty(); }
const std::vector<std::string>& Model::asymmetric_activations() const { return src_->qdq_asymmetric; }

namespace {
std::vector<TensorSpec> infos(const Graph& g, const std::vector<int>& vals) {
  std::vector<TensorSpec> out;
  for (int v : vals) {
    const Value& val = g.value(v);
    TensorSpec t{val.name, val.dtype, {}};
    for (const auto& d : val.declared) t.shape.push_back(d.value >= 0 ? d.value : -1);
    out.push_back(std::move(t));
  }
  return out;
}
const Graph& graph_of(const api::ModelSource& m) { return m.plan ? m.plan->graph : m.graph; }
}  // namespace

std::vector<TensorSpec> Model::inputs() const { return infos(graph_of(*src_), graph_of(*src_).inputs); }
std::vector<TensorSpec> Model::outputs() const { return infos(graph_of(*src_), graph_of(*src_).outputs); }

// --- Engine ---

const char* precision_name(Precision p) { return p == Precision::int8 ? "int8" : "fp32"; }

Engine::Engine(std::unique_ptr<api::EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Engine Engine::build(Model model, const EngineOptions& options) {
  auto impl = std::make_unique<api::EngineImpl>();
  impl->plan = api::make_plan(std::move(model.source()), options);
  return Engine(std::move(impl));
}

std::map<std::string, HostTensor> Engine::run(const std::map<std::string, TensorView>& inputs) {
  Plan& plan = *impl_->plan;
  const Graph& g = plan.graph();
  std::vector<Tensor> in;
  std::vector<Shape> shapes;
  for (int v : g.inputs) {
    const Value& val = g.value(v);
    auto it = inputs.find(val.name);
    OCTET_CHECK(it != inputs.end(), "Engine::run: no tensor for input '", val.name, "'");
    const TensorView& t = it->second;
    OCTET_CHECK(t.device == Device::cpu, "Engine::run: input '", val.name, "' is not in host memory");
    OCTET_CHECK(t.dtype == val.dtype, "input '", val.name, "' expects ", dtype_name(val.dtype), ", got ",
                dtype_name(t.dtype));
    OCTET_CHECK(t.data != nullptr || t.numel() == 0, "Engine::run: input '", val.name, "' has no data");
    in.push_back(Tensor::view(t.dtype, t.shape, const_cast<void*>(t.data)));
    shapes.push_back(t.shape);
  }
  OCTET_CHECK(inputs.size() == g.inputs.size(), "Engine::run: ", inputs.size(), " tensors for ", g.inputs.size(),
              " model inputs");
  if (shapes != impl_->shapes) {
    plan.reshape(shapes);
    impl_->shapes = shapes;
  }
  std::vector<Tensor> outs = plan.run(in);
  std::map<std::string, HostTensor> result;
  for (size_t i = 0; i < outs.size(); ++i)
    result[g.value(g.outputs[i]).name] = HostTensor::copy_of({outs[i].dtype(), outs[i].shape(), outs[i].raw(), Device::cpu});
  return result;
}

std::vector<TensorSpec> Engine::inputs() const { return infos(impl_->plan->graph(), impl_->plan->graph().inputs); }
std::vector<TensorSpec> Engine::outputs() const { return infos(impl_->plan->graph(), impl_->plan->graph().outputs); }
std::vector<Shape> Engine::input_shapes(int64_t batch) const { return impl_->plan->input_shapes(batch); }
Precision Engine::precision() const { return impl_->plan->is_int8() ? Precision::int8 : Precision::fp32; }
const std::string& Engine::backend() const { return impl_->plan->options().backend; }
std::vector<std::string> Engine::describe() {
  if (impl_->shapes.empty()) {
    impl_->shapes = impl_->plan->input_shapes(1);
    impl_->plan->reshape(impl_->shapes);
  }
  return impl_->plan->describe();
}
std::vector<LayerPrecision> Engine::layers() const {
  const Plan& p = *impl_->plan;
  std::vector<LayerPrecision> out;
  for (const auto& r : api::layer_table(p.graph(), p.quantize_report(), p.is_int8())) out.push_back({r.node, r.op, r.precision, r.why});
  return out;
}
void Engine::save(const std::string& plan_path) const { save_plan(*impl_->plan, plan_path); }

}  // namespace octet
