// octet report's data (report.h): observers, per-tensor error, outputs -> one JSON document.
#include "api/report.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "calib/sqnr.h"
#include "core/error.h"

namespace octet::api {

namespace {

using nlohmann::json;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

int64_t argmax(const float* p, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (p[i] > p[best]) best = i;
  return best;
}

// A search curve (index i <-> threshold x0 + i*dx) reduced to at most `points` points: the minimum of each group
// of consecutive values (so the curve's minimum survives), x at the group's first member. Infinite values: null.
json curve_json(const std::vector<double>& y, double x0, double dx, int points) {
  json j{{"x0", x0}, {"dx", dx}, {"y", json::array()}};
  if (y.empty()) return j;
  const size_t step = std::max<size_t>(1, (y.size() + static_cast<size_t>(points) - 1) / static_cast<size_t>(points));
  j["dx"] = dx * static_cast<double>(step);
  for (size_t i = 0; i < y.size(); i += step) {
    double m = std::numeric_limits<double>::infinity();
    for (size_t k = i; k < std::min(y.size(), i + step); ++k)
      if (std::isfinite(y[k])) m = std::min(m, y[k]);
    j["y"].push_back(num(m));
  }
  return j;
}

// Multiply-accumulates per sample of a Conv / ConvTranspose / MatMul / Gemm node of an unfused, NCHW plan that has
// been reshaped to batch 1; 0 for other ops.
int64_t node_macs(const Plan& p, const Node& n) {
  const Graph& g = p.graph();
  if (n.outputs.empty() || n.outputs[0] < 0 || n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) return 0;
  const Shape& out = p.shape(n.outputs[0]);
  const Shape& a = p.shape(n.inputs[0]);
  const Shape& w = p.shape(n.inputs[1]);
  int64_t out_n = 1;
  for (int64_t d : out) out_n *= d;
  auto numel = [](const Shape& s) {
    int64_t k = 1;
    for (int64_t d : s) k *= d;
    return k;
  };
  const std::string op = op_name(n.op);
  if (op == "Conv" && !w.empty() && w[0] > 0) return out_n * (numel(w) / w[0]);  // W: Cout x Cin/g x k...
  if (op == "ConvTranspose" && w.size() >= 2 && !a.empty() && a.size() >= 2)   // W: Cin x Cout/g x k...
    return numel(a) * (numel(w) / w[0]);
  if (op == "MatMul" && !a.empty()) return out_n * a.back();
  if (op == "Gemm" && !out.empty() && out[0] > 0) return out_n * (numel(a) / out[0]);
  (void)g;
  return 0;
}

}  // namespace

ReportBuilder::ReportBuilder(const Graph& model, Plan& fp32, Plan& int8, TuneInput cache, const ReportOptions& opt)
    : model_(model), fp32_(fp32), int8_(int8), cache_(std::move(cache)), opt_(opt) {
  OCTET_CHECK(Histogram::kBins % opt_.hist_bins == 0, "report: hist_bins must divide ", Histogram::kBins);
  OCTET_CHECK(model_.inputs.size() == 1, "octet report: the model has ", model_.inputs.size(),
              " inputs; the report feeds one image input");
  CalibSessionOptions so;
  so.algo = cache_.table.algo;
  so.params = cache_.table.params;
  so.backend = opt_.backend;
  session_ = std::make_unique<CalibSession>(model_, so);
  meter_ = std::make_unique<LayerErrorMeter>(fp32_, int8_);
}

ReportBuilder::~ReportBuilder() = default;

void ReportBuilder::add(const Tensor& x, const std::vector<int>& labels, const std::vector<ContentBox>& boxes) {
  const bool padded = std::any_of(boxes.begin(), boxes.end(), [](const ContentBox& b) { return b.padded(); });
  const nlohmann::json& was = cache_.meta.calib_padding;  // null: no sidecar, or data without padding
  if (padded && !(was.is_object() && was.value("mode", std::string()) == "include"))
    session_->observe({x}, boxes);
  else
    session_->observe({x});
  if (pass_ != 0) return;
  std::vector<Tensor> fo, io;
  meter_->add(x, &fo, &io);
  OCTET_CHECK(!fo.empty() && fo.size() == io.size(), "octet report: the plans returned no outputs");
  const Tensor& yf = fo[0];
  const Tensor& yq = io[0];
  const int64_t n = x.dim(0);
  for (size_t o = 0; o < fo.size(); ++o)
    if (fo[o].dtype() == DType::f32 && io[o].dtype() == DType::f32 && fo[o].numel() == io[o].numel())
      add_sqnr_sums(fo[o].data<float>(), io[o].data<float>(), fo[o].numel(), signal_, noise_);
  // Classifier outputs (N x K): agreement, and top-1 where labels are given.
  if (yf.rank() == 2 && yf.dim(0) == n && yf.dtype() == DType::f32 && yq.dtype() == DType::f32) {
    const int64_t k = yf.dim(1);
    classified_ += n;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pf = argmax(yf.data<float>() + i * k, k), pq = argmax(yq.data<float>() + i * k, k);
      agree_ += pf == pq;
      const int label = static_cast<size_t>(i) < labels.size() ? labels[static_cast<size_t>(i)] : -1;
      if (label >= 0) {
        OCTET_CHECK(label < k, "octet report: label ", label, " is outside the model's ", k, " classes");
        ++labelled_;
        fp32_correct_ += pf == label;
        int8_correct_ += pq == label;
      }
    }
  }
  images_ += n;
}

