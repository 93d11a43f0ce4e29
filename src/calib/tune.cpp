#include "calib/tune.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "calib/sqnr.h"
#include "core/error.h"
#include "backends/ref/propagate.h"
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
  std::vector<int> ref_top;              // FP32 top-1 (argmax of the first output) per sample
  int trials = 0;
  int planned = 0;
  TuneMetrics last;                      // of the latest trial
  TuneMetrics fp32;                      // of the FP32 plan itself
  // Non-empty: trials run these batches only and measure SQNR alone (the ranking with rank_samples).
  std::vector<size_t> subset;

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
    for (const auto& outs : ref) append_top1(outs[0], ref_top);
    OCTET_CHECK(opt.labels.empty() || opt.labels.size() == ref_top.size(), "tune: ", opt.labels.size(), " labels for ",
                ref_top.size(), " samples");
    fp32.sqnr_db = std::numeric_limits<double>::infinity();
    fp32.agreement = 1.0;
    fp32.top1 = fp32.fp32_top1 = top1_percent(ref_top);
    fp32.task_score = opt.task ? 1.0 : -1.0;
  }

  // Argmax over each sample's row of `y` (N x ...: the first dimension is the sample).
  static void append_top1(const Tensor& y, std::vector<int>& top) {
    const int64_t n = y.shape().empty() ? 1 : y.shape()[0];
    if (n <= 0) return;
    const int64_t k = y.numel() / n;
    const float* p = y.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = p + i * k;
      top.push_back(static_cast<int>(std::max_element(row, row + k) - row));
    }
  }
  double top1_percent(const std::vector<int>& top) const {
    if (opt.labels.empty()) return -1;
    int64_t correct = 0;
    for (size_t i = 0; i < top.size(); ++i) correct += top[i] == opt.labels[i];
    return 100.0 * static_cast<double>(correct) / static_cast<double>(top.size());
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
    if (!subset.empty()) {
      for (size_t b : subset) {
        std::vector<Tensor> outs = plan.run(batches[b]);
        for (size_t o = 0; o < outs.size(); ++o) accumulate(ref[b][o], outs[o], signal, noise);
      }
      ++trials;
      if (opt.progress) opt.progress(trials, std::max(planned, trials), what);
      last = TuneMetrics();
      last.sqnr_db = sqnr_db(signal, noise);
      return last.sqnr_db;
    }
    std::vector<int> top;
    if (opt.task) opt.task->begin();
    for (size_t b = 0; b < batches.size(); ++b) {
      std::vector<Tensor> outs = plan.run(batches[b]);
      for (size_t o = 0; o < outs.size(); ++o) accumulate(ref[b][o], outs[o], signal, noise);
      append_top1(outs[0], top);
      if (opt.task) opt.task->add(b, ref[b], outs, batches[b]);
    }
    ++trials;
    if (opt.progress) opt.progress(trials, std::max(planned, trials), what);
    last.sqnr_db = sqnr_db(signal, noise);
    int64_t agree = 0;
    for (size_t i = 0; i < top.size() && i < ref_top.size(); ++i) agree += top[i] == ref_top[i];
    last.agreement = top.empty() ? 1.0 : static_cast<double>(agree) / static_cast<double>(top.size());
    last.top1 = top1_percent(top);
    last.fp32_top1 = fp32.top1;
    last.paired = PairedDrop();
    if (!opt.labels.empty())
      for (size_t i = 0; i < top.size() && i < ref_top.size(); ++i)
        last.paired.add(ref_top[i] == opt.labels[i], top[i] == opt.labels[i]);
    last.task_score = opt.task ? opt.task->score() : -1.0;
    return last.sqnr_db;
  }
};

bool budget_meets(const TuneBudget& b, const TuneMetrics& m) {
  if (b.max_top1_drop >= 0 && !(m.fp32_top1 - m.top1 <= b.max_top1_drop + 1e-9)) return false;
  if (b.min_agreement >= 0 && !(m.agreement >= b.min_agreement - 1e-12)) return false;
  if (b.min_sqnr_db > -1e299 && !(m.sqnr_db >= b.min_sqnr_db)) return false;
  if (b.min_task_score >= 0 && !(m.task_score >= b.min_task_score - 1e-12)) return false;
  return true;
}

