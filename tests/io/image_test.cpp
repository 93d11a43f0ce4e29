// Image decoding and torchvision-style preprocessing: exact pixel values on small PNGs.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "io/image.h"
#include "io/io_test_util.h"

namespace octet {
namespace {

using test::TempDir;

Preprocess pp(int c, int h, int w) {
  Preprocess p;
  p.channels = c;
  p.height = h;
  p.width = w;
  return p.resolved({c, h, w});
}

std::vector<float> run(const std::string& path, const Preprocess& p) {
  std::vector<float> out(static_cast<size_t>(p.channels) * p.height * p.width, -99.f);
  load_image(path, out.data(), p);
  return out;
}

// A gray image with pixel (y, x) = 10 y + x.
cv::Mat ramp(int h, int w) {
  cv::Mat m(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = static_cast<uint8_t>(10 * y + x);
  return m;
}

TEST(IoImage, GrayReplicatedToThreeChannels) {
  TempDir dir;
  cv::Mat g = ramp(3, 4);
  ASSERT_TRUE(cv::imwrite(dir / "g.png", g));
  auto out = run(dir / "g.png", pp(3, 3, 4));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(out[(c * 3 + y) * 4 + x], (10 * y + x) / 255.f);
  auto one = run(dir / "g.png", pp(1, 3, 4));
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(one[i], g.data[i] / 255.f);
}

TEST(IoImage, ColourOrderAlphaAndGrayConversion) {
  TempDir dir;
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  ASSERT_TRUE(cv::imwrite(dir / "c.png", bgr));
  ASSERT_TRUE(cv::imwrite(dir / "a.png", bgra));
  for (const char* f : {"c.png", "a.png"}) {
    SCOPED_TRACE(f);
    auto rgb = run(dir / f, pp(3, 2, 2));
    EXPECT_FLOAT_EQ(rgb[0], 30 / 255.f);
    EXPECT_FLOAT_EQ(rgb[4], 20 / 255.f);
    EXPECT_FLOAT_EQ(rgb[8], 10 / 255.f);
    Preprocess b = pp(3, 2, 2);
    b.bgr = true;
    auto o = run(dir / f, b);
    EXPECT_FLOAT_EQ(o[0], 10 / 255.f);
    EXPECT_FLOAT_EQ(o[8], 30 / 255.f);
    cv::Mat g;
    cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
    auto gray = run(dir / f, pp(1, 2, 2));
    EXPECT_FLOAT_EQ(gray[3], g.at<uint8_t>(1, 1) / 255.f);
    EXPECT_NEAR(gray[3] * 255.f, 0.299 * 30 + 0.587 * 20 + 0.114 * 10, 0.51);
  }
}

TEST(IoImage, SixteenBitScalesToUnitRange) {
  TempDir dir;
  cv::Mat m(1, 3, CV_16UC1);
  m.at<uint16_t>(0, 0) = 0;
  m.at<uint16_t>(0, 1) = 257 * 100;
  m.at<uint16_t>(0, 2) = 65535;
  ASSERT_TRUE(cv::imwrite(dir / "d.png", m));
  ASSERT_EQ(decode_image(dir / "d.png").depth(), CV_16U);
  auto out = run(dir / "d.png", pp(1, 1, 3));
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_NEAR(out[1], 100 / 255.f, 1e-6);
  EXPECT_NEAR(out[2], 1.f, 1e-6);
}

TEST(IoImage, MeanStdNormalize) {
  TempDir dir;
  cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(0, 128, 255));
  ASSERT_TRUE(cv::imwrite(dir / "p.png", bgr));
  Preprocess p;
  p.mean = {.485f, .456f, .406f};
  p.std = {.229f, .224f, .225f};
  p = p.resolved({3, 1, 1});
  auto o = run(dir / "p.png", p);
  EXPECT_NEAR(o[0], (1.f - .485f) / .229f, 1e-5);
  EXPECT_NEAR(o[1], (128 / 255.f - .456f) / .224f, 1e-5);
  EXPECT_NEAR(o[2], (0.f - .406f) / .225f, 1e-5);
  Preprocess s;
  s.scale = 1.f;
  s.mean = {100.f};
  s.std = {2.f};
  s = s.resolved({1, 1, 1});
  EXPECT_NEAR(run(dir / "p.png", s)[0], ([&] {
                cv::Mat g;
                cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
                return (g.at<uint8_t>(0, 0) - 100.f) / 2.f;
              })(),
              1e-6);
}

TEST(IoImage, SizeOnlyResizesWholeImage) {
  TempDir dir;
  cv::Mat g = ramp(2, 2);
  ASSERT_TRUE(cv::imwrite(dir / "g.png", g));
  // Nearest: 2x2 -> 4x4 replicates each pixel into a 2x2 block.
  Preprocess n;
  n.interp = Interp::nearest;
  n = n.resolved({1, 4, 4});
  auto o = run(dir / "g.png", n);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(o[y * 4 + x] * 255.f, 10 * (y / 2) + x / 2);
  // Bilinear matches cv2.resize on the uint8 image exactly (aspect ratio not kept: 2x2 -> 3x5).
  cv::Mat ref;
  cv::resize(g, ref, cv::Size(5, 3), 0, 0, cv::INTER_LINEAR);
  auto b = run(dir / "g.png", pp(1, 3, 5));
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) EXPECT_FLOAT_EQ(b[y * 5 + x], ref.at<uint8_t>(y, x) / 255.f);
}

TEST(IoImage, ResizeShorterSideThenCenterCrop) {
  TempDir dir;
  // 6 x 8 (h x w), resize 3 -> 3 x 4 (nearest picks even rows/cols), crop 3x3: offset round(0.5) = 0.
  ASSERT_TRUE(cv::imwrite(dir / "r.png", ramp(6, 8)));
  Preprocess p;
  p.resize = 3;
  p.interp = Interp::nearest;
  p = p.resolved({1, 3, 3});
  auto o = run(dir / "r.png", p);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) EXPECT_FLOAT_EQ(o[y * 3 + x] * 255.f, 20 * y + 2 * x) << y << "," << x;

