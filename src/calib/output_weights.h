// How the refinement weighs the error of a model output whose components measure different things (calibration
// spec §refinement). A detector's [N, anchors, K] output puts box coordinates in pixels (energy ~1e4) next to 0–1
// objectness and class scores (energy ~1e-2): the plain output SQNR is then the boxes' SQNR alone, and a threshold
// that trades the scores for the boxes wins it. When the energies of an output's components are that far apart,
// each component's error counts relative to its own energy, so that every component weighs the same.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace octet {

// The axis of `shape` (an output, the batch first) whose entries are an output's components, for the rank-3 outputs
// of detection heads: the shorter of [N, A, K] (YOLOX / YOLOv5: K) and [N, K, A] (YOLOv8: K). -1 for any other rank:
// a classifier's logits (rank 2; a thousand classes' energies spread widely without measuring different things)
// and maps (rank 4) keep the plain SQNR.
int component_axis(const Shape& shape);

class OutputWeights {
 public:
  // From the FP32 outputs: `ref[b][o]` is output o of batch b. An output is weighted when its largest component
  // energy exceeds its smallest by more than `spread_db`; the weights keep its total signal as it was (component c
  // gets (total / K) / energy_c, its energy floored at 1e-4 of the mean). Others keep weight 1 (plain SQNR).
  static OutputWeights from_reference(const std::vector<std::vector<Tensor>>& ref, double spread_db = 20.0);

  // Adds the weighted sums of output `o` (`n` values from the start of the tensor or of one of its samples) to
  // signal and noise (calib/sqnr.h's sums for an unweighted output).
  void add(size_t o, const float* ref, const float* test, int64_t n, double& signal, double& noise) const;

  bool weighted(size_t o) const { return o < outputs_.size() && !outputs_[o].weight.empty(); }
  // The component energies' spread of output o in dB (0 when it has one component).
  double spread_db(size_t o) const { return o < outputs_.size() ? outputs_[o].spread_db : 0.0; }

 private:
  struct One {
    int64_t inner = 1;           // values per component entry (the product of the axes after the component axis)
    std::vector<double> weight;  // per component; empty: weight 1
    double spread_db = 0;
  };
  std::vector<One> outputs_;
};

}  // namespace octet
