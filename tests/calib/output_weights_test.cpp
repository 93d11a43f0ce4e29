// The refinement's output weighting (src/calib/output_weights.h): which axis holds a rank-3 (detection head)
// output's components, when they are weighted (energies more than 20 dB apart, as a detector's boxes in pixels next
// to its 0–1 scores), and
// that the weighted sums count every component alike while an output of alike components keeps the plain sums.
#include <gtest/gtest.h>

#include <cmath>

#include "calib/output_weights.h"
#include "calib/sqnr.h"

using namespace octet;

namespace {

// A YOLOX-style [n, anchors, 6] output: x, y, w, h in pixels (20..80), objectness and class in 0..1 (~39 dB apart).
Tensor detector_output(int64_t n, int64_t anchors, uint32_t seed) {
  Tensor t(DType::f32, {n, anchors, 6});
  float* p = t.data<float>();
  uint32_t s = seed;
  auto next = [&] { return (s = s * 1664525u + 1013904223u) / 4294967296.0f; };
  for (int64_t i = 0; i < n * anchors; ++i)
    for (int c = 0; c < 6; ++c) p[i * 6 + c] = c < 4 ? 20.f + 60.f * next() : next();
  return t;
}

double weighted_sqnr(const OutputWeights& w, const Tensor& ref, const Tensor& test) {
  double s = 0, e = 0;
  w.add(0, ref.data<float>(), test.data<float>(), ref.numel(), s, e);
  return sqnr_db(s, e);
}

}  // namespace

TEST(OutputWeights, ComponentAxis) {
  EXPECT_EQ(component_axis({1, 3549, 6}), 2);   // YOLOX / YOLOv5: [N, anchors, K]
  EXPECT_EQ(component_axis({1, 84, 8400}), 1);  // YOLOv8: [N, K, anchors]
  EXPECT_EQ(component_axis({64, 10}), -1);      // logits: plain SQNR
  EXPECT_EQ(component_axis({2, 1, 480, 640}), -1);
  EXPECT_EQ(component_axis({7}), -1);
}

TEST(OutputWeights, DetectorScoresCountAsMuchAsTheBoxes) {
  const Tensor ref = detector_output(2, 50, 7);
  const auto w = OutputWeights::from_reference({{ref}});
  ASSERT_TRUE(w.weighted(0));
  EXPECT_GT(w.spread_db(0), 20.0);
  // The same relative error (1%) on the boxes only, or on the scores only.
  Tensor boxes = ref.clone(), scores = ref.clone();
  for (int64_t i = 0; i < ref.numel(); ++i) (i % 6 < 4 ? boxes : scores).data<float>()[i] *= 1.01f;
  double ps = 0, pe = 0;
  add_sqnr_sums(ref.data<float>(), scores.data<float>(), ref.numel(), ps, pe);
  const double plain_scores = sqnr_db(ps, pe);
  // Plain SQNR hardly sees the scores' error; weighted, an error on 2 of 6 components costs what 4 of 6 cost
  // within 10*log10(2) dB.
  EXPECT_GT(plain_scores, 60.0);
  const double wb = weighted_sqnr(w, ref, boxes), ws = weighted_sqnr(w, ref, scores);
  EXPECT_NEAR(ws - wb, 10.0 * std::log10(2.0), 0.2);
  EXPECT_LT(ws, 46.0);
}

TEST(OutputWeights, AlikeComponentsKeepThePlainSums) {
  Tensor logits(DType::f32, {4, 10}), test(DType::f32, {4, 10});
  for (int64_t i = 0; i < 40; ++i) {
    logits.data<float>()[i] = static_cast<float>((i * 37) % 11) - 5.f + 0.25f;
    test.data<float>()[i] = logits.data<float>()[i] + 0.01f * static_cast<float>(i % 3);
  }
  EXPECT_FALSE(OutputWeights::from_reference({{logits}}).weighted(0));
  // A rank-3 output whose components are alike (within 20 dB) keeps the plain sums.
  logits = logits.reshaped({4, 5, 2});
  test = test.reshaped({4, 5, 2});
  const auto w = OutputWeights::from_reference({{logits}});
  EXPECT_FALSE(w.weighted(0));
  EXPECT_GT(w.spread_db(0), 0.0);
  double s1 = 0, e1 = 0, s2 = 0, e2 = 0;
  w.add(0, logits.data<float>(), test.data<float>(), 40, s1, e1);
  add_sqnr_sums(logits.data<float>(), test.data<float>(), 40, s2, e2);
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(e1, e2);
  // A segmentation map is never weighted, however its rows differ.
  Tensor map(DType::f32, {1, 1, 8, 8});
  for (int64_t i = 0; i < 64; ++i) map.data<float>()[i] = i < 8 ? 100.f : 1e-4f;
  EXPECT_FALSE(OutputWeights::from_reference({{map}}).weighted(0));
}

TEST(OutputWeights, SamplesAddUpToTheWholeAndBatchesShareTheEnergies) {
  const Tensor a = detector_output(3, 20, 1), b = detector_output(2, 20, 2);
  const auto w = OutputWeights::from_reference({{a}, {b}});
  ASSERT_TRUE(w.weighted(0));
  Tensor t = a.clone();
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] += 0.001f * static_cast<float>(i % 7);
  double s = 0, e = 0, ss = 0, es = 0;
  w.add(0, a.data<float>(), t.data<float>(), a.numel(), s, e);
  const int64_t each = a.numel() / 3;
  for (int k = 0; k < 3; ++k) w.add(0, a.data<float>() + k * each, t.data<float>() + k * each, each, ss, es);
  EXPECT_NEAR(s, ss, 1e-9 * s);
  EXPECT_NEAR(e, es, 1e-9 * e);
  // The weights keep the total signal: the weighted signal of all batches is their plain signal.
  double plain = 0, unused = 0, weighted = 0, unused2 = 0;
  for (const Tensor* x : {&a, &b}) {
    add_sqnr_sums(x->data<float>(), x->data<float>(), x->numel(), plain, unused);
    w.add(0, x->data<float>(), x->data<float>(), x->numel(), weighted, unused2);
  }
  EXPECT_NEAR(weighted, plain, 1e-9 * plain);
}