  // No resize needed (shorter side already 10), crop 7 of 10: offset round(1.5) = 2 (half to even).
  ASSERT_TRUE(cv::imwrite(dir / "s.png", ramp(10, 10)));
  Preprocess q;
  q.resize = 10;
  q = q.resolved({1, 7, 7});
  auto c = run(dir / "s.png", q);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 7; ++x) EXPECT_FLOAT_EQ(c[y * 7 + x] * 255.f, 10 * (y + 2) + x + 2);
  // Crop 5 of 10: offset round(2.5) = 2.
  q.height = q.width = 5;
  auto d = run(dir / "s.png", q);
  EXPECT_FLOAT_EQ(d[0] * 255.f, 22);

  // Portrait 7 x 5, resize 4: width 4, height int(4 * 7 / 5) = 5; crop 4 x 4 offset round(0.5) = 0.
  cv::Mat tall = ramp(7, 5);
  ASSERT_TRUE(cv::imwrite(dir / "t.png", tall));
  cv::Mat r;
  cv::resize(tall, r, cv::Size(4, 5), 0, 0, cv::INTER_LINEAR);
  Preprocess t;
  t.resize = 4;
  t = t.resolved({1, 4, 4});
  auto e = run(dir / "t.png", t);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(e[y * 4 + x], r.at<uint8_t>(y, x) / 255.f);
}

TEST(IoImage, CropLargerThanImagePadsWithZeros) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite(dir / "g.png", cv::Mat(2, 2, CV_8UC1, cv::Scalar(255))));
  Preprocess p;
  p.resize = 2;
  p.mean = {0.5f};
  p = p.resolved({1, 4, 4});
  auto o = run(dir / "g.png", p);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      bool inside = y >= 1 && y < 3 && x >= 1 && x < 3;
      EXPECT_FLOAT_EQ(o[y * 4 + x], inside ? 0.5f : -0.5f) << y << "," << x;
    }
}

TEST(IoImage, BadFilesNameTheFile) {
  TempDir dir;
  test::write_file(dir / "bad.png", "\x89PNG\r\n\x1a\n this is not a png");
  test::write_file(dir / "empty.jpg", "");
  Preprocess p = pp(3, 4, 4);
  for (const char* f : {"bad.png", "empty.jpg", "missing.jpg"}) {
    std::vector<float> out(48);
    try {
      load_image(dir / f, out.data(), p);
      ADD_FAILURE() << "no error for " << f;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir / f), std::string::npos) << e.what();
    }
  }
}

TEST(IoImage, ResolveChecksAgainstTheModel) {
  Preprocess p;
  EXPECT_EQ(p.resolved({3, 224, 224}).output_shape(), (Shape{3, 224, 224}));
  EXPECT_EQ(p.resolved({1, 28, 28}).channels, 1);
  p.channels = 1;  // --gray
  EXPECT_THROW(p.resolved({3, 224, 224}), Error);
  Preprocess m;
  m.mean = {1, 2};
  EXPECT_THROW(m.resolved({3, 8, 8}), Error);
  Preprocess s;
  s.std = {0.f};
  EXPECT_THROW(s.resolved({3, 8, 8}), Error);
  Preprocess d;
  EXPECT_TRUE(d.resolved({3, -1, -1}).size_from_image());  // dynamic model, no size: each image's own
  EXPECT_THROW(d.resolved({3, -1, 32}), Error);
  d.height = d.width = 32;
  EXPECT_EQ(d.resolved({3, -1, -1}).height, 32);
  EXPECT_THROW(d.resolved({3, 224, 224}), Error);
  EXPECT_EQ(interp_from_name("bicubic"), Interp::cubic);
  EXPECT_THROW(interp_from_name("lanczos"), Error);
}

}  // namespace
}  // namespace octet
