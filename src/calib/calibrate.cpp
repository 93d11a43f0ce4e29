#include "calib/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <map>
#include <set>

#include "calib/pending.h"
#include "calib/refine.h"
#include "calib/shape_values.h"
#include "calib/tune.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "io/dataset.h"
#include "runtime/plan.h"

namespace octet {

namespace {

// Token for algorithms TensorRT has no calibrator for (octet reads them back; TensorRT would recalibrate).
std::string algo_token(Algo a) {
  switch (a) {
    case Algo::Percentile: return "PercentileCalibration";
    case Algo::Mse: return "MseCalibration";
    default: return algo_trt_token(a);
  }
}

// Calibrated values of `g`: f32 graph inputs and node outputs, in network order.
std::vector<int> calibrated_values(const Graph& g, const std::vector<DType>* dtypes) {
  std::vector<int> vals;
  auto is_f32 = [&](int v) { return (dtypes ? (*dtypes)[static_cast<size_t>(v)] : g.value(v).dtype) == DType::f32; };
  for (int v : g.inputs)
    if (is_f32(v)) vals.push_back(v);
  for (const Node& n : g.nodes)
    for (int o : n.outputs)
      if (is_f32(o)) vals.push_back(o);
  return vals;
}

// The samples the refinement runs on, taken from the calibration stream. With the canonical ids of all samples
// (SampleIndexSource): the ones at ranks i * total / count of the sorted ids, kept by id, whatever order they
// arrive in. Else by stream position: with the total known, the ones at i * total / count (spread evenly);
// without, every k-th, k doubling (and every other kept sample dropped) whenever more than `count` were kept —
// evenly spread either way, count/2..count of them. take_batches returns them in id (position) order.
class SampleKeeper {
 public:
  SampleKeeper(int64_t count, int64_t expected, std::vector<int64_t> all_ids) : count_(count) {
    if (count <= 0) return;
    if (!all_ids.empty()) {
      std::sort(all_ids.begin(), all_ids.end());
      for (size_t r : spread_indices(all_ids.size(), static_cast<size_t>(count))) wanted_.push_back(all_ids[r]);
    } else if (expected > 0) {
      for (size_t r : spread_indices(static_cast<size_t>(expected), static_cast<size_t>(count)))
        wanted_.push_back(static_cast<int64_t>(r));
    }
  }
  // `id`: the sample's canonical id, or its stream position.
  bool wants(int64_t id) const {
    if (count_ <= 0) return false;
    if (!wanted_.empty()) return std::binary_search(wanted_.begin(), wanted_.end(), id);
    return id % stride_ == 0;
  }
  // `outputs`: the model's FP32 outputs for the sample (copies; empty when not known).
  void keep(int64_t id, std::vector<Tensor> sample, std::vector<Tensor> outputs = {}) {
    kept_.push_back({id, std::move(sample), std::move(outputs)});
    if (wanted_.empty() && static_cast<int64_t>(kept_.size()) > count_) {
      std::vector<Kept> half;
      for (size_t i = 0; i < kept_.size(); i += 2) half.push_back(std::move(kept_[i]));
      kept_ = std::move(half);
      stride_ *= 2;
    }
  }
  // The kept samples (each one tensor per input, batch 1) as batches of `batch`; the keeper is emptied. With
  // `outputs`: their FP32 outputs batched the same way when every kept sample has them, each of batch 1 (else
  // left empty).
  std::vector<std::vector<Tensor>> take_batches(int64_t batch, std::vector<std::vector<Tensor>>* outputs = nullptr) {
    std::stable_sort(kept_.begin(), kept_.end(), [](const Kept& a, const Kept& b) { return a.id < b.id; });
    bool with_outputs = outputs != nullptr && !kept_.empty();
    for (const Kept& k : kept_) {
      with_outputs = with_outputs && !k.outputs.empty() && k.outputs.size() == kept_[0].outputs.size();
      for (const Tensor& t : k.outputs) with_outputs = with_outputs && t.rank() > 0 && t.dim(0) == 1;
    }
    if (outputs) outputs->clear();
    std::vector<std::vector<Tensor>> out;
    auto same_shapes = [&](size_t a, size_t b) {
      for (size_t i = 0; i < kept_[a].inputs.size(); ++i)
        if (kept_[a].inputs[i].shape() != kept_[b].inputs[i].shape()) return false;
      for (size_t i = 0; with_outputs && i < kept_[a].outputs.size(); ++i)
        if (kept_[a].outputs[i].shape() != kept_[b].outputs[i].shape() || kept_[a].outputs[i].dtype() != kept_[b].outputs[i].dtype())
          return false;
      return true;
    };
    // The tensors `of` (inputs or outputs) of samples b0..b0+n-1 stacked along the first dimension.
    auto stack = [&](size_t b0, size_t n, std::vector<Tensor> Kept::*of) {
      std::vector<Tensor> batched;
      for (size_t i = 0; i < (kept_[b0].*of).size(); ++i) {
        const Tensor& first = (kept_[b0].*of)[i];
        Shape shape = first.shape();
        shape[0] *= static_cast<int64_t>(n);
        Tensor t(first.dtype(), shape);
        for (size_t k = 0; k < n; ++k)
          std::memcpy(static_cast<char*>(t.raw()) + k * first.nbytes(), (kept_[b0 + k].*of)[i].raw(), first.nbytes());
        batched.push_back(std::move(t));
      }
      return batched;
    };
    for (size_t b0 = 0, n = 0; b0 < kept_.size(); b0 += n) {
      // A batch holds samples of one shape (a model of dynamic H x W calibrated on images of several sizes).
      n = 1;
      while (n < static_cast<size_t>(batch) && b0 + n < kept_.size() && same_shapes(b0, b0 + n)) ++n;
      out.push_back(stack(b0, n, &Kept::inputs));
      if (with_outputs) outputs->push_back(stack(b0, n, &Kept::outputs));
      for (size_t k = 0; k < n; ++k) kept_[b0 + k] = {};  // copied: one copy of the samples at a time
    }
    kept_.clear();
    return out;
  }

