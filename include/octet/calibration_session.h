// Calibration in phases, for callers that drive it themselves: Python, a GPU, several processes or machines.
//
//   octet::CalibrationSession s(model);             // two-pass: pass 0 = absmax, pass 1 = histograms
//   for (batch : my_shard) s.observe({{"input", view_of(batch)}});
//   std::string state = s.export_state();           // send to a coordinator ...
//   coordinator.merge_state(state);                 // ... which adds every shard's observations
//   // every shard: s.import_state(coordinator.export_state()); s.next_pass(); observe again; export; merge
//   std::string cache = coordinator.finish();       // the TensorRT cache text
//
// Two shards calibrated separately and merged give byte for byte the cache of one process over all the data
// (the FP32 passes run one sample at a time, absmax is a max, histogram counts add). The state is a versioned,
// self-describing byte blob (magic "OCTCALST", format version, a JSON description — algorithm, options, pass,
// tensor names — then per tensor its statistics and histogram counts); export -> import -> export gives the
// same bytes. No refinement here: its trial runs need the samples (calibrate() does it in one process).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "octet/calibrate.h"
#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

namespace api {
struct SessionImpl;
}

struct CalibrationSessionOptions {
  std::string algorithm = "entropy2";  // entropy2, entropy, minmax, percentile, mse, legacy
  bool one_pass = false;               // TensorRT's growing histograms (one pass; order-dependent)
  bool inputs_minmax = true;
  double percentile = 99.99;
  double legacy_quantile = 0.9999;
  double kl_error_limit = 1.5;  // as CalibrationOptions::kl_error_limit
  int trt_version = 0;                 // cache header version (0: octet's default)
  std::string backend = "cpu";
};

class CalibrationSession {
 public:
  explicit CalibrationSession(const Model& model, const CalibrationSessionOptions& options = {});
  CalibrationSession(CalibrationSession&&) noexcept;
  CalibrationSession& operator=(CalibrationSession&&) noexcept;
  ~CalibrationSession();

  int pass() const;    // 0 or 1 (two-pass); 0 (one-pass)
  int passes() const;  // 2 or 1
  // Observes a batch: every model input by name, float32, N x (input shape); run one sample at a time.
  void observe(const std::map<std::string, TensorView>& inputs);
  // Ends pass 0 of two-pass mode: the histograms of pass 1 span the absmax observed (and merged) so far.
  void next_pass();
  // The observer state (see above). import_state replaces this session's state with one exported from a
  // session of the same model and options; merge_state adds one of the same pass.
  std::string export_state() const;
  void import_state(const std::string& state);
  void merge_state(const std::string& state);
  // Thresholds from the observations (after the last pass): the TensorRT cache text.
  std::string finish();

 private:
  std::unique_ptr<api::SessionImpl> impl_;
};

}  // namespace octet
