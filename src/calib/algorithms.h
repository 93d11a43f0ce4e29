// Calibration algorithms: histogram + statistics of one tensor -> amax (§2.4, §3).
// (§ numbers: calibration-spec.md, the calibration spec kept with the team's shared documents, outside this
// repository.)
//
// amax is the symmetric clipping threshold of the tensor; the TensorRT scale is amax/127 (see cache.h).
// All algorithms are pure functions of (Histogram, TensorStats, AlgoParams): the same inputs give the
// same bits on every machine.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "calib/observer.h"

namespace octet {

enum class Algo { Entropy2, Entropy, MinMax, Percentile, Mse, Legacy };

// CLI / JSON name: "entropy2", "entropy", "minmax", "percentile", "mse", "legacy".
const char* algo_name(Algo a);
// Parses a CLI name (exact, lower case). Throws Error listing the valid names.
Algo parse_algo(std::string_view name);
// TensorRT cache header token (spec §4.3): "EntropyCalibration2", "EntropyCalibration",
// "MinMaxCalibration", "LegacyCalibration". Only the first and third are observed in TRT-written caches;
// "EntropyCalibration" follows the naming pattern, and "LegacyCalibration" is inferred (TensorRT's real
// token for kLEGACY_CALIBRATION is not public). Percentile and Mse have no TensorRT counterpart: they
// return nullptr (write such caches with an explicit token, e.g. the one of the calibrator they replace).
const char* algo_trt_token(Algo a);
// Token -> Algo (for the four tokens above). Throws Error for an unknown token.
Algo algo_from_trt_token(std::string_view token);
// The algorithm a threshold candidate of the refinement / tune stands for ("entropy2", "mse", "minmax",
// "percentile99.99", ...), recorded with the tensor it moved; `keep` for any other name.
Algo algo_of_candidate(std::string_view candidate, Algo keep);

// Zero-spike policy for entropy (spec §2.4/§2.6; TensorRT's own choice is not public).
enum class ZeroPolicy {
  Z0,  // bins[0] = bins[1] (pytorch-quantization / ModelOpt) — default
  Z1,  // exact zeros removed from bin 0 (ncnn)
  Z2,  // histogram untouched (MXNet / ONNX Runtime / TVM)
};

// Where the entropy threshold lies for i* kept bins.
enum class ThresholdConvention {
  Trt,      // (i* + 0.5) * w — bit-exact against TensorRT caches (spec §2.3) — default
  BinEdge,  // i* * w (pytorch-quantization / ModelOpt)
};

enum class TieBreak {
  PreferLarger,   // on equal KL keep the larger i (pytorch-quant "last argmin") — default
  PreferSmaller,  // first minimum (ONNX Runtime, MXNet, ncnn)
};

struct AlgoParams {
  double percentile = 99.99;          // Percentile: in (0, 100]
  double legacy_quantile = 0.9999;    // Legacy: TensorRT getQuantile(), in (0, 1]
  double legacy_regression_cutoff = 1.0;  // Legacy: getRegressionCutoff(); only 1.0 is supported
  ZeroPolicy zero_policy = ZeroPolicy::Z0;
  ThresholdConvention threshold = ThresholdConvention::Trt;
  TieBreak tie_break = TieBreak::PreferLarger;
  int start_bin = 128;                // first candidate number of kept bins (entropy, MSE)
  int quant_levels = 128;             // |x| levels of signed int8 (entropy)
  // amax at or below this is returned as 0 (the tensor is unquantizable; the health check says so).
  // 2^-24 per the spec (pytorch-quant's fp16 epsilon). TensorRT 7.2 did write amax ~1e-12 for a constant
  // tensor (spec §4.4, 280de15b): set 0 to keep such values.
  double min_amax = 0x1p-24;
  // Entropy / Entropy2 sanity bound (octet's, not TensorRT's): when the KL threshold's quantization error (the
  // MSE of fake-quantizing the histogram, as Mse measures it) exceeds this many times the smallest error any
  // threshold gives, KL has picked a threshold inside the bulk of the values and the Mse threshold is taken
  // instead. KL compares shapes of distributions, not errors: on the outputs of SiLU networks (yolox_det's stem:
  // a spike from the negative lobe near 0 and a long tail) it clipped 7 % of the values at 6 % of the absmax.
  // 0: off (TensorRT's thresholds exactly).
  double kl_error_limit = 1.5;

  // Throws Error naming the bad parameter (e.g. regression cutoff < 1, percentile outside (0,100]).
  void validate() const;
};

// amax of one tensor. `curve`, when given, receives the search curve for reports:
//   Entropy/Entropy2: KL divergence for i = start_bin .. kBins (index i - start_bin; +inf allowed);
//   Mse: the MSE for k = start_bin .. kBins-1 (index k - start_bin);  other algorithms: cleared.
// Entropy/Mse/Percentile/Legacy read the histogram; MinMax reads stats.absmax(). An empty histogram
// (tensor all zero or never observed) gives 0. Throws Error on invalid params.
float compute_amax(const Histogram& h, const TensorStats& stats, Algo algo, const AlgoParams& params = {},
                   std::vector<double>* curve = nullptr);

// Lower-level entry points (same conventions; exposed for tests and reports).
// Entropy search; returns i* (number of kept bins), or 0 for an empty histogram.
int entropy_best_bins(const Histogram& h, const AlgoParams& p, std::vector<double>* kl = nullptr);
// Lower bin edge idx*w of the first bin whose CDF >= q (q in (0,1]); pytorch-quant _compute_amax_percentile.
float percentile_amax(const Histogram& h, double q);

// Fraction of the histogram's values with |x| > amax (values in the bin that contains amax are counted
// pro rata). 0 for an empty histogram.
double clipped_fraction(const Histogram& h, float amax);
// Mean squared error of fake-quantizing the histogram's bin centres at threshold amax (Mse's measure).
double quantization_mse(const Histogram& h, float amax);

}  // namespace octet
