// Q/DQ export (onnx/qdq_export.h) -> import (onnx/qdq_import.h) round trip on models/fmnist_cnn.onnx with a
// synthetic cache: the scales come back bit for bit, the stripped graph is the FP32 graph again, weights
// fold back to within half a quantization step. Plus the scale table formats (calib/formats.h).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "calib/formats.h"
#include "onnx/import.h"
#include "onnx/qdq_export.h"
#include "onnx/qdq_import.h"
#include "runtime/plan.h"
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

namespace {

// x -> Conv(W) -> r -> QuantizeLinear(s, zp) -> DequantizeLinear(s, zp) -> Conv(W) -> y, as ONNX Runtime's
// quantize_static writes it with asymmetric activations after removing the Relu between the convs: the tensor
// is named after the Relu's output and its zero point is qmin, so the pair itself clamps at 0.
Graph removed_relu_graph(DType qtype, int zp, float scale) {
  Graph g;
  g.opset = 17;
  int x = g.add_value("x");
  g.value(x).declared = {{1, ""}, {2, ""}, {2, ""}, {2, ""}};
  g.value(x).has_declared_shape = true;
  g.inputs = {x};
  Tensor w(DType::f32, {2, 2, 1, 1});
  const float wv[4] = {1.f, -2.f, -0.5f, 1.5f};
  std::memcpy(w.data<float>(), wv, sizeof wv);
  int w1 = g.add_constant("w1", w.clone()), w2 = g.add_constant("w2", w.clone());
  Tensor s(DType::f32, {});
  s.data<float>()[0] = scale;
  Tensor z(qtype, {});
  if (qtype == DType::u8) static_cast<uint8_t*>(z.raw())[0] = static_cast<uint8_t>(zp);
  else z.data<int8_t>()[0] = static_cast<int8_t>(zp);
  int sv = g.add_constant("r_scale", s), zv = g.add_constant("r_zero_point", z);
  int r = g.add_value("/block/Relu_output_0"), rq = g.add_value("r_q"), rdq = g.add_value("r_dq"), y = g.add_value("y");
  auto node = [&](OpType op, const std::string& name, std::vector<int> in, int out) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
  };
  node(OpType::Conv, "conv1", {x, w1}, r);
  node(OpType::QuantizeLinear, "q", {r, sv, zv}, rq);
  node(OpType::DequantizeLinear, "dq", {rq, sv, zv}, rdq);
  node(OpType::Conv, "conv2", {rdq, w2}, y);
  g.outputs = {y};
  g.finalize();
  return g;
}

std::vector<float> run_fp32(const Graph& g, const Tensor& x) {
  PlanOptions o;
  o.backend = "ref";
  auto plan = Plan::build(g, o);
  Tensor y = plan->run({x})[0];
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numel());
}

}  // namespace

TEST(Qdq, AsymmetricPairStartingAtZeroKeepsTheRemovedRelu) {
  Tensor x = test::random_f32({1, 2, 2, 2}, 11, -2.f, 2.f);
  // Reference: conv1 -> Relu -> conv2 in FP32.
  Graph ref = removed_relu_graph(DType::u8, 0, 0.02f);
  for (auto& n : ref.nodes)
    if (n.op == OpType::QuantizeLinear) n.op = OpType::Relu, n.inputs.resize(1);
    else if (n.op == OpType::DequantizeLinear) n.op = OpType::Identity, n.inputs.resize(1);
  ref.finalize();
  const std::vector<float> want = run_fp32(ref, x);
  for (auto [qtype, zp] : {std::pair{DType::u8, 0}, std::pair{DType::i8, -128}}) {
    SCOPED_TRACE(dtype_name(qtype));
    QdqImportResult r = import_qdq(removed_relu_graph(qtype, zp, 0.02f));
    EXPECT_EQ(count_op(r.graph, OpType::Relu), 1);
    int rv = r.graph.find("/block/Relu_output_0");
    ASSERT_GE(rv, 0);
    ASSERT_GE(r.graph.value(rv).producer, 0);
    EXPECT_EQ(r.graph.nodes[static_cast<size_t>(r.graph.value(rv).producer)].op, OpType::Relu);
    EXPECT_EQ(r.amax.at("/block/Relu_output_0"), static_cast<float>(255.0 * static_cast<double>(0.02f)));  // symmetric, same range
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("Relu"), std::string::npos) << r.warnings[0];
    EXPECT_EQ(run_fp32(r.graph, x), want);
    // The INT8 plan clamps at 0 too (its output stays within int8 error of the FP32 reference).
    PlanOptions o;
    o.backend = "ref";
    o.int8_amax = r.amax;
    o.int8_amax["x"] = 2.f;
    Tensor y8 = Plan::build(r.graph, o)->run({x})[0];
    for (int64_t i = 0; i < y8.numel(); ++i) EXPECT_NEAR(y8.data<float>()[i], want[static_cast<size_t>(i)], 0.2f) << i;
  }
  // A pair whose range includes negatives (zero point above qmin) is no Relu: nothing is added.
  QdqImportResult r = import_qdq(removed_relu_graph(DType::u8, 100, 0.02f));
  EXPECT_EQ(count_op(r.graph, OpType::Relu), 0);
  EXPECT_EQ(r.amax.at("/block/Relu_output_0"), static_cast<float>(155.0 * static_cast<double>(0.02f)));
}

