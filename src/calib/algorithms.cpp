#include "calib/algorithms.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace octet {

namespace {

constexpr int NB = Histogram::kBins;

struct AlgoRow {
  Algo algo;
  const char* name;
  const char* trt_token;
};

// One table for names and tokens.
constexpr AlgoRow kAlgos[] = {
    {Algo::Entropy2, "entropy2", "EntropyCalibration2"},
    {Algo::Entropy, "entropy", "EntropyCalibration"},
    {Algo::MinMax, "minmax", "MinMaxCalibration"},
    {Algo::Percentile, "percentile", nullptr},
    {Algo::Mse, "mse", nullptr},
    {Algo::Legacy, "legacy", "LegacyCalibration"},  // inferred: TensorRT's legacy token is not public
};

const AlgoRow& row(Algo a) {
  for (const auto& r : kAlgos)
    if (r.algo == a) return r;
  fail("unknown calibration algorithm enum value ", static_cast<int>(a));
}

// Round half to even for |x| < 2^51 without relying on the FP environment flags of nearbyint: adding and
// subtracting 1.5*2^52 leaves x rounded (ties to even) under the default rounding mode; it vectorizes.
inline double round_half_even(double x) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  return (x + kMagic) - kMagic;
}

float threshold_of(int i, const Histogram& h, ThresholdConvention c) {
  const double kept = c == ThresholdConvention::Trt ? i + 0.5 : static_cast<double>(i);
  return static_cast<float>(kept * static_cast<double>(h.range()) / NB);
}

float apply_floor(float amax, const AlgoParams& p) {
  return static_cast<double>(amax) <= p.min_amax ? 0.f : amax;
}

}  // namespace

const char* algo_name(Algo a) { return row(a).name; }

const char* algo_trt_token(Algo a) { return row(a).trt_token; }

Algo parse_algo(std::string_view name) {
  for (const auto& r : kAlgos)
    if (name == r.name) return r.algo;
  std::string valid;
  for (const auto& r : kAlgos) valid += std::string(valid.empty() ? "" : ", ") + r.name;
  fail("unknown calibration algorithm '", name, "' (valid: ", valid, ")");
}

Algo algo_from_trt_token(std::string_view token) {
  for (const auto& r : kAlgos)
    if (r.trt_token && token == r.trt_token) return r.algo;
  fail("unknown TensorRT calibration algorithm '", token,
       "' (known: EntropyCalibration2, EntropyCalibration, MinMaxCalibration, LegacyCalibration)");
}

Algo algo_of_candidate(std::string_view candidate, Algo keep) {
  if (candidate == "entropy2") return Algo::Entropy2;
  if (candidate == "mse") return Algo::Mse;
  if (candidate == "minmax") return Algo::MinMax;
  if (candidate.rfind("percentile", 0) == 0) return Algo::Percentile;
  return keep;
}

void AlgoParams::validate() const {
  OCTET_CHECK(percentile > 0 && percentile <= 100, "percentile must be in (0, 100], got ", percentile);
  OCTET_CHECK(legacy_quantile > 0 && legacy_quantile <= 1, "legacy quantile must be in (0, 1], got ",
              legacy_quantile);
  OCTET_CHECK(legacy_regression_cutoff == 1.0, "legacy regression cutoff ", legacy_regression_cutoff,
              " is not supported: TensorRT's regression method is not public; only 1.0 (quantile only) is");
  OCTET_CHECK(quant_levels >= 1 && quant_levels <= NB, "quant levels must be in [1, ", NB, "], got ",
              quant_levels);
  OCTET_CHECK(start_bin >= quant_levels && start_bin <= NB, "start bin must be in [quant levels=", quant_levels,
              ", ", NB, "], got ", start_bin);
  OCTET_CHECK(min_amax >= 0, "min amax must be >= 0, got ", min_amax);
  // finite: the limit is recorded in the cache's sidecar (JSON has no infinity)
  OCTET_CHECK(kl_error_limit == 0 || (kl_error_limit >= 1 && std::isfinite(kl_error_limit)),
              "KL error limit must be 0 (off) or a finite number >= 1, got ", kl_error_limit);
}

