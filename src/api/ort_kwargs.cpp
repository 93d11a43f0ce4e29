// octet's INT8 plan as ONNX Runtime quantize_static arguments (octet tune --exclusions: "onnxruntime" ->
// "quantize_static"); the placement logic is src/onnx/ort_args.cpp.
#include "api/internal.h"
#include "onnx/ort_args.h"

namespace octet::api {

nlohmann::json ort_quantize_static_args(const std::string& model_path, const CalibCache& cache,
                                        const std::vector<std::string>& fp32_layers) {
  QdqExportOptions opt;
  opt.format = QdqFormat::OnnxRuntime;
  opt.fp32_layers = fp32_layers;
  std::vector<std::string> notes;
  std::set<std::string> float_read;
  std::map<std::string, float> held;
  mirror_plan(model_path, cache, opt, notes, &float_read, &held);
  std::map<std::string, float> scales;
  for (const auto& e : cache.entries) scales[e.name] = e.scale;
  for (const auto& [t, s] : held) scales[t] = s;  // where octet rounds them: at the Concat's scale
  const OrtQuantizeArgs a = ort_quantize_args(model_path, scales, opt, float_read);

  nlohmann::json overrides = nlohmann::json::object();
  for (const auto& [t, s] : a.scales) {
    const auto zp = a.zero_points.find(t);
    overrides[t] = nlohmann::json::array({nlohmann::json{{"scale", s}, {"zero_point", zp == a.zero_points.end() ? 0 : zp->second}}});
  }
  for (const auto& t : a.int16) overrides[t] = nlohmann::json::array({nlohmann::json{{"quant_type", "QInt16"}}});
  const nlohmann::json types(a.op_types);
  std::vector<std::string> no_output;
  for (const auto& t : a.op_types)
    if (!a.output_types.count(t)) no_output.push_back(t);
  nlohmann::json extra = {{"ActivationSymmetric", true},
                          {"WeightSymmetric", true},
                          {"QuantizeBias", false},  // octet adds a float bias before rounding
                          {"QDQDisableWeightAdjustForInt32Bias", true},
                          {"ForceQuantizeNoInputCheck", true},
                          {"DedicatedQDQPair", false},
                          // 16-bit Q/DQ without raising the opset to 21 (ORT 1.32 fails to load such a model
                          // after its QDQ propagation across Reshape): com.microsoft Q/DQ
                          {"UseQDQContribOps", !a.int16.empty()},
                          {"OpTypesToExcludeOutputQuantization", no_output},
                          {"TensorQuantOverrides", overrides}};
  nlohmann::json kwargs = {{"quant_format", "QDQ"},
                           {"activation_type", "QInt8"},
                           {"weight_type", "QInt8"},
                           {"per_channel", true},
                           {"op_types_to_quantize", types},
                           {"nodes_to_quantize", a.nodes_to_quantize},
                           {"nodes_to_exclude", a.nodes_to_exclude},
                           {"extra_options", extra}};
  nlohmann::json r = {{"kwargs", kwargs},
                      {"rounded_tensors", a.scales.size()},
                      {"int16_tensors", a.int16},
                      {"not_reproduced", a.not_reproduced},
                      {"rounded_for_every_reader", a.rounded_for_every_reader},
                      {"usage", "kwargs = octet.ort.quantize_static_kwargs('EXCLUSIONS.json'); "
                                "onnxruntime.quantization.quantize_static(model, out, reader, **kwargs)"}};
  if (!notes.empty()) r["notes"] = notes;
  return r;
}

}  // namespace octet::api
