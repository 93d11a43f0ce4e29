// The calibration driver end to end on the repo's Fashion-MNIST model with synthetic data: the default
// two-pass mode gives byte-identical caches for any batch size and order; a matching cache skips getBatch;
// a mismatched header recalibrates; every calibrated tensor is named as in the ONNX graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "onnx/import.h"
#include "test_util.h"

using namespace octet;

namespace {

Graph fmnist() { return import_onnx_file(test::source_dir() + "/models/fmnist_cnn.onnx").graph; }

// 70 samples of 1x28x28 in [-0.8, 2.0], optionally permuted.
Tensor samples(bool shuffled) {
  Tensor t = test::random_f32({70, 1, 28, 28}, 42, -0.8f, 2.0f);
  if (!shuffled) return t;
  std::vector<int> perm(70);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
  Tensor s(DType::f32, t.shape());
  for (int i = 0; i < 70; ++i)
    std::copy_n(t.data<float>() + perm[static_cast<size_t>(i)] * 784, 784, s.data<float>() + i * 784);
  return s;
}

// Counts getBatch calls.
class Counting : public TensorCalibrator {
 public:
  using TensorCalibrator::TensorCalibrator;
  bool getBatch(void* b[], const char* n[], int nb) override {
    ++calls;
    return TensorCalibrator::getBatch(b, n, nb);
  }
  int calls = 0;
};

std::string calibrate_bytes(const Graph& g, int batch, bool shuffled, Algo algo = Algo::Entropy2) {
  TensorCalibrator c({{"input", samples(shuffled)}}, batch, "", algo);
  CalibOptions o;
  o.quiet = true;
  return calibrate(g, c, o).cache_bytes;
}

}  // namespace

TEST(CalibDriver, SameCacheForAnyBatchSizeAndOrder) {
  Graph g = fmnist();
  std::string ref = calibrate_bytes(g, 32, false);
  EXPECT_EQ(calibrate_bytes(g, 1, false), ref);
  EXPECT_EQ(calibrate_bytes(g, 7, false), ref);
  EXPECT_EQ(calibrate_bytes(g, 7, true), ref);
  EXPECT_EQ(ref.rfind("TRT-101300-EntropyCalibration2\n", 0), 0u);
}

TEST(CalibDriver, CalibratesEveryTensorByOnnxName) {
  Graph g = fmnist();
  TensorCalibrator c({{"input", samples(false)}}, 16, "", Algo::MinMax);
  CalibOptions o;
  o.quiet = true;
  CalibOutcome r = calibrate(g, c, o);
  auto names = calibrated_tensor_names(g);
  ASSERT_EQ(r.table.entries.size(), names.size());
  EXPECT_EQ(names.front(), "input");
  EXPECT_EQ(names.back(), "logits");
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(r.table.entries[i].name, names[i]);
    EXPECT_GT(r.table.entries[i].amax, 0.f) << names[i];
  }
  // minmax amax of the input is its absmax
  EXPECT_FLOAT_EQ(r.table.entries[0].amax, r.table.entries[0].stats.absmax());
  EXPECT_EQ(r.batches, 5);
  EXPECT_EQ(r.images, 70);
}

TEST(CalibDriver, MatchingCacheSkipsGetBatchAndMismatchRecalibrates) {
  Graph g = fmnist();
  std::string bytes = calibrate_bytes(g, 32, false);
  std::string dir = testing::TempDir();
  std::string path = dir + "/octet_calib_test.cache";
  write_file_atomic(path, bytes);
  {
    Counting c({{"input", samples(false)}}, 32, path, Algo::Entropy2);
    CalibOptions o;
    o.quiet = true;
    CalibOutcome r = calibrate(g, c, o);
    EXPECT_TRUE(r.from_cache);
    EXPECT_EQ(c.calls, 0);
    EXPECT_EQ(r.table.entries.size(), calibrated_tensor_names(g).size());
  }
  {
    // Same file, another algorithm: header mismatch -> calibrate again and say why.
    Counting c({{"input", samples(false)}}, 32, path, Algo::MinMax);
    CalibOptions o;
    o.quiet = true;
    CalibOutcome r = calibrate(g, c, o);
    EXPECT_FALSE(r.from_cache);
    EXPECT_GT(c.calls, 0);
    EXPECT_NE(r.note.find("ignored"), std::string::npos) << r.note;
    EXPECT_TRUE(c.wrote());
  }
}