// KL search (spec §2.4). For candidate i (kept bins), with b = histogram after the zero policy,
// SP = Σb, outliers = Σ_{k>=i} b[k]:
//   P[k] = b[k] (k < i-1),  P[i-1] = b[i-1] + outliers
//   group(k) = floor(k*NQ/i);  Q[k] = b[k] != 0 ? S[g]/n[g] : 0  (S: sum, n: non-zero bins of the group)
//   KL(P/ΣP || Q/ΣQ) = (1/SP) Σ_{P>0} P ln(P/Q) + ln(SQ/SP),   SQ = ΣQ = Σ_{k<i} b[k]
// (ΣP = SP for every i). Within a group Σ b ln(b/avg) = Σ b ln b - S' ln avg, so each candidate costs
// i additions and NQ logarithms, with b ln b tabulated once. All sums of counts are exact in double
// (integers < 2^53). No allocation inside the candidate loop.
int entropy_best_bins(const Histogram& h, const AlgoParams& p, std::vector<double>* kl) {
  p.validate();
  if (kl) kl->clear();
  if (h.empty()) return 0;
  const int NQ = p.quant_levels, I0 = p.start_bin;

  std::array<double, NB> b, blnb;
  const auto& c = h.counts();
  for (int k = 0; k < NB; ++k) b[k] = static_cast<double>(c[k]);
  switch (p.zero_policy) {
    case ZeroPolicy::Z0: b[0] = b[1]; break;
    case ZeroPolicy::Z1: b[0] = std::max(0.0, b[0] - static_cast<double>(h.zeros_in_bins())); break;
    case ZeroPolicy::Z2: break;
  }
  double SP = 0;
  for (int k = 0; k < NB; ++k) {
    SP += b[k];
    blnb[k] = b[k] > 0 ? b[k] * std::log(b[k]) : 0.0;
  }
  if (SP == 0) {  // nothing left after the zero policy: keep the full range
    if (kl) kl->assign(static_cast<size_t>(NB - I0 + 1), 0.0);
    return NB;
  }
  if (kl) kl->reserve(static_cast<size_t>(NB - I0 + 1));

  constexpr double kInf = std::numeric_limits<double>::infinity();
  double best = kInf;
  int best_i = NB;
  bool have_best = false;
  double prefix = 0;  // Σ_{k<I0-1} b[k], advanced as i grows
  for (int k = 0; k < I0 - 1; ++k) prefix += b[k];

  for (int i = I0; i <= NB; ++i) {
    prefix += b[i - 1];             // now Σ_{k<i} b[k] = SQ
    const double SQ = prefix;
    const double outliers = SP - SQ;  // exact: integers
    double acc = 0;
    bool infinite = false;
    for (int g = 0; g < NQ; ++g) {
      const int lo = (g * i + NQ - 1) / NQ;        // first k with floor(k*NQ/i) == g
      const int hi = ((g + 1) * i + NQ - 1) / NQ;  // one past the last
      double S = 0, L = 0;
      int n = 0;
      const int hi_inner = g == NQ - 1 ? hi - 1 : hi;  // k = i-1 (last group) is handled below
      for (int k = lo; k < hi_inner; ++k) {
        S += b[k];
        L += blnb[k];
        n += b[k] > 0;
      }
      const double S_inner = S;
      if (g == NQ - 1) {
        S += b[i - 1];
        n += b[i - 1] > 0;
      }
      const double avg = n > 0 ? S / n : 0.0;
      if (S_inner > 0) acc += L - S_inner * std::log(avg);
      if (g == NQ - 1) {
        const double P = b[i - 1] + outliers;
        if (P > 0) {
          if (b[i - 1] == 0) {
            infinite = true;  // Q[i-1] = 0 (empty source bin) while P[i-1] holds the outliers
          } else {
            acc += P * std::log(P / avg);
          }
        }
      }
    }
    if (SQ == 0) infinite = true;  // Q is all zero while P carries the outliers
    const double d = infinite ? kInf : acc / SP + std::log(SQ / SP);
    if (kl) kl->push_back(d);
    const bool better = p.tie_break == TieBreak::PreferLarger ? d <= best : d < best;
    if (!infinite && (better || !have_best)) {
      best = d;
      best_i = i;
      have_best = true;
    }
  }
  // Every candidate infinite (only possible with pathological zero policies): keep everything.
  return have_best ? best_i : NB;
}

