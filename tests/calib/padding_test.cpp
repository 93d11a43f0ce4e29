// Calibration without the letterbox padding (calib/padding.h): which maps relate to the input and at what
// stride, which cells of a map a content box keeps, and calibrate() on a hand-built model whose padded region
// holds huge values: with exclude_padding the statistics and histograms of every mapped tensor ignore them, with
// include (or for a tensor that does not map) they do not; the result stays independent of batch size and order
// with samples of different boxes in one batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "calib/padding.h"
#include "calib/session.h"
#include "io/dataset.h"
#include "test_util.h"

using namespace octet;

namespace {

TEST(CalibPadding, MapStrideIsTheCeilStrideOfBothAxes) {
  // 416 x 416: strides 1, 2 (Focus), 8, 16, 32 (and an upsampled 26 x 26 is stride 16 like any other).
  for (int64_t s : {1, 2, 4, 8, 16, 32}) EXPECT_EQ(map_stride(416, 416, 416 / s, 416 / s), s);
  // Odd input: each conv of padding k/2 rounds up: 417 -> 209 -> 105 -> 53 -> 27 -> 14.
  EXPECT_EQ(map_stride(417, 417, 209, 209), 2);
  EXPECT_EQ(map_stride(417, 417, 105, 105), 4);
  EXPECT_EQ(map_stride(417, 417, 53, 53), 8);
  EXPECT_EQ(map_stride(417, 417, 27, 27), 16);
  EXPECT_EQ(map_stride(417, 417, 14, 14), 32);  // not 30 (also ceil(417 / 30) = 14): a power of two first
  EXPECT_EQ(map_stride(384, 640, 12, 20), 32);  // not square
  // Not maps of the input: global pools, other aspect, larger than the input, a flattened head's 3549.
  EXPECT_FALSE(map_stride(416, 416, 1, 1));
  EXPECT_FALSE(map_stride(416, 416, 13, 26));
  EXPECT_FALSE(map_stride(416, 416, 832, 832));
  EXPECT_FALSE(map_stride(416, 416, 3549, 6));
  EXPECT_FALSE(map_stride(0, 0, 13, 13));
}

TEST(CalibPadding, CellsWhoseCentreLiesInTheBoxAreKept) {
  // YOLOX: 640 x 480 in 416 x 416, image rows [0, 312) at the top left.
  ContentBox yolox{416, 416, 0, 0, 312, 416};
  ASSERT_TRUE(yolox.padded());
  auto w1 = content_window(yolox, 416, 416);
  ASSERT_TRUE(w1);
  EXPECT_EQ(w1->y0, 0);
  EXPECT_EQ(w1->y1, 312);
  EXPECT_EQ(w1->x1, 416);
  EXPECT_EQ(content_window(yolox, 52, 52)->y1, 39);  // 312 / 8 exactly
  auto w32 = content_window(yolox, 13, 13);          // 312 ends 3/4 into cell 9 (rows 288..319): kept
  EXPECT_EQ(w32->stride, 32);
  EXPECT_EQ(w32->y1, 10);
  EXPECT_EQ(w32->x1, 13);
  // 16: 312 / 16 = 19.5, cell 19 is exactly half image: its centre (19.5 * 16 = 312) is on the border, kept.
  EXPECT_EQ(content_window(yolox, 26, 26)->y1, 20);
  // A centred box (Ultralytics): rows [52, 364): at stride 32 cells 1..11 (centres 48 .. 368: 48 < 52 out, 368 > 364 out).
  ContentBox centred{416, 416, 52, 0, 312, 416};
  auto c32 = content_window(centred, 13, 13);
  EXPECT_EQ(c32->y0, 2);
  EXPECT_EQ(c32->y1, 11);
  auto c8 = content_window(centred, 52, 52);
  EXPECT_EQ(c8->y0, 6);  // centre 6.5 * 8 = 52: on the border, kept
  EXPECT_EQ(c8->y1, 46);  // centre 45.5 * 8 = 364: on the border, kept
  // A box no centre falls in keeps the cell holding its middle.
  ContentBox thin{416, 416, 0, 0, 10, 416};
  auto t32 = content_window(thin, 13, 13);
  EXPECT_EQ(t32->y0, 0);
  EXPECT_EQ(t32->y1, 1);
  // No padding: nothing to leave out.
  EXPECT_FALSE((ContentBox{416, 416, 0, 0, 416, 416}.padded()));
  EXPECT_FALSE(ContentBox{}.padded());
}

TEST(CalibPadding, ContentValuesAreTheSameInBothLayouts) {
  const int64_t n = 2, c = 3, h = 5, w = 7;
  ContentBox box{33, 49, 8, 8, 16, 24};  // stride 8 (ceil): 33 -> 5, 49 -> 7
  ASSERT_EQ(map_stride(33, 49, h, w), 8);
  Tensor nchw = test::random_f32({n, c, h, w}, 5);
  Tensor nhwc(DType::f32, {n, h, w, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          nhwc.data<float>()[((b * h + y) * w + x) * c + k] = nchw.data<float>()[((b * c + k) * h + y) * w + x];
  std::vector<float> a, b2;
  ASSERT_TRUE(content_values(nchw, false, box, a));
  ASSERT_TRUE(content_values(nhwc, true, box, b2));
  auto win = content_window(box, h, w);
  // rows: centres 4, 12, 20, 28, 36 in [8, 24]: rows 1..2; columns: centres 4 .. 52 in [8, 32]: columns 1..3
  EXPECT_EQ(win->y0, 1);
  EXPECT_EQ(win->y1, 3);
  EXPECT_EQ(win->x0, 1);
  EXPECT_EQ(win->x1, 4);
  ASSERT_EQ(a.size(), static_cast<size_t>(n * c * 2 * 3));
  std::vector<float> expect;
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 1; y < 3; ++y)
      for (int64_t x = 1; x < 4; ++x) expect.push_back(nchw.data<float>()[(p * h + y) * w + x]);
  EXPECT_EQ(a, expect);
  std::sort(a.begin(), a.end());
  std::sort(b2.begin(), b2.end());
  EXPECT_EQ(a, b2);
  // A tensor that does not map, or a box without padding: nothing gathered.
  std::vector<float> none;
  EXPECT_FALSE(content_values(test::random_f32({1, 3, 1, 1}, 1), false, box, none));
  EXPECT_FALSE(content_values(test::random_f32({1, 3, 5}, 1), false, box, none));
  EXPECT_FALSE(content_values(nchw, false, ContentBox{33, 49, 0, 0, 33, 49}, none));
  EXPECT_TRUE(none.empty());
}

// A 32 x 48 one-channel input: x (stride 1) -> Relu r (1) -> AveragePool 2x2/2 p2 (2) -> MaxPool 8x8/8 p8 (8);
// GlobalAveragePool g of r (1 x 1: does not map) and Flatten f of r (rank 2: does not map).
Graph pool_model() {
  Graph g;
  const int x = g.add_value("x");
  g.value(x).declared = {Dim{-1, "N"}, Dim{1, ""}, Dim{32, ""}, Dim{48, ""}};
  g.value(x).has_declared_shape = true;
  g.inputs = {x};
  auto node = [&](OpType op, const std::string& name, int in, const std::string& out) {
    Node n;
    n.op = op;
    n.name = name;
    n.inputs = {in};
    n.outputs = {g.add_value(out)};
    g.nodes.push_back(n);
    return n.outputs[0];
  };
  const int r = node(OpType::Relu, "relu", x, "r");
  const int p2 = node(OpType::AveragePool, "pool2", r, "p2");
  g.nodes.back().attrs["kernel_shape"] = attr_ints({2, 2});
  g.nodes.back().attrs["strides"] = attr_ints({2, 2});
  const int p8 = node(OpType::MaxPool, "pool8", p2, "p8");
  g.nodes.back().attrs["kernel_shape"] = attr_ints({4, 4});
  g.nodes.back().attrs["strides"] = attr_ints({4, 4});
  const int gp = node(OpType::GlobalAveragePool, "gap", r, "g");
  const int f = node(OpType::Flatten, "flatten", r, "f");
  g.outputs = {p8, gp, f};
  g.finalize();
  return g;
}

// Samples of [0.1, 1] inside their box and 1000 in the padding; boxes aligned to 8 pixels.
struct Boxed {
  Tensor data;
  std::vector<ContentBox> boxes;
};
Boxed boxed_samples() {
  const std::vector<ContentBox> kinds = {
      {32, 48, 0, 0, 24, 48},   // top-left, padding at the bottom (a wide image)
      {32, 48, 0, 8, 32, 32},   // centred, padding left and right (a tall image)
      {32, 48, 8, 0, 16, 48},   // centred, padding above and below
      {32, 48, 0, 0, 32, 48},   // no padding
  };
  Boxed s;
  s.data = test::random_f32({12, 1, 32, 48}, 11, 0.1f, 1.f);
  for (int i = 0; i < 12; ++i) {
    const ContentBox& b = kinds[static_cast<size_t>(i * 7 % 4)];
    s.boxes.push_back(b);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 48; ++x)
        if (y < b.top || y >= b.top + b.height || x < b.left || x >= b.left + b.width)
          s.data.data<float>()[(i * 32 + y) * 48 + x] = 1000.f;
  }
  return s;
}

// Feeds `data` in `order` with each sample's box (a calibrator of letterboxed images, as DatasetCalibrator).
class BoxCalibrator : public Calibrator, public ContentBoxSource {
 public:
  BoxCalibrator(const Boxed& s, std::vector<int> order, int batch, Algo algo)
      : s_(s), order_(std::move(order)), batch_(batch), algo_(algo),
        buf_(static_cast<size_t>(batch) * 32 * 48) {}
  int batchSize() const override { return batch_; }
  bool getBatch(void* b[], const char*[], int) override {
    if (pos_ >= order_.size()) return false;
    last_.clear();
    const size_t n = std::min(order_.size() - pos_, static_cast<size_t>(batch_));
    for (size_t j = 0; j < n; ++j) {
      const int i = order_[pos_ + j];
      std::memcpy(buf_.data() + j * 32 * 48, s_.data.data<float>() + i * 32 * 48, 32 * 48 * sizeof(float));
      last_.push_back(s_.boxes[static_cast<size_t>(i)]);
    }
    pos_ += n;
    if (n < static_cast<size_t>(batch_)) setLastBatchSize(static_cast<int>(n));
    b[0] = buf_.data();
    return true;
  }
  bool rewind() override {
    pos_ = 0;
    return true;
  }
  std::string algorithm() const override { return algo_name(algo_); }
  std::vector<ContentBox> batch_content_boxes() const override { return last_; }