void ReportBuilder::next_pass() {
  OCTET_CHECK(pass_ == 0, "report: only two passes");
  OCTET_CHECK(images_ > 0, "octet report: no samples were read");
  session_->next_pass();
  pass_ = 1;
}

json ReportBuilder::finish() const {
  OCTET_CHECK(pass_ == 1, "report: finish() after the second pass");
  // Per tensor, the searches (the costly part: O(bins^2) each), in parallel over tensors. The candidates are
  // candidate_amax's list (calib/table.h), computed here with the KL and MSE curves from the same two searches;
  // octet's entropy and entropy2 share one KL search (algorithms.cpp), so "entropy" is entropy2's threshold.
  const AlgoParams& params = cache_.table.params;
  struct Searched {
    std::vector<std::pair<std::string, float>> cand;
    std::vector<double> kl, mse;
    float algo_amax = 0.f;
    Algo algo = Algo::Entropy2;
  };
  const int n_obs = static_cast<int>(session_->observer_count());
  std::vector<Searched> searched(static_cast<size_t>(n_obs));
  std::set<std::string> model_inputs;
  for (int v : model_.inputs) model_inputs.insert(model_.value(v).name);
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n_obs; ++i) {
    const TensorObserver& obs = session_->observer(static_cast<size_t>(i));
    const Histogram& h = obs.hist();
    const TensorStats& st = obs.stats();
    Searched& r = searched[static_cast<size_t>(i)];
    // Network inputs get MinMax, as calibration gives them (CalibOptions::inputs_minmax).
    r.algo = model_inputs.count(session_->observer_name(static_cast<size_t>(i))) ? Algo::MinMax : cache_.table.algo;
    if (h.empty()) {
      r.algo_amax = compute_amax(h, st, r.algo, params);
      continue;
    }
    AlgoParams p = params;
    const float e2 = compute_amax(h, st, Algo::Entropy2, p, &r.kl);
    r.cand.emplace_back("entropy2", e2);
    r.cand.emplace_back("mse", compute_amax(h, st, Algo::Mse, p, &r.mse));
    for (double pct : {99.99, 99.999}) {
      p.percentile = pct;
      r.cand.emplace_back(pct == 99.99 ? "percentile99.99" : "percentile99.999", compute_amax(h, st, Algo::Percentile, p));
    }
    r.cand.emplace_back("minmax", compute_amax(h, st, Algo::MinMax, params));
    r.cand.emplace_back("entropy", e2);
    // The algorithm's own threshold: one of the candidates (same search, same parameters), else computed.
    const std::string known = r.algo == Algo::Entropy ? "entropy2" : algo_name(r.algo);
    bool found = false;
    for (const auto& [k, v] : r.cand)
      if (k == known) {
        r.algo_amax = v;
        found = true;
      }
    if (!found) r.algo_amax = compute_amax(h, st, r.algo, params);
  }
  const QuantizeReport& qr = int8_.quantize_report();
  const std::set<std::string> quantized(qr.scaled_tensors.begin(), qr.scaled_tensors.end());
  std::map<std::string, LayerError> err;
  for (const LayerError& e : meter_->results()) err[e.tensor] = e;
  std::map<std::string, json> refined;
  if (cache_.meta.refinement.is_object() && cache_.meta.refinement.contains("changes"))
    for (const auto& c : cache_.meta.refinement["changes"])
      if (c.contains("tensor")) refined[c["tensor"].get<std::string>()] = c;
  // Nearest measured ancestors' SQNR (min over them): walks up through tensors the error meter did not see (fused
  // away), skipping constants.
  std::map<int, double> up_memo;
  std::function<double(int, int)> measured_sqnr = [&](int v, int depth) -> double {
    const Value& val = model_.value(v);
    if (val.constant) return std::numeric_limits<double>::quiet_NaN();
    if (auto it = err.find(val.name); it != err.end()) return it->second.sqnr();
    if (val.producer < 0 || depth > 64) return std::numeric_limits<double>::quiet_NaN();
    if (auto m = up_memo.find(v); m != up_memo.end()) return m->second;
    double best = std::numeric_limits<double>::quiet_NaN();
    for (int in : model_.nodes[static_cast<size_t>(val.producer)].inputs) {
      if (in < 0) continue;
      const double s = measured_sqnr(in, depth + 1);
      if (!std::isnan(s) && (std::isnan(best) || s < best)) best = s;
    }
    up_memo[v] = best;
    return best;
  };

  json tensors = json::array();
  std::vector<std::pair<double, int>> drops;
  const int group = Histogram::kBins / opt_.hist_bins;
  for (size_t i = 0; i < session_->observer_count(); ++i) {
    const std::string& name = session_->observer_name(i);
    const TensorObserver& obs = session_->observer(i);
    const Histogram& h = obs.hist();
    const TensorStats& st = obs.stats();
    const CalibEntry* ce = cache_.table.find(name);
    const Searched& sr = searched[i];
    const int v = model_.find(name);
    json t;
    t["name"] = name;
    t["index"] = static_cast<int64_t>(tensors.size());
    if (v >= 0 && model_.value(v).producer >= 0) {
      const Node& n = model_.nodes[static_cast<size_t>(model_.value(v).producer)];
      t["node"] = n.name;
      t["op"] = op_name(n.op);
    } else {
      t["node"] = model_inputs.count(name) ? "(input)" : "";
      t["op"] = model_inputs.count(name) ? "(input)" : "";
    }
    t["quantized"] = quantized.count(name) > 0;
    t["in_cache"] = ce != nullptr;
    const float chosen = ce ? ce->amax : 0.f;
    t["chosen"] = num(chosen);
    t["algorithm"] = algo_name(sr.algo);
    t["algo_amax"] = num(sr.algo_amax);
    json cand = json::object();
    const std::vector<double>& kl = sr.kl;
    const std::vector<double>& mse = sr.mse;
    for (const auto& [k, a] : sr.cand) cand[k] = num(a);
    if (h.empty()) cand["minmax"] = num(st.absmax());
    t["candidates"] = cand;
    t["clipped"] = h.empty() ? 0.0 : clipped_fraction(h, chosen);
    // Health flags at the chosen threshold (the check's own wording for the warnings).
    CalibTable one;
    CalibEntry e;
    e.name = name;
    e.algo = sr.algo;
    e.has_stats = true;
    e.stats = st;
    e.amax = chosen;
    e.clipped = t["clipped"].get<double>();
    one.entries.push_back(e);
    json flags = json::array(), warnings = json::array();
    for (const HealthWarning& w : health_check(one)) {
      flags.push_back(health_issue_name(w.issue));
      warnings.push_back(w.message);
    }
    if (!ce) flags.push_back("not_in_cache");
    t["flags"] = flags;
    t["warnings"] = warnings;
    auto r = refined.find(name);
    t["refined"] = r != refined.end() ? r->second : json(nullptr);
    t["min"] = num(st.min);
    t["max"] = num(st.max);
    t["absmax"] = num(st.absmax());
    t["mean"] = num(st.mean());
    t["count"] = st.count;
    json counts = json::array();
    if (!h.empty())
      for (int b = 0; b < opt_.hist_bins; ++b) {
        uint64_t c = 0;
        for (int k = 0; k < group; ++k) c += h.counts()[static_cast<size_t>(b * group + k)];
        counts.push_back(c);
      }
    t["hist"] = json{{"range", num(h.range())}, {"counts", counts}};
    const double w = h.bin_width();
    const int sb = cache_.table.params.start_bin;
    // KL index i - start_bin <-> i kept bins, threshold (i + 0.5) w (TensorRT) or i w; MSE: bin centre (k + 0.5) w.
    const double kl_x0 = (sb + (cache_.table.params.threshold == ThresholdConvention::Trt ? 0.5 : 0.0)) * w;
    t["kl"] = curve_json(kl, kl_x0, w, opt_.curve_points);
    t["mse"] = curve_json(mse, (sb + 0.5) * w, w, opt_.curve_points);
    auto er = err.find(name);
    t["measured"] = er != err.end();
    if (er != err.end()) {
      const LayerError& le = er->second;
      t["int8"] = le.int8;
      t["sqnr_db"] = num(le.sqnr());
      t["cosine"] = num(le.cosine());
      t["saturated"] = le.saturated_share();
      double up = std::numeric_limits<double>::quiet_NaN();
      if (v >= 0 && model_.value(v).producer >= 0)
        for (int in : model_.nodes[static_cast<size_t>(model_.value(v).producer)].inputs) {
          if (in < 0) continue;
          const double s = measured_sqnr(in, 0);
          if (!std::isnan(s) && (std::isnan(up) || s < up)) up = s;
        }
      // Equal values (inf) on both sides: no drop; a finite SQNR below an exact input: capped at 100 dB.
      const double own = std::min(le.sqnr(), 100.0), upc = std::isnan(up) ? 100.0 : std::min(up, 100.0);
      const double drop = std::isnan(up) && model_inputs.count(name) ? 0.0 : upc - own;
      t["drop_db"] = num(drop);
      if (std::isfinite(drop)) drops.emplace_back(drop, static_cast<int>(tensors.size()));
    } else {
      t["int8"] = false;
      t["sqnr_db"] = nullptr;
      t["cosine"] = nullptr;
      t["saturated"] = nullptr;
      t["drop_db"] = nullptr;
    }
    tensors.push_back(std::move(t));
  }
  std::stable_sort(drops.begin(), drops.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  json cliff = json::array();
  for (const auto& [d, idx] : drops)
    if (static_cast<int>(cliff.size()) < opt_.cliff_count && d > 0.5) cliff.push_back(idx);

  // Layers: precision and why per ONNX node; MACs from an unfused NCHW FP32 plan at batch 1 (shapes only).
  std::map<std::string, int64_t> macs_of;
  // Nodes whose outputs are all non-float (Shape, Gather of shapes, Cast to int64, ...) compute indices: listed,
  // but not counted as layers that could run INT8.
  std::map<std::string, bool> index_node;
  {
    PlanOptions po;
    po.backend = "ref";
    po.fold_batchnorm = false;
    po.fuse = false;
    po.channels_last = false;
    auto p = Plan::build(model_, po);
    p->reshape(p->input_shapes(1));
    for (const Node& n : p->graph().nodes) {
      macs_of[n.name] += node_macs(*p, n);
      // Types as run (the model's declared types of intermediate tensors may be missing).
      bool any_float = false;
      for (int o : n.outputs) any_float = any_float || (o >= 0 && p->tensor(o).dtype() == DType::f32);
      index_node[n.name] = !any_float;
    }
  }
  json layers = json::array();
  int64_t macs = 0, int8_macs = 0, n_int8 = 0, n_fp32 = 0, n_index = 0, mac_layers = 0, int8_mac_layers = 0;
  for (const LayerRow& r : layer_table(int8_.graph(), qr, true, &model_)) {
    const int64_t m = macs_of.count(r.node) ? macs_of[r.node] : 0;
    const bool index = index_node.count(r.node) && index_node[r.node];
    layers.push_back({{"node", r.node}, {"op", r.op}, {"precision", r.precision}, {"why", r.why}, {"macs", m},
                      {"index_op", index}});
    macs += m;
    mac_layers += m > 0;
    if (index) {
      ++n_index;
    } else if (r.precision == "int8") {
      int8_macs += m;
      int8_mac_layers += m > 0;
      ++n_int8;
    } else if (r.precision == "fp32") {
      ++n_fp32;
    }
  }
  json ref_fallback = json::array();
  for (const std::string& l : int8_.describe())
    if (l.find("(ref: ") != std::string::npos) ref_fallback.push_back(l);

  json summary{{"images", images_},
               {"labelled", labelled_},
               {"fp32_top1", labelled_ ? json(static_cast<double>(fp32_correct_) / static_cast<double>(labelled_)) : json(nullptr)},
               {"int8_top1", labelled_ ? json(static_cast<double>(int8_correct_) / static_cast<double>(labelled_)) : json(nullptr)},
               {"agreement", classified_ ? json(static_cast<double>(agree_) / static_cast<double>(classified_)) : json(nullptr)},
               {"output_sqnr_db", num(sqnr_db(signal_, noise_))},
               {"int8_layers", n_int8},
               {"index_layers", n_index},
               {"mac_layers", mac_layers},
               {"int8_mac_layers", int8_mac_layers},
               {"fp32_layers", n_fp32},
               {"int8_layer_share", n_int8 + n_fp32 ? json(static_cast<double>(n_int8) / static_cast<double>(n_int8 + n_fp32)) : json(nullptr)},
               {"macs", macs},
               {"int8_macs", int8_macs},
               {"int8_mac_share", macs ? json(static_cast<double>(int8_macs) / static_cast<double>(macs)) : json(nullptr)}};
  return json{{"format", "octet-report"},
              {"version", 1},
              {"octet_version", kOctetVersion},
              {"model", opt_.model_path},
              {"cache", opt_.cache_path},
              {"cache_header", cache_.cache.header},
              {"algorithm", algo_name(cache_.table.algo)},
              {"images", images_},
              {"backend", int8_.options().backend},
              {"summary", summary},
              {"refinement", cache_.meta.refinement.is_null() ? json(nullptr) : cache_.meta.refinement},
              {"sidecar", !cache_.meta.cache_header.empty() || cache_.have_candidates},
              {"tensors", tensors},
              {"cliff", cliff},
              {"layers", layers},
              {"ref_fallback", ref_fallback}};
}

}  // namespace octet::api
