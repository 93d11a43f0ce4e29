#include "calib/observer.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace octet {

namespace {

// Hot loops work on blocks of kBlock values with kLanes independent accumulators per quantity, so that
// GCC/Clang vectorize them at -O3 without -ffast-math (a lane-wise update needs no reassociation).
constexpr size_t kLanes = 16;
constexpr size_t kBlock = 4096;

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

// ---------------------------------------------------------------------------------------------------
// TensorStats

void TensorStats::observe(const float* x, size_t n) {
  count += n;
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    const size_t m = std::min(kBlock, n - i0);
    const float* p = x + i0;
    float mn[kLanes], mx[kLanes], s[kLanes], ss[kLanes];
    uint32_t z[kLanes], nn[kLanes], nf[kLanes];
    for (size_t j = 0; j < kLanes; ++j) {
      mn[j] = kInf;
      mx[j] = -kInf;
      s[j] = ss[j] = 0.f;
      z[j] = nn[j] = nf[j] = 0;
    }
    const size_t mv = m / kLanes * kLanes;
    auto step = [&](size_t j, float v) {
      const float a = std::fabs(v);
      const bool fin = a <= FLT_MAX;  // false for NaN and ±Inf
      const float vf = fin ? v : 0.f;
      const float lo = fin ? v : kInf;
      const float hi = fin ? v : -kInf;
      mn[j] = lo < mn[j] ? lo : mn[j];
      mx[j] = hi > mx[j] ? hi : mx[j];
      s[j] += vf;
      ss[j] += vf * vf;  // float lanes over <= 256 values; overflows only for |x| > ~1e19
      z[j] += (v == 0.f);
      nn[j] += (v != v);
      nf[j] += !fin;
    };
    for (size_t b = 0; b < mv; b += kLanes)
      for (size_t j = 0; j < kLanes; ++j) step(j, p[b + j]);
    for (size_t b = mv; b < m; ++b) step(b - mv, p[b]);
    for (size_t j = 0; j < kLanes; ++j) {
      min = std::min(min, mn[j]);
      max = std::max(max, mx[j]);
      sum += s[j];
      sumsq += ss[j];
      zeros += z[j];
      nans += nn[j];
      infs += nf[j] - nn[j];
    }
  }
}

void TensorStats::merge(const TensorStats& o) {
  count += o.count;
  zeros += o.zeros;
  nans += o.nans;
  infs += o.infs;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  sum += o.sum;
  sumsq += o.sumsq;
}

float TensorStats::absmax() const {
  if (finite() == 0) return 0.f;
  return std::max(std::fabs(min), std::fabs(max));
}

// ---------------------------------------------------------------------------------------------------
// Histogram

Histogram Histogram::fixed(float range) {
  OCTET_CHECK(!(range < 0.f) && range <= FLT_MAX, "histogram range must be finite and >= 0, got ", range);
  Histogram h;
  h.mode_ = HistMode::Fixed;
  h.range_ = range;
  return h;
}

uint64_t Histogram::total() const {
  uint64_t t = 0;
  for (uint64_t c : counts_) t += c;
  return t;
}

void Histogram::add(const float* x, size_t n) {
  // Bin index = min(floor(|x| * (1/w)), kBins-1). The comparison `f < kBins` is false for NaN and +Inf,
  // which therefore land in the last bin; they are counted and taken out of it after the block, so the
  // index loop has no branch and vectorizes. Counts are scattered in a second, scalar loop.
  const float inv_w = static_cast<float>(static_cast<double>(kBins) / static_cast<double>(range_));
  const float top = static_cast<float>(kBins);
  const float last = static_cast<float>(kBins - 1);
  alignas(64) uint16_t idx[kBlock];
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    const size_t m = std::min(kBlock, n - i0);
    const float* p = x + i0;
    uint32_t nf[kLanes] = {}, z[kLanes] = {};
    const size_t mv = m / kLanes * kLanes;
    auto step = [&](size_t k, size_t j) {
      const float a = std::fabs(p[k]);
      float f = a * inv_w;
      f = f < top ? f : last;
      idx[k] = static_cast<uint16_t>(static_cast<int32_t>(f));
      nf[j] += !(a <= FLT_MAX);
      z[j] += (a == 0.f);
    };
    for (size_t b = 0; b < mv; b += kLanes)
      for (size_t j = 0; j < kLanes; ++j) step(b + j, j);
    for (size_t b = mv; b < m; ++b) step(b, b - mv);

    // Two interleaved scatters halve the store-to-load dependency when many values share a bin (the
    // zero bin of a ReLU output); the second half goes through a local table folded in at the end.
    uint64_t* c = counts_.data();
    size_t k = 0;
    for (; k + 4 <= m; k += 4) {
      ++c[idx[k]];
      ++c[idx[k + 1]];
      ++c[idx[k + 2]];
      ++c[idx[k + 3]];
    }
    for (; k < m; ++k) ++c[idx[k]];
    uint32_t nft = 0, zt = 0;
    for (size_t j = 0; j < kLanes; ++j) {
      nft += nf[j];
      zt += z[j];
    }
    counts_[kBins - 1] -= nft;
    nonfinite_ += nft;
    zeros_ += zt;
  }
}