// `octet quantize` mirrors octet's INT8 plan (tools/cmd_quantize.cpp fills these options from Plan::build):
// trt adds pairs where only octet rounds (an int8 GlobalAveragePool's input and output) and skips weighted ops
// the plan keeps in FP32; ort gives a fused-away Conv output the scale of the Relu output octet writes and
// leaves tensors octet never rounds float.
TEST(Qdq, ExportMirrorsOctetsPlan) {
  Graph fp32 = import_onnx_file(fmnist()).graph;
  auto scales = synthetic_scales(fp32);
  std::set<std::string> weighted;
  for (const auto& n : fp32.nodes)
    if (n.op == OpType::Conv || n.op == OpType::Gemm) weighted.insert(n.name);
  auto round_trip = [&](const QdqExportOptions& opt, QdqExportReport& rep) {
    std::string bytes = export_qdq_file(fmnist(), "/tmp/unused.onnx", scales, opt, &rep);
    Graph q = import_onnx_buffer(bytes.data(), bytes.size(), "qdq", test::source_dir() + "/models").graph;
    return import_qdq(q);
  };
  const std::string gap_in = "/b3/b3.5/Relu_output_0", gap_out = "/GlobalAveragePool_output_0";
  QdqExportReport rep;
  QdqImportResult rules = round_trip({}, rep);
  EXPECT_FALSE(rules.amax.count(gap_in));
  EXPECT_FALSE(rules.amax.count(gap_out));
  EXPECT_EQ(rep.weights, 7);

  QdqExportOptions trt;
  trt.int8_tensors = {gap_in, gap_out};
  trt.int8_nodes = weighted;
  trt.int8_nodes.erase("/b3/b3.3/Conv");  // kept FP32 by the plan: no Q/DQ of its own
  QdqImportResult r = round_trip(trt, rep);
  EXPECT_EQ(rep.weights, 6);
  ASSERT_TRUE(r.amax.count(gap_in) && r.amax.count(gap_out));
  std::map<std::string, float> trt_scales(r.scales.begin(), r.scales.end());
  EXPECT_EQ(trt_scales.at(gap_out), scales.at(gap_out));
  EXPECT_FALSE(r.amax.count("/b3/b3.2/Relu_output_0"));  // only /b3/b3.3/Conv read it

  QdqExportOptions ort;
  ort.format = QdqFormat::OnnxRuntime;
  ort.int8_tensors = {"input", "/b1/b1.2/Relu_output_0"};
  ort.int8_nodes = {"/b1/b1.0/Conv"};
  ort.fused_into = {{"/b1/b1.0/Conv_output_0", "/b1/b1.2/Relu_output_0"}};
  QdqImportResult o = round_trip(ort, rep);
  EXPECT_EQ(rep.weights, 1);
  std::map<std::string, float> got(o.scales.begin(), o.scales.end());
  ASSERT_TRUE(got.count("/b1/b1.0/Conv_output_0"));
  EXPECT_EQ(got.at("/b1/b1.0/Conv_output_0"), scales.at("/b1/b1.2/Relu_output_0"));
  EXPECT_EQ(got.at("/b1/b1.2/Relu_output_0"), scales.at("/b1/b1.2/Relu_output_0"));
  EXPECT_FALSE(got.count("/b1/b1.3/Conv_output_0"));  // octet never rounds it
  EXPECT_FALSE(got.count(gap_out));
}

// A Q/DQ model that rounds a Conv output before its Relu (ONNX Runtime's symmetric QDQ) makes octet round there
// too: PlanOptions::keep_unfused stops the fusion pass at that tensor, the Relu stays a node of its own.
TEST(Qdq, KeepUnfusedStopsFusionAtRoundedTensors) {
  Graph fp32 = import_onnx_file(fmnist()).graph;
  std::map<std::string, float> amax;
  for (const auto& [name, s] : synthetic_scales(fp32)) amax[name] = 127.0f * s;
  auto relu_line = [&](const PlanOptions& o) {
    auto plan = Plan::build(fp32, o);
    for (const auto& l : plan->quantize_report().lines)
      if (l.node == "/b1/b1.2/Relu") return true;
    return false;
  };
  PlanOptions o;
  o.backend = "ref";
  o.int8_amax = amax;
  EXPECT_FALSE(relu_line(o));  // fused into /b1/b1.0/Conv
  o.keep_unfused = {"/b1/b1.0/Conv_output_0"};
  EXPECT_TRUE(relu_line(o));
}
