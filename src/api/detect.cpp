// Detector and segmenter metrics (include/octet/detect.h). The matching, AP and NMS follow
// bench/detect_accuracy.py step for step (its numbers are the check of `octet eval --task`).
#include "octet/detect.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "core/error.h"

namespace octet {

DetectHead detect_head_from_name(const std::string& name) {
  if (name == "yolox") return DetectHead::yolox;
  if (name == "yolov5") return DetectHead::yolov5;
  if (name == "yolov8") return DetectHead::yolov8;
  fail("unknown detection head '", name, "' (known: yolox, yolov5, yolov8)");
}

const char* detect_head_name(DetectHead h) {
  switch (h) {
    case DetectHead::yolox: return "yolox";
    case DetectHead::yolov5: return "yolov5";
    case DetectHead::yolov8: return "yolov8";
  }
  return "?";
}

namespace {

Box from_center(double cx, double cy, double w, double h, double score, int cls) {
  Box b;
  b.x0 = cx - w / 2;
  b.y0 = cy - h / 2;
  b.x1 = cx + w / 2;
  b.y1 = cy + h / 2;
  b.score = score;
  b.cls = cls;
  return b;
}

// Largest of n values at p[0], p[stride], ... (first on ties) and its index.
std::pair<double, int> best_class(const float* p, int64_t n, int64_t stride) {
  int best = 0;
  for (int64_t c = 1; c < n; ++c)
    if (p[c * stride] > p[best * stride]) best = static_cast<int>(c);
  return {static_cast<double>(p[best * stride]), best};
}

}  // namespace

std::vector<Box> decode_detections(const float* out, int64_t dim0, int64_t dim1, const DecodeOptions& o) {
  std::vector<Box> boxes;
  const char* head = detect_head_name(o.head);
  if (o.head == DetectHead::yolov8) {
    // Anchors outnumber channels in every real head: more rows than columns is the other layout.
    OCTET_CHECK(dim0 >= 5 && dim1 > dim0, "decode ", head, ": expected an output of (4 + classes) x anchors (more ",
                "anchors than channels), got ", dim0, "x", dim1);
    const int64_t classes = dim0 - 4, anchors = dim1;
    for (int64_t a = 0; a < anchors; ++a) {
      auto [score, cls] = best_class(out + 4 * anchors + a, classes, anchors);
      if (!(score > o.score_threshold)) continue;
      boxes.push_back(from_center(out[a], out[anchors + a], out[2 * anchors + a], out[3 * anchors + a], score, cls));
    }
    return nms(std::move(boxes), o.nms_iou, o.class_agnostic);
  }
  OCTET_CHECK(dim1 >= 6 && (dim0 > dim1 || o.head == DetectHead::yolox), "decode ", head,
              ": expected an output of anchors x (5 + classes) (more anchors than channels), got ", dim0, "x", dim1);
  const int64_t classes = dim1 - 5;
  if (o.head == DetectHead::yolov5) {
    for (int64_t a = 0; a < dim0; ++a) {
      const float* r = out + a * dim1;
      auto [cls_score, cls] = best_class(r + 5, classes, 1);
      const double score = static_cast<double>(r[4]) * cls_score;
      if (!(score > o.score_threshold)) continue;
      boxes.push_back(from_center(r[0], r[1], r[2], r[3], score, cls));
    }
    return nms(std::move(boxes), o.nms_iou, o.class_agnostic);
  }
  // yolox: the anchor points of every stride's grid, rows then columns.
  OCTET_CHECK(o.input_h > 0 && o.input_w > 0, "decode yolox: the network input's H x W is needed for the grids");
  OCTET_CHECK(!o.strides.empty(), "decode yolox: no strides");
  int64_t expected = 0;
  for (int s : o.strides) {
    OCTET_CHECK(s > 0, "decode yolox: stride ", s, " is not positive");
    expected += static_cast<int64_t>(o.input_h / s) * (o.input_w / s);
  }
  std::string strides;
  for (int s : o.strides) {
    if (!strides.empty()) strides += ',';
    strides += std::to_string(s);
  }
  OCTET_CHECK(expected == dim0, "decode yolox: an input of ", o.input_h, "x", o.input_w, " with strides ", strides,
              " has ", expected, " anchor points, the output has ", dim0, " rows (", dim0, "x", dim1, ")");
  int64_t a = 0;
  for (int s : o.strides) {
    const int gh = o.input_h / s, gw = o.input_w / s;
    for (int gy = 0; gy < gh; ++gy)
      for (int gx = 0; gx < gw; ++gx, ++a) {
        const float* r = out + a * dim1;
        auto [cls_score, cls] = best_class(r + 5, classes, 1);
        const double score = static_cast<double>(r[4]) * cls_score;
        if (!(score > o.score_threshold)) continue;
        const double cx = (static_cast<double>(r[0]) + gx) * s, cy = (static_cast<double>(r[1]) + gy) * s;
        const double w = std::exp(std::min(static_cast<double>(r[2]), 30.0)) * s;
        const double h = std::exp(std::min(static_cast<double>(r[3]), 30.0)) * s;
        boxes.push_back(from_center(cx, cy, w, h, score, cls));
      }
  }
  return nms(std::move(boxes), o.nms_iou, o.class_agnostic);
}

double box_iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  const double ih = std::max(0.0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  const double inter = iw * ih;
  const double uni = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return inter / std::max(uni, 1e-12);
}

namespace {

std::vector<int> by_score(const std::vector<Box>& boxes) {
  std::vector<int> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return boxes[i].score > boxes[j].score; });
  return order;
}

}  // namespace

