// Detector preprocessing: letterbox (YOLOX top-left, Ultralytics centred), PP-OCR's limit-side / multiple-of-32
// sizing for models of dynamic H x W, and batches of one size. The expected sizes and offsets are what the
// reference Python code computes (YOLOX `preproc`, Ultralytics `LetterBox`, PaddleOCR `DetResizeForTest`,
// evaluated with CPython and listed here); the pixels are compared with cv::resize / padding done by hand.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "io/dataset.h"
#include "io/image.h"

namespace octet {
namespace {

Preprocess letterbox(int h, int w, PadPlacement where) {
  Preprocess p;
  p.letterbox = true;
  p.height = h;
  p.width = w;
  p.pad_placement = where;
  p.scale = 1.f;
  return p.resolved({3, h, w});
}

Preprocess from_image(int limit, int multiple) {
  Preprocess p;
  p.limit_side = limit;
  p.multiple = multiple;
  p.scale = 1.f;
  return p.resolved({3, -1, -1});
}

TEST(IoLetterbox, GeometryMatchesYoloxAndUltralytics) {
  struct Case {
    int h, w, H, W;
    int yolox_h, yolox_w;          // int(h * r), int(w * r), at (0, 0)
    int ul_h, ul_w, ul_top, ul_left;  // round(h * r), round(w * r), round(dh / 2 - 0.1), round(dw / 2 - 0.1)
  };
  const Case cases[] = {
      {480, 640, 416, 416, 312, 416, 312, 416, 52, 0},   {335, 500, 640, 640, 428, 640, 429, 640, 105, 0},
      {481, 640, 640, 640, 481, 640, 481, 640, 79, 0},   {1080, 1920, 384, 640, 360, 640, 360, 640, 12, 0},
      {333, 777, 416, 416, 178, 416, 178, 416, 119, 0},  {640, 480, 416, 416, 416, 312, 416, 312, 0, 52},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w << " -> " << c.H << "x" << c.W);
    ImageGeometry y = letterbox(c.H, c.W, PadPlacement::topleft).geometry(c.h, c.w);
    EXPECT_EQ(y.resized_h, c.yolox_h);
    EXPECT_EQ(y.resized_w, c.yolox_w);
    EXPECT_EQ(y.top, 0);
    EXPECT_EQ(y.left, 0);
    EXPECT_EQ(y.out_h, c.H);
    EXPECT_EQ(y.out_w, c.W);
    ImageGeometry u = letterbox(c.H, c.W, PadPlacement::center).geometry(c.h, c.w);
    EXPECT_EQ(u.resized_h, c.ul_h);
    EXPECT_EQ(u.resized_w, c.ul_w);
    EXPECT_EQ(u.top, c.ul_top);
    EXPECT_EQ(u.left, c.ul_left);
  }
}

TEST(IoLetterbox, GeometryMatchesPaddleOcrLimitSide) {
  struct Case {
    int h, w, limit, multiple, out_h, out_w;
  };
  const Case cases[] = {
      {480, 640, 960, 32, 480, 640}, {1000, 1500, 960, 32, 640, 960}, {700, 1100, 960, 32, 608, 960},
      {80, 48, 0, 32, 64, 64},  // round(2.5) = 2 and round(1.5) = 2: half to even, as Python
      {10, 10, 0, 32, 32, 32},       {1234, 567, 736, 32, 736, 352}, {1234, 567, 736, 0, 736, 338},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w << " limit " << c.limit << " multiple " << c.multiple);
    Preprocess p = from_image(c.limit, c.multiple);
    EXPECT_TRUE(p.size_from_image());
    EXPECT_EQ(p.output_shape(c.h, c.w), (Shape{3, c.out_h, c.out_w}));
  }
  // A dynamic model without any size: each image keeps its own.
  Preprocess own = Preprocess{}.resolved({3, -1, -1});
  EXPECT_TRUE(own.size_from_image());
  EXPECT_EQ(own.output_shape(123, 45), (Shape{3, 123, 45}));
}

