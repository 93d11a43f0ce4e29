// octet tune through the api layer: the table with the sidecar's candidates, and the tuned cache + sidecar
// (moved from tools/cmd_tune.cpp); the public tune().
#include <cmath>
#include <filesystem>
#include <set>

#include "api/internal.h"
#include "calib/tune.h"
#include "core/progress.h"
#include "octet/tune.h"

namespace octet::api {

TuneInput load_tune_input(const std::string& cache_path) {
  TuneInput in;
  // The table: the sidecar (with candidates) when present and matching the cache, else the cache alone.
  CalibCache& cache = in.cache;
  cache = read_cache_file(cache_path);
  check_cache_scales(cache, "'" + cache_path + "'");
  CalibTable& table = in.table;
  table = table_from_cache(cache);
  SidecarMeta& meta = in.meta;
  const std::string& sidecar = in.sidecar = cache_path + ".json";
  bool& have_candidates = in.have_candidates;
  if (std::filesystem::exists(sidecar)) {
    CalibTable st = read_sidecar(sidecar, &meta);
    OCTET_CHECK(meta.cache_header.empty() || meta.cache_header == cache.header, "'", sidecar, "' belongs to a cache with header '",
                meta.cache_header, "', not '", cache.header, "'");
    // The cache's scales rule (it may have been edited); statistics and candidates come from the sidecar.
    for (auto& e : table.entries)
      if (const CalibEntry* s = st.find(e.name)) {
        float amax = e.amax;
        e = *s;
        e.amax = amax;
        have_candidates = have_candidates || !e.candidates.empty();
      }
    table.params = st.params;
    table.hist_mode = st.hist_mode;
  }
  return in;
}

std::vector<std::string> fp32_onnx_nodes(const Graph& model, const CalibTable& table,
                                         const std::vector<std::string>& fp32_layers, const std::string& backend) {
  if (fp32_layers.empty()) return {};
  PlanOptions po;
  po.backend = backend;
  for (const auto& e : table.entries)
    if (e.amax > 0.f && std::isfinite(e.amax)) po.int8_amax[e.name] = amax_from_scale(scale_from_amax(e.amax));
  po.fp32_layers = fp32_layers;
  auto plan = Plan::build(model, po);
  const std::set<std::string> fp32(fp32_layers.begin(), fp32_layers.end());
  std::vector<std::string> out;
  const std::string tag = "fused into '";
  for (const LayerRow& r : layer_table(plan->graph(), plan->quantize_report(), true, &model)) {
    std::string host = r.why.rfind(tag, 0) == 0 ? r.why.substr(tag.size(), r.why.find('\'', tag.size()) - tag.size()) : r.node;
    if (fp32.count(r.node) || fp32.count(host)) out.push_back(r.node);
  }
  return out;
}

void write_tuned(const std::string& out, const TuneInput& in, const CalibTable& table,
                 const std::vector<std::string>& fp32_layers, bool searched_scales, const std::string& model_path) {
  const CacheHeader h = parse_cache_header(in.cache.header);
  SidecarMeta meta = in.meta;
  meta.cache_header = in.cache.header;
  meta.fp32_layers = fp32_layers;
  if (searched_scales) meta.refinement = nullptr;  // calibrate's record no longer describes these thresholds
  if (meta.model_hash.empty()) meta.model_hash = file_fingerprint(model_path);
  write_sidecar(out + ".json", table, meta);  // first: the cache is the commit point (as octet calibrate)
  write_cache_file(out, to_cache(table, h.version, h.algo_token));
}

namespace {

// Box F1 of the INT8 detections against the FP32 ones (octet eval --task detect's "box F1").
class DetectTask : public TuneTask {
 public:
  DetectTask(const DecodeOptions& d, double match_iou, std::string output)
      : dec_(d), match_iou_(match_iou), output_(std::move(output)) {}
  std::string name() const override { return "box F1"; }
  void begin() override {
    f1_ = BoxF1();
    f1_.iou = match_iou_;
  }
  void add(size_t batch, const std::vector<Tensor>& fp32, const std::vector<Tensor>& int8,
           const std::vector<Tensor>& inputs) override {
    if (ref_.size() <= batch) ref_.resize(batch + 1);
    if (ref_[batch].empty()) ref_[batch] = decode(fp32.at(0), inputs);
    const std::vector<std::vector<Box>> got = decode(int8.at(0), inputs);
    for (size_t i = 0; i < got.size() && i < ref_[batch].size(); ++i) f1_.add(got[i], ref_[batch][i]);
  }
  double score() const override { return f1_.predictions == 0 && f1_.truths == 0 ? 1.0 : f1_.f1(); }

