#include "calib/tune.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "calib/sqnr.h"
#include "core/error.h"
#include "runtime/plan.h"

namespace octet {

namespace {

// The amax a plan built from the written cache will see: the cache stores scale = amax/127 as a float.
float as_cached(float amax) { return amax_from_scale(scale_from_amax(amax)); }

std::map<std::string, float> amax_map(const CalibTable& t) {
  std::map<std::string, float> m;
  for (const auto& e : t.entries)
    if (e.amax > 0.f && std::isfinite(e.amax)) m[e.name] = as_cached(e.amax);
  return m;
}

void accumulate(const Tensor& ref, const Tensor& test, double& signal, double& noise) {
  OCTET_CHECK(ref.dtype() == DType::f32 && test.dtype() == DType::f32 && ref.numel() == test.numel(),
              "tune: INT8 output ", shape_str(test.shape()), " does not match the FP32 output ", shape_str(ref.shape()));
  add_sqnr_sums(ref.data<float>(), test.data<float>(), ref.numel(), signal, noise);
}

struct Evaluator {
  const Graph& model;
  const std::vector<std::vector<Tensor>>& batches;
  const TuneOptions& opt;
  std::vector<std::vector<Tensor>> ref;  // FP32 outputs per batch
  int trials = 0;
  int planned = 0;

  Evaluator(const Graph& m, const std::vector<std::vector<Tensor>>& b, const TuneOptions& o)
      : model(m), batches(b), opt(o) {
    PlanOptions po;
    po.backend = opt.backend;
    auto plan = Plan::build(model, po);
    for (const auto& inputs : batches) {
      std::vector<Tensor> outs;
      for (const Tensor& y : plan->run(inputs)) outs.push_back(y.clone());
      ref.push_back(std::move(outs));
    }
  }

  std::unique_ptr<Plan> build(const std::map<std::string, float>& amax, const std::vector<std::string>& fp32) const {
    PlanOptions po;
    po.backend = opt.backend;
    po.int8_amax = amax;
    po.fp32_layers = fp32;
    return Plan::build(model, po);
  }

