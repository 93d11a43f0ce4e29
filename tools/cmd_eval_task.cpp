// octet eval MODEL --task detect|segment --data DIR <preprocessing> [--precision fp32,int8 --cache C] [--labels L]:
// task metrics of detectors and segmenters (include/octet/detect.h does the arithmetic). Without labels: INT8
// against FP32 -- box F1 after decode + NMS, score drift of matched boxes, mAP@0.5 against the FP32 boxes; mask
// IoU of the thresholded maps. With labels (YOLO txt per image, COCO json, or {file: [[x0, y0, x1, y1], ...]}):
// mAP@0.5 and mAP@0.5:0.95 for every precision.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "io/image.h"
#include "octet/detect.h"

namespace octet::cli {

namespace {

namespace fs = std::filesystem;

// Truth boxes of one image in its own (source) pixels.
using Labels = std::map<std::string, std::vector<Box>>;  // by file name (no folder); YOLO: by stem

struct LabelSource {
  enum Kind { yolo_dir, json_file } kind = yolo_dir;
  std::string path;
  Labels boxes;       // json: read at once
  bool yolo_normalized = true;
};

// A truth box must have finite corners in order (x0 <= x1, y0 <= y1) and a class >= 0; `where` names it.
void check_truth_box(const Box& b, const std::string& where) {
  OCTET_CHECK(std::isfinite(b.x0) && std::isfinite(b.y0) && std::isfinite(b.x1) && std::isfinite(b.y1) &&
                  b.x0 <= b.x1 && b.y0 <= b.y1 && b.cls >= 0,
              "--labels: ", where, " is not a box (corners ", b.x0, ", ", b.y0, ", ", b.x1, ", ", b.y1, ", class ",
              b.cls, ")");
}

// The truth boxes of a COCO json or a {file: [[x0, y0, x1, y1(, class)], ...]} object (`s.path` names it).
LabelSource labels_of_json(const nlohmann::json& j, LabelSource s) {
  const std::string& path = s.path;
  auto box_of = [&](const nlohmann::json& v, const std::string& where) {
    OCTET_CHECK(v.is_array() && v.size() >= 4 && v[0].is_number() && v[1].is_number() && v[2].is_number() &&
                    v[3].is_number(),
                "--labels '", path, "': ", where, " is not [x0, y0, x1, y1] or [x, y, w, h]");
    return std::array<double, 4>{v[0].get<double>(), v[1].get<double>(), v[2].get<double>(), v[3].get<double>()};
  };
  if (j.is_object() && j.contains("images") && j.contains("annotations")) {
    // COCO: bbox = [x, y, w, h] in pixels; classes = the index of category_id among the sorted category ids.
    std::map<int64_t, std::string> file_of;
    for (const auto& im : j["images"]) file_of[im.at("id").get<int64_t>()] = fs::path(im.at("file_name").get<std::string>()).filename();
    std::vector<int64_t> cats;
    if (j.contains("categories"))
      for (const auto& c : j["categories"]) cats.push_back(c.at("id").get<int64_t>());
    for (const auto& an : j["annotations"]) cats.push_back(an.at("category_id").get<int64_t>());
    std::sort(cats.begin(), cats.end());
    cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
    for (auto& [id, name] : file_of) s.boxes[name];  // an image without annotations has no objects
    for (const auto& an : j["annotations"]) {
      if (an.value("iscrowd", 0) != 0) continue;
      const int64_t img = an.at("image_id").get<int64_t>();
      OCTET_CHECK(file_of.count(img), "--labels '", path, "': annotation of image_id ", img, ", which 'images' lacks");
      auto b = box_of(an.at("bbox"), "an annotation's bbox");
      Box x;
      x.x0 = b[0];
      x.y0 = b[1];
      x.x1 = b[0] + b[2];
      x.y1 = b[1] + b[3];
      x.score = 1;
      x.cls = static_cast<int>(std::lower_bound(cats.begin(), cats.end(), an.at("category_id").get<int64_t>()) - cats.begin());
      check_truth_box(x, "'" + path + "': the bbox of an annotation of image_id " + std::to_string(img));
      s.boxes[file_of[img]].push_back(x);
    }
    return s;
  }
  OCTET_CHECK(j.is_object(), "--labels '", path, "': expected COCO json ('images', 'annotations') or an object "
              "{\"file name\": [[x0, y0, x1, y1(, class)], ...]}");
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto& v = s.boxes[fs::path(it.key()).filename()];
    OCTET_CHECK(it.value().is_array(), "--labels '", path, "': '", it.key(), "' is not a list of boxes");
    for (const auto& b : it.value()) {
      auto c = box_of(b, "a box of '" + it.key() + "'");
      Box x;
      x.x0 = c[0];
      x.y0 = c[1];
      x.x1 = c[2];
      x.y1 = c[3];
      x.score = 1;
      x.cls = 0;
      if (b.size() > 4) {  // the class: a whole number >= 0 (anything else gives -1, refused below)
        const bool whole = b[4].is_number_integer() && b[4].get<int64_t>() >= 0 && b[4].get<int64_t>() < (1 << 20);
        x.cls = whole ? static_cast<int>(b[4].get<int64_t>()) : -1;
      }
      check_truth_box(x, "'" + path + "': a box of '" + it.key() + "'");
      v.push_back(x);
    }
  }
  return s;
}

LabelSource open_labels(const std::string& path) {
  LabelSource s;
  s.path = path;
  OCTET_CHECK(fs::exists(path), "--labels '", path, "': no such file or folder");
  if (fs::is_directory(path)) return s;
  s.kind = LabelSource::json_file;
  // Through core/file_io: a regular file only (a FIFO is an error, not a hang), at most 1 GiB.
  const std::string text = read_file(path, "labels", uint64_t{1} << 30);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("--labels '", path, "': not valid JSON (", e.what(), ")");
  }
  try {
    return labels_of_json(j, std::move(s));
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type or missing
    fail("--labels '", path, "': not COCO json or {file: boxes} as expected (", e.what(), ")");
  }
}

