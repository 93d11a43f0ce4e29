// include/octet/detect.h on hand-made tensors whose answers are worked out by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <octet/octet.h>

namespace {

using octet::Box;

Box box(double x0, double y0, double x1, double y1, double score = 1, int cls = 0) {
  Box b;
  b.x0 = x0;
  b.y0 = y0;
  b.x1 = x1;
  b.y1 = y1;
  b.score = score;
  b.cls = cls;
  return b;
}

void expect_box(const Box& b, double x0, double y0, double x1, double y1, double score, int cls) {
  EXPECT_NEAR(b.x0, x0, 1e-5);
  EXPECT_NEAR(b.y0, y0, 1e-5);
  EXPECT_NEAR(b.x1, x1, 1e-5);
  EXPECT_NEAR(b.y1, y1, 1e-5);
  EXPECT_NEAR(b.score, score, 1e-6);
  EXPECT_EQ(b.cls, cls);
}

TEST(Detect, BoxIou) {
  // Overlap 1 x 1, areas 4 and 4: 1 / 7.
  EXPECT_NEAR(octet::box_iou(box(0, 0, 2, 2), box(1, 1, 3, 3)), 1.0 / 7, 1e-12);
  EXPECT_EQ(octet::box_iou(box(0, 0, 1, 1), box(2, 2, 3, 3)), 0.0);
  EXPECT_NEAR(octet::box_iou(box(0, 0, 10, 10), box(0, 0, 10, 10)), 1.0, 1e-12);
}

TEST(Detect, YoloxDecodeWalksTheGridsOfEveryStride) {
  // Input 16 x 16, strides 8 and 16: a 2 x 2 grid then a 1 x 1 grid = 5 anchor points, one class.
  std::vector<float> out(5 * 6, 0.f);
  for (int a = 0; a < 5; ++a) out[a * 6 + 4] = 0.1f, out[a * 6 + 5] = 0.5f;  // score 0.05: dropped
  // Anchor 3 = stride 8, row 1, col 1: cx = (0.5 + 1) * 8 = 12, cy = (0.25 + 1) * 8 = 10, w = 2 * 8, h = 1 * 8,
  // score 0.8 * 0.5 = 0.4 -> [4, 6, 20, 14].
  float* r = &out[3 * 6];
  r[0] = 0.5f, r[1] = 0.25f, r[2] = std::log(2.f), r[3] = 0.f, r[4] = 0.8f, r[5] = 0.5f;
  // Anchor 4 = stride 16, row 0, col 0: centre (0, 0), 16 x 16, score 0.81 -> [-8, -8, 8, 8].
  r = &out[4 * 6];
  r[0] = 0.f, r[1] = 0.f, r[2] = 0.f, r[3] = 0.f, r[4] = 0.9f, r[5] = 0.9f;
  octet::DecodeOptions o;
  o.head = octet::DetectHead::yolox;
  o.input_h = o.input_w = 16;
  o.strides = {8, 16};
  const std::vector<Box> d = octet::decode_detections(out.data(), 5, 6, o);
  ASSERT_EQ(d.size(), 2u);  // IoU 8 / 376: NMS keeps both
  expect_box(d[0], -8, -8, 8, 8, 0.9f * 0.9f, 0);
  expect_box(d[1], 4, 6, 20, 14, 0.8f * 0.5f, 0);
  // 6 rows cannot be these grids: the message says what it expected.
  std::vector<float> bad(6 * 6, 0.f);
  try {
    octet::decode_detections(bad.data(), 6, 6, o);
    FAIL() << "no error";
  } catch (const octet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("5 anchor points"), std::string::npos) << e.what();
  }
}

TEST(Detect, Yolov5AndYolov8TakeTheBestClass) {
  // yolov5: anchors x (5 + C), pixels. Anchor 0: cx 10, cy 20, 4 x 6, obj 0.5, classes (0.2, 0.9, 0.9) -> class 1
  // (first of the tie), score 0.45. Anchor 1: obj 0.5 x 0.5 = 0.25 <= 0.3: dropped.
  // Anchors 2..8 are all zero (score 0).
  std::vector<float> v5 = {10, 20, 4, 6, 0.5f, 0.2f, 0.9f, 0.9f,  //
                           50, 50, 4, 4, 0.5f, 0.5f, 0.1f, 0.1f};
  v5.resize(9 * 8, 0.f);
  octet::DecodeOptions o;
  o.head = octet::DetectHead::yolov5;
  std::vector<Box> d = octet::decode_detections(v5.data(), 9, 8, o);
  ASSERT_EQ(d.size(), 1u);
  expect_box(d[0], 8, 17, 12, 23, 0.5f * 0.9f, 1);
  // yolov8: (4 + C) x anchors, channels first, no objectness. Anchor 1: cx 30, cy 40, 10 x 20, classes (0.1, 0.7).
  // 7 anchors (2..6 all zero): anchor 0 has score 0.25, dropped.
  std::vector<float> v8 = {5, 30, 0, 0, 0, 0, 0,        // cx
                           5, 40, 0, 0, 0, 0, 0,        // cy
                           2, 10, 0, 0, 0, 0, 0,        // w
                           2, 20, 0, 0, 0, 0, 0,        // h
                           0.2f, 0.1f, 0, 0, 0, 0, 0,   // class 0
                           0.25f, 0.7f, 0, 0, 0, 0, 0};  // class 1
  o.head = octet::DetectHead::yolov8;
  d = octet::decode_detections(v8.data(), 6, 7, o);
  ASSERT_EQ(d.size(), 1u);
  expect_box(d[0], 25, 30, 35, 50, 0.7f, 1);
  // The other layout (more channels than anchors) is refused, not decoded as garbage.
  EXPECT_THROW(octet::decode_detections(v5.data(), 9, 8, o), octet::Error);
  o.head = octet::DetectHead::yolov5;
  EXPECT_THROW(octet::decode_detections(v8.data(), 6, 7, o), octet::Error);
  EXPECT_EQ(octet::detect_head_from_name("yolov8"), octet::DetectHead::yolov8);
  EXPECT_THROW(octet::detect_head_from_name("ssd"), octet::Error);
}

