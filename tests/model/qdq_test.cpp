// Q/DQ export (onnx/qdq_export.h) -> import (onnx/qdq_import.h) round trip on models/fmnist_cnn.onnx with a
// synthetic cache: the scales come back bit for bit, the stripped graph is the FP32 graph again, weights
// fold back to within half a quantization step. Plus the scale table formats (calib/formats.h).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <map>
#include <random>

#include "calib/formats.h"
#include "onnx/import.h"
#include "onnx/qdq_export.h"
#include "onnx/qdq_import.h"
#include "test_util.h"

using namespace octet;

namespace {

std::string fmnist() { return test::source_dir() + "/models/fmnist_cnn.onnx"; }

// A scale for the graph input and every node output: odd values, not multiples of anything nice.
std::map<std::string, float> synthetic_scales(const Graph& g) {
  std::map<std::string, float> s;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.001f, 0.1f);
  for (int v : g.inputs) s[g.value(v).name] = u(rng);
  for (const auto& n : g.nodes)
    for (int o : n.outputs) s[g.value(o).name] = u(rng);
  return s;
}

int count_op(const Graph& g, OpType op) {
  int c = 0;
  for (const auto& n : g.nodes) c += n.op == op;
  return c;
}

}  // namespace

TEST(Qdq, ExportImportRoundTripIsBitExact) {
  Graph fp32 = import_onnx_file(fmnist()).graph;
  auto scales = synthetic_scales(fp32);
  for (QdqFormat fmt : {QdqFormat::TensorRT, QdqFormat::OnnxRuntime}) {
    SCOPED_TRACE(qdq_format_name(fmt));
    QdqExportOptions opt;
    opt.format = fmt;
    QdqExportReport rep;
    std::string bytes = export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, opt, &rep);
    EXPECT_EQ(rep.weights, 7);  // 6 Conv + 1 Gemm, per output channel
    EXPECT_GT(rep.activation_pairs, 0);
    EXPECT_TRUE(rep.skipped.empty());
    Graph q = import_onnx_buffer(bytes.data(), bytes.size(), "qdq", test::source_dir() + "/models").graph;
    ASSERT_TRUE(has_qdq(q));
    EXPECT_FALSE(has_qdq(fp32));
    QdqImportResult r = import_qdq(q);
    EXPECT_FALSE(has_qdq(r.graph));
    EXPECT_TRUE(r.warnings.empty());
    EXPECT_EQ(r.folded_weights, 7 + rep.biases);
    EXPECT_EQ(r.activation_pairs, rep.activation_pairs);
    ASSERT_FALSE(r.scales.empty());
    for (const auto& [name, s] : r.scales) {
      ASSERT_TRUE(scales.count(name)) << name;
      EXPECT_EQ(std::bit_cast<uint32_t>(s), std::bit_cast<uint32_t>(scales[name])) << name;
      // quantize_graph recomputes scale = amax / 127: the same bits, or one ulp off for ~1% of scales.
      EXPECT_LE(std::abs(static_cast<int64_t>(std::bit_cast<uint32_t>(r.amax.at(name) / 127.0f)) -
                         static_cast<int64_t>(std::bit_cast<uint32_t>(s))), 1) << name;
    }
    // Same ops as the FP32 import, and weights within half a step of the originals.
    for (int op = 0; op < kOpCount; ++op)
      EXPECT_EQ(count_op(r.graph, static_cast<OpType>(op)), count_op(fp32, static_cast<OpType>(op))) << op_name(static_cast<OpType>(op));
    for (const auto& n : fp32.nodes) {
      if (n.op != OpType::Conv && n.op != OpType::Gemm) continue;
      const Tensor& w0 = fp32.const_of(n.inputs[1]);
      int wv = -1;
      for (const auto& m : r.graph.nodes)
        if (m.name == n.name) wv = m.inputs[1];
      ASSERT_GE(wv, 0) << n.name;
      ASSERT_TRUE(r.graph.is_const(wv)) << n.name;
      const Tensor& w1 = r.graph.const_of(wv);
      ASSERT_EQ(w0.shape(), w1.shape());
      int64_t K = w0.dim(0), per = w0.numel() / K;  // Conv [K, ...]; Gemm here has transB=1: [N, K]
      for (int64_t k = 0; k < K; ++k) {
        float mx = 0;
        for (int64_t i = 0; i < per; ++i) mx = std::max(mx, std::fabs(w0.data<float>()[k * per + i]));
        float step = mx / 127.0f;
        for (int64_t i = 0; i < per; ++i)
          ASSERT_LE(std::fabs(w0.data<float>()[k * per + i] - w1.data<float>()[k * per + i]), step * 0.5f + 1e-7f)
              << n.name << " channel " << k;
      }
    }
  }
}

