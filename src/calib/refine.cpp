#include "calib/refine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "calib/output_weights.h"
#include "calib/sqnr.h"
#include "core/error.h"
#include "io/dataset.h"
#include "runtime/plan.h"

namespace octet {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The amax a plan built from the written cache will see: the cache stores scale = amax/127 as a float.
float as_cached(float amax) { return amax_from_scale(scale_from_amax(amax)); }

using Batches = std::vector<std::vector<Tensor>>;

// The samples `which` (indices over all samples of `batches`, in order; sorted), re-batched in groups of at most
// `max_batch` samples of equal input shapes.
Batches subset(const Batches& batches, const std::vector<size_t>& which, int64_t max_batch) {
  std::vector<std::pair<size_t, int64_t>> all;  // (batch, row)
  for (size_t b = 0; b < batches.size(); ++b)
    for (int64_t r = 0; r < (batches[b].empty() ? 0 : batches[b][0].dim(0)); ++r) all.emplace_back(b, r);
  std::vector<std::pair<size_t, int64_t>> picked;
  for (size_t i : which) picked.push_back(all[i]);
  auto row_shape = [&](size_t b, size_t i) {
    Shape s = batches[b][i].shape();
    s[0] = 1;
    return s;
  };
  auto same = [&](const std::pair<size_t, int64_t>& a, const std::pair<size_t, int64_t>& b) {
    for (size_t i = 0; i < batches[a.first].size(); ++i)
      if (row_shape(a.first, i) != row_shape(b.first, i)) return false;
    return true;
  };
  Batches out;
  for (size_t p0 = 0, n = 0; p0 < picked.size(); p0 += n) {
    n = 1;
    while (static_cast<int64_t>(n) < max_batch && p0 + n < picked.size() && same(picked[p0], picked[p0 + n])) ++n;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < batches[picked[p0].first].size(); ++i) {
      Shape shape = row_shape(picked[p0].first, i);
      shape[0] = static_cast<int64_t>(n);
      Tensor t(batches[picked[p0].first][i].dtype(), shape);
      const size_t row_bytes = t.nbytes() / n;
      for (size_t k = 0; k < n; ++k) {
        const Tensor& src = batches[picked[p0 + k].first][i];
        std::memcpy(static_cast<char*>(t.raw()) + k * row_bytes,
                    static_cast<const char*>(src.raw()) + static_cast<size_t>(picked[p0 + k].second) * row_bytes, row_bytes);
      }
      inputs.push_back(std::move(t));
    }
    out.push_back(std::move(inputs));
  }
  return out;
}

// FP32 outputs (copies) of `plan` on every batch.
Batches reference_outputs(Plan& plan, const Batches& batches) {
  Batches ref;
  for (const auto& inputs : batches) {
    std::vector<Tensor> outs;
    for (const Tensor& y : plan.run(inputs)) outs.push_back(y.clone());
    ref.push_back(std::move(outs));
  }
  return ref;
}

// The outputs of one batch (views, valid until the next run).
using RunBatch = std::function<std::vector<Tensor>(size_t)>;