 private:
  std::vector<std::vector<Box>> decode(const Tensor& y, const std::vector<Tensor>& inputs) const {
    const char* expected = dec_.head == DetectHead::yolov8 ? "N x (4 + classes) x anchors" : "N x anchors x (5 + classes)";
    OCTET_CHECK(y.dtype() == DType::f32 && y.rank() == 3, "tune --task detect --decode ", detect_head_name(dec_.head),
                ": output '", output_, "' is ", shape_str(y.shape()), "; expected float32 ", expected);
    DecodeOptions d = dec_;
    const Tensor& x = inputs.at(0);
    if (x.rank() == 4) {
      d.input_h = static_cast<int>(x.dim(2));
      d.input_w = static_cast<int>(x.dim(3));
    }
    const int64_t per = y.dim(1) * y.dim(2);
    std::vector<std::vector<Box>> out;
    for (int64_t i = 0; i < y.dim(0); ++i) out.push_back(decode_detections(y.data<float>() + i * per, y.dim(1), y.dim(2), d));
    return out;
  }
  DecodeOptions dec_;
  double match_iou_;
  std::string output_;
  BoxF1 f1_;
  std::vector<std::vector<std::vector<Box>>> ref_;  // FP32 boxes per batch and image (decoded once)
};

// Mask IoU of the INT8 map against the FP32 map (octet eval --task segment).
class SegmentTask : public TuneTask {
 public:
  SegmentTask(float threshold, std::string output) : threshold_(threshold), output_(std::move(output)) {}
  std::string name() const override { return "mask IoU"; }
  void begin() override {
    iou_ = MaskIoU();
    iou_.threshold = threshold_;
  }
  void add(size_t, const std::vector<Tensor>& fp32, const std::vector<Tensor>& int8, const std::vector<Tensor>&) override {
    const Tensor& f = fp32.at(0);
    const Tensor& q = int8.at(0);
    OCTET_CHECK(f.dtype() == DType::f32 && ((f.rank() == 4 && f.dim(1) == 1) || f.rank() == 3),
                "tune --task segment: output '", output_, "' is ", shape_str(f.shape()),
                "; expected a probability map N x 1 x H x W");
    OCTET_CHECK(q.numel() == f.numel(), "tune --task segment: INT8 output ", shape_str(q.shape()), " vs FP32 ",
                shape_str(f.shape()));
    iou_.add(f.data<float>(), q.data<float>(), f.numel());
  }
  double score() const override { return iou_.iou(); }

 private:
  float threshold_;
  std::string output_;
  MaskIoU iou_;
};

struct TunedState {
  TuneInput in;
  CalibTable table;
  std::string model_path;
};
}  // namespace

std::shared_ptr<TuneTask> make_tune_task(const std::string& task, const DecodeOptions& decode, double match_iou,
                                         float mask_threshold, const std::string& output) {
  if (task == "detect") {
    OCTET_CHECK(match_iou > 0 && match_iou <= 1, "tune --task detect: the match IoU must be in (0, 1], got ", match_iou);
    return std::make_shared<DetectTask>(decode, match_iou, output);
  }
  OCTET_CHECK(task == "segment", "tune --task: 'detect' or 'segment', got '", task, "'");
  return std::make_shared<SegmentTask>(mask_threshold, output);
}

}  // namespace octet::api