 private:
  int64_t count_;
  std::vector<int64_t> wanted_;  // sorted
  int64_t stride_ = 1;
  struct Kept {
    int64_t id = 0;
    std::vector<Tensor> inputs, outputs;
  };
  std::vector<Kept> kept_;
};

// Runs the refinement (RefineOptions) on `table` in place; failures leave the table as it is and say why.
// `reference`: the FP32 outputs on `batches` when known (else the refinement computes them).
RefineOutcome refine(const Graph& model, CalibTable& table, const std::vector<std::vector<Tensor>>& batches,
                     const std::vector<std::vector<Tensor>>& reference, const CalibOptions& opt) {
  RefineOutcome r;
  for (const auto& b : batches) r.samples += b.empty() ? 0 : b[0].dim(0);
  if (r.samples == 0) {
    r.skipped = "no samples";
    return r;
  }
  ThresholdSearchOptions so;
  so.backend = opt.backend;
  so.max_sweeps = opt.refine.max_sweeps;
  so.screen_samples = opt.refine.screen_samples;
  so.prune_ratio = opt.refine.prune_ratio;
  Progress progress("refine", 0, opt.quiet, "trials");
  so.progress = [&](int done, int planned, const std::string&) {
    progress.set_total(planned);
    progress.update(done);
  };
  ThresholdSearchResult t;
  try {
    t = search_thresholds(model, table, batches, so, reference.empty() ? nullptr : &reference);
  } catch (const Error& e) {
    progress.finish();
    r.skipped = e.what();
    return r;
  }
  progress.finish();
  std::map<std::string, const ThresholdChange*> last;  // a tensor changed in two sweeps: its final choice
  for (const auto& c : t.changes) last[c.tensor] = &c;
  for (const auto& e : table.entries)
    if (auto it = last.find(e.name); it != last.end()) {
      // moved in one sweep and back in a later one: no change in the cache, none in the record
      const float after = it->second->amax_after;
      if (after == e.amax || after == amax_from_scale(scale_from_amax(e.amax))) continue;
      r.changes.push_back({e.name, it->second->choice, e.amax, after});
    }
  r.ran = true;
  r.sqnr_before_db = t.sqnr_start_db;
  r.sqnr_after_db = t.sqnr_db;
  r.sweeps = t.sweeps;
  r.trials = t.trials;
  r.pruned = t.pruned;
  r.screened_out = t.screened_out;
  r.confirmations = t.confirmations;
  r.screen_samples = t.screen_samples;
  r.halted = t.halted;
  r.weighted_outputs = t.weighted_outputs;
  r.settled = t.settled;
  r.seconds_setup = t.seconds_setup;
  r.seconds_build = t.seconds_build;
  r.seconds_screen = t.seconds_screen;
  r.seconds_full = t.seconds_full;
  table = std::move(t.table);
  return r;
}

// Why a cache whose header is right still cannot stand for `model`'s calibration ("" when it can): no entries,
// a scale that no kernel may use (quant/scale_rule.h; 0 is allowed), names of another model, or no scale for a
// network input (TensorRT and octet always write one).
std::string cache_misfit(const CalibCache& cache, const Graph& model) {
  if (cache.entries.empty()) return "it has no tensor entries, only its header";
  for (const auto& e : cache.entries) {
    if (e.scale == 0.f && !std::signbit(e.scale)) continue;
    if (std::string why = scale_problem(e.scale); !why.empty())
      return "tensor '" + e.name + "' on line " + std::to_string(e.line) + " has scale " + scale_hex(e.scale) + " (" +
             why + ")";
  }
  std::set<std::string> names;
  for (const auto& v : model.values) names.insert(v.name);
  size_t foreign = 0;
  const CacheEntry* first = nullptr;
  for (const auto& e : cache.entries)
    if (!names.count(e.name)) {
      ++foreign;
      if (!first) first = &e;
    }
  if (foreign == cache.entries.size())
    return std::to_string(foreign) + " of its " + std::to_string(cache.entries.size()) +
           " tensor names are not in the model (e.g. '" + first->name + "' on line " + std::to_string(first->line) +
           "): a cache of another model";
  std::set<std::string> in_cache;
  for (const auto& e : cache.entries) in_cache.insert(e.name);
  for (int v : calibrated_values(model, nullptr))
    if (std::find(model.inputs.begin(), model.inputs.end(), v) != model.inputs.end() && !in_cache.count(model.value(v).name))
      return "it has no scale for the model input '" + model.value(v).name + "' (" + std::to_string(foreign) + " of its " +
             std::to_string(cache.entries.size()) + " tensor names are not in the model)";
  return "";
}

}  // namespace

std::string expected_cache_header(Algo algo, int trt_version) { return make_cache_header(trt_version, algo_token(algo)); }

void observe_layout_copies(const Graph& g, std::vector<int>& obs_of) {
  for (const Node& n : g.nodes) {
    bool copy = n.op == OpType::ToNhwc || n.op == OpType::ToNchw;
    for (int o : n.outputs) {
      int orig = g.value(o).layout_of;
      if (copy) obs_of[static_cast<size_t>(o)] = -1;
      else if (orig >= 0) obs_of[static_cast<size_t>(o)] = obs_of[static_cast<size_t>(orig)];
    }
  }
}

std::vector<std::string> calibrated_tensor_names(const Graph& model) {
  std::vector<std::string> names;
  for (int v : calibrated_values(model, nullptr)) names.push_back(model.value(v).name);
  return names;
}

CalibOutcome calibrate(const Graph& model, Calibrator& calibrator, const CalibOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  CalibOutcome out;
  Algo algo = parse_algo(calibrator.algorithm());
  const std::string header = expected_cache_header(algo, opt.trt_version);

  if (auto cached = calibrator.readCalibrationCache(); cached && !cached->empty()) {
    std::string reject = opt.reject_cache;
    CalibCache cache;
    HeaderCheck hc;
    if (reject.empty()) {
      try {
        cache = parse_cache(*cached, "the existing cache");
      } catch (const Error& e) {
        reject = e.what();
      }
    }
    if (reject.empty()) {
      hc = check_cache_header(cache.header, header);
      if (!hc.ok && !opt.import_cache) reject = hc.reason;
    }
    if (reject.empty()) reject = cache_misfit(cache, model);
    if (reject.empty()) {
      out.table = table_from_cache(cache, algo);
      out.from_cache = true;
      out.note = hc.ok ? "calibration cache matches (" + header + "); calibration skipped"
                       : "imported scales from a cache with header '" + cache.header + "' (" + hc.reason + ")";
      out.cache_bytes = *cached;
      calibrator.writeCalibrationCache(cached->data(), cached->size());
      return out;
    }
    out.cache_rejected = true;
    out.note = "existing cache ignored: " + reject + "; recalibrating";
  }

  // Unfused FP32 plan: every op output exists as its own tensor.
  PlanOptions po;
  po.backend = opt.backend;
  po.fold_batchnorm = false;
  po.fuse = false;
  auto plan = Plan::build(model, po);
  const Graph& g = plan->graph();
  int batch = calibrator.batchSize();
  OCTET_CHECK(batch > 0, "the calibrator's batchSize() is ", batch, "; it must be positive");
  // The FP32 passes run one sample at a time: each sample's activations are then bit-identical whatever
  // the batch size or order (oneDNN may pick other kernels, with other rounding, for other batch sizes),
  // which is what makes the two-pass result independent of them.
  // A calibrator that says each batch's shape (BatchShapeSource) may feed any size a dynamic model accepts;
  // the histograms of a tensor merge across sizes (two-pass: one absmax over every size, then fixed bins).
  auto* shape_src = dynamic_cast<const BatchShapeSource*>(&calibrator);
  if (shape_src && !shape_src->provides_shapes()) shape_src = nullptr;
  std::vector<Shape> shapes;
  if (!shape_src) shapes = plan->input_shapes(1);

  // Observers for the model's calibrated tensors, found by name in the plan's graph.
  std::vector<int> model_vals = calibrated_values(model, nullptr);
  std::vector<int> obs_of(g.values.size(), -1);
  std::vector<TensorObserver> obs;
  std::vector<int> obs_value;
  std::vector<std::string> obs_name;
  std::vector<int> obs_of_model(model.values.size(), -1);  // model value -> observer
  for (int mv : model_vals) {
    int v = g.find(model.value(mv).name);
    if (v < 0) continue;  // removed as dead code: never computed, reported as never observed
    obs_of_model[static_cast<size_t>(mv)] = static_cast<int>(obs.size());
    obs_of[static_cast<size_t>(v)] = static_cast<int>(obs.size());
    obs.emplace_back(opt.one_pass || !calibrator.rewind() ? HistMode::Growing : HistMode::Fixed);
    obs_value.push_back(v);
    obs_name.push_back(model.value(mv).name);
  }
  observe_layout_copies(g, obs_of);
  bool two_pass = !obs.empty() && obs[0].mode() == HistMode::Fixed;
  enum class Pass { Absmax, Hist, OnePass } pass = two_pass ? Pass::Absmax : Pass::OnePass;
  std::vector<char> non_float(obs.size(), 0);  // observed tensors that ran as integers (shape/index data)
  // Letterbox padding (calib/padding.h): the current sample's content box, when it has padding to leave out.
  auto* box_src = dynamic_cast<const ContentBoxSource*>(&calibrator);
  if (box_src && !box_src->provides_boxes()) box_src = nullptr;
  const ContentBox* box = nullptr;
  std::vector<char> masked(obs.size(), 0);
  out.padding.exclude = opt.exclude_padding;
  // Bins float tensor t of value v into its observer (scratch: the caller's buffer for the content box's values).
  auto feed_with = [&](int v, const Tensor& t, std::vector<float>& scratch) {
    int i = obs_of[static_cast<size_t>(v)];
    if (i >= 0 && t.dtype() != DType::f32) non_float[static_cast<size_t>(i)] = 1;
    if (i < 0 || t.dtype() != DType::f32) return;
    const float* p = t.data<float>();
    size_t n = static_cast<size_t>(t.numel());
    // A channels-last copy (passes/nhwc.cpp) is [N, H, W, C].
    if (box && content_values(t, g.value(v).layout_of >= 0, *box, scratch)) {
      p = scratch.data();
      n = scratch.size();
      masked[static_cast<size_t>(i)] = 1;
    }
    TensorObserver& o = obs[static_cast<size_t>(i)];
    switch (pass) {
      case Pass::Absmax: o.observe_absmax(p, n); break;
      case Pass::Hist: o.observe_hist(p, n); break;
      case Pass::OnePass: o.observe(p, n); break;
    }
  };
  std::vector<float> scratch;
  auto feed = [&](int v, const Tensor& t) { feed_with(v, t, scratch); };
  // Binned in parallel after each run (calib/pending.h); the histograms are those of binning in the run.
  PendingObservations pending(obs_of, feed_with);
  Plan::Observer observer = [&](int v, const Tensor& t) {
    const int i = obs_of[static_cast<size_t>(v)];
    if (i < 0) return;
    if (t.dtype() != DType::f32) {
      non_float[static_cast<size_t>(i)] = 1;
      return;
    }
    pending.add(v, t);
  };

  std::vector<const char*> names;
  for (int v : g.inputs) names.push_back(g.value(v).name.c_str());
  std::vector<void*> bindings(g.inputs.size(), nullptr);
  int passes = two_pass ? 2 : 1;
  auto* ids = dynamic_cast<const SampleIndexSource*>(&calibrator);
  if (ids && !ids->provides_ids()) ids = nullptr;
  SampleKeeper keeper(opt.refine.samples, opt.expected_images,
                      ids && opt.refine.samples > 0 ? ids->all_sample_ids() : std::vector<int64_t>{});
  for (int p = 0; p < passes; ++p) {
    pass = two_pass ? (p == 0 ? Pass::Absmax : Pass::Hist) : Pass::OnePass;
    if (p == 1) OCTET_CHECK(calibrator.rewind(), "the calibrator could not rewind for the second pass");
    Progress progress(two_pass ? (p == 0 ? "calibrate 1/2" : "calibrate 2/2") : "calibrate",
                      opt.expected_images, opt.quiet || opt.expected_images == 0);
    int64_t batches = 0, images = 0;
    bool constants_seen = false;
    while (true) {
      std::fill(bindings.begin(), bindings.end(), nullptr);
      if (!calibrator.getBatch(bindings.data(), names.data(), static_cast<int>(names.size()))) break;
      int n = calibrator.takeLastBatchSize();
      if (n < 0) n = batch;
      OCTET_CHECK(n > 0 && n <= batch, "the calibrator reported a batch of ", n, " images (batch size ", batch, ")");
      for (size_t i = 0; i < g.inputs.size(); ++i)
        OCTET_CHECK(bindings[i] != nullptr, "getBatch() left binding ", i, " ('", names[i], "') empty");
      std::vector<int64_t> batch_ids;
      if (ids && p == passes - 1 && opt.refine.samples > 0) {
        batch_ids = ids->batch_sample_ids();
        OCTET_CHECK(static_cast<int64_t>(batch_ids.size()) == n, "the calibrator named ", batch_ids.size(),
                    " samples for a batch of ", n);
      }
      if (shape_src) {
        std::vector<Shape> per = shape_src->batch_sample_shapes();
        OCTET_CHECK(per.size() == g.inputs.size(), "the calibrator gave shapes for ", per.size(), " inputs; the model has ",
                    g.inputs.size());
        shapes.clear();
        for (Shape& s : per) {
          s.insert(s.begin(), 1);
          shapes.push_back(std::move(s));
        }
      }
      std::vector<ContentBox> boxes;
      if (box_src) {
        boxes = box_src->batch_content_boxes();
        OCTET_CHECK(boxes.empty() || static_cast<int>(boxes.size()) == n, "the calibrator gave content boxes for ",
                    boxes.size(), " samples of a batch of ", n);
      }
      for (int j = 0; j < n; ++j) {
        box = nullptr;
        if (!boxes.empty()) check_content_box(boxes[static_cast<size_t>(j)], shapes[0], names[0]);
        if (!boxes.empty() && boxes[static_cast<size_t>(j)].padded()) {
          if (p == 0) ++out.padding.padded_samples;
          if (opt.exclude_padding) box = &boxes[static_cast<size_t>(j)];
        }
        std::vector<Tensor> inputs;
        for (size_t i = 0; i < g.inputs.size(); ++i) {
          Tensor t(DType::f32, shapes[i]);
          std::memcpy(t.raw(), static_cast<const char*>(bindings[i]) + static_cast<size_t>(j) * t.nbytes(), t.nbytes());
          inputs.push_back(std::move(t));
        }
        std::vector<Tensor> outputs = plan->run(inputs, &observer);
        pending.flush();  // before `box` moves on to the next sample
        const int64_t id = batch_ids.empty() ? images + j : batch_ids[static_cast<size_t>(j)];
        if (p == passes - 1 && keeper.wants(id)) {
          // The FP32 outputs too: the refinement compares INT8 with them (no FP32 run of its own).
          for (Tensor& t : outputs) t = t.clone();
          keeper.keep(id, std::move(inputs), std::move(outputs));
        }
      }
      box = nullptr;  // constants below are not samples
      if (!constants_seen) {
        // Tensors folded at build (computed from weights or shapes only) are observed once per pass.
        for (size_t i = 0; i < obs.size(); ++i)
          if (plan->is_folded(obs_value[i])) feed(obs_value[i], plan->tensor(obs_value[i]));
        constants_seen = true;
      }
      ++batches;
      images += n;
      progress.update(images);
    }
    progress.finish();
    OCTET_CHECK(batches > 0, "the calibrator provided no data (getBatch returned false at once)");
    out.batches = batches;
    out.images = images;
  }

  // Network inputs and the tensors that only move their values (no arithmetic): calibrated like the inputs.
  std::vector<char> input_values(model.values.size(), 0);
  for (int v : model.inputs) input_values[static_cast<size_t>(v)] = 1;
  for (const Node& n : model.nodes) {  // topological order
    switch (n.op) {
      case OpType::Slice: case OpType::Concat: case OpType::Reshape: case OpType::Transpose: case OpType::Flatten:
      case OpType::Squeeze: case OpType::Unsqueeze: case OpType::Identity: case OpType::Split: break;
      default: continue;
    }
    bool any = false, all = true;  // every non-constant data input is input-derived
    for (int in : n.inputs) {
      if (in < 0 || model.is_const(in)) continue;
      any = true;
      all = all && input_values[static_cast<size_t>(in)] != 0;
    }
    if (any && all)
      for (int o : n.outputs) input_values[static_cast<size_t>(o)] = 1;
  }
  out.table.algo = algo;
  out.table.params = opt.params;
  out.table.hist_mode = two_pass ? HistMode::Fixed : HistMode::Growing;
  // The threshold searches (the algorithm's and every candidate's), one task per tensor: independent of each other.
  std::vector<CalibEntry> entries(model_vals.size());
  parallel_tasks(static_cast<int64_t>(model_vals.size()), [&](int64_t k, int) {
    const int mv = model_vals[static_cast<size_t>(k)];
    CalibEntry& e = entries[static_cast<size_t>(k)];
    int i = obs_of_model[static_cast<size_t>(mv)];
    if (i < 0) {
      e.name = model.value(mv).name;
      e.algo = algo;
      e.has_stats = true;  // with empty stats: reported as never observed
      return;
    }
    // Network inputs: their range is set by preprocessing and every value carries signal, so clipping them
    // (what KL does with a spike such as a uniform background) only loses information — MinMax by default.
    // So are tensors that only rearrange input values (a YOLO Focus: Slice x4 -> Concat of the image): entropy2
    // put yolox_det's Focus output at amax 114 of the image's 255, saturating every brighter pixel.
    bool is_input = input_values[static_cast<size_t>(mv)] != 0;
    Algo a = is_input && opt.inputs_minmax ? Algo::MinMax : algo;
    e = calibrate_entry(obs_name[static_cast<size_t>(i)], obs[static_cast<size_t>(i)], a, opt.params);
  });
  for (CalibEntry& e : entries) out.table.entries.push_back(std::move(e));
  // Shape/index arithmetic has no scale by nature: no health warning for it (issue 16).
  std::set<std::string> shape_tensors;
  const std::vector<char> shape_vals = shape_arithmetic_values(model);
  for (int mv : model_vals)
    if (shape_vals[static_cast<size_t>(mv)]) shape_tensors.insert(model.value(mv).name);
  for (size_t i = 0; i < obs.size(); ++i)
    if (non_float[i]) shape_tensors.insert(obs_name[i]);
  out.warnings = health_check(out.table, 1e-3, shape_tensors);
  for (char m : masked) out.padding.masked_tensors += m;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (opt.refine.samples > 0) {
    plan.reset();  // the unfused FP32 plan's buffers are not needed any more
    auto t1 = std::chrono::steady_clock::now();
    // A model whose inputs declare a fixed batch (kept samples then have it already) runs one sample per trial run.
    const int64_t per_run = declared_batch(model) >= 0 ? 1 : opt.refine.batch;
    // The pass ran one sample at a time: its outputs stand for a batched FP32 run where every output's first
    // dimension is the batch, i.e. not a fixed number while the batch is free (else the refinement runs FP32 itself).
    bool batched_outputs = true;
    for (int v : model.outputs) {
      const Value& val = model.value(v);
      if (per_run > 1 && val.has_declared_shape && !val.declared.empty() && val.declared[0].value >= 0) batched_outputs = false;
    }
    std::vector<std::vector<Tensor>> reference;
    std::vector<std::vector<Tensor>> samples = keeper.take_batches(per_run, batched_outputs ? &reference : nullptr);
    out.refinement = refine(model, out.table, samples, reference, opt);
    out.refinement.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  out.cache_bytes = serialize_cache(to_cache(out.table, opt.trt_version, algo_token(algo)));
  calibrator.writeCalibrationCache(out.cache_bytes.data(), out.cache_bytes.size());
  return out;
}

}  // namespace octet