std::vector<Box> nms(std::vector<Box> boxes, double iou, bool class_agnostic) {
  const std::vector<int> order = by_score(boxes);
  std::vector<bool> removed(boxes.size(), false);
  std::vector<Box> kept;
  for (size_t i = 0; i < order.size(); ++i) {
    if (removed[i]) continue;
    const Box& k = boxes[order[i]];
    kept.push_back(k);
    for (size_t j = i + 1; j < order.size(); ++j) {
      if (removed[j]) continue;
      const Box& b = boxes[order[j]];
      if ((class_agnostic || b.cls == k.cls) && box_iou(k, b) > iou) removed[j] = true;
    }
  }
  return kept;
}

MatchResult match_boxes(const std::vector<Box>& pred, const std::vector<Box>& truth, double iou) {
  MatchResult r;
  r.order = by_score(pred);
  r.true_positive.assign(pred.size(), false);
  std::vector<bool> used(truth.size(), false);
  for (size_t i = 0; i < r.order.size(); ++i) {
    const Box& p = pred[r.order[i]];
    int best = -1;
    double best_iou = -1;
    for (size_t t = 0; t < truth.size(); ++t) {
      const double v = used[t] || truth[t].cls != p.cls ? -1.0 : box_iou(p, truth[t]);
      if (v > best_iou) {
        best_iou = v;
        best = static_cast<int>(t);
      }
    }
    if (best >= 0 && best_iou >= iou) {
      used[best] = true;
      r.true_positive[i] = true;
      r.matches.push_back({r.order[i], best, best_iou});
    }
  }
  return r;
}

void BoxF1::add(const std::vector<Box>& pred, const std::vector<Box>& truth) {
  const MatchResult m = match_boxes(pred, truth, iou);
  true_positives += static_cast<int64_t>(m.matches.size());
  predictions += static_cast<int64_t>(pred.size());
  truths += static_cast<int64_t>(truth.size());
  for (const Match& x : m.matches) {
    const double d = pred[x.pred].score - truth[x.truth].score;
    drift_sum += d;
    abs_drift_sum += std::fabs(d);
  }
}