// For trials that miss the budget: how close one came, to keep the closest (higher is closer) — the first
// target given (task score, top-1, agreement, SQNR in that order), then the output SQNR.
std::pair<double, double> budget_progress(const TuneBudget& b, const TuneMetrics& m) {
  double first = m.sqnr_db;
  if (b.min_task_score >= 0) first = m.task_score;
  else if (b.max_top1_drop >= 0) first = m.top1;
  else if (b.min_agreement >= 0) first = m.agreement;
  return {first, m.sqnr_db};
}

// Budget mode, one ranking: `ranked` are the units (one layer, or the layers around one tensor) best first.
// Finds the shortest prefix of the ranking whose layers in FP32 meet the budget (binary search: the metrics
// grow roughly with the prefix; every answer is a measured trial), then tries the chosen layers back in INT8,
// the costliest (`cost`: MACs) first, keeping each there when the budget still holds, and then pairs of the
// costliest remaining ones (a top-1 count is not monotone in the FP32 set: two layers can be unnecessary
// together when neither is alone). Returns the FP32 layers (the user's first), whether they meet the budget,
// and their metrics.
struct BudgetChoice {
  std::vector<std::string> fp32;
  bool met = false;
  TuneMetrics metrics;
};

BudgetChoice budget_search_one(Evaluator& ev, const std::map<std::string, float>& amax,
                               const std::vector<std::vector<std::string>>& ranked,
                               const std::function<double(const std::string&)>& cost,
                               const std::function<bool(const std::vector<std::string>&)>& allowed,
                               const TuneOptions& opt, const std::vector<std::string>& user, const std::string& tag) {
  auto prefix = [&](size_t k) {
    std::vector<std::string> f = user;
    for (size_t i = 0; i < k && i < ranked.size(); ++i)
      for (const auto& l : ranked[i])
        if (std::find(f.begin(), f.end(), l) == f.end()) f.push_back(l);
    return f;
  };
  size_t longest = ranked.size();  // the longest prefix the MAC floor allows
  while (longest > 0 && !allowed(prefix(longest))) --longest;
  size_t lo = 0, hi = longest;  // prefix lo fails (the start did); find the smallest that meets
  TuneMetrics hi_m;
  bool hi_known = false;
  std::optional<std::pair<size_t, TuneMetrics>> closest;  // of the prefixes that miss the budget
  auto missed = [&](size_t k, const TuneMetrics& m) {
    if (!closest || budget_progress(opt.budget, m) > budget_progress(opt.budget, closest->second)) closest = {k, m};
  };
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    ev.sqnr(amax, prefix(mid), "budget" + tag + ": " + std::to_string(mid) + " units in FP32");
    if (budget_meets(opt.budget, ev.last)) {
      hi = mid;
      hi_m = ev.last;
      hi_known = true;
    } else {
      missed(mid, ev.last);
      lo = mid;
    }
  }
  BudgetChoice c;
  c.fp32 = prefix(hi);
  if (!hi_known) {
    ev.sqnr(amax, c.fp32, "budget" + tag + ": " + std::to_string(hi) + " units in FP32");
    hi_m = ev.last;
  }
  c.met = budget_meets(opt.budget, hi_m);
  c.metrics = hi_m;
  if (!c.met) {
    // No prefix meets it: the one that came closest (units are ranked alone; together they need not add up).
    missed(hi, hi_m);
    c.fp32 = prefix(closest->first);
    c.metrics = closest->second;
    return c;
  }
  // Pruning, single layers: the costliest first (ties: the latest, i.e. least useful, first).
  std::vector<std::string> mine(c.fp32.begin() + static_cast<std::ptrdiff_t>(user.size()), c.fp32.end());
  std::vector<size_t> idx(mine.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
    const double cx = cost(mine[x]), cy = cost(mine[y]);
    return cx != cy ? cx > cy : x > y;
  });
  std::vector<std::string> order;
  for (size_t i : idx) order.push_back(mine[i]);
  auto without = [&](const std::vector<std::string>& f, const std::vector<std::string>& drop) {
    std::vector<std::string> out;
    for (const auto& l : f)
      if (std::find(drop.begin(), drop.end(), l) == drop.end()) out.push_back(l);
    return out;
  };
  auto has = [&](const std::string& l) { return std::find(c.fp32.begin(), c.fp32.end(), l) != c.fp32.end(); };
  auto singles = [&] {
    bool any = false;
    for (const auto& l : order) {
      if (!has(l)) continue;
      std::vector<std::string> f = without(c.fp32, {l});
      ev.sqnr(amax, f, "budget" + tag + ": " + l + " back to INT8");
      if (budget_meets(opt.budget, ev.last)) {
        c.fp32 = std::move(f);
        c.metrics = ev.last;
        any = true;
      }
    }
    return any;
  };
  // Pairs of the (up to) 8 costliest layers left.
  auto pairs = [&] {
    std::vector<std::string> left;
    for (const auto& l : order)
      if (has(l) && left.size() < 8) left.push_back(l);
    bool any = false;
    for (size_t i = 0; i < left.size(); ++i)
      for (size_t j = i + 1; j < left.size(); ++j) {
        if (!has(left[i]) || !has(left[j])) continue;
        std::vector<std::string> f = without(c.fp32, {left[i], left[j]});
        ev.sqnr(amax, f, "budget" + tag + ": " + left[i] + " and " + left[j] + " back to INT8");
        if (budget_meets(opt.budget, ev.last)) {
          c.fp32 = std::move(f);
          c.metrics = ev.last;
          any = true;
        }
      }
    return any;
  };
  // Until no single layer can go back (a removal can make another one removable), then pairs, and again.
  for (int round = 0; round < 2 * static_cast<int>(order.size()) + 2; ++round) {
    if (singles()) continue;
    if (!pairs()) break;
  }
  return c;
}

