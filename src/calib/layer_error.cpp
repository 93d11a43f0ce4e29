#include "calib/layer_error.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "calib/sqnr.h"
#include "core/error.h"
#include "quant/quant.h"

namespace octet {

double LayerError::sqnr() const { return sqnr_db(ref_sq, err_sq); }

double LayerError::cosine() const {
  if (ref_sq == 0 && q_sq == 0) return 1.0;
  if (ref_sq == 0 || q_sq == 0) return 0.0;
  return dot / std::sqrt(ref_sq * q_sq);
}

namespace {

// A float copy of t in ONNX layout: int8 values dequantized with scale and zero point (quant::dequantize_zp);
// NHWC rank-4 tensors back to NCHW.
std::vector<float> as_nchw_f32(const Tensor& t, bool nhwc, float scale, int32_t zero_point = 0) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  auto at = [&](int64_t i) {
    return t.dtype() == DType::i8 ? quant::dequantize_zp(t.data<int8_t>()[i], zero_point, scale) : t.data<float>()[i];
  };
  if (!nhwc || t.rank() != 4) {
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = at(i);
    return out;
  }
  const int64_t N = t.dim(0), H = t.dim(1), W = t.dim(2), C = t.dim(3);
  for (int64_t b = 0; b < N; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t c = 0; c < C; ++c)
          out[static_cast<size_t>(((b * C + c) * H + h) * W + w)] = at(((b * H + h) * W + w) * C + c);
  return out;
}

// The ONNX tensor a plan value stands for, and whether it is a channels-last copy.
std::pair<int, bool> onnx_value(const Graph& g, int v) {
  const int of = g.value(v).layout_of;
  return of >= 0 ? std::pair{of, true} : std::pair{v, false};
}

}  // namespace

LayerErrorMeter::LayerErrorMeter(Plan& fp32, Plan& int8) : fp32_(fp32), int8_(int8) {
  OCTET_CHECK(int8.is_int8() && !fp32.is_int8(), "layer error: needs an FP32 plan and an INT8 plan");
  const Graph& f = fp32.graph();
  const Graph& q = int8.graph();
  OCTET_CHECK(!int8.quantize_report().int8_tensors.empty() || int8.quantize_report().int8_nodes == 0,
              "layer error: the INT8 plan does not list its int8 tensors (a plan file?); give the ONNX model and --cache");
  // INT8 side: ONNX name -> where its value is (int8 preferred over a dequantized float copy).
  std::map<std::string, SourceLoc> in_int8;
  for (size_t v = 0; v < q.values.size(); ++v) {
    // Only values some node computes (a tensor may exist only as its channels-last copy).
    if (q.values[v].dtype != DType::f32 || q.values[v].constant || q.values[v].producer < 0) continue;
    auto [of, nhwc] = onnx_value(q, static_cast<int>(v));
    in_int8.emplace(q.value(of).name, SourceLoc{static_cast<int>(v), nhwc, 0.f});
  }
  for (const auto& t : int8.quantize_report().int8_tensors)
    in_int8[q.value(t.of).name] = SourceLoc{t.value, true, t.scale, t.zero_point};
  row_of_fp32_value_.assign(f.values.size(), -1);
  std::map<std::string, int> row_of_name;
  for (const Node& n : f.nodes)
    for (int o : n.outputs) {
      if (o < 0 || f.value(o).dtype != DType::f32) continue;
      auto [of, nhwc] = onnx_value(f, o);
      const std::string& name = f.value(of).name;
      auto it = in_int8.find(name);
      if (it == in_int8.end()) continue;
      auto [r, fresh] = row_of_name.emplace(name, static_cast<int>(rows_.size()));
      if (fresh) {
        LayerError e;
        e.tensor = name;
        // The ONNX op: a graph input has none; channels-last kernels (ConvNhwc, ...) print as their op.
        std::string op = op_name(n.op);
        if (op.size() > 4 && op.compare(op.size() - 4, 4, "Nhwc") == 0) op.resize(op.size() - 4);
        const bool is_input = std::find(f.inputs.begin(), f.inputs.end(), of) != f.inputs.end();
        e.op = is_input ? "(input)" : op;
        e.int8 = it->second.scale > 0.f;
        rows_.push_back(e);
      }
      row_of_fp32_value_[static_cast<size_t>(o)] = r->second;
    }
  sources_.resize(rows_.size());
  row_of_int8_value_.assign(q.values.size(), -1);
  for (size_t r = 0; r < rows_.size(); ++r) {
    sources_[r] = in_int8.at(rows_[r].tensor);
    rows_[r].zero_point = sources_[r].zero_point;
    row_of_int8_value_[static_cast<size_t>(sources_[r].value)] = static_cast<int>(r);
  }
}

void LayerErrorMeter::add(const Tensor& x, std::vector<Tensor>* fp32_out, std::vector<Tensor>* int8_out) {
  std::vector<std::vector<float>> ref(rows_.size());
  const Graph& f = fp32_.graph();
  Plan::Observer keep = [&](int v, const Tensor& t) {
    const int r = row_of_fp32_value_[static_cast<size_t>(v)];
    // Value::dtype is the declared one; shape computations (Shape, Gather of shapes) are int64 at run time.
    if (r < 0 || !ref[static_cast<size_t>(r)].empty() || t.dtype() != DType::f32) return;
    ref[static_cast<size_t>(r)] = as_nchw_f32(t, onnx_value(f, v).second, 0.f);
  };
  std::vector<Tensor> fo = fp32_.run({x}, &keep);
  if (fp32_out) {
    fp32_out->clear();
    for (const Tensor& t : fo) fp32_out->push_back(t.clone());
  }
  Plan::Observer compare = [&](int v, const Tensor& t) {
    const int r = row_of_int8_value_[static_cast<size_t>(v)];
    if (r < 0 || (t.dtype() != DType::f32 && t.dtype() != DType::i8)) return;
    const std::vector<float>& a = ref[static_cast<size_t>(r)];
    LayerError& e = rows_[static_cast<size_t>(r)];
    if (a.empty()) return;  // the FP32 plan did not run it for this input (should not happen)
    const SourceLoc& s = sources_[static_cast<size_t>(r)];
    std::vector<float> b = as_nchw_f32(t, s.nhwc, s.scale, s.zero_point);
    OCTET_CHECK(a.size() == b.size(), "layer error: tensor '", e.tensor, "' has ", a.size(), " values in FP32 and ",
                b.size(), " in INT8");
    for (size_t i = 0; i < a.size(); ++i) {
      const double ra = a[i], qb = b[i], d = qb - ra;
      e.ref_sq += ra * ra;
      e.err_sq += d * d;
      e.dot += ra * qb;
      e.q_sq += qb * qb;
    }
    e.values += static_cast<int64_t>(a.size());
    // -128 of a tensor with a zero point is the activation's own minimum (asym_range), not a clipped value.
    const bool low_clips = s.zero_point == 0;
    if (t.dtype() == DType::i8)
      for (int64_t i = 0; i < t.numel(); ++i)
        e.saturated += (low_clips && t.data<int8_t>()[i] == -128) || t.data<int8_t>()[i] == 127;
  };
  std::vector<Tensor> io = int8_.run({x}, &compare);
  if (int8_out) {
    int8_out->clear();
    for (const Tensor& t : io) int8_out->push_back(t.clone());
  }
}

std::vector<LayerError> LayerErrorMeter::results() const {
  std::vector<LayerError> out;
  for (const LayerError& e : rows_)
    if (e.values > 0) out.push_back(e);  // rows that never held float data (shape tensors) are dropped
  return out;
}

}  // namespace octet