double BoxF1::precision() const { return predictions ? static_cast<double>(true_positives) / predictions : 0.0; }
double BoxF1::recall() const { return truths ? static_cast<double>(true_positives) / truths : 0.0; }
double BoxF1::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}
double BoxF1::mean_abs_score_drift() const { return true_positives ? abs_drift_sum / true_positives : 0.0; }
double BoxF1::mean_score_drift() const { return true_positives ? drift_sum / true_positives : 0.0; }

namespace {

// AP of one class: every image's predictions of that class matched against its truth boxes of that class.
double class_ap(const std::vector<std::vector<Box>>& preds, const std::vector<std::vector<Box>>& truths, int cls,
                double iou) {
  std::vector<std::pair<double, bool>> scored;  // (score, true positive), image by image in score order
  int64_t n_truth = 0;
  for (size_t i = 0; i < preds.size(); ++i) {
    std::vector<Box> p, t;
    for (const Box& b : preds[i])
      if (b.cls == cls) p.push_back(b);
    for (const Box& b : truths[i])
      if (b.cls == cls) t.push_back(b);
    n_truth += static_cast<int64_t>(t.size());
    const MatchResult m = match_boxes(p, t, iou);
    for (size_t k = 0; k < m.order.size(); ++k) scored.push_back({p[m.order[k]].score, m.true_positive[k]});
  }
  if (n_truth == 0) return 0.0;
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  // Precision / recall after each prediction; the precision envelope (max to the right); area where recall moves.
  const size_t n = scored.size();
  std::vector<double> rec(n + 2), prec(n + 2);
  double tp = 0, fp = 0;
  rec[0] = 0;
  prec[0] = 0;
  for (size_t k = 0; k < n; ++k) {
    (scored[k].second ? tp : fp) += 1;
    rec[k + 1] = tp / static_cast<double>(n_truth);
    prec[k + 1] = tp / std::max(tp + fp, 1e-12);
  }
  rec[n + 1] = 1;
  prec[n + 1] = 0;
  for (size_t k = n + 1; k-- > 0;) prec[k] = std::max(prec[k], prec[k + 1]);
  double ap = 0;
  for (size_t k = 0; k + 1 < n + 2; ++k)
    if (rec[k + 1] != rec[k]) ap += (rec[k + 1] - rec[k]) * prec[k + 1];
  return ap;
}

}  // namespace

double mean_average_precision(const std::vector<std::vector<Box>>& preds, const std::vector<std::vector<Box>>& truths,
                              double iou) {
  OCTET_CHECK(preds.size() == truths.size(), "mean_average_precision: ", preds.size(), " images of predictions, ",
              truths.size(), " of truth boxes");
  std::set<int> classes;
  for (const auto& t : truths)
    for (const Box& b : t) classes.insert(b.cls);
  if (classes.empty()) return 0.0;
  double sum = 0;
  for (int c : classes) sum += class_ap(preds, truths, c, iou);
  return sum / static_cast<double>(classes.size());
}

double mean_average_precision_50_95(const std::vector<std::vector<Box>>& preds,
                                    const std::vector<std::vector<Box>>& truths) {
  double sum = 0;
  for (int k = 0; k < 10; ++k) sum += mean_average_precision(preds, truths, 0.5 + 0.05 * k);
  return sum / 10;
}

void MaskIoU::add(const float* a, const float* b, int64_t n) {
  int64_t inter = 0, uni = 0;
  double diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool x = a[i] > threshold, y = b[i] > threshold;
    inter += x && y;
    uni += x || y;
    diff += std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
  }
  intersection += inter;
  union_ += uni;
  pixels += n;
  abs_diff_sum += diff;
}

double MaskIoU::iou() const { return union_ ? static_cast<double>(intersection) / union_ : 1.0; }
double MaskIoU::mean_abs_diff() const { return pixels ? abs_diff_sum / pixels : 0.0; }

}  // namespace octet