// The truth boxes of image `file` (src_h x src_w) mapped into the network input's pixels by `g`.
std::vector<Box> truth_for(const LabelSource& s, const std::string& file, int src_h, int src_w, const ImageGeometry& g) {
  std::vector<Box> boxes;
  const fs::path p(file);
  if (s.kind == LabelSource::yolo_dir) {
    // YOLO: <dir>/<stem>.txt, one "class cx cy w h" per line, normalized to the image's width and height. No
    // file: no objects.
    const fs::path txt = fs::path(s.path) / (p.stem().string() + ".txt");
    std::istringstream f(fs::exists(txt) ? read_file(txt.string(), "labels", uint64_t{1} << 30) : std::string());
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::istringstream is(line);
      double c, cx, cy, w, h;
      OCTET_CHECK(static_cast<bool>(is >> c >> cx >> cy >> w >> h) && c >= 0 && c < 1e6 && c == std::floor(c),
                  "--labels: '", txt.string(), "' line ", n, " is not 'class cx cy w h' (class a whole number >= 0)");
      Box b;
      b.x0 = (cx - w / 2) * src_w;
      b.y0 = (cy - h / 2) * src_h;
      b.x1 = (cx + w / 2) * src_w;
      b.y1 = (cy + h / 2) * src_h;
      b.score = 1;
      b.cls = static_cast<int>(c);
      check_truth_box(b, "'" + txt.string() + "' line " + std::to_string(n));
      boxes.push_back(b);
    }
  } else {
    auto it = s.boxes.find(p.filename().string());
    OCTET_CHECK(it != s.boxes.end(), "--labels '", s.path, "' has no entry for image '", file, "'");
    boxes = it->second;
  }
  for (Box& b : boxes) {
    b.x0 = b.x0 * g.scale_x + g.left;
    b.x1 = b.x1 * g.scale_x + g.left;
    b.y0 = b.y0 * g.scale_y + g.top;
    b.y1 = b.y1 * g.scale_y + g.top;
  }
  return boxes;
}

std::vector<Box> above(const std::vector<Box>& boxes, double score) {
  std::vector<Box> out;
  for (const Box& b : boxes)
    if (b.score > score) out.push_back(b);
  return out;
}

size_t count(const std::vector<std::vector<Box>>& v) {
  size_t n = 0;
  for (const auto& x : v) n += x.size();
  return n;
}

struct Side {
  std::string precision;
  std::unique_ptr<Plan> plan;
  std::vector<std::vector<Box>> dets;  // per image, score > the lower of --score-threshold and --map-score-threshold
  Tensor out;                          // segment: this batch's output
};

}  // namespace