TEST(IoLetterbox, ResolveRefusesContradictions) {
  Preprocess a;
  a.limit_side = 960;
  EXPECT_THROW(a.resolved({3, 416, 416}), Error);  // fixed-size model: --letterbox or --size
  a.height = a.width = 480;
  EXPECT_THROW(a.resolved({3, -1, -1}), Error);
  Preprocess b;
  b.letterbox = true;
  EXPECT_THROW(b.resolved({3, -1, -1}), Error);  // dynamic model: the letterbox needs a size
  EXPECT_EQ(b.resolved({3, 416, 416}).height, 416);
  b.resize = 256;
  EXPECT_THROW(b.resolved({3, 416, 416}), Error);
  Preprocess c;
  c.letterbox = true;
  c.height = c.width = 320;
  EXPECT_THROW(c.resolved({3, 416, 416}), Error);
  EXPECT_EQ(pad_placement_from_name("topleft"), PadPlacement::topleft);
  EXPECT_THROW(pad_placement_from_name("bottom"), Error);
}

// A 3-channel image with distinct values per pixel and channel.
cv::Mat pattern(int h, int w) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(7 * y + x), uint8_t(3 * x + y), uint8_t(x * y));
  return m;
}

// The expected output, BGR planes, built with cv::resize and a hand-made pad.
std::vector<float> expected_letterbox(const cv::Mat& img, const ImageGeometry& g, float pad) {
  cv::Mat r;
  cv::resize(img, r, cv::Size(g.resized_w, g.resized_h), 0, 0, cv::INTER_LINEAR);
  std::vector<float> out(static_cast<size_t>(3 * g.out_h * g.out_w), pad);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < g.resized_h; ++y)
      for (int x = 0; x < g.resized_w; ++x)
        out[(static_cast<size_t>(c) * g.out_h + y + g.top) * g.out_w + x + g.left] = r.at<cv::Vec3b>(y, x)[c];
  return out;
}

TEST(IoLetterbox, PixelsArePlacedAndPadded) {
  cv::Mat img = pattern(30, 40);
  for (PadPlacement where : {PadPlacement::topleft, PadPlacement::center}) {
    Preprocess p = letterbox(32, 32, where);
    p.bgr = true;
    p.pad_value = 114.f;
    ImageGeometry g = p.geometry(img.rows, img.cols);
    EXPECT_EQ(g.resized_w, 32);
    EXPECT_EQ(g.resized_h, 24);
    EXPECT_EQ(g.top, where == PadPlacement::center ? 4 : 0);
    Tensor t = preprocess_image(img, p, "pattern");
    ASSERT_EQ(t.shape(), (Shape{3, 32, 32}));
    std::vector<float> want = expected_letterbox(img, g, 114.f);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(t.data<float>()[i], want[i]) << "at " << i;
  }
  // --scale 1 keeps raw 0-255 values; the pad value goes through scale, mean and std like a pixel.
  Preprocess q = letterbox(32, 32, PadPlacement::topleft);
  q.mean = {100.f};
  q.std = {2.f};
  Tensor t = preprocess_image(img, q, "pattern");
  EXPECT_FLOAT_EQ(t.data<float>()[31 * 32 + 31], (114.f - 100.f) / 2.f);
}

