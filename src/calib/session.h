// Calibration in phases: the observation part of calibrate() (calib/calibrate.h) as a session that a caller
// drives batch by batch and pass by pass, whose observer state can be exported, imported and merged — so that
// shards of the data (processes, machines, a GPU, Python) calibrate separately and a coordinator combines them.
//
//   CalibSession s(model, opt);              // two-pass unless opt.one_pass
//   s.observe(batch) ...;                    // pass 0: statistics (absmax)
//   merge the shards' export_state() into one session, import it into every shard, then s.next_pass();
//   s.observe(batch) ...;                    // pass 1: histograms over [0, merged absmax]
//   merge the shards' pass-1 states; finish() -> the TensorRT cache
//
// Exactness: every sample runs alone through the unfused FP32 plan (as in calibrate()), absmax is a max and
// histogram counts add, so the merged result is the one process's byte for byte. Pass-1 merges add histograms
// only (both sides hold the same merged pass-0 statistics); tensors folded to constants are observed once per
// pass by every session and are not added again when merging.
//
// State format (version 1): "OCTCALST", u32 format version, u32 n, n bytes of JSON (what the blob holds:
// algorithm, histogram mode, params, inputs_minmax, trt_version, pass, passes, images, batches, tensors
// [{name, constant}]), then per tensor in that order: u8 mode, u64 count zeros nans infs, f32 min max,
// f64 sum sumsq, u8 hist_started, f32 range_override, u8 hist_mode, f32 hist_range, u64 zeros zeros_before
// nonfinite, u64 counts[2048]. Little-endian; floats by their bits, so export -> import -> export is identity.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "calib/padding.h"
#include "calib/table.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace octet {

class Plan;

struct CalibSessionOptions {
  Algo algo = Algo::Entropy2;
  AlgoParams params;
  bool one_pass = false;
  bool inputs_minmax = true;
  int trt_version = kDefaultTrtVersion;
  std::string backend = "cpu";
  bool exclude_padding = true;  // observe(inputs, boxes): leave letterbox padding out (CalibOptions::exclude_padding)
};

class CalibSession {
 public:
  CalibSession(const Graph& model, const CalibSessionOptions& opt);
  ~CalibSession();

  int pass() const { return pass_; }
  int passes() const { return one_pass_ ? 1 : 2; }
  int64_t images() const { return images_; }
  // One batch: a tensor per model input (graph-input order), float32, N x (input shape without batch).
  void observe(const std::vector<Tensor>& inputs);
  // The same for letterboxed samples: boxes[j] is sample j's content box in the first input (calib/padding.h;
  // in_h == 0: no padding); with exclude_padding, mapped activations are observed inside it only.
  void observe(const std::vector<Tensor>& inputs, const std::vector<ContentBox>& boxes);
  void next_pass();

  std::string export_state() const;
  void import_state(std::string_view state);
  void merge_state(std::string_view state);

  // The observers (statistics and histograms), one per calibrated tensor the plan computes, in network order;
  // for reports (octet report) that need more than the table: histograms, search curves.
  size_t observer_count() const { return obs_.size(); }
  const std::string& observer_name(size_t i) const { return obs_name_[i]; }
  const TensorObserver& observer(size_t i) const { return obs_[i]; }

  // After the last pass: the table (as calibrate() builds it, without refinement) and the cache text.
  CalibTable table() const;
  std::string finish() const;

 private:
  struct Parsed;
  Parsed parse(std::string_view state) const;
  void feed(int v, const Tensor& t, std::vector<float>& scratch);  // scratch: the calling thread's

  Graph model_;
  CalibSessionOptions opt_;
  std::unique_ptr<Plan> plan_;
  bool one_pass_ = false;
  int pass_ = 0;
  int64_t images_ = 0, batches_ = 0;
  bool constants_seen_ = false;
  std::vector<int> model_vals_;      // calibrated model values, network order
  std::vector<int> obs_of_model_;    // model value -> observer (-1: not computed)
  std::vector<int> obs_of_;          // plan value -> observer
  std::vector<TensorObserver> obs_;
  std::vector<int> obs_value_;       // observer -> plan value
  std::vector<std::string> obs_name_;
  std::vector<char> constant_;       // observer -> folded at build (observed once per pass)
  const ContentBox* box_ = nullptr;  // the current sample's, while it runs (observe with boxes)
  std::vector<float> scratch_;       // feed's for the constants
};

}  // namespace octet