int cmd_eval_task(int argc, char** argv) {
  Args a("eval", "MODEL.onnx --task detect|segment --data PATH [preprocessing] [--precision fp32,int8 --cache C] "
         "[--labels L] [options]",
         "Task metrics of a detector or segmenter over an image folder (the first output of the model):\n"
         "  detect:  the head's output decoded (--decode yolox | yolov5 [N, A, 5+C] | yolov8 [N, 4+C, A]), boxes with\n"
         "           score > --score-threshold after NMS at --iou. INT8 vs FP32 (no labels needed): box F1 at\n"
         "           --match-iou, the score drift of matched boxes, mAP@0.5 of the INT8 boxes against the FP32 ones.\n"
         "           With --labels: mAP@0.5 and mAP@0.5:0.95 of each precision (detections with score >\n"
         "           --map-score-threshold; all-point interpolated AP, averaged over the classes in the labels).\n"
         "  segment: (--decode dbnet) the output is a probability map; IoU of the masks > --mask-threshold of INT8\n"
         "           and FP32 over all pixels, and the mean absolute difference of the maps.\n"
         "Boxes are in the network input's pixels; labels are mapped there through the preprocessing (letterbox,\n"
         "resize). --labels: a folder of YOLO txt files (<image stem>.txt, 'class cx cy w h' normalized; no file: no\n"
         "objects), a COCO json (bbox [x, y, w, h]; class = index of category_id among the sorted ids; iscrowd\n"
         "skipped), or a json object {\"image file name\": [[x0, y0, x1, y1(, class)], ...]}.");
  add_data_options(a);
  add_preprocess_options(a);
  a.opt("task", "TASK", "detect or segment");
  a.opt("decode", "HEAD", "the head's layout: yolox, yolov5, yolov8 (detect); dbnet (segment, the default there)");
  a.opt("score-threshold", "S", "detect: keep boxes with score > S (score = objectness x class probability)", "0.3");
  a.opt("iou", "T", "detect: NMS drops a box whose IoU with a higher-scored box of its class is > T", "0.45");
  a.flag("class-agnostic", "detect: NMS across classes");
  a.opt("match-iou", "T", "detect: a box matches another at IoU >= T (F1, and AP at 0.5)", "0.5");
  a.opt("map-score-threshold", "S", "detect: the detections that mAP ranks have score > S", "0.01");
  a.opt("strides", "S,S,...", "yolox: the strides of the anchor grids, in output order", "8,16,32");
  a.opt("mask-threshold", "T", "segment: a pixel is in the mask when the map is > T (DBNet: 0.3)", "0.3");
  a.opt("labels", "PATH", "detect: truth boxes (YOLO txt folder, COCO json, or {file: boxes} json) for mAP");
  a.opt("batch", "N", "batch size", "8");
  a.opt("precision", "P[,P]", "fp32, int8, or both (without --labels: both)", "fp32,int8");
  add_int8_options(a);
  a.opt("json", "FILE", "write the numbers as JSON to FILE");
  a.flag("force", "overwrite an existing --json file");
  a.flag("quiet", "no progress line");
  add_runtime_options(a);
  if (!a.parse(argc, argv)) return 0;
  OCTET_CHECK(a.positional().size() == 1, "octet eval: give exactly one model file");
  const std::string task = a.required("task");
  OCTET_CHECK(task == "detect" || task == "segment", "--task: 'detect' or 'segment', got '", task, "'");
  const bool detect = task == "detect";
  std::string head_name = a.get("decode");
  if (head_name.empty()) {
    OCTET_CHECK(!detect, "octet eval --task detect: give the head's layout with --decode yolox|yolov5|yolov8");
    head_name = "dbnet";
  }
  DecodeOptions dec;
  if (detect) {
    OCTET_CHECK(head_name != "dbnet", "--decode dbnet is a segmentation head: use --task segment");
    dec.head = detect_head_from_name(head_name);
  } else {
    OCTET_CHECK(head_name == "dbnet", "--task segment: --decode dbnet (a probability map), got '", head_name, "'");
    OCTET_CHECK(!a.has("labels"), "--labels is for --task detect (segment compares INT8 with FP32)");
  }
  const double score_thr = a.get_double("score-threshold", 0.3);
  const double map_thr = a.get_double("map-score-threshold", 0.01);
  const double match_iou = a.get_double("match-iou", 0.5);
  dec.nms_iou = a.get_double("iou", 0.45);
  dec.class_agnostic = a.on("class-agnostic");
  dec.strides.clear();
  for (const std::string& s : a.get_list("strides")) {
    int v = 0;
    try {
      v = std::stoi(s);
    } catch (const std::exception&) {
    }
    OCTET_CHECK(v > 0, "--strides: '", s, "' is not a positive integer");
    dec.strides.push_back(v);
  }
  OCTET_CHECK(match_iou > 0 && match_iou <= 1, "--match-iou must be in (0, 1], got ", match_iou);
  OCTET_CHECK(dec.nms_iou > 0 && dec.nms_iou <= 1, "--iou must be in (0, 1], got ", dec.nms_iou);
  int64_t batch = a.get_int("batch", 8);
  OCTET_CHECK(batch > 0, "--batch must be positive");
  check_json_output(a);
  apply_threads(a);
  std::optional<LabelSource> labels;
  if (a.has("labels")) labels = open_labels(a.get("labels"));

  ModelSource model = load_model(a.positional()[0]);
  apply_shapes(model, a);
  std::vector<Side> sides;
  for (const auto& p : a.get_list("precision")) {
    OCTET_CHECK(p == "fp32" || p == "int8", "--precision: fp32 and/or int8, got '", p, "'");
    sides.push_back({p, make_plan(model, a, p), {}, {}});
  }
  OCTET_CHECK(!sides.empty(), "octet eval: --precision is empty");
  const bool compare = sides.size() == 2 && sides[0].precision == "fp32" && sides[1].precision == "int8";
  OCTET_CHECK(compare || labels, "octet eval --task ", task, ": nothing to measure -- pass --precision fp32,int8 ",
              "(INT8 against FP32)", detect ? " or --labels" : "");
  const int64_t fixed_batch = declared_batch(sides[0].plan->graph());
  if (fixed_batch > 0 && fixed_batch != batch) batch = fixed_batch;

  auto data = open_data(a, false);
  Batcher batcher(*data, preprocess_from_args(a), batch, input_chw(*sides[0].plan), a.on("skip-bad-images"));
  const Preprocess& pre = batcher.preprocess();
  Progress progress("eval", static_cast<int64_t>(data->size()), a.on("quiet"));
  const std::string out_name = sides[0].plan->graph().value(sides[0].plan->graph().outputs[0]).name;
  const double keep_thr = labels || compare ? std::min(score_thr, map_thr) : score_thr;
  dec.score_threshold = keep_thr;
  std::vector<std::vector<Box>> truths;
  MaskIoU mask;
  mask.threshold = static_cast<float>(a.get_double("mask-threshold", 0.3));
  int64_t seen = 0;
  while (int64_t n = batcher.next()) {
    Tensor x = n < batch && fixed_batch <= 0 ? batcher.batch().first(n) : batcher.batch();
    for (Side& side : sides) {
      auto outs = side.plan->run({x});
      const Tensor& y = outs[0];
      OCTET_CHECK(y.dtype() == DType::f32 && y.rank() >= 2 && y.dim(0) == x.dim(0), "octet eval: output '", out_name,
                  "' is ", shape_str(y.shape()), "; expected float32 with the batch (", x.dim(0), ") first");
      if (detect) {
        OCTET_CHECK(y.rank() == 3, "octet eval --decode ", head_name, ": output '", out_name, "' is ",
                    shape_str(y.shape()), "; expected N x ",
                    dec.head == DetectHead::yolov8 ? "(4 + classes) x anchors" : "anchors x (5 + classes)");
        dec.input_h = static_cast<int>(x.dim(2));
        dec.input_w = static_cast<int>(x.dim(3));
        const int64_t per = y.dim(1) * y.dim(2);
        for (int64_t i = 0; i < n; ++i)
          side.dets.push_back(decode_detections(y.data<float>() + i * per, y.dim(1), y.dim(2), dec));
      } else {
        // A probability map: N x 1 x H x W (or N x H x W). A classifier's N x classes is not one, and its "mask
        // IoU" would be a number that means nothing.
        OCTET_CHECK((y.rank() == 4 && y.dim(1) == 1) || y.rank() == 3, "octet eval --task segment --decode ",
                    head_name, ": output '", out_name, "' is ", shape_str(y.shape()),
                    "; expected a probability map N x 1 x H x W");
        side.out = y.clone();
      }
    }
    if (!detect && compare) {
      const Tensor& f = sides[0].out;
      const int64_t per = f.numel() / f.dim(0);
      mask.add(f.data<float>(), sides[1].out.data<float>(), n * per);
    }
    if (labels) {
      for (int64_t i = 0; i < n; ++i) {
        const std::string name = data->sample_name(batcher.indices()[static_cast<size_t>(i)]);
        const cv::Mat img = decode_image(name);
        truths.push_back(truth_for(*labels, name, img.rows, img.cols, pre.geometry(img.rows, img.cols)));
      }
    }
    seen += n;
    progress.update(static_cast<int64_t>(batcher.position()));
  }
  progress.finish();
  OCTET_CHECK(seen > 0, "octet eval: no images could be evaluated");

  nlohmann::json j = {{"task", task}, {"decode", head_name}, {"images", seen}};
  if (!detect) {
    std::printf("segment (%s), %lld images, mask > %g\n", head_name.c_str(), static_cast<long long>(seen),
                static_cast<double>(mask.threshold));
    std::printf("int8 vs fp32: mask IoU %.4f  (%lld / %lld pixels); mean |int8 - fp32| of the map %.5f\n", mask.iou(),
                static_cast<long long>(mask.intersection), static_cast<long long>(mask.union_), mask.mean_abs_diff());
    j["mask_threshold"] = mask.threshold;
    j["int8_vs_fp32"] = {{"mask_iou", mask.iou()}, {"mean_abs_diff", mask.mean_abs_diff()},
                         {"intersection", mask.intersection}, {"union", mask.union_}, {"pixels", mask.pixels}};
  } else {
    std::printf("detect (%s), %lld images: boxes with score > %g after NMS at IoU %g%s\n", head_name.c_str(),
                static_cast<long long>(seen), score_thr, dec.nms_iou, dec.class_agnostic ? " (class-agnostic)" : "");
    j["score_threshold"] = score_thr;
    j["nms_iou"] = dec.nms_iou;
    j["match_iou"] = match_iou;
    for (Side& side : sides) {
      std::vector<std::vector<Box>> kept;
      for (const auto& d : side.dets) kept.push_back(above(d, score_thr));
      nlohmann::json s = {{"detections", count(kept)}};
      std::printf("%-5s %zu boxes", side.precision.c_str(), count(kept));
      if (labels) {
        std::vector<std::vector<Box>> ranked;
        for (const auto& d : side.dets) ranked.push_back(above(d, map_thr));
        const double m50 = mean_average_precision(ranked, truths, 0.5);
        const double m5095 = mean_average_precision_50_95(ranked, truths);
        std::printf("; against the labels (%zu boxes): mAP@0.5 %.4f  mAP@0.5:0.95 %.4f", count(truths), m50, m5095);
        s["map50"] = m50;
        s["map50_95"] = m5095;
      }
      std::printf("\n");
      j[side.precision] = s;
    }
    if (compare) {
      BoxF1 f1;
      f1.iou = match_iou;
      std::vector<std::vector<Box>> ref, ranked;
      for (size_t i = 0; i < sides[0].dets.size(); ++i) {
        ref.push_back(above(sides[0].dets[i], score_thr));
        f1.add(above(sides[1].dets[i], score_thr), ref.back());
        ranked.push_back(above(sides[1].dets[i], map_thr));
      }
      const double map50 = mean_average_precision(ranked, ref, match_iou);
      std::printf("int8 vs fp32: box F1 %.4f at IoU %g (precision %.4f, recall %.4f); score drift of the %lld matched "
                  "boxes: mean |int8 - fp32| %.4f, mean int8 - fp32 %+.4f; AP@%g of INT8 against the FP32 boxes %.4f\n",
                  f1.f1(), match_iou, f1.precision(), f1.recall(), static_cast<long long>(f1.true_positives),
                  f1.mean_abs_score_drift(), f1.mean_score_drift(), match_iou, map50);
      j["int8_vs_fp32"] = {{"f1", f1.f1()}, {"precision", f1.precision()}, {"recall", f1.recall()},
                           {"matched", f1.true_positives}, {"mean_abs_score_drift", f1.mean_abs_score_drift()},
                           {"mean_score_drift", f1.mean_score_drift()}, {"map_vs_fp32", map50}};
    }
  }
  if (batcher.skipped()) std::printf("skipped %zu unreadable images\n", batcher.skipped());
  if (a.has("json")) write_json(a.get("json"), j);
  return 0;
}

}  // namespace octet::cli
