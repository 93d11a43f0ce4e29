// Task metrics of detectors and segmenters (`octet eval --task detect|segment`): decode of the common YOLO heads,
// NMS, greedy box matching (precision / recall / F1, score drift), average precision, and mask IoU of thresholded
// probability maps. Plain functions on float32 arrays in host memory; boxes are in the network input's pixels
// (x0, y0, x1, y1 with x1 > x0 for a non-empty box) unless the caller maps them elsewhere.
//
// Heads (one image's output, row-major float32):
//   yolox   A x (5 + C): per anchor point x, y (offsets in grid cells), w, h (log of the size in strides), objectness,
//           C class scores (probabilities: the model applied the sigmoid). Anchor points run over `strides` (8, 16,
//           32 by default) and, within a stride, over rows then columns of an (H / s) x (W / s) grid. Decode:
//           cx = (x + col) * s, cy = (y + row) * s, w = exp(w) * s, h = exp(h) * s (the exponent capped at 30).
//   yolov5  A x (5 + C): cx, cy, w, h in input pixels, objectness, C class probabilities.
//   yolov8  (4 + C) x A (channels first): cx, cy, w, h in input pixels, C class probabilities; no objectness.
// Score of an anchor = objectness * (largest class probability) (yolov8: the largest class probability); its class
// is that argmax (first on ties). Kept when score > score_threshold, then NMS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace octet {

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double score = 0;
  int cls = 0;
};

enum class DetectHead { yolox, yolov5, yolov8 };
// "yolox", "yolov5", "yolov8"; throws octet::Error naming the accepted names.
DetectHead detect_head_from_name(const std::string& name);
const char* detect_head_name(DetectHead h);

struct DecodeOptions {
  DetectHead head = DetectHead::yolox;
  double score_threshold = 0.3;  // keep anchors with score > this
  double nms_iou = 0.45;        // NMS drops a box whose IoU with a kept higher-scored box is > this
  bool class_agnostic = false;   // NMS across classes (default: within each class)
  int input_h = 0, input_w = 0;  // yolox: the network input's H x W (the grids)
  std::vector<int> strides = {8, 16, 32};  // yolox
};

// Decodes one image's head output of `dim0` x `dim1` floats (yolox / yolov5: anchors x (5 + C); yolov8:
// (4 + C) x anchors) and applies NMS. Throws octet::Error when the shape cannot be the head's (saying which
// shape it expected). Boxes come back in descending score order.
std::vector<Box> decode_detections(const float* out, int64_t dim0, int64_t dim1, const DecodeOptions& o);

// IoU of two boxes (0 when both are empty).
double box_iou(const Box& a, const Box& b);

// Greedy NMS: boxes in descending score (stable: equal scores keep their order), each kept box removes the later
// ones of its class (every class with class_agnostic) whose IoU with it is > iou. Returns the kept boxes in
// descending score order.
std::vector<Box> nms(std::vector<Box> boxes, double iou, bool class_agnostic = false);

// One-to-one matching of `pred` to `truth` at IoU >= iou: predictions in descending score (stable), each takes
// the unused truth box of its class with the largest IoU (the first on ties) when that IoU is >= iou.
struct Match {
  int pred = 0, truth = 0;  // indices into the given vectors
  double iou = 0;
};
struct MatchResult {
  std::vector<Match> matches;
  std::vector<int> order;         // pred indices in the order matched (descending score)
  std::vector<bool> true_positive;  // per entry of `order`
};
MatchResult match_boxes(const std::vector<Box>& pred, const std::vector<Box>& truth, double iou = 0.5);

// Precision / recall / F1 summed over images (add() per image), and the score drift of matched pairs:
// mean |score(pred) - score(truth)| and the mean signed difference (truth boxes from a reference run carry
// scores; for labels the drift means nothing).
struct BoxF1 {
  double iou = 0.5;
  int64_t true_positives = 0, predictions = 0, truths = 0;
  double abs_drift_sum = 0, drift_sum = 0;
  void add(const std::vector<Box>& pred, const std::vector<Box>& truth);
  double precision() const;
  double recall() const;
  double f1() const;
  double mean_abs_score_drift() const;
  double mean_score_drift() const;  // pred - truth
};

// Average precision (all-point interpolation of the precision/recall curve, VOC 2010+) of `preds` against `truths`
// (one vector per image) at one IoU, per class, averaged over the classes that have truth boxes. 0 when no class
// has any.
double mean_average_precision(const std::vector<std::vector<Box>>& preds, const std::vector<std::vector<Box>>& truths,
                              double iou);
// The COCO summary: the mean of mean_average_precision at IoU 0.50, 0.55, ..., 0.95.
double mean_average_precision_50_95(const std::vector<std::vector<Box>>& preds,
                                    const std::vector<std::vector<Box>>& truths);

// IoU of the masks a > threshold and b > threshold, summed over every pixel added (all images together), and the
// mean absolute difference of the maps.
struct MaskIoU {
  float threshold = 0.3f;  // compared in float32, as numpy compares a float32 map with 0.3
  int64_t intersection = 0, union_ = 0, pixels = 0;
  double abs_diff_sum = 0;
  void add(const float* a, const float* b, int64_t n);
  double iou() const;  // 1 when both masks are empty everywhere
  double mean_abs_diff() const;
};

}  // namespace octet
