// Data sets (folders, IDX, .npy), shuffling/limits and the Batcher; real data when it is installed.
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "io/dataset.h"
#include "io/io_test_util.h"
#include "io/npy.h"
#include "test_util.h"

namespace octet {
namespace {

using test::TempDir;
namespace fs = std::filesystem;
using test::error_of;

void png(const std::string& path, int value, int h = 4, int w = 4) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, cv::Mat(h, w, CV_8UC1, cv::Scalar(value)))) << path;
}

TEST(IoDataset, LabelledFolderOrderAndNames) {
  TempDir dir;
  png(dir / "b/1.png", 1);
  png(dir / "a/z.png", 2);
  png(dir / "a/sub/y.PNG", 3);  // recursive inside a class, any case
  png(dir / "a-b/x.png", 4);
  png(dir / "a/.hidden.png", 5);
  test::write_file(dir / "a/notes.txt", "not an image");
  test::write_file(dir / "README", "ignored");
  auto ds = open_dataset(dir.str(), true);
  ASSERT_EQ(ds->class_names(), (std::vector<std::string>{"a", "a-b", "b"}));
  ASSERT_EQ(ds->size(), 4u);
  std::vector<std::string> names;
  std::vector<int> labels;
  for (size_t i = 0; i < ds->size(); ++i) {
    names.push_back(fs::path(ds->sample_name(i)).lexically_relative(dir.str()).string());
    labels.push_back(ds->label(i));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a/sub/y.PNG", "a/z.png", "a-b/x.png", "b/1.png"}));
  EXPECT_EQ(labels, (std::vector<int>{0, 0, 1, 2}));

  // Unlabelled: every image below, sorted component-wise (same order), no labels.
  auto flat = open_dataset(dir.str(), false);
  ASSERT_EQ(flat->size(), 4u);
  EXPECT_FALSE(flat->labelled());
  EXPECT_EQ(flat->label(0), -1);
  EXPECT_EQ(flat->sample_name(0), ds->sample_name(0));
  EXPECT_EQ(flat->sample_name(3), ds->sample_name(3));
}

TEST(IoDataset, FolderErrorsNameTheFolder) {
  TempDir dir;
  fs::create_directories(dir / "empty");
  std::string e = error_of([&] { open_dataset(dir / "empty", false); });
  EXPECT_NE(e.find(dir / "empty"), std::string::npos) << e;
  EXPECT_NE(e.find("no images"), std::string::npos) << e;

  png(dir / "flat/1.png", 1);
  png(dir / "flat/2.png", 2);
  e = error_of([&] { open_dataset(dir / "flat", true); });
  EXPECT_NE(e.find(dir / "flat"), std::string::npos) << e;
  EXPECT_NE(e.find("class sub-folders"), std::string::npos) << e;
  EXPECT_EQ(open_dataset(dir / "flat", false)->size(), 2u);

  png(dir / "mixed/cat/1.png", 1);
  png(dir / "mixed/loose.png", 1);
  e = error_of([&] { open_dataset(dir / "mixed", true); });
  EXPECT_NE(e.find("beside"), std::string::npos) << e;

  png(dir / "hole/cat/1.png", 1);
  fs::create_directories(dir / "hole/dog");
  e = error_of([&] { open_dataset(dir / "hole", true); });
  EXPECT_NE(e.find(dir / "hole/dog"), std::string::npos) << e;

  e = error_of([&] { open_dataset(dir / "nothing", false); });
  EXPECT_NE(e.find(dir / "nothing"), std::string::npos) << e;
  test::write_file(dir / "x.bin", "?");
  e = error_of([&] { open_dataset(dir / "x.bin", false); });
  EXPECT_NE(e.find(dir / "x.bin"), std::string::npos) << e;
}

TEST(IoDataset, ShuffleAndLimit) {
  TempDir dir;
  for (int i = 0; i < 10; ++i) png(dir / ("f/" + std::to_string(i) + ".png"), i);
  auto order = [&](DatasetOptions o) {
    auto ds = open_dataset(dir / "f", false, o);
    std::vector<std::string> v;
    for (size_t i = 0; i < ds->size(); ++i) v.push_back(fs::path(ds->sample_name(i)).filename().string());
    return v;
  };
  auto all = order({});
  EXPECT_EQ(all.front(), "0.png");
  EXPECT_EQ(order({false, 0, 3}), (std::vector<std::string>(all.begin(), all.begin() + 3)));
  auto s1 = order({true, 7, 0}), s2 = order({true, 7, 0}), s3 = order({true, 8, 0});
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, all);
  EXPECT_NE(s1, s3);
  std::sort(s1.begin(), s1.end());
  EXPECT_EQ(s1, all);
  auto l = order({true, 7, 4});
  EXPECT_EQ(l, (std::vector<std::string>(s2.begin(), s2.begin() + 4)));
  // skip: the rest of the same shuffle, then limit; --limit N and --skip N split the set in two.
  auto rest = order({true, 7, 0, 4});
  EXPECT_EQ(rest, (std::vector<std::string>(s2.begin() + 4, s2.end())));
  EXPECT_EQ(order({true, 7, 3, 4}), (std::vector<std::string>(s2.begin() + 4, s2.begin() + 7)));
  EXPECT_EQ(order({false, 0, 0, 9}), std::vector<std::string>{all.back()});
  const std::string err = error_of([&] { order({true, 7, 0, 10}); });
  EXPECT_NE(err.find("skipping 10 samples of '"), std::string::npos) << err;
  EXPECT_NE(err.find("leaves none: it has 10"), std::string::npos) << err;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// 5 images of 3 x 4 with pixel (n, y, x) = 50 n + 4 y + x, labels 2 0 1 2 0.
void write_idx(const TempDir& dir, bool gz = true, bool labels = true) {
  std::string img = be32(0x803) + be32(5) + be32(3) + be32(4), lab = be32(0x801) + be32(5);
  for (int n = 0; n < 5; ++n)
    for (int i = 0; i < 12; ++i) img += static_cast<char>(50 * n + i);
  for (int l : {2, 0, 1, 2, 0}) lab += static_cast<char>(l);
  if (gz) {
    write_gz(dir / "t10k-images-idx3-ubyte.gz", img);
    if (labels) write_gz(dir / "t10k-labels-idx1-ubyte.gz", lab);
  } else {
    test::write_file(dir / "t10k-images-idx3-ubyte", img);
    if (labels) test::write_file(dir / "t10k-labels-idx1-ubyte", lab);
  }
}

TEST(IoDataset, IdxGzByPrefixAndPath) {
  TempDir dir;
  write_idx(dir);
  for (std::string path : {dir / "t10k", dir / "t10k-images-idx3-ubyte.gz"}) {
    auto ds = open_dataset(path, true);
    ASSERT_EQ(ds->size(), 5u);
    EXPECT_EQ(ds->class_names().size(), 3u);
    EXPECT_EQ(ds->label(0), 2);
    EXPECT_EQ(ds->label(4), 0);
    Preprocess p;
    p.scale = 1.f;
    p = p.resolved({1, 3, 4});
    std::vector<float> out(12);
    ds->load(3, out.data(), p);
    for (int i = 0; i < 12; ++i) EXPECT_EQ(out[i], 150 + i);
    // The same samples through a 3-channel, resized pipeline.
    Preprocess q;
    q.interp = Interp::nearest;
    q = q.resolved({3, 6, 8});
    std::vector<float> big(3 * 48);
    ds->load(1, big.data(), q);
    EXPECT_FLOAT_EQ(big[2 * 48 + 8 + 2] * 255.f, 50 + 4 * 0 + 1);  // plane 2, row 1 -> src row 0, col 2 -> 1
  }
}

TEST(IoDataset, IdxErrors) {
  TempDir plain;
  write_idx(plain, false, false);
  auto ds = open_dataset(plain / "t10k", false);
  EXPECT_EQ(ds->size(), 5u);
  EXPECT_FALSE(ds->labelled());
  std::string e = error_of([&] { open_dataset(plain / "t10k", true); });
  EXPECT_NE(e.find("labels"), std::string::npos) << e;

  TempDir dir;
  std::string img = be32(0x803) + be32(1000) + be32(28) + be32(28) + std::string(100, '\0');
  write_gz(dir / "x-images-idx3-ubyte.gz", img);
  e = error_of([&] { open_dataset(dir / "x-images-idx3-ubyte.gz", false); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("x-images-idx3-ubyte.gz"), std::string::npos) << e;
  write_gz(dir / "y-images-idx3-ubyte.gz", be32(0x801) + be32(1) + be32(1) + be32(1));
  e = error_of([&] { open_dataset(dir / "y-images-idx3-ubyte.gz", false); });
  EXPECT_NE(e.find("magic"), std::string::npos) << e;
  // Huge declared counts fail on the data actually present, without allocating the declared size.
  write_gz(dir / "z-images-idx3-ubyte.gz", be32(0x803) + be32(0xffffffff) + be32(65536) + be32(65536));
  e = error_of([&] { open_dataset(dir / "z-images-idx3-ubyte.gz", false); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST(IoDataset, NpyAndSingleImage) {
  TempDir dir;
  Tensor t = test::random_f32({3, 2, 4, 5}, 1);
  write_npy(dir / "x.npy", t);
  auto ds = open_dataset(dir / "x.npy", false);
  ASSERT_EQ(ds->size(), 3u);
  Preprocess p = Preprocess{}.resolved({2, 4, 5});
  std::vector<float> out(40);
  ds->load(2, out.data(), p);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(out[i], t.data<float>()[80 + i]);
  EXPECT_THROW(ds->load(0, out.data(), Preprocess{}.resolved({2, 5, 4})), Error);

  png(dir / "one.png", 7);
  auto one = open_dataset(dir / "one.png", false);
  EXPECT_EQ(one->size(), 1u);
}

TEST(IoBatcher, BatchesPartialLastAndLabels) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) png(dir / ("c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".png"), 10 * i);
  auto ds = open_dataset(dir.str(), true);  // c0: 0 2 4, c1: 1 3
  Preprocess p;
  p.scale = 1.f;
  Batcher b(*ds, p, 2, {1, 4, 4});
  EXPECT_EQ(b.num_batches(), 3);
  std::vector<int64_t> counts;
  std::vector<float> firsts;
  std::vector<int> labels;
  while (int64_t n = b.next()) {
    counts.push_back(n);
    EXPECT_EQ(b.batch().shape(), (Shape{2, 1, 4, 4}));
    for (int64_t i = 0; i < n; ++i) firsts.push_back(b.batch().data<float>()[i * 16 + 15]);
    labels.insert(labels.end(), b.labels().begin(), b.labels().end());
    if (n < 2) {
      EXPECT_EQ(b.batch().data<float>()[16], 0.f);  // rows past the count are zero
    }
  }
  EXPECT_EQ(counts, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(firsts, (std::vector<float>{0, 20, 40, 10, 30}));
  EXPECT_EQ(labels, (std::vector<int>{0, 0, 0, 1, 1}));
  EXPECT_EQ(b.next(), 0);
  b.reset();
  EXPECT_EQ(b.next(), 2);
}

TEST(IoBatcher, SkipBad) {
  TempDir dir;
  png(dir / "0.png", 0);
  test::write_file(dir / "1.jpg", "corrupt");
  png(dir / "2.png", 20);
  test::write_file(dir / "3.png", "corrupt");
  png(dir / "4.png", 40);
  auto ds = open_dataset(dir.str(), false);
  Preprocess p;
  p.scale = 1.f;
  Batcher strict(*ds, p, 2, {1, 4, 4});
  std::string e = error_of([&] { strict.next(); });
  EXPECT_NE(e.find(dir / "1.jpg"), std::string::npos) << e;

  Batcher b(*ds, p, 2, {1, 4, 4}, /*skip_bad=*/true);
  ASSERT_EQ(b.next(), 2);
  EXPECT_EQ(b.indices(), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(b.batch().data<float>()[16], 20.f);
  ASSERT_EQ(b.next(), 1);
  EXPECT_EQ(b.indices(), (std::vector<size_t>{4}));
  EXPECT_EQ(b.batch().data<float>()[0], 40.f);
  EXPECT_EQ(b.next(), 0);
  EXPECT_EQ(b.skipped(), 2u);
}

TEST(IoRealData, FashionMnistT10k) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " not installed (apt-get install dataset-fashion-mnist)";
  auto ds = open_dataset(dir + "/t10k", true);
  ASSERT_EQ(ds->size(), 10000u);
  std::map<int, int> counts;
  for (size_t i = 0; i < ds->size(); ++i) ++counts[ds->label(i)];
  ASSERT_EQ(counts.size(), 10u);
  for (auto [label, n] : counts) EXPECT_EQ(n, 1000) << label;
  EXPECT_EQ(ds->class_names().front(), "T-shirt/top");
  EXPECT_EQ(ds->class_names().back(), "Ankle boot");
  Preprocess p;
  p.mean = {0.5f};
  p.std = {0.5f};
  Batcher b(*ds, p, 256, {1, 28, 28});
  int64_t total = 0;
  double sum = 0;
  while (int64_t n = b.next()) {
    total += n;
    const float* x = b.batch().data<float>();
    for (int64_t i = 0; i < n * 784; ++i) {
      ASSERT_GE(x[i], -1.f);
      ASSERT_LE(x[i], 1.f);
      sum += x[i];
    }
  }
  EXPECT_EQ(total, 10000);
  EXPECT_LT(sum / (10000.0 * 784), 0.f);  // mostly black background
}

TEST(IoRealData, ImagenetSamplesAt224) {
  std::string shared = test::shared_dir();
  if (shared.empty() || !fs::is_directory(shared + "/data/imagenet-samples"))
    GTEST_SKIP() << "shared/data/imagenet-samples not found (set OCTET_SHARED)";
  auto ds = open_dataset(shared + "/data/imagenet-samples", false);
  ASSERT_EQ(ds->size(), 105u);
  Preprocess p;
  p.resize = 256;
  p.mean = {.485f, .456f, .406f};
  p.std = {.229f, .224f, .225f};
  Batcher b(*ds, p, 16, {3, 224, 224});
  int64_t total = 0;
  while (int64_t n = b.next()) {
    total += n;
    const float* x = b.batch().data<float>();
    for (int64_t i = 0; i < n * 3 * 224 * 224; ++i) ASSERT_TRUE(std::isfinite(x[i]) && std::fabs(x[i]) < 3.f);
  }
  EXPECT_EQ(total, 105);
  EXPECT_EQ(b.skipped(), 0u);
}

}  // namespace
}  // namespace octet