// Budget mode: the search above for each ranking given (duplicates skipped); the choice that meets the budget
// with the fewest FP32 MACs wins (ties: the earlier ranking); if none meets it, the closest (or none, when the
// start is as close). Sets res.fp32_layers, steps, metrics, budget_met;
// returns the final SQNR.
double budget_search(Evaluator& ev, const std::map<std::string, float>& amax,
                     const std::vector<std::vector<std::vector<std::string>>>& rankings,
                     const std::function<double(const std::string&)>& cost,
                     const std::function<bool(const std::vector<std::string>&)>& allowed, const TuneOptions& opt,
                     TuneResult& res) {
  const std::vector<std::string> user = res.fp32_layers;
  std::optional<BudgetChoice> best;
  double best_cost = 0;
  for (size_t r = 0; r < rankings.size(); ++r) {
    if (std::find(rankings.begin(), rankings.begin() + static_cast<std::ptrdiff_t>(r), rankings[r]) !=
        rankings.begin() + static_cast<std::ptrdiff_t>(r))
      continue;
    BudgetChoice c = budget_search_one(ev, amax, rankings[r], cost, allowed, opt, user,
                                       rankings.size() > 1 ? " (ranking " + std::to_string(r + 1) + ")" : "");
    double c_cost = 0;
    for (size_t k = user.size(); k < c.fp32.size(); ++k) c_cost += cost(c.fp32[k]);
    const bool closer = best && !c.met && !best->met &&
                        budget_progress(opt.budget, c.metrics) > budget_progress(opt.budget, best->metrics);
    if (!best || (c.met && (!best->met || c_cost < best_cost)) || closer) {
      best = std::move(c);
      best_cost = c_cost;
    }
  }
  // Missed with every ranking: no FP32 layers at all when the start came at least as close.
  if (!best->met && budget_progress(opt.budget, res.metrics_start) >= budget_progress(opt.budget, best->metrics)) {
    best->fp32 = user;
    best->metrics = res.metrics_start;
  }
  res.budget_met = best->met;
  res.fp32_layers = best->fp32;
  for (size_t k = user.size(); k < best->fp32.size(); ++k)
    res.steps.push_back({"fp32", best->fp32[k], "", 0.f, 0.f, best->metrics.sqnr_db});
  res.metrics_final = best->metrics;
  return best->metrics.sqnr_db;
}