 private:
  const Boxed& s_;
  std::vector<int> order_;
  int batch_;
  Algo algo_;
  std::vector<float> buf_;
  std::vector<ContentBox> last_;
  size_t pos_ = 0;
};

CalibOutcome run(const Boxed& s, bool exclude, Algo algo = Algo::MinMax, int batch = 4, bool reversed = false,
                 const std::string& backend = "cpu", bool one_pass = false) {
  std::vector<int> order(12);
  for (int i = 0; i < 12; ++i) order[static_cast<size_t>(i)] = reversed ? 11 - i : i;
  BoxCalibrator c(s, order, batch, algo);
  CalibOptions o;
  o.quiet = true;
  o.exclude_padding = exclude;
  o.backend = backend;
  o.one_pass = one_pass;
  return calibrate(pool_model(), c, o);
}

const CalibEntry& entry(const CalibOutcome& r, const std::string& name) {
  const CalibEntry* e = r.table.find(name);
  if (!e) throw std::runtime_error("no entry " + name);
  return *e;
}

TEST(CalibPadding, ExcludeLeavesThePaddedPositionsOutOfEveryMappedTensor) {
  const Boxed s = boxed_samples();
  // Kept positions per sample at strides 1, 2, 8 (boxes aligned to 8: whole cells).
  uint64_t k1 = 0, k2 = 0, k8 = 0;
  for (const ContentBox& b : s.boxes) {
    const uint64_t px = static_cast<uint64_t>(b.height * b.width);
    k1 += px;
    k2 += px / 4;
    k8 += px / 64;
  }
  for (const std::string backend : {"cpu", "ref"}) {
    SCOPED_TRACE(backend);
    CalibOutcome ex = run(s, true, Algo::MinMax, 4, false, backend);
    EXPECT_EQ(ex.padding.padded_samples, 9);
    EXPECT_EQ(ex.padding.masked_tensors, 4);  // x, r, p2, p8
    for (const char* name : {"x", "r", "p2", "p8"}) {
      SCOPED_TRACE(name);
      EXPECT_LE(entry(ex, name).stats.max, 1.f);
      EXPECT_LE(entry(ex, name).amax, 1.f);
    }
    EXPECT_EQ(entry(ex, "x").stats.count, k1);
    EXPECT_EQ(entry(ex, "r").stats.count, k1);
    EXPECT_EQ(entry(ex, "p2").stats.count, k2);
    EXPECT_EQ(entry(ex, "p8").stats.count, k8);
    // Tensors that do not map keep every value, padding included.
    EXPECT_EQ(entry(ex, "f").stats.count, 12u * 32 * 48);
    EXPECT_EQ(entry(ex, "f").amax, 1000.f);
    EXPECT_EQ(entry(ex, "g").stats.count, 12u);
    EXPECT_GT(entry(ex, "g").amax, 100.f);

    CalibOutcome in = run(s, false, Algo::MinMax, 4, false, backend);
    EXPECT_EQ(in.padding.padded_samples, 9);
    EXPECT_EQ(in.padding.masked_tensors, 0);
    for (const char* name : {"x", "r", "p2", "p8", "f"}) EXPECT_EQ(entry(in, name).amax, 1000.f) << name;
    EXPECT_EQ(entry(in, "p2").stats.count, 12u * 16 * 24);
    EXPECT_EQ(entry(in, "g").amax, entry(ex, "g").amax);
  }
}

TEST(CalibPadding, EveryAlgorithmSeesOnlyTheContent) {
  const Boxed s = boxed_samples();
  for (Algo a : {Algo::Entropy2, Algo::Entropy, Algo::Mse, Algo::Percentile, Algo::MinMax}) {
    SCOPED_TRACE(algo_name(a));
    CalibOutcome ex = run(s, true, a, 6);
    for (const char* name : {"r", "p2", "p8"}) EXPECT_LE(entry(ex, name).amax, 1.f) << name;
  }
  // One-pass (TensorRT's growing histograms) too; with the padding, a tail at 1000 that minmax keeps.
  EXPECT_LE(entry(run(s, true, Algo::Entropy2, 6, false, "cpu", true), "p8").amax, 1.f);
  EXPECT_EQ(entry(run(s, false, Algo::MinMax, 6, false, "cpu", true), "p8").amax, 1000.f);
}

TEST(CalibPadding, SameCacheForAnyBatchSizeAndOrderWithMixedBoxes) {
  const Boxed s = boxed_samples();
  const std::string ref = run(s, true, Algo::Entropy2, 4).cache_bytes;
  EXPECT_EQ(run(s, true, Algo::Entropy2, 1).cache_bytes, ref);
  EXPECT_EQ(run(s, true, Algo::Entropy2, 5, true).cache_bytes, ref);
  EXPECT_NE(run(s, false, Algo::Entropy2, 4).cache_bytes, ref);
}

// The session (shards, Python) given the same boxes observes what calibrate() does; a box that does not fit the input
// is an error naming it.
// Samples b .. b+n-1 of t (a copy).
Tensor rows(const Tensor& t, int64_t b, int64_t n) {
  Tensor r(DType::f32, {n, t.dim(1), t.dim(2), t.dim(3)});
  std::memcpy(r.raw(), t.data<float>() + b * (t.numel() / t.dim(0)), r.nbytes());
  return r;
}

TEST(CalibPadding, SessionWithBoxesMatchesCalibrate) {
  const Boxed s = boxed_samples();
  const CalibOutcome want = run(s, true, Algo::Entropy2, 4);
  CalibSessionOptions so;
  CalibSession session(pool_model(), so);
  for (int pass = 0; pass < 2; ++pass) {
    if (pass) session.next_pass();
    for (int b = 0; b < 12; b += 6)
      session.observe({rows(s.data, b, 6)},
                      std::vector<ContentBox>(s.boxes.begin() + b, s.boxes.begin() + b + 6));
  }
  EXPECT_EQ(session.finish(), want.cache_bytes);
  CalibSession plain(pool_model(), so);
  plain.observe({rows(s.data, 0, 6)});  // no boxes: every value, as before
  EXPECT_EQ(plain.observer(1).stats().max, 1000.f);

  CalibSession bad(pool_model(), so);
  std::vector<ContentBox> boxes(6, ContentBox{32, 40, 0, 0, 16, 40});
  try {
    bad.observe({rows(s.data, 0, 6)}, boxes);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("content box is for a 32x40 input, but input 'x' is 1x1x32x48"),
              std::string::npos) << e.what();
  }
  boxes.assign(6, ContentBox{32, 48, 20, 0, 16, 48});
  EXPECT_THROW(bad.observe({rows(s.data, 0, 6)}, boxes), Error);
}

