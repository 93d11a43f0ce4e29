// Strided views handed over as device memory (octet/device.h): the span a view covers and its gather into C
// order — the host half of reading a permuted / channels-last PyTorch or CuPy tensor (python/src/module.cpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "octet/device.h"

namespace octet {
namespace {

// The element at idx of a view with these strides, read directly (the oracle).
template <typename T>
std::vector<T> gather_by_index(const std::vector<T>& base, const std::vector<int64_t>& shape,
                               const std::vector<int64_t>& strides) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<T> out;
  for (int64_t e = 0; e < n; ++e) {
    int64_t rem = e, off = 0;
    for (size_t i = shape.size(); i-- > 0;) {
      off += (rem % shape[i]) * strides[i];
      rem /= shape[i];
    }
    out.push_back(base[static_cast<size_t>(off)]);
  }
  return out;
}

TEST(DeviceStrided, ChannelsLastTransposedAndSteppedViewsGatherInCOrder) {
  struct Case {
    std::vector<int64_t> shape, strides;
  };
  const int64_t n = 3, c = 5, h = 7, w = 2;
  const std::vector<Case> cases = {
      {{n, c, h, w}, {h * w * c, 1, w * c, c}},          // NCHW shape over NHWC memory (channels-last)
      {{n, c, h, w}, {c * h * w, h * w, 1, h}},          // H and W swapped in memory
      {{n, c, h, w}, {2 * c * h * w, h * w, w, 1}},      // every other sample
      {{n, 1, h, w}, {h * w, 999, w, 1}},                // a dimension of 1: its stride is never used
      {{w, h, c, n}, {1, w, w * h, w * h * c}},          // Fortran order
      {{4}, {3}}};                                       // 1-d, stepped
  for (const Case& k : cases) {
    const int64_t span = strided_span(k.shape.data(), k.strides.data(), k.shape.size());
    int64_t want_span = 1;
    for (size_t i = 0; i < k.shape.size(); ++i) want_span += (k.shape[i] - 1) * k.strides[i];
    ASSERT_EQ(span, want_span);
    std::vector<int32_t> base(static_cast<size_t>(span));
    std::iota(base.begin(), base.end(), 1000);
    const std::vector<int32_t> want = gather_by_index(base, k.shape, k.strides);
    std::vector<int32_t> got(want.size(), -1);
    gather_strided(got.data(), base.data(), k.shape.data(), k.strides.data(), k.shape.size(), sizeof(int32_t));
    EXPECT_EQ(got, want) << "shape[0] " << k.shape[0] << ", strides[0] " << k.strides[0];
  }
}

TEST(DeviceStrided, EmptyViewSpansNothingAndOneByteItemsWork) {
  const int64_t shape0[] = {4, 0, 3}, strides0[] = {0, 3, 1};
  EXPECT_EQ(strided_span(shape0, strides0, 3), 0);
  const int64_t shape[] = {2, 3}, strides[] = {1, 2};  // a transposed 3x2 uint8 matrix
  const uint8_t base[] = {1, 2, 3, 4, 5, 6};
  uint8_t got[6] = {};
  gather_strided(got, base, shape, strides, 2, 1);
  const uint8_t want[] = {1, 3, 5, 2, 4, 6};
  EXPECT_EQ(std::vector<uint8_t>(got, got + 6), std::vector<uint8_t>(want, want + 6));
}

}  // namespace
}  // namespace octet