// MACs per sample of every node at the first batch's shapes (a model of dynamic H x W: the first batch's
// images); empty when shapes cannot be propagated.
std::map<std::string, double> sample_macs(const Graph& model, const std::vector<std::vector<Tensor>>& batches) {
  std::vector<Shape> shapes;
  for (const Tensor& t : batches.at(0)) shapes.push_back(t.shape());
  try {
    return node_macs(model, shapes);
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

std::map<std::string, double> node_macs(const Graph& model, const std::vector<Shape>& input_shapes) {
  const Propagation p = propagate(model, input_shapes);
  const double batch = input_shapes.empty() || input_shapes[0].empty() ? 1.0 : static_cast<double>(input_shapes[0][0]);
  auto numel = [](const Shape& s) {
    double n = 1;
    for (int64_t d : s) n *= static_cast<double>(d);
    return n;
  };
  std::map<std::string, double> out;
  for (const Node& n : model.nodes) {
    if (n.inputs.size() < 2 || n.outputs.empty() || n.inputs[0] < 0 || n.inputs[1] < 0) continue;
    const Shape& a = p.shape[static_cast<size_t>(n.inputs[0])];
    const Shape& w = p.shape[static_cast<size_t>(n.inputs[1])];
    const Shape& y = p.shape[static_cast<size_t>(n.outputs[0])];
    double macs = 0;
    if (n.op == OpType::Conv && !w.empty() && w[0] > 0) macs = numel(y) * numel(w) / static_cast<double>(w[0]);
    else if (n.op == OpType::ConvTranspose && !w.empty() && w[0] > 0) macs = numel(a) * numel(w) / static_cast<double>(w[0]);
    else if (n.op == OpType::Gemm && a.size() == 2) macs = numel(y) * static_cast<double>(n.attr_i("transA", 0) ? a[0] : a[1]);
    else if (n.op == OpType::MatMul && !a.empty()) macs = numel(y) * static_cast<double>(a.back());
    if (macs > 0) out[n.name] = macs / std::max(batch, 1.0);
  }
  return out;
}

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
        e.algo = algo_of_candidate(chosen, e.algo);
      }
    }
    if (best < sweep_start + opt.min_gain_db) break;
  }
  res.sqnr_scales_db = best;

  // 2. Mixed precision: leave-one-out sensitivity, then greedy. A unit is one INT8 layer, or every INT8 layer
  // next to one quantized tensor (its producer and consumers): a badly scaled tensor stops being rounded only
  // when all of them run FP32, which no single layer achieves.
  const bool budget = opt.budget.any();
  if (budget) max_fp32 = static_cast<int>(layers.size());  // any number of layers; the budget decides
  bool budget_done = false;
  if (budget) {
    ev.sqnr(amax, res.fp32_layers, "budget: start");
    res.metrics_start = res.metrics_final = ev.last;
    budget_done = res.budget_met = budget_meets(opt.budget, ev.last);
  }
  if (max_fp32 > 0 && !budget_done) {
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
    // Budget mode with rank_samples: the ranking trials (one per unit) run on batches spread over the samples,
    // at least rank_samples of them, against a baseline measured on the same batches.
    double base = best;
    if (budget && opt.rank_samples > 0) {
      int64_t total = 0;
      for (const auto& b : batches) total += b.at(0).rank() > 0 ? b[0].dim(0) : 1;
      const size_t per = static_cast<size_t>(std::max<int64_t>(1, total / static_cast<int64_t>(batches.size())));
      const size_t want = std::min(batches.size(), (static_cast<size_t>(opt.rank_samples) + per - 1) / per);
      if (want < batches.size()) {
        for (size_t k = 0; k < want; ++k) ev.subset.push_back(k * batches.size() / want);
        base = ev.sqnr(amax, res.fp32_layers, "ranking baseline");
      }
    }
    std::vector<std::pair<size_t, double>> order;
    for (size_t i = 0; i < units.size(); ++i) {
      double s = ev.sqnr(amax, with(units[i]), "fp32 " + units[i][0]);
      order.emplace_back(i, s);
      if (units[i].size() == 1) res.layer_sensitivity.emplace_back(units[i][0], s);
    }
    ev.subset.clear();
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (budget) {
      // Two rankings: by the SQNR with the unit alone in FP32, and by its gain over the start per unit of cost
      // (MACs); units that gain nothing come last in both. The cheaper result in MACs is kept.
      const std::map<std::string, double> macs = sample_macs(model, batches);
      double mean = 0;
      for (const auto& l : layers)
        if (auto it = macs.find(l); it != macs.end()) mean += it->second / static_cast<double>(layers.size());
      const double floor_cost = mean > 0 ? 0.01 * mean : 1.0;
      auto cost = [&macs, floor_cost](const std::string& l) {
        auto it = macs.find(l);
        return (it == macs.end() ? 0.0 : it->second) + floor_cost;
      };
      // Candidates: the units that bring the outputs closer to FP32 on their own.
      std::vector<std::vector<std::string>> by_sqnr, by_gain_per_mac;
      std::vector<std::tuple<size_t, double, double>> per_mac;  // unit, gain / cost, SQNR alone
      for (const auto& [i, alone] : order) {
        const double gain = alone - base;
        if (!(gain > 0)) continue;
        by_sqnr.push_back(units[i]);
        double c = 0;
        for (const auto& l : units[i]) c += cost(l);
        per_mac.emplace_back(i, gain / c, alone);
      }
      std::stable_sort(per_mac.begin(), per_mac.end(), [](const auto& a, const auto& b) {
        return std::get<1>(a) != std::get<1>(b) ? std::get<1>(a) > std::get<1>(b) : std::get<2>(a) > std::get<2>(b);
      });
      for (const auto& t : per_mac) by_gain_per_mac.push_back(units[std::get<0>(t)]);
      // The MAC floor: the INT8 MACs of the start plan less those of the layers moved to FP32, over all MACs
      // (what is fused into a layer — activations, a residual Add — has no MACs of its own).
      double start_int8 = 0, all_macs = 0;
      for (const auto& l : report.lines) {
        auto it = macs.find(l.node);
        if (it == macs.end()) continue;
        all_macs += it->second;
        if (l.precision == "int8") start_int8 += it->second;
      }
      auto allowed = [&](const std::vector<std::string>& f) {
        if (!(opt.min_int8_mac_share > 0) || !(all_macs > 0)) return true;
        double moved = 0;
        for (size_t k = res.fp32_layers.size(); k < f.size(); ++k)
          if (auto it = macs.find(f[k]); it != macs.end()) moved += it->second;
        return (start_int8 - moved) / all_macs >= opt.min_int8_mac_share - 1e-12;
      };
      best = budget_search(ev, amax, {by_sqnr, by_gain_per_mac}, cost, allowed, opt, res);
    }
    int rejected = 0;
    for (const auto& [i, alone] : order) {
      if (budget) break;
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
  // What the final plan runs in INT8 (MACs).
  {
    auto fin = ev.build(amax, res.fp32_layers);
    const QuantizeReport& rep = fin->quantize_report();
    const std::map<std::string, double> macs = sample_macs(model, batches);  // empty: shapes not known
    for (const auto& l : rep.lines) {
      auto it = macs.find(l.node);
      if (it == macs.end()) continue;
      res.macs_total += it->second;
      if (l.precision == "int8") res.macs_int8 += it->second;
    }
  }
  res.trials = ev.trials;
  return res;
}

}  // namespace octet