// Output SQNR of `run` on `batches` against `ref`. With `per_sample`: also the noise of each sample (an output
// whose first dimension is not the batch's sample count is shared evenly among its samples).
// `stop`, when given, is asked after every batch with the noise so far; when it says yes, the rest is not run and
// the result is the SQNR of `stop_signal` (the signal over all batches) with the noise so far: an upper bound.
// `per_batch`, when given: the noise of each batch run.
// Each output's error is weighed by `w` (calib/output_weights.h).
double run_sqnr(const RunBatch& run, const Batches& batches, const Batches& ref, const OutputWeights& w,
                std::vector<double>* per_sample = nullptr,
                const std::function<bool(double)>& stop = {}, double stop_signal = 0,
                std::vector<double>* per_batch = nullptr) {
  double signal = 0, noise = 0;
  if (per_sample) per_sample->clear();
  if (per_batch) per_batch->clear();
  for (size_t b = 0; b < batches.size(); ++b) {
    std::vector<Tensor> outs = run(b);
    const int64_t n = batches[b].empty() ? 1 : std::max<int64_t>(1, batches[b][0].dim(0));
    std::vector<double> mine(static_cast<size_t>(n), 0.0);
    const double noise_before_batch = noise;
    for (size_t o = 0; o < outs.size(); ++o) {
      OCTET_CHECK(ref[b][o].dtype() == DType::f32 && outs[o].dtype() == DType::f32 && ref[b][o].numel() == outs[o].numel(),
                  "refine: INT8 output ", shape_str(outs[o].shape()), " does not match the FP32 output ",
                  shape_str(ref[b][o].shape()));
      const double before = noise;
      w.add(o, ref[b][o].data<float>(), outs[o].data<float>(), outs[o].numel(), signal, noise);
      if (!per_sample) continue;
      const int64_t total = outs[o].numel();
      if (outs[o].rank() > 0 && outs[o].dim(0) == n && total % n == 0) {
        const int64_t each = total / n;
        for (int64_t k = 0; k < n; ++k) {
          double s = 0, e = 0;
          w.add(o, ref[b][o].data<float>() + k * each, outs[o].data<float>() + k * each, each, s, e);
          mine[static_cast<size_t>(k)] += e;
        }
      } else {
        for (auto& m : mine) m += (noise - before) / static_cast<double>(n);
      }
    }
    if (per_sample) per_sample->insert(per_sample->end(), mine.begin(), mine.end());
    if (per_batch) per_batch->push_back(noise - noise_before_batch);
    if (stop && b + 1 < batches.size() && stop(noise)) return sqnr_db(stop_signal, noise);
  }
  return sqnr_db(signal, noise);
}

// The screening samples: the half of `count` whose output noise is largest under the current thresholds (they
// carry most of the total noise a candidate changes), the other half spread evenly over the rest; up to 4 samples,
// all spread evenly. Sorted.
std::vector<size_t> pick_screen(const std::vector<double>& noise, size_t count) {
  std::vector<size_t> order(noise.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return noise[a] > noise[b]; });
  // Up to 4 samples: all spread (no noisiest half; 2 samples would carry the whole estimate, and on yolox_det such
  // screens predicted the outcome on all samples so poorly that 81 confirmations ran instead of 27).
  const size_t top = count <= 4 ? 0 : std::min(count / 2, order.size());
  std::vector<size_t> picked(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top));
  std::vector<size_t> rest(order.begin() + static_cast<std::ptrdiff_t>(top), order.end());
  std::sort(rest.begin(), rest.end());
  for (size_t r : spread_indices(rest.size(), std::min(count - top, rest.size()))) picked.push_back(rest[r]);
  std::sort(picked.begin(), picked.end());
  return picked;
}

// The screening sample count for `values` output values over `samples` samples: about kScreenValues output
// values, at least 4 and at most 16 samples. A sample's SQNR sums its output's values, so the larger the output
// the steadier one sample's estimate: a CIFAR-10 classifier (10 values a sample) gets 16, ResNet-50 (1,000) 8, a
// detector's map (yolox_det at 416x416: 21,000 values; ppocr_det at 960: ~670,000) 4. The confirmation on all
// samples decides anyway; the screen only has to reject the clear losers.
}  // namespace

int64_t refine_screen_count(int64_t values, int64_t samples) {
  constexpr int64_t kScreenValues = 8192, kMin = 4, kMax = 16;
  const int64_t per_sample = std::max<int64_t>(1, values / std::max<int64_t>(1, samples));
  return std::clamp(kScreenValues / per_sample, kMin, kMax);
}

namespace {

// Sum of (x - q(x))^2 over (a strided subset of) x, q the symmetric int8 rounding at threshold amax. A proxy:
// rounding half away from zero and the stride are fine here.
double local_sse(const float* x, int64_t n, float amax) {
  const int64_t stride = std::max<int64_t>(1, n / 65536);
  const float inv = 127.f / amax, s = amax / 127.f;
  double sse = 0;
  for (int64_t i = 0; i < n; i += stride) {
    const float v = x[i];
    if (!std::isfinite(v)) continue;
    float y = std::min(127.f, std::max(-128.f, v * inv));
    const float r = static_cast<float>(static_cast<int>(y + (y >= 0.f ? 0.5f : -0.5f)));
    const double e = static_cast<double>(v) - static_cast<double>(r * s);
    sse += e * e;
  }
  return sse;
}

// Per tensor: the thresholds it can take (as cached; [0] its starting amax) and their local errors.
struct Proxy {
  std::vector<float> amax;
  std::vector<double> sse;
  double of(float a) const {
    for (size_t i = 0; i < amax.size(); ++i)
      if (amax[i] == a) return sse[i];
    return -1;  // unknown: never prune against it
  }
};

}  // namespace