  double sqnr(const std::map<std::string, float>& amax, const std::vector<std::string>& fp32, const std::string& what) {
    return sqnr(*build(amax, fp32), what);
  }
  double sqnr(Plan& plan, const std::string& what) {
    double signal = 0, noise = 0;
    for (size_t b = 0; b < batches.size(); ++b) {
      std::vector<Tensor> outs = plan.run(batches[b]);
      for (size_t o = 0; o < outs.size(); ++o) accumulate(ref[b][o], outs[o], signal, noise);
    }
    ++trials;
    if (opt.progress) opt.progress(trials, std::max(planned, trials), what);
    return sqnr_db(signal, noise);
  }
};

}  // namespace

double sqnr_db(const std::vector<std::vector<Tensor>>& ref, const std::vector<std::vector<Tensor>>& test) {
  OCTET_CHECK(ref.size() == test.size(), "sqnr_db: ", ref.size(), " vs ", test.size(), " batches");
  double signal = 0, noise = 0;
  for (size_t b = 0; b < ref.size(); ++b) {
    OCTET_CHECK(ref[b].size() == test[b].size(), "sqnr_db: batch ", b, " has a different number of tensors");
    for (size_t o = 0; o < ref[b].size(); ++o) accumulate(ref[b][o], test[b][o], signal, noise);
  }
  return sqnr_db(signal, noise);
}

TuneResult tune(const Graph& model, const CalibTable& table, const std::vector<std::vector<Tensor>>& batches,
                const TuneOptions& opt) {
  OCTET_CHECK(!batches.empty(), "tune: no samples");
  TuneResult res;
  res.table = table;
  res.fp32_layers = opt.fp32_layers;
  Evaluator ev(model, batches, opt);

  std::map<std::string, float> amax = amax_map(table);
  OCTET_CHECK(!amax.empty(), "tune: the calibration table has no usable scales");
  auto first = ev.build(amax, res.fp32_layers);
  const QuantizeReport report = first->quantize_report();  // a copy: the plan is freed below
  double best = ev.sqnr(*first, "start");
  res.sqnr_start_db = best;
  std::set<std::string> scaled(report.scaled_tensors.begin(), report.scaled_tensors.end());
  std::vector<std::string> layers;  // INT8 layers that --fp32-layers can move (fused ones go with their host)
  for (const auto& l : report.lines)
    if (l.precision == "int8" && l.why.rfind("fused into", 0) != 0) layers.push_back(l.node);
  res.int8_layers = static_cast<int>(layers.size());
  std::map<std::string, std::string> int8_producer;  // quantized tensor -> the plan node computing its int8 twin
  for (const auto& name : report.scaled_tensors) {
    const Graph& pg = first->graph();
    int v8 = pg.find(name + "::int8");
    if (v8 >= 0 && pg.value(v8).producer >= 0) int8_producer[name] = pg.nodes[static_cast<size_t>(pg.value(v8).producer)].name;
  }
  first.reset();

  // Planned trials, for the progress line: candidates of the scaled tensors + one per layer.
  for (const auto& e : table.entries)
    if (opt.search_scales && scaled.count(e.name)) ev.planned += static_cast<int>(e.candidates.size());
  int max_fp32 = opt.max_fp32_layers >= 0 ? opt.max_fp32_layers
                                          : std::max(1, static_cast<int>(std::ceil(0.1 * static_cast<double>(layers.size()))));
  if (max_fp32 > 0) ev.planned += static_cast<int>(layers.size()) + max_fp32;


  // 1. Scale search: coordinate descent in network order, sweeps repeated while a sweep gains at least
  // min_gain_db (a threshold chosen early can become the wrong one once later tensors changed).
  for (int sweep = 0; opt.search_scales && sweep < opt.max_sweeps; ++sweep) {
    const double sweep_start = best;
    res.sweeps = sweep + 1;
    if (sweep > 0)
      for (const auto& e : res.table.entries)
        if (scaled.count(e.name)) ev.planned += static_cast<int>(e.candidates.size());
    for (auto& e : res.table.entries) {
      if (!scaled.count(e.name)) continue;
      float cur = as_cached(e.amax);
      std::vector<float> tried{cur};
      std::string chosen;
      float chosen_amax = cur;
      for (const auto& [name, cand] : e.candidates) {
        float c = as_cached(cand);
        if (!(c > 0.f) || !std::isfinite(c)) continue;
        bool seen = false;
        for (float t : tried) seen = seen || std::fabs(c - t) <= 1e-3f * t;
        if (seen) continue;
        tried.push_back(c);
        amax[e.name] = c;
        double s = ev.sqnr(amax, res.fp32_layers, "scale " + e.name + " " + name);
        if (s > best + 0.01) {
          best = s;
          chosen = name;
          chosen_amax = c;
        }
      }
      amax[e.name] = chosen_amax;
      if (!chosen.empty()) {
        res.steps.push_back({"scale", e.name, chosen, e.amax, chosen_amax, best});
        e.amax = chosen_amax;
        if (chosen == "entropy2") e.algo = Algo::Entropy2;
        else if (chosen == "mse") e.algo = Algo::Mse;
        else if (chosen == "minmax") e.algo = Algo::MinMax;
        else if (chosen.rfind("percentile", 0) == 0) e.algo = Algo::Percentile;
      }
    }
    if (best < sweep_start + opt.min_gain_db) break;
  }
  res.sqnr_scales_db = best;

  // 2. Mixed precision: leave-one-out sensitivity, then greedy. A unit is one INT8 layer, or every INT8 layer
  // next to one quantized tensor (its producer and consumers): a badly scaled tensor stops being rounded only
  // when all of them run FP32, which no single layer achieves.
  if (max_fp32 > 0) {
    std::vector<std::vector<std::string>> units;
    for (const auto& l : layers) units.push_back({l});
    std::map<std::string, std::string> host;  // ONNX node -> the INT8 layer it runs in
    for (const auto& l : report.lines) {
      if (l.precision != "int8") continue;
      const std::string tag = "fused into '";
      if (l.why.rfind(tag, 0) == 0) host[l.node] = l.why.substr(tag.size(), l.why.find('\'', tag.size()) - tag.size());
      else host[l.node] = l.node;
    }
    auto consumers = model.consumers();
    for (const auto& name : report.scaled_tensors) {
      int v = model.find(name);
      if (v < 0) continue;
      std::set<std::string> adj;
      auto add = [&](int node) {
        if (node < 0) return;
        auto it = host.find(model.nodes[static_cast<size_t>(node)].name);
        if (it != host.end() && std::find(layers.begin(), layers.end(), it->second) != layers.end()) adj.insert(it->second);
      };
      // The producer: the node that computes the int8 tensor (an activation fused into a conv is computed by
      // the conv, which the report may not list under the activation's name).
      if (auto it = int8_producer.find(name); it != int8_producer.end() &&
          std::find(layers.begin(), layers.end(), it->second) != layers.end())
        adj.insert(it->second);
      add(model.value(v).producer);
      // Consumers, and past a MaxPool (its int8 output keeps the input's scale: passes/quantize.h) its consumers too.
      std::vector<int> reached{v};  // v and the MaxPool outputs after it; the graph is acyclic, so this ends
      for (size_t k = 0; k < reached.size(); ++k)
        for (int c : consumers[static_cast<size_t>(reached[k])]) {
          add(c);
          const Node& cn = model.nodes[static_cast<size_t>(c)];
          if (cn.op == OpType::MaxPool) reached.push_back(cn.outputs[0]);
        }
      if (adj.size() >= 2 && static_cast<int>(adj.size()) <= max_fp32) {
        std::vector<std::string> u(adj.begin(), adj.end());
        if (std::find(units.begin(), units.end(), u) == units.end()) units.push_back(u);
      }
    }
    ev.planned += static_cast<int>(units.size() - layers.size());
    auto with = [&](const std::vector<std::string>& u) {
      std::vector<std::string> f = res.fp32_layers;
      for (const auto& l : u)
        if (std::find(f.begin(), f.end(), l) == f.end()) f.push_back(l);
      return f;
    };
    std::vector<std::pair<size_t, double>> order;
    for (size_t i = 0; i < units.size(); ++i) {
      double s = ev.sqnr(amax, with(units[i]), "fp32 " + units[i][0]);
      order.emplace_back(i, s);
      if (units[i].size() == 1) res.layer_sensitivity.emplace_back(units[i][0], s);
    }
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    int rejected = 0;
    for (const auto& [i, alone] : order) {
      if (rejected >= 3 || alone < best + opt.min_gain_db) break;
      std::vector<std::string> f = with(units[i]);
      int added = static_cast<int>(f.size() - opt.fp32_layers.size());
      if (f.size() == res.fp32_layers.size() || added > max_fp32) continue;  // nothing new, or over budget
      double s = ev.sqnr(amax, f, "fp32 " + units[i][0] + " (greedy)");
      if (s >= best + opt.min_gain_db) {
        best = s;
        for (size_t k = res.fp32_layers.size(); k < f.size(); ++k) res.steps.push_back({"fp32", f[k], "", 0.f, 0.f, best});
        res.fp32_layers = f;
        rejected = 0;
      } else {
        ++rejected;
      }
    }
  }
  res.sqnr_final_db = best;
  res.trials = ev.trials;
  return res;
}

}  // namespace octet
