// octet::CalibrationSession over calib/session.h.
#include "api/internal.h"
#include "calib/session.h"
#include "octet/calibration_session.h"

namespace octet {

namespace api {
struct SessionImpl {
  std::unique_ptr<CalibSession> s;
  std::vector<std::string> input_names;
};
}  // namespace api

CalibrationSession::CalibrationSession(const Model& model, const CalibrationSessionOptions& options)
    : impl_(std::make_unique<api::SessionImpl>()) {
  OCTET_CHECK(!model.is_plan(), "'", model.path(), "' is a plan; calibration takes the ONNX model");
  CalibSessionOptions o;
  o.algo = parse_algo(options.algorithm);
  o.params.percentile = options.percentile;
  o.params.legacy_quantile = options.legacy_quantile;
  o.params.kl_error_limit = options.kl_error_limit;
  o.one_pass = options.one_pass;
  o.inputs_minmax = options.inputs_minmax;
  if (options.trt_version > 0) o.trt_version = options.trt_version;
  o.backend = options.backend;
  const Graph& g = model.source().graph;
  impl_->s = std::make_unique<CalibSession>(g, o);
  for (int v : g.inputs) impl_->input_names.push_back(g.value(v).name);
}
CalibrationSession::CalibrationSession(CalibrationSession&&) noexcept = default;
CalibrationSession& CalibrationSession::operator=(CalibrationSession&&) noexcept = default;
CalibrationSession::~CalibrationSession() = default;

int CalibrationSession::pass() const { return impl_->s->pass(); }
int CalibrationSession::passes() const { return impl_->s->passes(); }

void CalibrationSession::observe(const std::map<std::string, TensorView>& inputs) {
  std::vector<Tensor> in;
  for (const auto& name : impl_->input_names) {
    auto it = inputs.find(name);
    OCTET_CHECK(it != inputs.end(), "CalibrationSession::observe: no tensor for input '", name, "'");
    const TensorView& t = it->second;
    OCTET_CHECK(t.device == Device::cpu, "CalibrationSession::observe: input '", name, "' is not in host memory");
    in.push_back(Tensor::view(t.dtype, t.shape, const_cast<void*>(t.data)));
  }
  OCTET_CHECK(inputs.size() == in.size(), "CalibrationSession::observe: ", inputs.size(), " tensors for ", in.size(),
              " model inputs");
  impl_->s->observe(in);
}

void CalibrationSession::next_pass() { impl_->s->next_pass(); }
std::string CalibrationSession::export_state() const { return impl_->s->export_state(); }
void CalibrationSession::import_state(const std::string& state) { impl_->s->import_state(state); }
void CalibrationSession::merge_state(const std::string& state) { impl_->s->merge_state(state); }
std::string CalibrationSession::finish() { return impl_->s->finish(); }

}  // namespace octet