TEST(CalibDriver, OnePassModeWhenCalibratorCannotRewind) {
  class NoRewind : public TensorCalibrator {
   public:
    using TensorCalibrator::TensorCalibrator;
    bool rewind() override { return false; }
  };
  Graph g = fmnist();
  NoRewind c({{"input", samples(false)}}, 10, "", Algo::Entropy2);
  CalibOptions o;
  o.quiet = true;
  CalibOutcome r = calibrate(g, c, o);
  EXPECT_EQ(r.table.hist_mode, HistMode::Growing);
  EXPECT_EQ(r.batches, 7);
}

TEST(CalibDriver, NoDataIsAnError) {
  class Empty : public TensorCalibrator {
   public:
    using TensorCalibrator::TensorCalibrator;
    bool getBatch(void**, const char**, int) override { return false; }
  };
  Graph g = fmnist();
  Empty c({{"input", samples(false)}}, 10, "", Algo::Entropy2);
  CalibOptions o;
  o.quiet = true;
  EXPECT_THROW(calibrate(g, c, o), Error);
}

namespace {

// Counts writeCalibrationCache calls and keeps what was written last.
class Recording : public TensorCalibrator {
 public:
  using TensorCalibrator::TensorCalibrator;
  void writeCalibrationCache(const void* data, size_t length) override {
    ++writes;
    last.assign(static_cast<const char*>(data), length);
  }
  int writes = 0;
  std::string last;
};

}  // namespace

TEST(CalibDriver, RefinementMovesThresholdsToRecordedCandidatesAndWritesOnce) {
  Graph g = fmnist();
  CalibOptions o;
  o.quiet = true;
  Recording plain({{"input", samples(false)}}, 16, "", Algo::Entropy2);
  CalibOutcome p = calibrate(g, plain, o);
  EXPECT_FALSE(p.refinement.ran);
  EXPECT_TRUE(p.refinement.skipped.empty());

  o.refine.samples = 20;
  o.expected_images = 70;
  Recording rc({{"input", samples(false)}}, 16, "", Algo::Entropy2);
  CalibOutcome r = calibrate(g, rc, o);
  ASSERT_TRUE(r.refinement.ran) << r.refinement.skipped;
  EXPECT_EQ(r.refinement.samples, 20);
  EXPECT_GE(r.refinement.sqnr_after_db, r.refinement.sqnr_before_db);
  EXPECT_GE(r.refinement.sweeps, 1);
  EXPECT_EQ(rc.writes, 1);  // the refined cache only, not the algorithm's first
  EXPECT_EQ(rc.last, r.cache_bytes);
  EXPECT_EQ(r.cache_bytes.substr(0, r.cache_bytes.find('\n')), p.cache_bytes.substr(0, p.cache_bytes.find('\n')));
  ASSERT_FALSE(r.refinement.changes.empty());
  // Exactly the listed tensors differ from the algorithm's thresholds, each now one of its recorded candidates.
  ASSERT_EQ(r.table.entries.size(), p.table.entries.size());
  size_t differing = 0;
  for (size_t i = 0; i < r.table.entries.size(); ++i) {
    const CalibEntry &re = r.table.entries[i], &pe = p.table.entries[i];
    ASSERT_EQ(re.name, pe.name);
    auto c = std::find_if(r.refinement.changes.begin(), r.refinement.changes.end(),
                          [&](const RefineChange& ch) { return ch.tensor == re.name; });
    if (re.amax == pe.amax) {
      EXPECT_TRUE(c == r.refinement.changes.end()) << re.name;
      continue;
    }
    ++differing;
    ASSERT_TRUE(c != r.refinement.changes.end()) << re.name;
    EXPECT_EQ(c->from, pe.amax);
    EXPECT_EQ(c->to, re.amax);
    bool is_candidate = false;
    for (const auto& [k, v] : re.candidates) is_candidate = is_candidate || std::fabs(v - re.amax) <= 1e-5f * v;
    EXPECT_TRUE(is_candidate) << re.name << " amax " << re.amax;
  }
  EXPECT_EQ(differing, r.refinement.changes.size());
}

TEST(CalibDriver, RefinementSamplesWithoutAKnownTotalAreSpreadAndBounded) {
  Graph g = fmnist();
  CalibOptions o;
  o.quiet = true;
  o.refine.samples = 8;  // 70 samples, total not given: every k-th, k doubling -> between 4 and 8 of them
  o.refine.max_sweeps = 1;
  Recording c({{"input", samples(false)}}, 16, "", Algo::Entropy2);
  CalibOutcome r = calibrate(g, c, o);
  ASSERT_TRUE(r.refinement.ran) << r.refinement.skipped;
  EXPECT_GE(r.refinement.samples, 4);
  EXPECT_LE(r.refinement.samples, 8);
  o.expected_images = 70;
  Recording c2({{"input", samples(false)}}, 16, "", Algo::Entropy2);
  EXPECT_EQ(calibrate(g, c2, o).refinement.samples, 8);
}
