// octet convert IN -o OUT [--to FMT]: activation scales between TensorRT caches, ONNX Runtime's
// calibration.json / text calibration.cache, and Q/DQ ONNX models (read only). Formats: src/calib/formats.h.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "calib/formats.h"
#include "commands.h"
#include "common.h"
#include "core/file_io.h"

namespace octet::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  Args a("convert", "IN -o OUT [--to trt|ort-json|ort-text]",
         "Convert activation scales between formats. IN: a TensorRT cache, ONNX Runtime's calibration.json or\n"
         "text calibration.cache (detected from the bytes), or a Q/DQ .onnx model (scales of its activation\n"
         "QuantizeLinear nodes). OUT: trt (default; ort-json when OUT ends in .json), ort-json, ort-text.\n"
         "Scales are kept bit for bit (ORT tables store amax; octet writes the amax whose amax/127 is the scale).");
  a.opt("output", "OUT", "file to write (also -o)");
  a.opt("to", "FMT", "trt, ort-json or ort-text");
  a.opt("trt-version", "V", "TensorRT version for a new cache header (10.13.0 or 101300)", "10.13.0");
  a.opt("algo-token", "TOKEN", "algorithm token for a new cache header", "EntropyCalibration2");
  a.flag("strict", "Q/DQ input: refuse asymmetric (zero point != 0) activations instead of converting them");
  a.flag("force", "overwrite OUT");
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet convert: give exactly one input file");
  const std::string in = a.positional()[0], out = a.required("output");
  check_output(out, a.on("force"), "-o");
  std::string v = a.get("trt-version");
  int version = v.find('.') != std::string::npos ? trt_version_number(v) : std::stoi(v);
  std::string header = make_cache_header(version, a.get("algo-token"));
  CalibCache c;
  std::string from;
  if (ends_with(in, ".onnx")) {
    c = api::scales_from_qdq_model(in, header, a.on("strict"));
    from = "Q/DQ model";
  } else {
    ScaleFormat f;
    c = read_scales_file(in, &f, header);
    check_cache_scales(c, "'" + in + "'");
    from = scale_format_name(f);
  }
  ScaleFormat to = a.has("to") ? scale_format_from_name(a.get("to"))
                               : ends_with(out, ".json") ? ScaleFormat::OrtJson : ScaleFormat::TrtCache;
  write_file_atomic(out, serialize_scales(c, to));
  std::printf("wrote %s (%s -> %s, %zu tensors)\n", out.c_str(), from.c_str(), scale_format_name(to), c.entries.size());
  return 0;
}

}  // namespace octet::cli
