// octet quantize MODEL --cache C -o OUT: explicit quantization, the FP32 model with Q/DQ nodes carrying the
// cache's scales (TensorRT 8-11 explicit INT8, ONNX Runtime QDQ). See src/onnx/qdq_export.h, docs/qdq.md.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "core/file_io.h"
#include "octet/qdq.h"

namespace octet::cli {

int cmd_quantize(int argc, char** argv) {
  Args a("quantize", "MODEL.onnx --cache CACHE -o OUT.onnx [--format trt|ort] [--fp32-layers NODE,...]",
         "Write MODEL with QuantizeLinear/DequantizeLinear nodes carrying the calibration cache's scales:\n"
         "int8, zero point 0, activations per tensor, weights per output channel (int8 initializers).\n"
         "  trt: TensorRT's Q/DQ placement (inputs of Conv/ConvTranspose/Gemm/MatMul, residual Add inputs), plus\n"
         "       every tensor octet's own INT8 plan rounds to int8 (Concat / pooling / Add outputs), so the model\n"
         "       computes what `octet eval --precision int8` does; build with `trtexec --onnx=OUT.onnx`.\n"
         "  ort: ONNX Runtime's QDQ layout (op outputs too, int32 bias) for its CPU/GPU providers, limited to the\n"
         "       tensors octet's INT8 plan rounds (a Conv -> Relu pair gets the Relu output's scale).\n"
         "CACHE may be a TensorRT cache, ONNX Runtime's calibration.json or its text calibration.cache.");
  a.opt("cache", "CACHE", "activation scales (TensorRT cache, ORT calibration.json or calibration.cache)");
  a.opt("output", "OUT", "the Q/DQ model to write (also -o)");
  a.opt("format", "FMT", "trt or ort", "trt");
  a.opt("fp32-layers", "NODES", "comma-separated ONNX node names that get no Q/DQ (default: those octet tune recorded in the cache sidecar; 'none' for none)");
  a.flag("rules-only", "place Q/DQ by the format's rules alone, without octet's INT8 plan (trt: no pairs on\n"
                        "int8 Concat / pooling / Add outputs; ort: pairs on every input and output of ORT's ops)");
  a.flag("force", "overwrite OUT");
  a.flag("quiet", "print only errors");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet quantize: give exactly one model file");
  const std::string model = a.positional()[0], out = a.required("output");
  check_output(out, a.on("force"), "-o");
  {
    std::error_code ec;
    OCTET_CHECK(!std::filesystem::equivalent(model, out, ec), "octet quantize: the output would overwrite the input model");
  }
  QdqOptions opt;
  opt.format = a.get("format");
  opt.fp32_layers = fp32_layers_arg(a);
  opt.rules_only = a.on("rules-only");
  QdqResult rep = quantize_qdq(model, a.required("cache"), out, opt);
  write_file_atomic(out, rep.model);
  if (!a.on("quiet")) {
    for (const auto& n : rep.notes) std::printf("note: %s\n", n.c_str());
    for (const auto& s : rep.skipped) std::printf("fp32: %s\n", s.c_str());
    std::printf("wrote %s (%s format, opset %lld): %d nodes quantized, %d activation Q/DQ pairs, %d int8 weights%s\n",
                out.c_str(), opt.format.c_str(), static_cast<long long>(rep.opset), rep.quantized_nodes,
                rep.activation_pairs, rep.weights,
                rep.biases ? (", " + std::to_string(rep.biases) + " int32 biases").c_str() : "");
  }
  return 0;
}

}  // namespace octet::cli