TEST(Detect, NmsWithinAClassOrAcrossClasses) {
  // B overlaps A with IoU 90 / 110 > 0.45: removed; C is far away; D equals A but is class 1.
  std::vector<Box> in = {box(1, 0, 11, 10, 0.8), box(20, 20, 30, 30, 0.7), box(0, 0, 10, 10, 0.9),
                         box(0, 0, 10, 10, 0.6, 1)};
  std::vector<Box> k = octet::nms(in, 0.45);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].score, 0.9);
  EXPECT_EQ(k[1].score, 0.7);
  EXPECT_EQ(k[2].score, 0.6);
  k = octet::nms(in, 0.45, true);
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[1].score, 0.7);
  // At IoU 0.9 B survives (0.818 is not > 0.9).
  EXPECT_EQ(octet::nms(in, 0.9).size(), 4u);
}

TEST(Detect, F1AndScoreDriftOfGreedyMatches) {
  // P1 matches T1; P2 duplicates P1 but T1 is taken; P3 matches nothing; T2 is missed.
  // Precision 1/3, recall 1/2, F1 = 2 (1/6) / (5/6) = 0.4; drift 0.9 - 0.95 = -0.05.
  std::vector<Box> pred = {box(0, 0, 10, 10, 0.8), box(0, 0, 10, 10, 0.9), box(50, 50, 60, 60, 0.7)};
  std::vector<Box> truth = {box(20, 20, 30, 30, 0.5), box(0, 0, 10, 10, 0.95)};
  const octet::MatchResult m = octet::match_boxes(pred, truth, 0.5);
  ASSERT_EQ(m.matches.size(), 1u);
  EXPECT_EQ(m.matches[0].pred, 1);  // the higher score goes first
  EXPECT_EQ(m.matches[0].truth, 1);
  octet::BoxF1 f;
  f.add(pred, truth);
  EXPECT_NEAR(f.precision(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(f.recall(), 0.5, 1e-12);
  EXPECT_NEAR(f.f1(), 0.4, 1e-12);
  EXPECT_NEAR(f.mean_score_drift(), -0.05, 1e-12);
  EXPECT_NEAR(f.mean_abs_score_drift(), 0.05, 1e-12);
  // A box of another class never matches.
  f = octet::BoxF1{};
  f.add({box(0, 0, 10, 10, 0.9, 1)}, {box(0, 0, 10, 10, 1, 0)});
  EXPECT_EQ(f.true_positives, 0);
  EXPECT_EQ(f.f1(), 0.0);
}

TEST(Detect, AveragePrecisionAllPointInterpolation) {
  // Class 0: two truth boxes, predictions by score TP, FP, TP: recall .5 .5 1, precision 1 .5 2/3;
  // envelope 1, 2/3, 2/3 -> AP = .5 * 1 + .5 * 2/3 = 5/6.
  std::vector<std::vector<Box>> truths = {{box(0, 0, 10, 10), box(20, 0, 30, 10)}};
  std::vector<std::vector<Box>> preds = {
      {box(0, 0, 10, 10, 0.9), box(50, 50, 60, 60, 0.8), box(20, 0, 30, 10, 0.7)}};
  EXPECT_NEAR(octet::mean_average_precision(preds, truths, 0.5), 5.0 / 6, 1e-12);
  // A second class with one truth box and no prediction: AP 0, the mean halves.
  truths[0].push_back(box(40, 40, 50, 50, 1, 1));
  EXPECT_NEAR(octet::mean_average_precision(preds, truths, 0.5), 5.0 / 12, 1e-12);
  // IoU 0.78 passes the thresholds 0.50 ... 0.75 (6 of 10): mAP@0.5:0.95 = 0.6.
  std::vector<std::vector<Box>> t = {{box(0, 0, 10, 7.8)}};
  std::vector<std::vector<Box>> p = {{box(0, 0, 10, 10, 0.9)}};
  EXPECT_NEAR(octet::mean_average_precision(p, t, 0.5), 1.0, 1e-12);
  EXPECT_NEAR(octet::mean_average_precision_50_95(p, t), 0.6, 1e-12);
  EXPECT_THROW(octet::mean_average_precision(p, {}, 0.5), octet::Error);
}

TEST(Detect, MaskIouOfThresholdedMaps) {
  // > 0.3: a = F T T T, b = T F T T -> intersection 2, union 4; |a - b| = .4 + .3 + 0 + .09.
  const std::vector<float> a = {0.1f, 0.5f, 0.9f, 0.4f}, b = {0.5f, 0.2f, 0.9f, 0.31f};
  octet::MaskIoU m;
  m.add(a.data(), b.data(), 4);
  EXPECT_EQ(m.intersection, 2);
  EXPECT_EQ(m.union_, 4);
  EXPECT_NEAR(m.iou(), 0.5, 1e-12);
  EXPECT_NEAR(m.mean_abs_diff(), 0.79 / 4, 1e-6);
  // Sums over images; exactly the threshold is outside the mask.
  const std::vector<float> c = {0.3f, 0.3f}, d = {0.3f, 0.9f};
  m.add(c.data(), d.data(), 2);
  EXPECT_EQ(m.intersection, 2);
  EXPECT_EQ(m.union_, 5);
  EXPECT_EQ(m.pixels, 6);
}

}  // namespace
