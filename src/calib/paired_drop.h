// The top-1 drop of one classifier against another on the same labelled samples, with how well those samples
// know it: the paired counts (McNemar's) and a normal-approximation 95% interval. `octet eval` (FP32 vs INT8 on
// a labelled set) and `octet tune --budget` (on the calibration samples) report it.
//
// Why: on effnet_se a 0.1-point budget met on 1,000 labelled images did not hold on 10,000 others, and across
// 15 FP32 layer sets the drop on 1,000 images did not predict the drop on 10,000 at all (docs/benchmarks.md,
// session 10). Only the samples whose prediction changed carry information about the drop, and there are few:
// with `lost` + `gained` of them, the drop is known to about 1.96 * sqrt(lost + gained) / N.
#pragma once

#include <cmath>
#include <cstdint>

namespace octet {

struct PairedDrop {
  int64_t samples = 0;
  int64_t lost = 0;    // right with the reference (FP32), wrong with the other (INT8)
  int64_t gained = 0;  // wrong with the reference, right with the other

  void add(bool ref_right, bool test_right) {
    ++samples;
    lost += ref_right && !test_right;
    gained += !ref_right && test_right;
  }
  // The reference's top-1 minus the other's, in points (0.1 = a tenth of a percent of the samples).
  double drop_points() const {
    return samples > 0 ? 100.0 * static_cast<double>(lost - gained) / static_cast<double>(samples) : 0.0;
  }
  // Half-width of the 95% interval of drop_points() for the population the samples were drawn from: the paired
  // difference of two proportions, var = ((lost + gained) - (lost - gained)^2 / N) / N^2. 0 when nothing changed:
  // then the samples say nothing about the spread, which callers should read as "no evidence", not "exact".
  double ci95_points() const {
    if (samples <= 0) return 0.0;
    const double n = static_cast<double>(samples), d = static_cast<double>(lost - gained);
    const double var = (static_cast<double>(lost + gained) - d * d / n) / (n * n);
    return 100.0 * 1.96 * std::sqrt(var > 0 ? var : 0.0);
  }
};

}  // namespace octet
