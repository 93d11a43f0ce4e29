// Internal to the reference backend: a Window (ir/window.h) widened to exactly 3 spatial dims, so one loop
// nest serves 1-D, 2-D and 3-D Conv / ConvTranspose / pools (missing leading dims have size 1, kernel 1,
// stride 1, dilation 1, no padding), plus the tap-range arithmetic those loops share.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ir/window.h"

namespace octet::ref {

struct Win3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  int64_t taps() const { return k[0] * k[1] * k[2]; }
};

inline Win3 to_3d(const Node& n, const Window& w) {
  const int r = w.spatial_rank();
  OCTET_CHECK(r >= 1 && r <= 3, n.describe(), ": ", r, " spatial dims; the reference backend supports 1 to 3");
  Win3 o{};
  for (int i = 0; i < 3; ++i) {
    const int j = i - (3 - r);  // index into w, < 0 for a padded leading dim
    const auto u = static_cast<size_t>(j);
    o.in[i] = j < 0 ? 1 : w.in[u];
    o.out[i] = j < 0 ? 1 : w.out[u];
    o.k[i] = j < 0 ? 1 : w.kernel[u];
    o.s[i] = j < 0 ? 1 : w.strides[u];
    o.d[i] = j < 0 ? 1 : w.dilations[u];
    o.pb[i] = j < 0 ? 0 : w.pad_begin[u];
    o.pe[i] = j < 0 ? 0 : w.pad_end[u];
  }
  return o;
}

// The indices o in [0, n_o) for which p = o * s + off lands in [0, n_p): returns [*lo, *hi).
// (Conv: o = output index, p = input index, off = tap*d - pad_begin; ConvTranspose swaps the roles.)
inline void tap_range(int64_t n_o, int64_t n_p, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  // o >= ceil(-off / s) and o <= floor((n_p - 1 - off) / s)
  auto fdiv = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  *lo = std::max<int64_t>(0, -fdiv(off, s));
  *hi = std::min<int64_t>(n_o, n_p - 1 - off < 0 ? 0 : fdiv(n_p - 1 - off, s) + 1);
  if (*hi < *lo) *hi = *lo;
}

}  // namespace octet::ref