// octet's data-set calibrator knows each letterboxed sample's box (the Batcher's geometry), top-left and centred.
TEST(CalibPadding, DatasetCalibratorGivesEachSampleItsBox) {
  std::vector<Sample> samples;
  const int sizes[][2] = {{37, 53}, {53, 37}, {41, 41}, {30, 101}};
  for (const auto& hw : sizes) samples.push_back({"img" + std::to_string(hw[0]) + "x" + std::to_string(hw[1]),
                                                  cv::Mat(hw[0], hw[1], CV_8UC3, cv::Scalar(200, 200, 200)), -1});
  ImageDataset ds(samples, {}, "memory");
  for (PadPlacement where : {PadPlacement::topleft, PadPlacement::center}) {
    Preprocess p;
    p.letterbox = true;
    p.height = 33;
    p.width = 47;
    p.pad_placement = where;
    DatasetCalibrator c(ds, p, 3, {3, 33, 47}, "", Algo::Entropy2);
    void* b[1];
    const char* names[1] = {"x"};
    std::vector<ContentBox> all;
    while (c.getBatch(b, names, 1))
      for (const ContentBox& box : c.batch_content_boxes()) all.push_back(box);
    ASSERT_EQ(all.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      const ImageGeometry g = p.resolved({3, 33, 47}).geometry(sizes[i][0], sizes[i][1]);
      EXPECT_EQ(all[i].in_h, 33);
      EXPECT_EQ(all[i].in_w, 47);
      EXPECT_EQ(all[i].top, g.top);
      EXPECT_EQ(all[i].left, g.left);
      EXPECT_EQ(all[i].height, g.resized_h);
      EXPECT_EQ(all[i].width, g.resized_w);
      EXPECT_EQ(all[i].padded(), g.resized_h < 33 || g.resized_w < 47);  // 37 x 53 centred: 33 x 47, no padding
    }
    int64_t offsets = 0;
    for (const ContentBox& box : all) offsets += box.top + box.left;
    if (where == PadPlacement::topleft)
      EXPECT_EQ(offsets, 0);
    else
      EXPECT_GT(offsets, 0);
  }
  // Not letterboxed: no boxes with padding.
  Preprocess q;
  q.height = 33;
  q.width = 47;
  DatasetCalibrator c(ds, q, 4, {3, 33, 47}, "", Algo::Entropy2);
  void* b[1];
  const char* names[1] = {"x"};
  ASSERT_TRUE(c.getBatch(b, names, 1));
  for (const ContentBox& box : c.batch_content_boxes()) EXPECT_FALSE(box.padded());
}

}  // namespace