float percentile_amax(const Histogram& h, double q) {
  if (h.empty()) return 0.f;
  const uint64_t total = h.total();
  if (total == 0) return 0.f;
  // As numpy: cdf = cumsum(hist / total); idx = searchsorted(cdf, q) (first cdf >= q); amax = edges[idx].
  const double t = static_cast<double>(total);
  const auto& c = h.counts();
  const double w = static_cast<double>(h.range()) / NB;
  double cdf = 0;
  for (int idx = 0; idx < NB; ++idx) {
    cdf += static_cast<double>(c[idx]) / t;
    if (cdf >= q) return static_cast<float>(idx * w);
  }
  return h.range();
}

namespace {

// pytorch-quantization _compute_amax_mse: candidates are bin centres k >= start_bin; error of fake-quantizing
// every bin centre (narrow range [-127, 127], round half even), weighted by counts; first minimum.
float mse_amax(const Histogram& h, const AlgoParams& p, std::vector<double>* curve) {
  if (curve) curve->clear();
  if (h.empty()) return 0.f;
  const double w = static_cast<double>(h.range()) / NB;
  std::array<double, NB> centers, counts;
  for (int k = 0; k < NB; ++k) {
    centers[k] = (k + 0.5) * w;
    counts[k] = static_cast<double>(h.counts()[k]);
  }
  double best = std::numeric_limits<double>::infinity();
  int best_k = NB - 1;
  for (int k = p.start_bin; k < NB; ++k) {
    const double amax = centers[k];
    const double scale = 127.0 / amax;
    double mse = 0;
    for (int j = 0; j < NB; ++j) {
      double q = round_half_even(centers[j] * scale);
      q = q > 127.0 ? 127.0 : q;
      const double e = q / scale - centers[j];
      mse += e * e * counts[j];
    }
    mse /= NB;
    if (curve) curve->push_back(mse);
    if (mse < best) {
      best = mse;
      best_k = k;
    }
  }
  return static_cast<float>(centers[best_k]);
}

}  // namespace

float compute_amax(const Histogram& h, const TensorStats& stats, Algo algo, const AlgoParams& p,
                   std::vector<double>* curve) {
  p.validate();
  if (curve) curve->clear();
  switch (algo) {
    case Algo::Entropy2:
    case Algo::Entropy: {
      // TensorRT's v1 and v2 differ in when they calibrate (before/after fusion) and in scale sharing,
      // not in any published KL detail (spec §2.1): one search serves both.
      const int i = entropy_best_bins(h, p, curve);
      if (i == 0) return 0.f;
      const float kl = threshold_of(i, h, p.threshold);
      if (p.kl_error_limit > 0) {
        const float best = mse_amax(h, p, nullptr);
        if (quantization_mse(h, kl) > p.kl_error_limit * quantization_mse(h, best)) return apply_floor(best, p);
      }
      return apply_floor(kl, p);
    }
    case Algo::MinMax:
      return apply_floor(stats.absmax(), p);
    case Algo::Percentile:
      return apply_floor(percentile_amax(h, p.percentile / 100.0), p);
    case Algo::Legacy:
      return apply_floor(percentile_amax(h, p.legacy_quantile), p);
    case Algo::Mse:
      return apply_floor(mse_amax(h, p, curve), p);
  }
  fail("unknown calibration algorithm enum value ", static_cast<int>(algo));
}

double quantization_mse(const Histogram& h, float amax) {
  if (h.empty() || !(amax > 0.f)) return 0.0;
  const double w = static_cast<double>(h.range()) / NB;
  const double scale = 127.0 / static_cast<double>(amax);
  double mse = 0;
  for (int j = 0; j < NB; ++j) {
    const double c = (j + 0.5) * w;
    double q = round_half_even(c * scale);
    q = q > 127.0 ? 127.0 : q;
    const double e = q / scale - c;
    mse += e * e * static_cast<double>(h.counts()[j]);
  }
  return mse / NB;
}

double clipped_fraction(const Histogram& h, float amax) {
  if (h.empty()) return 0.0;
  const uint64_t total = h.total();
  if (total == 0) return 0.0;
  const double w = static_cast<double>(h.range()) / NB;
  const double a = amax;
  double clipped = 0;
  const auto& c = h.counts();
  for (int j = 0; j < NB; ++j) {
    if (c[j] == 0) continue;
    const double lo = j * w, hi = (j + 1) * w;
    if (lo >= a)
      clipped += static_cast<double>(c[j]);
    else if (hi > a)
      clipped += static_cast<double>(c[j]) * (hi - a) / w;
  }
  return clipped / static_cast<double>(total);
}

}  // namespace octet
