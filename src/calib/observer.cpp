#include "calib/observer.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace octet {

namespace {

// The hot loops use GCC/Clang generic vector types (vector_size(16): 4 floats). They compile to SSE2 on
// x86-64 and NEON on ARM with no ISA flags, need no -ffast-math (every lane update is exact IEEE), and
// have a scalar tail. Four independent accumulators per quantity hide the add latency.
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));
constexpr size_t kVec = 4;              // floats per f4
constexpr size_t kUnroll = 4;           // f4 accumulators per quantity
constexpr size_t kStep = kVec * kUnroll;  // values per iteration
// Values per block. Lane counters are int32 and float partial sums cover <= kBlock/kStep values each.
constexpr size_t kBlock = 4096;

constexpr float kInf = std::numeric_limits<float>::infinity();

inline f4 load4(const float* p) {
  f4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline f4 splat(float x) { return f4{x, x, x, x}; }
inline i4 splati(int32_t x) { return i4{x, x, x, x}; }
inline f4 vabs(f4 v) { return reinterpret_cast<f4>(reinterpret_cast<i4>(v) & splati(0x7fffffff)); }

}  // namespace

// ---------------------------------------------------------------------------------------------------
// TensorStats

void TensorStats::observe(const float* x, size_t n) {
  count += n;
  const f4 inf4 = splat(kInf), ninf4 = splat(-kInf), fmax4 = splat(FLT_MAX), zero4 = splat(0.f);
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    const size_t m = std::min(kBlock, n - i0);
    const float* p = x + i0;
    f4 mn[kUnroll], mx[kUnroll], s[kUnroll], ss[kUnroll];
    i4 z[kUnroll], nn[kUnroll], nf[kUnroll];
    for (size_t u = 0; u < kUnroll; ++u) {
      mn[u] = inf4;
      mx[u] = ninf4;
      s[u] = ss[u] = zero4;
      z[u] = nn[u] = nf[u] = splati(0);
    }
    const size_t mv = m / kStep * kStep;
    for (size_t b = 0; b < mv; b += kStep) {
      for (size_t u = 0; u < kUnroll; ++u) {
        const f4 v = load4(p + b + u * kVec);
        const i4 fin = vabs(v) <= fmax4;  // lanes -1 (finite) / 0 (NaN, ±Inf)
        const f4 vf = reinterpret_cast<f4>(reinterpret_cast<i4>(v) & fin);
        const f4 lo = fin ? v : inf4;
        const f4 hi = fin ? v : ninf4;
        mn[u] = lo < mn[u] ? lo : mn[u];
        mx[u] = hi > mx[u] ? hi : mx[u];
        s[u] += vf;
        ss[u] += vf * vf;  // float partials over <= 256 values; overflows only for |x| > ~1e19
        z[u] -= (v == zero4);  // a true comparison is -1
        nn[u] -= (v != v);
        nf[u] -= ~fin;
      }
    }
    for (size_t u = 0; u < kUnroll; ++u)
      for (size_t l = 0; l < kVec; ++l) {
        min = std::min(min, mn[u][l]);
        max = std::max(max, mx[u][l]);
        sum += s[u][l];
        sumsq += ss[u][l];
        zeros += static_cast<uint64_t>(z[u][l]);
        nans += static_cast<uint64_t>(nn[u][l]);
        infs += static_cast<uint64_t>(nf[u][l] - nn[u][l]);
      }
    for (size_t b = mv; b < m; ++b) {  // tail
      const float v = p[b];
      if (std::fabs(v) <= FLT_MAX) {
        min = std::min(min, v);
        max = std::max(max, v);
        sum += v;
        sumsq += static_cast<double>(v) * v;
        zeros += v == 0.f;
      } else if (v != v) {
        ++nans;
      } else {
        ++infs;
      }
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
  // Bin index = min(floor(|x| * (1/w)), kBins-1). `f < kBins` is false for NaN and +Inf, which therefore
  // land in the last bin; they are counted and taken out of it after the block, so the index loop has no
  // branch and is SIMD. Counts are then scattered by a scalar loop.
  const float inv_w = static_cast<float>(static_cast<double>(kBins) / static_cast<double>(range_));
  const f4 inv4 = splat(inv_w), top4 = splat(static_cast<float>(kBins)),
           last4 = splat(static_cast<float>(kBins - 1)), fmax4 = splat(FLT_MAX), zero4 = splat(0.f);
  // Many values in one bin (the zero bin of a ReLU output) make consecutive increments of the same
  // counter wait on each other. Large inputs scatter round-robin into kWays tables (counts_ plus
  // kWays-1 local uint32 tables, folded in every kFold values) to break that chain.
  constexpr size_t kWays = 4;
  constexpr size_t kFold = size_t{1} << 30;  // < 2^32 values per local counter
  const bool multi = n >= 16 * kBins;
  alignas(64) uint32_t local_tables[(kWays - 1) * kBins];  // 24 KiB of stack, zeroed only when used
  uint32_t* const local = local_tables;
  if (multi) std::memset(local, 0, sizeof local_tables);
  alignas(64) int32_t idx[kBlock];
  uint64_t nft = 0, zt = 0;
  size_t since_fold = 0;
  auto fold = [&] {
    for (size_t w = 0; w + 1 < kWays; ++w) {
      uint32_t* t = local + w * kBins;
      for (int j = 0; j < kBins; ++j) {
        counts_[static_cast<size_t>(j)] += t[j];
        t[j] = 0;
      }
    }
    since_fold = 0;
  };
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    const size_t m = std::min(kBlock, n - i0);
    const float* p = x + i0;
    i4 nf = splati(0), z = splati(0);
    const size_t mv = m / kVec * kVec;
    for (size_t b = 0; b < mv; b += kVec) {
      const f4 a = vabs(load4(p + b));
      f4 f = a * inv4;
      f = f < top4 ? f : last4;
      const i4 k = __builtin_convertvector(f, i4);
      std::memcpy(idx + b, &k, sizeof k);
      nf -= ~(a <= fmax4);
      z -= (a == zero4);
    }
    for (size_t b = mv; b < m; ++b) {
      const float a = std::fabs(p[b]);
      const float f = a * inv_w;
      idx[b] = f < static_cast<float>(kBins) ? static_cast<int32_t>(f) : kBins - 1;
      nft += !(a <= FLT_MAX);
      zt += a == 0.f;
    }
    for (size_t l = 0; l < kVec; ++l) {
      nft += static_cast<uint64_t>(nf[l]);
      zt += static_cast<uint64_t>(z[l]);
    }

    uint64_t* c = counts_.data();
    size_t k = 0;
    if (multi) {
      uint32_t* t0 = local;
      uint32_t* t1 = t0 + kBins;
      uint32_t* t2 = t1 + kBins;
      for (; k + kWays <= m; k += kWays) {
        ++c[idx[k]];
        ++t0[idx[k + 1]];
        ++t1[idx[k + 2]];
        ++t2[idx[k + 3]];
      }
      since_fold += m;
      if (since_fold >= kFold) fold();
    }
    for (; k < m; ++k) ++c[idx[k]];
  }
  if (multi) fold();
  counts_[kBins - 1] -= nft;
  nonfinite_ += nft;
  zeros_ += zt;
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
  // Batch absmax over finite values (NaN/Inf masked to 0).
  const f4 fmax4 = splat(FLT_MAX);
  f4 acc[kUnroll] = {};
  const size_t nv = n / kStep * kStep;
  for (size_t b = 0; b < nv; b += kStep)
    for (size_t u = 0; u < kUnroll; ++u) {
      const f4 v = vabs(load4(x + b + u * kVec));
      const f4 f = reinterpret_cast<f4>(reinterpret_cast<i4>(v) & (v <= fmax4));
      acc[u] = f > acc[u] ? f : acc[u];
    }
  float a = 0.f;
  for (size_t u = 0; u < kUnroll; ++u)
    for (size_t l = 0; l < kVec; ++l) a = std::max(a, acc[u][l]);
  for (size_t b = nv; b < n; ++b) {
    const float v = std::fabs(x[b]);
    if (v <= FLT_MAX) a = std::max(a, v);
  }
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

ObserverState TensorObserver::state() const {
  ObserverState s;
  s.mode = mode_;
  s.stats = stats_;
  s.hist_started = hist_started_;
  s.range_override = range_override_;
  s.hist_mode = hist_.mode_;
  s.hist_range = hist_.range_;
  s.counts = hist_.counts_;
  s.zeros = hist_.zeros_;
  s.zeros_before = hist_.zeros_before_;
  s.nonfinite = hist_.nonfinite_;
  return s;
}

TensorObserver TensorObserver::from_state(const ObserverState& s) {
  TensorObserver o(s.mode);
  o.stats_ = s.stats;
  o.hist_started_ = s.hist_started;
  o.range_override_ = s.range_override;
  o.hist_.mode_ = s.hist_mode;
  o.hist_.range_ = s.hist_range;
  o.hist_.counts_ = s.counts;
  o.hist_.zeros_ = s.zeros;
  o.hist_.zeros_before_ = s.zeros_before;
  o.hist_.nonfinite_ = s.nonfinite;
  return o;
}

}  // namespace octet
