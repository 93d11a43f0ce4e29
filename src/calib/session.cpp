#include "calib/session.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "calib/calibrate.h"
#include "calib/pending.h"
#include "runtime/plan.h"

namespace octet {

namespace {

constexpr char kMagic[8] = {'O', 'C', 'T', 'C', 'A', 'L', 'S', 'T'};
constexpr uint32_t kStateVersion = 1;

class Writer {
 public:
  template <typename T> void put(T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
  }
  void bytes(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  std::string out;
};

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T> T get() {
    OCTET_CHECK(b_.size() - pos_ >= sizeof(T), "calibration state: truncated at byte ", pos_);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view bytes(size_t n) {
    OCTET_CHECK(b_.size() - pos_ >= n, "calibration state: truncated at byte ", pos_);
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

// The token calibrate() writes in the header for `algo` (expected_cache_header's).
std::string header_token(Algo algo, int trt_version) {
  return parse_cache_header(expected_cache_header(algo, trt_version)).algo_token;
}

}  // namespace

struct CalibSession::Parsed {
  nlohmann::json meta;
  std::vector<ObserverState> states;
};

CalibSession::CalibSession(const Graph& model, const CalibSessionOptions& opt)
    : model_(model), opt_(opt), one_pass_(opt.one_pass) {
  // Unfused FP32 plan: every op output exists as its own tensor (as calibrate()).
  PlanOptions po;
  po.backend = opt.backend;
  po.fold_batchnorm = false;
  po.fuse = false;
  plan_ = Plan::build(model_, po);
  plan_->reshape(plan_->input_shapes(1));
  const Graph& g = plan_->graph();
  const std::vector<std::string> names = calibrated_tensor_names(model_);
  for (const std::string& name : names) model_vals_.push_back(model_.find(name));
  obs_of_.assign(g.values.size(), -1);
  obs_of_model_.assign(model_.values.size(), -1);
  for (int mv : model_vals_) {
    int v = g.find(model_.value(mv).name);
    if (v < 0) continue;  // removed as dead code: never computed, reported as never observed
    obs_of_model_[static_cast<size_t>(mv)] = static_cast<int>(obs_.size());
    obs_of_[static_cast<size_t>(v)] = static_cast<int>(obs_.size());
    obs_.emplace_back(one_pass_ ? HistMode::Growing : HistMode::Fixed);
    obs_value_.push_back(v);
    obs_name_.push_back(model_.value(mv).name);
    constant_.push_back(plan_->is_folded(v) ? 1 : 0);
  }
  observe_layout_copies(g, obs_of_);  // channels-last copies, as calibrate()
}

CalibSession::~CalibSession() = default;

void CalibSession::feed(int v, const Tensor& t, std::vector<float>& scratch) {
  int i = obs_of_[static_cast<size_t>(v)];
  if (i < 0 || t.dtype() != DType::f32) return;
  const float* p = t.data<float>();
  size_t n = static_cast<size_t>(t.numel());
  if (box_ && content_values(t, plan_->graph().value(v).layout_of >= 0, *box_, scratch)) {
    p = scratch.data();
    n = scratch.size();
  }
  TensorObserver& o = obs_[static_cast<size_t>(i)];
  if (one_pass_) o.observe(p, n);
  else if (pass_ == 0) o.observe_absmax(p, n);
  else o.observe_hist(p, n);
}

void CalibSession::observe(const std::vector<Tensor>& inputs) { observe(inputs, {}); }

void CalibSession::observe(const std::vector<Tensor>& inputs, const std::vector<ContentBox>& boxes) {
  const Graph& g = plan_->graph();
  OCTET_CHECK(inputs.size() == g.inputs.size(), "calibration session: ", inputs.size(), " tensors for ",
              g.inputs.size(), " model inputs");
  const std::vector<Shape> shapes = plan_->input_shapes(1);
  int64_t n = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    OCTET_CHECK(t.dtype() == DType::f32 && t.rank() == static_cast<int>(shapes[i].size()) && t.rank() > 0,
                "calibration session: input '", g.value(g.inputs[i]).name, "' must be float32 N x ",
                shape_str(Shape(shapes[i].begin() + 1, shapes[i].end())), ", got ", dtype_name(t.dtype()), " ",
                shape_str(t.shape()));
    for (int d = 1; d < t.rank(); ++d)
      OCTET_CHECK(t.dim(d) == shapes[i][static_cast<size_t>(d)], "calibration session: input '",
                  g.value(g.inputs[i]).name, "' is ", shape_str(t.shape()), ", the model expects N x ",
                  shape_str(Shape(shapes[i].begin() + 1, shapes[i].end())));
    OCTET_CHECK(n < 0 || t.dim(0) == n, "calibration session: inputs with different batch sizes");
    n = t.dim(0);
  }
  OCTET_CHECK(boxes.empty() || static_cast<int64_t>(boxes.size()) == n, "calibration session: ", boxes.size(),
              " content boxes for a batch of ", n);
  // Binned in parallel after each sample's run (calib/pending.h), as calibrate() does.
  PendingObservations pending(obs_of_, [this](int v, const Tensor& t, std::vector<float>& s) { feed(v, t, s); });
  Plan::Observer observer = [&](int v, const Tensor& t) {
    if (obs_of_[static_cast<size_t>(v)] >= 0 && t.dtype() == DType::f32) pending.add(v, t);
  };
  for (int64_t j = 0; j < n; ++j) {
    std::vector<Tensor> sample;
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor t(DType::f32, shapes[i]);
      std::memcpy(t.raw(), static_cast<const char*>(inputs[i].raw()) + static_cast<size_t>(j) * t.nbytes(), t.nbytes());
      sample.push_back(std::move(t));
    }
    if (!boxes.empty()) check_content_box(boxes[static_cast<size_t>(j)], shapes[0], g.value(g.inputs[0]).name);
    box_ = !boxes.empty() && opt_.exclude_padding && boxes[static_cast<size_t>(j)].padded() ? &boxes[static_cast<size_t>(j)]
                                                                                          : nullptr;
    plan_->run(sample, &observer);
    pending.flush();  // before box_ moves on to the next sample
    box_ = nullptr;
  }
  if (!constants_seen_) {
    // Tensors folded at build (computed from weights or shapes only) are observed once per pass.
    for (size_t i = 0; i < obs_.size(); ++i)
      if (constant_[i]) feed(obs_value_[i], plan_->tensor(obs_value_[i]), scratch_);
    constants_seen_ = true;
  }
  ++batches_;
  images_ += n;
}

void CalibSession::next_pass() {
  OCTET_CHECK(pass_ + 1 < passes(), "calibration session: no pass after pass ", pass_);
  ++pass_;
  images_ = batches_ = 0;
  constants_seen_ = false;
}

std::string CalibSession::export_state() const {
  nlohmann::json meta = {{"format", "octet calibration state"},
                         {"version", kStateVersion},
                         {"algorithm", algo_name(opt_.algo)},
                         {"hist_mode", one_pass_ ? "growing" : "fixed"},
                         {"percentile", opt_.params.percentile},
                         {"legacy_quantile", opt_.params.legacy_quantile},
                         {"inputs_minmax", opt_.inputs_minmax},
                         {"trt_version", opt_.trt_version},
                         {"pass", pass_},
                         {"passes", passes()},
                         {"images", images_},
                         {"batches", batches_},
                         {"bins", Histogram::kBins},
                         {"constants_seen", constants_seen_}};
  nlohmann::json tensors = nlohmann::json::array();
  for (size_t i = 0; i < obs_.size(); ++i) tensors.push_back({{"name", obs_name_[i]}, {"constant", constant_[i] != 0}});
  meta["tensors"] = tensors;
  const std::string text = meta.dump();
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.put<uint32_t>(kStateVersion);
  w.put<uint32_t>(static_cast<uint32_t>(text.size()));
  w.bytes(text.data(), text.size());
  for (const TensorObserver& o : obs_) {
    const ObserverState s = o.state();
    w.put<uint8_t>(static_cast<uint8_t>(s.mode));
    w.put<uint64_t>(s.stats.count);
    w.put<uint64_t>(s.stats.zeros);
    w.put<uint64_t>(s.stats.nans);
    w.put<uint64_t>(s.stats.infs);
    w.put<float>(s.stats.min);
    w.put<float>(s.stats.max);
    w.put<double>(s.stats.sum);
    w.put<double>(s.stats.sumsq);
    w.put<uint8_t>(s.hist_started ? 1 : 0);
    w.put<float>(s.range_override);
    w.put<uint8_t>(static_cast<uint8_t>(s.hist_mode));
    w.put<float>(s.hist_range);
    w.put<uint64_t>(s.zeros);
    w.put<uint64_t>(s.zeros_before);
    w.put<uint64_t>(s.nonfinite);
    w.bytes(s.counts.data(), sizeof(uint64_t) * s.counts.size());
  }
  return w.out;
}

CalibSession::Parsed CalibSession::parse(std::string_view state) const {
  Reader r(state);
  OCTET_CHECK(state.size() >= sizeof kMagic && std::memcmp(state.data(), kMagic, sizeof kMagic) == 0,
              "not an octet calibration state (no OCTCALST magic)");
  r.bytes(sizeof kMagic);
  const uint32_t version = r.get<uint32_t>();
  OCTET_CHECK(version == kStateVersion, "calibration state format version ", version, "; this octet reads ",
              kStateVersion);
  const uint32_t n = r.get<uint32_t>();
  Parsed p;
  try {
    p.meta = nlohmann::json::parse(r.bytes(n));
  } catch (const nlohmann::json::exception& e) {
    fail("calibration state: bad description: ", e.what());
  }
  const nlohmann::json& m = p.meta;
  auto same = [&](const char* key, const nlohmann::json& mine) {
    OCTET_CHECK(m.contains(key) && m[key] == mine, "calibration state: ", key, " is ", m.value(key, nlohmann::json()).dump(),
                ", this session's ", mine.dump());
  };
  same("algorithm", algo_name(opt_.algo));
  same("hist_mode", one_pass_ ? "growing" : "fixed");
  same("percentile", opt_.params.percentile);
  same("legacy_quantile", opt_.params.legacy_quantile);
  same("inputs_minmax", opt_.inputs_minmax);
  same("trt_version", opt_.trt_version);
  same("bins", Histogram::kBins);
  OCTET_CHECK(m.contains("tensors") && m["tensors"].is_array() && m["tensors"].size() == obs_.size(),
              "calibration state: another model (", m.contains("tensors") ? m["tensors"].size() : 0, " tensors, this one ",
              obs_.size(), ")");
  for (size_t i = 0; i < obs_.size(); ++i)
    OCTET_CHECK(m["tensors"][i].value("name", std::string()) == obs_name_[i], "calibration state: tensor ", i, " is '",
                m["tensors"][i].value("name", std::string()), "', this model's '", obs_name_[i], "'");
  for (size_t i = 0; i < obs_.size(); ++i) {
    ObserverState s;
    s.mode = static_cast<HistMode>(r.get<uint8_t>());
    s.stats.count = r.get<uint64_t>();
    s.stats.zeros = r.get<uint64_t>();
    s.stats.nans = r.get<uint64_t>();
    s.stats.infs = r.get<uint64_t>();
    s.stats.min = r.get<float>();
    s.stats.max = r.get<float>();
    s.stats.sum = r.get<double>();
    s.stats.sumsq = r.get<double>();
    s.hist_started = r.get<uint8_t>() != 0;
    s.range_override = r.get<float>();
    s.hist_mode = static_cast<HistMode>(r.get<uint8_t>());
    s.hist_range = r.get<float>();
    s.zeros = r.get<uint64_t>();
    s.zeros_before = r.get<uint64_t>();
    s.nonfinite = r.get<uint64_t>();
    std::string_view c = r.bytes(sizeof(uint64_t) * s.counts.size());
    std::memcpy(s.counts.data(), c.data(), c.size());
    OCTET_CHECK(s.mode == (one_pass_ ? HistMode::Growing : HistMode::Fixed), "calibration state: tensor '",
                obs_name_[i], "' has another histogram mode");
    p.states.push_back(s);
  }
  OCTET_CHECK(r.done(), "calibration state: bytes after the last tensor");
  return p;
}

void CalibSession::import_state(std::string_view state) {
  Parsed p = parse(state);
  for (size_t i = 0; i < obs_.size(); ++i) obs_[i] = TensorObserver::from_state(p.states[i]);
  pass_ = p.meta.value("pass", 0);
  images_ = p.meta.value("images", int64_t{0});
  batches_ = p.meta.value("batches", int64_t{0});
  constants_seen_ = p.meta.value("constants_seen", false);
}

void CalibSession::merge_state(std::string_view state) {
  Parsed p = parse(state);
  const int their_pass = p.meta.value("pass", 0);
  OCTET_CHECK(their_pass == pass_, "calibration state of pass ", their_pass, " merged into a session in pass ", pass_);
  const bool they_saw_constants = p.meta.value("constants_seen", false);
  for (size_t i = 0; i < obs_.size(); ++i) {
    ObserverState s = p.states[i];
    if (constant_[i]) {
      // The same values in every session: keep one observation per pass.
      if (!constants_seen_ && they_saw_constants) obs_[i] = TensorObserver::from_state(s);
      continue;
    }
    if (!one_pass_ && pass_ == 1) s.stats = TensorStats{};  // both hold the merged pass-0 statistics
    obs_[i].merge(TensorObserver::from_state(s));
  }
  constants_seen_ = constants_seen_ || they_saw_constants;
  images_ += p.meta.value("images", int64_t{0});
  batches_ += p.meta.value("batches", int64_t{0});
}

CalibTable CalibSession::table() const {
  OCTET_CHECK(pass_ == passes() - 1, "calibration session: finish() after pass ", passes() - 1, ", not in pass ", pass_);
  CalibTable t;
  t.algo = opt_.algo;
  t.params = opt_.params;
  t.hist_mode = one_pass_ ? HistMode::Growing : HistMode::Fixed;
  for (int mv : model_vals_) {
    int i = obs_of_model_[static_cast<size_t>(mv)];
    if (i < 0) {
      CalibEntry e;
      e.name = model_.value(mv).name;
      e.algo = opt_.algo;
      e.has_stats = true;  // with empty stats: reported as never observed
      t.entries.push_back(e);
      continue;
    }
    bool is_input = std::find(model_.inputs.begin(), model_.inputs.end(), mv) != model_.inputs.end();
    Algo a = is_input && opt_.inputs_minmax ? Algo::MinMax : opt_.algo;
    t.entries.push_back(calibrate_entry(obs_name_[static_cast<size_t>(i)], obs_[static_cast<size_t>(i)], a, opt_.params));
  }
  return t;
}

std::string CalibSession::finish() const {
  return serialize_cache(to_cache(table(), opt_.trt_version, header_token(opt_.algo, opt_.trt_version)));
}

}  // namespace octet