void Histogram::grow(int k) {
  if (k <= 0) return;
  OCTET_CHECK(mode_ == HistMode::Growing, "Histogram::grow: a fixed-range histogram cannot grow");
  if (k >= 12) {  // everything merges into bin 0
    const uint64_t t = total();
    counts_.fill(0);
    counts_[0] = t;
  } else {
    std::array<uint64_t, kBins> g{};
    for (int j = 0; j < kBins; ++j) g[static_cast<size_t>(j >> k)] += counts_[static_cast<size_t>(j)];
    counts_ = g;
  }
  range_ = std::ldexp(range_, k);
}

void Histogram::observe_with_max(const float* x, size_t n, float a) {
  OCTET_CHECK(mode_ == HistMode::Growing, "Histogram::observe_with_max is for one-pass (growing) histograms");
  if (n == 0) return;
  if (empty()) {
    if (!(a > 0.f)) {  // all zeros (or only NaN/Inf) so far: nothing to set the range from
      uint64_t z = 0, nf = 0;
      for (size_t i = 0; i < n; ++i) {
        z += (x[i] == 0.f);
        nf += !(std::fabs(x[i]) <= FLT_MAX);
      }
      zeros_before_ += z;
      nonfinite_ += nf;
      return;
    }
    range_ = a;
  } else if (a > range_) {
    // k = ceil(log2(a / range)), computed exactly: smallest k with range * 2^k >= a.
    int k = 0;
    while (std::ldexp(static_cast<double>(range_), k) < static_cast<double>(a)) ++k;
    grow(k);
  }
  add(x, n);
}

void Histogram::observe(const float* x, size_t n) {
  if (mode_ == HistMode::Fixed) {
    if (empty() || n == 0) return;
    add(x, n);
    return;
  }
  float a = 0.f;
  float lanes[kLanes] = {};
  const size_t nv = n / kLanes * kLanes;
  for (size_t b = 0; b < nv; b += kLanes)
    for (size_t j = 0; j < kLanes; ++j) {
      const float v = std::fabs(x[b + j]);
      const float f = v <= FLT_MAX ? v : 0.f;
      lanes[j] = f > lanes[j] ? f : lanes[j];
    }
  for (size_t b = nv; b < n; ++b) {
    const float v = std::fabs(x[b]);
    if (v <= FLT_MAX) a = std::max(a, v);
  }
  for (float l : lanes) a = std::max(a, l);
  observe_with_max(x, n, a);
}

void Histogram::merge(const Histogram& o) {
  OCTET_CHECK(mode_ == o.mode_, "cannot merge a fixed-range histogram with a growing one");
  zeros_before_ += o.zeros_before_;
  if (o.empty()) {
    nonfinite_ += o.nonfinite_;
    return;
  }
  if (mode_ == HistMode::Fixed) {
    OCTET_CHECK(empty() || range_ == o.range_, "cannot merge histograms of different ranges (", range_, " vs ",
                o.range_, "): run pass 2 of every shard with the absmax merged over all shards");
    if (empty()) range_ = o.range_;
    for (int j = 0; j < kBins; ++j) counts_[j] += o.counts_[j];
  } else {
    if (empty()) {
      const uint64_t zb = zeros_before_, nf = nonfinite_;
      *this = o;
      zeros_before_ = zb;
      nonfinite_ = nf;
      return;
    }
    int ea = 0, eb = 0;
    const float ma = std::frexp(range_, &ea), mb = std::frexp(o.range_, &eb);
    OCTET_CHECK(ma == mb, "cannot merge growing histograms whose ranges (", range_, ", ", o.range_,
                ") do not differ by a power of two");
    Histogram b = o;
    if (eb > ea) grow(eb - ea);
    if (ea > eb) b.grow(ea - eb);
    for (int j = 0; j < kBins; ++j) counts_[j] += b.counts_[j];
  }
  zeros_ += o.zeros_;
  nonfinite_ += o.nonfinite_;
}

// ---------------------------------------------------------------------------------------------------
// TensorObserver

void TensorObserver::observe_absmax(const float* x, size_t n) {
  OCTET_CHECK(mode_ == HistMode::Fixed, "observe_absmax is pass 1 of two-pass mode; use observe() in one-pass mode");
  OCTET_CHECK(!hist_started_, "observe_absmax called after observe_hist: pass 1 must finish before pass 2");
  stats_.observe(x, n);
}

void TensorObserver::set_range(float range) {
  OCTET_CHECK(!hist_started_, "set_range must be called before the first observe_hist");
  range_override_ = range;
}

void TensorObserver::observe_hist(const float* x, size_t n) {
  OCTET_CHECK(mode_ == HistMode::Fixed, "observe_hist is pass 2 of two-pass mode; use observe() in one-pass mode");
  if (!hist_started_) {
    hist_ = Histogram::fixed(range_override_ >= 0.f ? range_override_ : stats_.absmax());
    hist_started_ = true;
  }
  hist_.observe(x, n);
}

void TensorObserver::observe(const float* x, size_t n) {
  OCTET_CHECK(mode_ == HistMode::Growing, "observe() is one-pass mode; in two-pass mode call observe_absmax "
                                          "then observe_hist");
  TensorStats batch;
  batch.observe(x, n);
  stats_.merge(batch);
  hist_.observe_with_max(x, n, batch.absmax());
  hist_started_ = true;
}

void TensorObserver::merge(const TensorObserver& o) {
  OCTET_CHECK(mode_ == o.mode_, "cannot merge a two-pass observer with a one-pass one");
  stats_.merge(o.stats_);
  if (o.hist_started_) {
    if (!hist_started_) {
      hist_ = o.hist_;
      hist_started_ = true;
    } else {
      hist_.merge(o.hist_);
    }
  }
}

}  // namespace octet
