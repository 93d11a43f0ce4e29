// Observed tensors binned in parallel. A plan hands its observer each calibrated tensor as it is produced and
// then reuses the memory, so binning inside the callback runs on one thread while the plan waits. Instead the
// tensors are copied into a reused arena (64 MiB, or the largest tensor) and binned at flush() — when the arena
// is full, and by the caller at the end of every run — one task per observer: each observer still sees its
// tensors in the order they were produced, so histograms and caches are exactly those of binning in the run.
// Used by calibrate() (calib/calibrate.cpp) and CalibSession (calib/session.cpp).
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace octet {

class PendingObservations {
 public:
  // bin(v, t, scratch): bins float tensor t of plan value v into its observer; scratch is the calling thread's
  // buffer (for the values inside a content box). Called concurrently for different observers.
  using Bin = std::function<void(int v, const Tensor& t, std::vector<float>& scratch)>;
  // obs_of: plan value -> observer index (-1: not observed). Both must outlive this object.
  PendingObservations(const std::vector<int>& obs_of, Bin bin) : obs_of_(obs_of), bin_(std::move(bin)) {}

  // Copies float tensor t of value v (an observed one) for the next flush.
  void add(int v, const Tensor& t);
  // Bins everything added since the last flush; rethrows the first exception a task threw.
  void flush();

  static constexpr size_t kArenaBytes = size_t{64} << 20;

 private:
  const std::vector<int>& obs_of_;
  Bin bin_;
  std::vector<std::pair<int, Tensor>> pending_;  // views into arena_
  Tensor arena_;                                  // reused from run to run (no page faults)
  size_t used_ = 0;                               // bytes of the arena in use (64-byte aligned offsets)
};

}  // namespace octet