namespace octet {

TuningResult tune(const Model& model, const std::string& cache_path, const std::vector<std::vector<HostTensor>>& samples,
                  const TuningOptions& options) {
  OCTET_CHECK(!model.is_plan(), "'", model.path(), "' is a plan; tune takes the ONNX model");
  auto st = std::make_shared<api::TunedState>();
  st->in = api::load_tune_input(cache_path);
  st->model_path = model.path();
  bool search = options.scale_search;
  if (search && !options.force_scale_search && !st->in.meta.refinement.is_null()) search = false;
  std::vector<std::vector<Tensor>> batches;
  for (const auto& b : samples) {
    std::vector<Tensor> ins;
    for (const auto& t : b) {
      HostTensor c = t.clone();  // the Tensor view keeps the copy alive
      auto keep = std::make_shared<HostTensor>(c);
      ins.push_back(Tensor::view(c.dtype(), c.shape(), keep->data(), keep));
    }
    batches.push_back(std::move(ins));
  }
  TuneOptions o;
  o.backend = options.backend;
  o.search_scales = search && st->in.have_candidates;
  o.max_fp32_layers = options.max_fp32_layers;
  o.min_gain_db = options.min_gain_db;
  o.max_sweeps = options.max_sweeps;
  o.fp32_layers = options.fp32_layers;
  o.budget.max_top1_drop = options.max_top1_drop;
  o.budget.min_agreement = options.min_agreement;
  o.budget.min_sqnr_db = options.min_sqnr_db;
  o.labels = options.labels;
  o.rank_samples = options.rank_samples;
  OCTET_CHECK(options.min_int8_mac_share >= 0 && options.min_int8_mac_share <= 1,
              "tune: min_int8_mac_share is a fraction (0 to 1), got ", options.min_int8_mac_share);
  o.min_int8_mac_share = options.min_int8_mac_share;
  if (!options.task.empty()) {
    const Graph& g = model.source().graph;
    OCTET_CHECK(!g.outputs.empty(), "tune: '", model.path(), "' has no outputs");
    o.task = api::make_tune_task(options.task, options.decode, options.match_iou, options.mask_threshold,
                                 g.value(g.outputs[0]).name);
    OCTET_CHECK(options.min_task_score >= 0 && options.min_task_score <= 1, "tune: task '", options.task,
                "' needs min_task_score in [0, 1] (the ", o.task->name(), " INT8 must keep), got ", options.min_task_score);
    o.budget.min_task_score = options.min_task_score;
  } else {
    OCTET_CHECK(options.min_task_score < 0, "tune: min_task_score needs a task ('detect' or 'segment')");
  }
  OCTET_CHECK(o.budget.max_top1_drop < 0 || !o.labels.empty(), "tune: a top-1 budget needs labels (TuningOptions::labels)");
  Progress progress("tune", 0, options.quiet, "trials");
  o.progress = [&](int done, int planned, const std::string&) {
    progress.set_total(planned);
    progress.update(done);
  };
  TuneResult r = octet::tune(model.source().graph, st->in.table, batches, o);
  progress.finish();
  TuningResult out;
  out.sqnr_start_db = r.sqnr_start_db;
  out.sqnr_scales_db = r.sqnr_scales_db;
  out.sqnr_final_db = r.sqnr_final_db;
  out.fp32_layers = r.fp32_layers;
  for (const auto& s : r.steps) out.steps.push_back({s.kind, s.target, s.choice, s.amax_before, s.amax_after, s.sqnr_db});
  out.int8_layers = r.int8_layers;
  out.trials = r.trials;
  out.searched_scales = o.search_scales;
  out.budget_met = r.budget_met;
  out.agreement = r.metrics_final.agreement;
  out.top1 = r.metrics_final.top1;
  out.fp32_top1 = r.metrics_final.fp32_top1;
  out.task_score_start = r.metrics_start.task_score;
  out.task_score = r.metrics_final.task_score;
  out.macs_total = r.macs_total;
  out.macs_int8 = r.macs_int8;
  out.fp32_nodes = api::fp32_onnx_nodes(model.source().graph, r.table, r.fp32_layers, o.backend);
  const CacheHeader h = parse_cache_header(st->in.cache.header);
  out.cache = serialize_cache(to_cache(r.table, h.version, h.algo_token));
  st->table = std::move(r.table);
  out.state = st;
  return out;
}

void TuningResult::save(const std::string& cache_path) const {
  OCTET_CHECK(state != nullptr, "TuningResult::save: not a result of octet::tune");
  const auto& st = *static_cast<const api::TunedState*>(state.get());
  api::write_tuned(cache_path, st.in, st.table, fp32_layers, searched_scales, st.model_path);
}

}  // namespace octet