ThresholdSearchResult search_thresholds(const Graph& model, const CalibTable& table, const Batches& batches,
                                        const ThresholdSearchOptions& opt, const Batches* reference) {
  OCTET_CHECK(!batches.empty(), "refine: no samples");
  if (reference) {
    OCTET_CHECK(reference->size() == batches.size(), "refine: ", reference->size(), " batches of FP32 outputs for ",
                batches.size(), " batches of samples");
    for (size_t b = 0; b < batches.size(); ++b)
      for (const Tensor& t : (*reference)[b])
        OCTET_CHECK(!batches[b].empty() && t.rank() > 0 && t.dim(0) == batches[b][0].dim(0), "refine: FP32 output ",
                    shape_str(t.shape()), " of batch ", b, " does not have its ", batches[b].empty() ? 0 : batches[b][0].dim(0),
                    " samples first");
  }
  ThresholdSearchResult res;
  res.table = table;
  int64_t total = 0, max_batch = 1;
  for (const auto& b : batches)
    if (!b.empty()) {
      total += b[0].dim(0);
      max_batch = std::max(max_batch, b[0].dim(0));
    }
  Batches screen;

  auto t_setup = std::chrono::steady_clock::now();
  PlanOptions po;
  po.backend = opt.backend;
  // The FP32 outputs: given, or from an FP32 plan.
  Batches ref_own, ref_screen;
  std::unique_ptr<Plan> fp32;
  if (!reference) {
    fp32 = Plan::build(model, po);
    ref_own = reference_outputs(*fp32, batches);
  }
  const Batches& ref_all = reference ? *reference : ref_own;
  // An output whose components measure different things (a detector's boxes and scores) counts each alike.
  const OutputWeights weights = OutputWeights::from_reference(ref_all);
  for (size_t o = 0; !ref_all.empty() && o < ref_all[0].size(); ++o) res.weighted_outputs += weights.weighted(o) ? 1 : 0;
  // How many samples screen a candidate: given, or by the size of a sample's output (see screen_count).
  int64_t output_values = 0;
  for (const auto& outs : ref_all)
    for (const Tensor& r : outs) output_values += r.numel();
  res.screen_samples = opt.screen_samples >= 0 ? opt.screen_samples : refine_screen_count(output_values, total);
  const bool screening = res.screen_samples > 0 && res.screen_samples < total;
  if (!screening) res.screen_samples = 0;

  std::map<std::string, float> amax;
  for (const auto& e : table.entries)
    if (e.amax > 0.f && std::isfinite(e.amax)) amax[e.name] = as_cached(e.amax);
  OCTET_CHECK(!amax.empty(), "refine: the calibration table has no usable scales");
  // One INT8 plan for every trial: a trial changes its scales in place (Plan::update_int8_amax, bit for bit a
  // build with them). On host backends it keeps every tensor, so that a screening trial runs only the steps from
  // the first one the changed scale affects, on the saved tensors of the current thresholds' run (run_from).
  const bool downstream = screening && (opt.backend == "cpu" || opt.backend == "ref");
  // The runs over all samples go through a second such plan that does not keep its tensors (`full_plan`, the
  // same as `plan` without downstream runs), brought to the current thresholds before each.
  std::unique_ptr<Plan> plan, full_plan;
  {
    auto t0 = std::chrono::steady_clock::now();
    PlanOptions q = po;
    q.int8_amax = amax;
    q.rescalable = true;
    plan = Plan::build(model, q);
    if (downstream) {
      full_plan = std::move(plan);
      q.keep_all_outputs = true;
      plan = Plan::build(model, q);
    }
    res.seconds_build += since(t0);
  }
  Plan& full = full_plan ? *full_plan : *plan;
  // The saved screening runs: per screening batch, every tensor of a run with the amax `saved_amax`; `dirty` is
  // the first step that may differ from that run in the plan as it is now.
  std::vector<std::vector<Tensor>> saved;
  std::map<std::string, float> saved_amax;
  size_t dirty = 0;
  // The plan with the thresholds `amax`.
  auto update = [&]() {
    auto t0 = std::chrono::steady_clock::now();
    const Plan::ScaleUpdate u = plan->update_int8_amax(amax);
    if (!saved.empty() && amax == saved_amax) dirty = plan->steps();
    else dirty = std::min(dirty, u.rebuilt ? size_t{0} : u.first_step);
    res.seconds_build += since(t0);
  };
  // The runs over all samples start from checkpoints where they can (host backends, with screening): per batch,
  // the values live at some step `step` of a run whose steps before it are those of the plan with the accepted
  // thresholds `accepted`. A run of a candidate starts from its batch's checkpoint when `full` agrees with the
  // accepted thresholds' plan up to there (steps before `full_dirty`), and leaves a checkpoint at the first step
  // the candidate changes: the tensors are tried in network order, so the next candidates start there or later.
  struct Checkpoint {
    size_t step = 0;
    std::vector<Tensor> values;  // by value; empty: none
    size_t bytes = 0;
  };
  std::vector<Checkpoint> ck(batches.size());
  size_t ck_bytes = 0;
  const size_t ck_budget = size_t{2} << 30;  // memory for checkpoints (bytes); beyond it, runs start further back
  std::map<std::string, float> accepted = amax;
  size_t full_dirty = 0;
  auto drop_checkpoints = [&](size_t after) {
    for (Checkpoint& c : ck)
      if (!c.values.empty() && c.step > after) {
        ck_bytes -= c.bytes;
        c = {};
      }
  };
  // `full` with the thresholds `target`; returns the first step that changed (steps() when none).
  auto sync_full = [&](const std::map<std::string, float>& target) -> size_t {
    if (!full_plan) return 0;
    if (full_plan->options().int8_amax == target) return full_plan->steps();
    auto t0 = std::chrono::steady_clock::now();
    const Plan::ScaleUpdate u = full_plan->update_int8_amax(target);
    res.seconds_build += since(t0);
    if (u.rebuilt) {  // the steps may be others
      drop_checkpoints(0);
      full_dirty = 0;
      return 0;
    }
    full_dirty = target == accepted ? full_plan->steps() : std::min(full_dirty, u.first_step);
    return u.first_step;
  };
  double signal_all = 0;
  {
    double unused = 0;
    for (const auto& outs : ref_all)
      for (size_t o = 0; o < outs.size(); ++o)
        if (outs[o].dtype() == DType::f32)
          weights.add(o, outs[o].data<float>(), outs[o].data<float>(), outs[o].numel(), signal_all, unused);
  }
  // A run over all samples with the thresholds `amax` (see run_sqnr for `per_sample` and `stop`); returns the
  // first step where `amax` departs from `accepted` (0 without checkpoints).
  size_t last_departure = 0;
  auto full_run = [&](std::vector<double>* per_sample = nullptr, const std::function<bool(double)>& stop = {},
                      std::vector<double>* per_batch = nullptr) {
    size_t departs = 0;
    if (full_plan) {
      sync_full(accepted);  // so that the step where amax departs from it is known
      departs = sync_full(amax);
    }
    last_departure = departs;
    auto t0 = std::chrono::steady_clock::now();
    static const std::vector<Tensor> none;
    const double s = run_sqnr(
        [&](size_t b) {
          if (!full_plan) return full.run(batches[b]);
          Checkpoint& c = ck[b];
          const bool from_ck = !c.values.empty() && c.step <= full_dirty;
          const size_t start = from_ck ? c.step : 0;
          if (departs <= start || departs >= full_plan->steps()) return full_plan->run_from(start, batches[b], from_ck ? c.values : none);
          std::vector<Tensor> snap;
          std::vector<Tensor> outs = full_plan->run_from(start, batches[b], from_ck ? c.values : none, departs, &snap);
          size_t bytes = 0;
          for (const Tensor& t : snap) bytes += t.defined() ? t.nbytes() : 0;
          if (ck_bytes - c.bytes + bytes <= ck_budget) {
            ck_bytes = ck_bytes - c.bytes + bytes;
            c = {departs, std::move(snap), bytes};
          }
          return outs;
        },
        batches, ref_all, weights, per_sample, stop, signal_all, per_batch);
    res.seconds_full += since(t0);
    return s;
  };
  // A screening run from the first step that differs from the saved run; `save`: the run becomes the saved one.
  // `stop`: see run_sqnr (a screening trial that has lost already).
  double screen_signal = 0;
  auto screen_run = [&](bool save, const std::function<bool(double)>& stop = {}) {
    auto t0 = std::chrono::steady_clock::now();
    double s;
    if (!downstream) {
      s = run_sqnr([&](size_t b) { return plan->run(screen[b]); }, screen, ref_screen, weights, nullptr, stop, screen_signal);
    } else {
      if (saved.size() != screen.size()) {
        saved.assign(screen.size(), {});
        dirty = 0;
      }
      s = run_sqnr(
          [&](size_t b) {
            std::vector<Tensor> outs = plan->run_from(dirty, screen[b], saved[b]);
            if (save) saved[b] = plan->saved_tensors();
            return outs;
          },
          screen, ref_screen, weights, nullptr, stop, screen_signal);
      if (save) {
        saved_amax = amax;
        dirty = plan->steps();
      }
    }
    res.seconds_screen += since(t0);
    return s;
  };
  std::set<std::string> scaled(full.quantize_report().scaled_tensors.begin(), full.quantize_report().scaled_tensors.end());
  std::vector<double> sample_noise;
  // The noise of each batch under the accepted thresholds (the half-way test of a confirmation compares with it).
  std::vector<double> accepted_noise;
  double best = full_run(&sample_noise, {}, &accepted_noise);
  double best_screen = 0;
  // (Re)chooses the screening samples for the current thresholds (the plan's).
  auto choose_screen = [&](bool measured) {
    if (!screening) return;
    auto t0 = std::chrono::steady_clock::now();
    if (!measured) full_run(&sample_noise, {}, &accepted_noise);
    const std::vector<size_t> picked = pick_screen(sample_noise, static_cast<size_t>(res.screen_samples));
    if (fp32) {
      screen = subset(batches, picked, max_batch);
      ref_screen = reference_outputs(*fp32, screen);
    } else {  // the given outputs of the same samples, batched alike (each batch: inputs, then outputs)
      Batches both(batches.size());
      for (size_t b = 0; b < batches.size(); ++b) {
        both[b] = batches[b];
        both[b].insert(both[b].end(), ref_all[b].begin(), ref_all[b].end());
      }
      screen.clear();
      ref_screen.clear();
      for (auto& t : subset(both, picked, max_batch)) {
        ref_screen.emplace_back(t.begin() + static_cast<std::ptrdiff_t>(batches[0].size()), t.end());
        t.resize(batches[0].size());
        screen.push_back(std::move(t));
      }
    }
    screen_signal = 0;
    double unused = 0;
    for (const auto& outs : ref_screen)
      for (size_t o = 0; o < outs.size(); ++o)
        if (outs[o].dtype() == DType::f32)
          weights.add(o, outs[o].data<float>(), outs[o].data<float>(), outs[o].numel(), screen_signal, unused);
    saved.clear();
    if (!measured) res.seconds_setup += since(t0);  // the first time: counted with the rest of the setup
    best_screen = screen_run(true);
  };
  choose_screen(true);
  res.sqnr_start_db = best;

  // The local error proxy: one unfused FP32 pass over the screening samples (all samples without screening).
  std::map<std::string, Proxy> proxy;
  if (opt.prune_ratio > 0) {
    for (const auto& e : table.entries) {
      if (!scaled.count(e.name) || e.candidates.empty() || !amax.count(e.name)) continue;
      Proxy& p = proxy[e.name];
      p.amax.push_back(amax[e.name]);
      for (const auto& [name, c] : e.candidates)
        if (c > 0.f && std::isfinite(c)) p.amax.push_back(as_cached(c));
      p.sse.assign(p.amax.size(), 0.0);
    }
    PlanOptions uo = po;
    uo.fold_batchnorm = false;
    uo.fuse = false;
    auto plan = Plan::build(model, uo);
    const Graph& g = plan->graph();
    std::vector<Proxy*> of_value(g.values.size(), nullptr);
    for (size_t v = 0; v < g.values.size(); ++v)
      if (auto it = proxy.find(g.values[v].name); it != proxy.end()) of_value[v] = &it->second;
    Plan::Observer observe = [&](int v, const Tensor& t) {
      Proxy* p = of_value[static_cast<size_t>(v)];
      if (!p || t.dtype() != DType::f32) return;
      for (size_t k = 0; k < p->amax.size(); ++k) p->sse[k] += local_sse(t.data<float>(), t.numel(), p->amax[k]);
    };
    for (const auto& inputs : screening ? screen : batches) plan->run(inputs, &observe);
  }
  res.seconds_setup += since(t_setup) - res.seconds_build - res.seconds_full - res.seconds_screen;

  // Decisions that are settled: a candidate that lost its screen by more than settle_db is not tried again in
  // the next sweep (tensor + candidate name -> how far it lost, from the last sweep that tried it).
  std::map<std::string, double> lost_by;
  int planned = 0;
  auto trial_done = [&](const std::string& what) {
    ++res.trials;
    if (opt.progress) opt.progress(res.trials, std::max(planned, res.trials), what);
  };
  for (int sweep = 0; sweep < opt.max_sweeps; ++sweep) {
    const double sweep_start = best;
    res.sweeps = sweep + 1;
    if (sweep > 0 && screening) choose_screen(false);
    for (const auto& e : res.table.entries)
      if (scaled.count(e.name)) planned += static_cast<int>(e.candidates.size());
    for (auto& e : res.table.entries) {
      if (!scaled.count(e.name)) continue;
      const float cur = as_cached(e.amax);
      std::vector<float> tried{cur};
      std::string chosen;
      float chosen_amax = cur;
      const Proxy* p = proxy.count(e.name) ? &proxy[e.name] : nullptr;
      struct Passed { double screen; std::string name; float amax; };
      std::vector<Passed> passed;  // screening: candidates that won their screen
      for (const auto& [name, cand] : e.candidates) {
        const float c = as_cached(cand);
        if (!(c > 0.f) || !std::isfinite(c)) continue;
        bool seen = false;
        for (float t : tried) seen = seen || std::fabs(c - t) <= 1e-3f * t;
        if (seen) continue;
        tried.push_back(c);
        if (p) {
          const double base = p->of(chosen_amax), mine = p->of(c);
          if (base >= 0 && mine > opt.prune_ratio * base) {
            ++res.pruned;
            continue;
          }
        }
        const std::string key = e.name + '\n' + name;
        if (screening && opt.settle_db > 0 && sweep > 0)
          if (auto it = lost_by.find(key); it != lost_by.end() && it->second > opt.settle_db) {
            ++res.settled;
            continue;
          }
        amax[e.name] = c;
        update();
        if (screening) {
          // The noise only grows over the screening batches, so a trial stops as soon as its outcome is known:
          // it has lost by more than settle_db (where a later sweep may ask), or cannot gain accept_db (in the
          // last sweep, or without settled decisions). The decisions are those of the whole screening run.
          const bool settle_later = opt.settle_db > 0 && sweep + 1 < opt.max_sweeps;
          const double bar = std::max(opt.accept_db, opt.confirm_db);
          auto lost = [&](double noise) {
            const double bound = sqnr_db(screen_signal, noise);
            return settle_later ? best_screen - bound > opt.settle_db : !(bound > best_screen + bar);
          };
          const double s_screen = screen_run(false, lost);
          trial_done("scale " + e.name + " " + name + " (screen)");
          lost_by[key] = best_screen - s_screen;
          if (s_screen > best_screen + bar) passed.push_back({s_screen, name, c});
          else ++res.screened_out;
          continue;
        }
        const double s = full_run();
        trial_done("scale " + e.name + " " + name);
        if (s > best + opt.accept_db) {
          best = s;
          chosen = name;
          chosen_amax = c;
        }
      }
      // Screening: the candidates that won their screen are confirmed on all samples, best screen first, at most
      // max_confirmations of them; the first that gains on all samples is taken.
      std::stable_sort(passed.begin(), passed.end(), [](const Passed& a, const Passed& b) { return a.screen > b.screen; });
      for (size_t i = 0; i < passed.size(); ++i) {
        if (static_cast<int>(i) >= opt.max_confirmations) {
          res.screened_out += static_cast<int>(passed.size() - i);
          break;
        }
        amax[e.name] = passed[i].amax;
        update();
        ++res.confirmations;
        // Stops once the noise so far shows it cannot gain accept_db (the noise only grows): the same decision.
        // And, with confirm_half, a sequential test: from half of the samples on (and at least 3 batches), it stops
        // as rejected when even an optimistic completion cannot gain accept_db: per batch, the paired difference
        // d = (noise of the accepted thresholds) - (noise of the candidate) on the same samples; the batches still
        // to run are taken to gain their count m x mean(d) plus 4 standard deviations of that sum
        // (sd(d) x sqrt(m^2 / k + m) after k batches; 4, not 2 or 3: on a 10-class output d is heavy-tailed, and at
        // 3 resnet20's Flatten lost a change main takes). Close calls run to the end.
        size_t seen = 0;
        int64_t seen_samples = 0;
        double accepted_so_far = 0, prev = 0, accepted_total = 0;
        for (double a : accepted_noise) accepted_total += a;
        std::vector<double> diffs;
        bool halted = false;
        std::vector<double> cand_noise;
        const double s = full_run(nullptr, [&](double noise) {
          const double acc = seen < accepted_noise.size() ? accepted_noise[seen] : 0.0;
          accepted_so_far += acc;
          diffs.push_back(acc - (noise - prev));
          prev = noise;
          seen_samples += batches[seen].empty() ? 0 : batches[seen][0].dim(0);
          ++seen;
          if (!(sqnr_db(signal_all, noise) > best + opt.accept_db)) return true;
          if (!opt.confirm_half || accepted_noise.size() != batches.size() || 2 * seen_samples < total || seen < 3)
            return false;
          const double k = static_cast<double>(seen), m = static_cast<double>(batches.size() - seen);
          double mean = 0, var = 0;
          for (double d : diffs) mean += d / k;
          for (double d : diffs) var += (d - mean) * (d - mean) / (k - 1);
          const double optimistic = m * mean + 4.0 * std::sqrt(var * (m * m / k + m));
          const double final_noise = noise + (accepted_total - accepted_so_far) - optimistic;
          if (final_noise >= accepted_total / std::pow(10.0, opt.accept_db / 10.0)) {
            halted = true;
            ++res.halted;
            return true;
          }
          return false;
        }, &cand_noise);
        if (!halted && s > best + opt.accept_db) {
          accepted_noise = cand_noise;
          best = s;
          chosen = passed[i].name;
          chosen_amax = passed[i].amax;
          // The accepted thresholds now have it; the checkpoints after the step it changes are another plan's.
          accepted = amax;
          drop_checkpoints(last_departure);
          full_dirty = full_plan ? full_plan->steps() : 0;
          best_screen = passed[i].screen;  // the same screening samples, so still comparable
          if (downstream) screen_run(true);  // the saved runs now have this threshold
          res.screened_out += static_cast<int>(passed.size() - i - 1);  // not needed any more
          break;
        }
      }
      amax[e.name] = chosen_amax;
      update();
      if (!chosen.empty()) {
        res.changes.push_back({e.name, chosen, e.amax, chosen_amax, best});
        e.amax = chosen_amax;
        e.algo = algo_of_candidate(chosen, e.algo);
      }
    }
    if (best < sweep_start + opt.min_gain_db) break;
  }
  res.sqnr_db = best;
  return res;
}

}  // namespace octet