TEST(Qdq, Fp32LayersAndMissingScales) {
  Graph fp32 = import_onnx_file(fmnist()).graph;
  auto scales = synthetic_scales(fp32);
  std::string first_conv;
  for (const auto& n : fp32.nodes)
    if (n.op == OpType::Conv) {
      first_conv = n.name;
      break;
    }
  QdqExportOptions opt;
  opt.fp32_layers = {first_conv};
  QdqExportReport rep;
  export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, opt, &rep);
  EXPECT_EQ(rep.weights, 6);
  opt.fp32_layers = {"no_such_node"};
  try {
    export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, opt, &rep);
    FAIL() << "an unknown --fp32-layers name must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_node"), std::string::npos) << e.what();
  }
  // Without a scale for the graph input, the first conv stays FP32 and says so.
  scales.erase(fp32.value(fp32.inputs[0]).name);
  export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, {}, &rep);
  EXPECT_EQ(rep.weights, 6);
  ASSERT_EQ(rep.skipped.size(), 1u);
  EXPECT_NE(rep.skipped[0].find(first_conv), std::string::npos);
}

TEST(Qdq, RefusesAQuantizedModel) {
  Graph fp32 = import_onnx_file(fmnist()).graph;
  auto scales = synthetic_scales(fp32);
  std::string once = export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, {});
  EXPECT_THROW(export_qdq_buffer(once.data(), once.size(), "q.onnx", ".", scales, {}), Error);
}

TEST(ScaleFormats, OrtTablesRoundTrip) {
  CalibCache c;
  c.header = "TRT-101300-EntropyCalibration2";
  c.entries = {{"input", 0.0123f}, {"a b:0", 1.0f / 127.0f}, {"/x/Conv_output_0", 3.3e-5f}, {"zero", 0.f},
               {"unreachable", std::bit_cast<float>(1063192128u)}};  // no float32 amax divides back to this
  for (ScaleFormat f : {ScaleFormat::OrtJson, ScaleFormat::OrtText, ScaleFormat::TrtCache}) {
    std::string text = serialize_scales(c, f);
    EXPECT_EQ(detect_scale_format(text), f);
    CalibCache back = f == ScaleFormat::OrtJson ? parse_ort_json(text, "t", c.header)
                      : f == ScaleFormat::OrtText ? parse_ort_text(text, "t", c.header)
                                                  : parse_cache(text, "t");
    std::map<std::string, float> m;
    for (const auto& x : back.entries) m[x.name] = x.scale;
    ASSERT_EQ(m.size(), c.entries.size()) << scale_format_name(f);
    for (const auto& x : c.entries)
      EXPECT_EQ(std::bit_cast<uint32_t>(m.at(x.name)), std::bit_cast<uint32_t>(x.scale)) << x.name;
  }
  // ORT's own spelling: float64 digits of the float32 amax, numpy-array objects.
  CalibCache j = parse_ort_json(
      R"({"CLS": "TensorsData", "data": {"t": {"lowest": {"data": -2.0999999046325684, "dtype": "float32",
      "CLS": "numpy.array"}, "highest": {"data": 2.5999999046325684, "dtype": "float32", "CLS": "numpy.array"},
      "CLS": "TensorData"}}, "calibration_method": {"CLS": "CalibrationMethod", "value": "CalibrationMethod.MinMax"}})",
      "j", c.header);
  ASSERT_EQ(j.entries.size(), 1u);
  EXPECT_EQ(j.entries[0].scale, 2.6f / 127.0f);
  EXPECT_THROW(parse_ort_text("x 1\nx 2\n", "t", c.header), Error);
  EXPECT_THROW(parse_ort_text("x abc\n", "t", c.header), Error);
}