TEST(IoLetterbox, SizeFromImageResizesToMultiples) {
  cv::Mat img = pattern(50, 70);
  Preprocess p = from_image(0, 32);
  p.bgr = true;
  Tensor t = preprocess_image(img, p, "pattern");
  ASSERT_EQ(t.shape(), (Shape{3, 64, 64}));
  cv::Mat r;
  cv::resize(img, r, cv::Size(64, 64), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(t.data<float>()[64 * 64 + 10 * 64 + 20], r.at<cv::Vec3b>(10, 20)[1]);
}

TEST(IoLetterbox, BatchesHoldOneSize) {
  std::vector<Sample> s;
  const int sizes[][2] = {{32, 48}, {32, 48}, {64, 32}, {32, 48}, {32, 48}, {32, 48}};
  for (int i = 0; i < 6; ++i) s.push_back({"img" + std::to_string(i), pattern(sizes[i][0], sizes[i][1]), -1});
  ImageDataset ds(std::move(s), {}, "mem");
  Preprocess p;
  Batcher b(ds, p, 2, {3, -1, -1});
  std::vector<std::pair<int64_t, Shape>> got;
  while (int64_t n = b.next()) {
    got.emplace_back(n, b.batch().shape());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(b.indices()[static_cast<size_t>(i)], got.size() == 1 ? i : b.indices()[0] + i);
  }
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], (std::pair<int64_t, Shape>{2, {2, 3, 32, 48}}));
  EXPECT_EQ(got[1], (std::pair<int64_t, Shape>{1, {2, 3, 64, 32}}));
  EXPECT_EQ(got[2], (std::pair<int64_t, Shape>{2, {2, 3, 32, 48}}));
  EXPECT_EQ(got[3], (std::pair<int64_t, Shape>{1, {2, 3, 32, 48}}));
  b.reset();
  EXPECT_EQ(b.next(), 2);
}

// Each sample of a batch says where its image landed (the content box calibration keeps, calib/padding.h): with
// images of odd sizes and both aspects in one batch, every pixel outside the box is the padding and every pixel
// inside is image (values 200..250, never the pad value), top-left and centred.
TEST(IoLetterbox, BatcherGivesEachSampleItsContentBox) {
  std::vector<Sample> s;
  const int sizes[][2] = {{37, 53}, {53, 37}, {41, 41}, {30, 101}, {101, 29}};
  for (int i = 0; i < 5; ++i) {
    cv::Mat m(sizes[i][0], sizes[i][1], CV_8UC3);
    for (int y = 0; y < m.rows; ++y)
      for (int x = 0; x < m.cols; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(200 + (x + y) % 51), 225, 250);
    s.push_back({"img" + std::to_string(i), m, -1});
  }
  ImageDataset ds(std::move(s), {}, "mem");
  for (PadPlacement where : {PadPlacement::topleft, PadPlacement::center}) {
    SCOPED_TRACE(where == PadPlacement::topleft ? "topleft" : "center");
    Preprocess p = letterbox(33, 47, where);
    p.pad_value = 114.f;
    Batcher b(ds, p, 3, {3, 33, 47});
    size_t seen = 0;
    bool offset = false;
    while (int64_t n = b.next()) {
      ASSERT_EQ(b.geometries().size(), static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j, ++seen) {
        const ImageGeometry& g = b.geometries()[static_cast<size_t>(j)];
        const ImageGeometry want = p.geometry(sizes[seen][0], sizes[seen][1]);
        EXPECT_TRUE(g.letterboxed);
        EXPECT_EQ(g.top, want.top);
        EXPECT_EQ(g.left, want.left);
        EXPECT_EQ(g.resized_h, want.resized_h);
        EXPECT_EQ(g.resized_w, want.resized_w);
        offset = offset || g.top > 0 || g.left > 0;
        const float* px = b.batch().data<float>() + j * 3 * 33 * 47;
        int wrong = 0;
        for (int y = 0; y < 33; ++y)
          for (int x = 0; x < 47; ++x) {
            const bool in = y >= g.top && y < g.top + g.resized_h && x >= g.left && x < g.left + g.resized_w;
            wrong += in != (px[y * 47 + x] != 114.f);
          }
        EXPECT_EQ(wrong, 0) << "sample " << seen;
      }
    }
    EXPECT_EQ(seen, 5u);
    EXPECT_EQ(offset, where == PadPlacement::center);
  }
  Preprocess q;  // stretched: no letterbox, no box
  Batcher b(ds, q, 5, {3, 33, 47});
  ASSERT_EQ(b.next(), 5);
  for (const ImageGeometry& g : b.geometries()) EXPECT_FALSE(g.letterboxed);
}

}  // namespace
}  // namespace octet
