// The calibration driver end to end on the repo's Fashion-MNIST model with synthetic data: the default
// two-pass mode gives byte-identical caches for any batch size and order; a matching cache skips getBatch;
// a mismatched header recalibrates; every calibrated tensor is named as in the ONNX graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "core/file_io.h"
#include "io/dataset.h"
#include "onnx/import.h"
#include "runtime/plan.h"
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

// --- issue 17 -----------------------------------------------------------------------------------------------

namespace {

// 90 random 28x28 8-bit images as an IDX file (octet's own data set reader, which --shuffle applies to).
std::string write_idx(const std::string& name) {
  std::string path = testing::TempDir() + "/" + name + "-images-idx3-ubyte";
  std::string bytes = {0, 0, 8, 3, 0, 0, 0, 90, 0, 0, 0, 28, 0, 0, 0, 28};
  std::mt19937 rng(3);
  for (int i = 0; i < 90 * 784; ++i) bytes.push_back(static_cast<char>(rng() % 256));
  write_file_atomic(path, bytes);
  return path;
}

std::string calibrate_idx(const Graph& g, const std::string& idx, bool shuffle, int batch) {
  DatasetOptions dopt;
  dopt.shuffle = shuffle;
  dopt.seed = 5;
  auto ds = open_dataset(idx, false, dopt);
  Preprocess p;
  DatasetCalibrator c(*ds, p, batch, {1, 28, 28}, "", Algo::Entropy2);
  CalibOptions o;
  o.quiet = true;
  o.refine.samples = 10;
  o.refine.max_sweeps = 1;
  o.expected_images = static_cast<int64_t>(ds->size());
  CalibOutcome r = calibrate(g, c, o);
  EXPECT_TRUE(r.refinement.ran) << r.refinement.skipped;
  return r.cache_bytes;
}

}  // namespace

// A model output that declares a fixed first dimension while the batch is free (here a mean over the batch,
// [1, 10]) is not one row per sample: the calibration pass (one sample at a time) cannot stand for its batched
// FP32 run, so the refinement computes its FP32 outputs itself (calib/calibrate.cpp) and runs; taking the pass's
// outputs would give it a [8, 10] reference for a [1, 10] output, which it refuses (refinement skipped).
TEST(CalibDriver, RefinementRunsFp32ItselfWhenAnOutputDeclaresAFixedFirstDimension) {
  Graph g = fmnist();
  const int logits = g.outputs.at(0);
  const int mean = g.add_value("batch_mean");
  g.value(mean).declared = {Dim{1, ""}, Dim{10, ""}};
  g.value(mean).has_declared_shape = true;
  Node n;
  n.op = OpType::ReduceMean;
  n.name = "batch_mean_node";
  n.inputs = {logits};
  n.outputs = {mean};
  n.attrs["axes"] = attr_ints({0});
  n.attrs["keepdims"] = attr_i(1);
  g.nodes.push_back(n);
  g.outputs = {logits, mean};
  g.finalize();
  CalibOptions o;
  o.quiet = true;
  o.refine.samples = 16;
  o.refine.max_sweeps = 1;
  o.expected_images = 70;
  TensorCalibrator c({{"input", samples(false)}}, 16, "", Algo::Entropy2);
  CalibOutcome r = calibrate(g, c, o);
  ASSERT_TRUE(r.refinement.ran) << r.refinement.skipped;
  EXPECT_EQ(r.refinement.samples, 16);
  EXPECT_GT(r.refinement.trials, 0);
}

TEST(CalibDriver, RefinedCacheDoesNotDependOnShuffleOrBatchForOctetDataSets) {
  Graph g = fmnist();
  const std::string idx = write_idx("octet_shuffle_test");
  const std::string ref = calibrate_idx(g, idx, false, 32);
  EXPECT_EQ(calibrate_idx(g, idx, true, 32), ref);
  EXPECT_EQ(calibrate_idx(g, idx, true, 7), ref);
  EXPECT_EQ(calibrate_idx(g, idx, false, 7), ref);
}

TEST(CalibDriver, ExistingCacheThatCannotStandForTheModelIsRecalibratedAndKept) {
  Graph g = fmnist();
  const std::string good = calibrate_bytes(g, 32, false);
  const std::string path = testing::TempDir() + "/octet_stale_test.cache";
  const std::string nan_cache = [&] {
    std::string s = good;
    size_t at = s.find("/b1/b1.2/Relu_output_0: ");
    size_t eol = s.find('\n', at);
    return s.replace(at, eol - at, "/b1/b1.2/Relu_output_0: 7fc00000");
  }();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {nan_cache, "'/b1/b1.2/Relu_output_0' on line"},
      {"TRT-101300-EntropyCalibration2\n", "no tensor entries"},
      {"TRT-101300-EntropyCalibration2\nother/a: 3c010a14\nother/b: 3c010a14\n", "2 of its 2 tensor names"},
      {"not a header\n" + good.substr(good.find('\n') + 1), "not a header"},
  };
  for (const auto& [text, why] : cases) {
    std::filesystem::remove(path + ".old");
    write_file_atomic(path, text);
    Counting c({{"input", samples(false)}}, 32, path, Algo::Entropy2);
    CalibOptions o;
    o.quiet = true;
    CalibOutcome r = calibrate(g, c, o);
    EXPECT_FALSE(r.from_cache) << why;
    EXPECT_TRUE(r.cache_rejected) << why;
    EXPECT_GT(c.calls, 0) << why;
    EXPECT_NE(r.note.find(why), std::string::npos) << r.note;
    EXPECT_EQ(r.cache_bytes, good);
    EXPECT_TRUE(c.kept_old());
    EXPECT_EQ(read_file(path + ".old", "test", 1 << 20), text);
  }
  // A reason from the caller (a sidecar that disagrees) rejects even a good cache.
  write_file_atomic(path, good);
  Counting c({{"input", samples(false)}}, 32, path, Algo::Entropy2);
  CalibOptions o;
  o.quiet = true;
  o.reject_cache = "its sidecar was written for another cache";
  CalibOutcome r = calibrate(g, c, o);
  EXPECT_FALSE(r.from_cache);
  EXPECT_NE(r.note.find("sidecar"), std::string::npos) << r.note;
}

TEST(CalibDriver, DeferredCacheWriteHappensOnCommitOnly) {
  Graph g = fmnist();
  const std::string path = testing::TempDir() + "/octet_deferred_test.cache";
  std::filesystem::remove(path);
  TensorCalibrator c({{"input", samples(false)}}, 32, path, Algo::Entropy2);
  c.defer_write(true);
  CalibOptions o;
  o.quiet = true;
  CalibOutcome r = calibrate(g, c, o);
  EXPECT_FALSE(std::filesystem::exists(path));
  c.commit();
  EXPECT_EQ(read_file(path, "test", 1 << 20), r.cache_bytes);
}

TEST(CalibDriver, CalibrationArraysMustMatchTheModelInput) {
  Graph g = fmnist();
  auto expect_error = [&](Shape s, const char* key) {
    std::map<std::string, Tensor> a = {{key, Tensor(DType::f32, s)}};
    try {
      check_calibration_arrays(a, g, "x.npy");
      ADD_FAILURE() << shape_str(s) << " accepted";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("x.npy"), std::string::npos) << m;
      EXPECT_NE(m.find(shape_str(s)), std::string::npos) << m;
      EXPECT_NE(m.find("1x28x28"), std::string::npos) << m;
    }
  };
  for (Shape s : {Shape{100000, 1}, Shape{784}, Shape{5, 28, 29}, Shape{2, 1, 1, 28, 28}, Shape{4, 3, 28, 28},
                  Shape{4, 1, 32, 32}, Shape{0, 1, 28, 28}})
    expect_error(s, "");
  expect_error({3, 1, 28, 27}, "input");
  std::map<std::string, Tensor> ok = {{"", Tensor(DType::f32, {3, 28, 28})}};
  check_calibration_arrays(ok, g, "x.npy");
  EXPECT_EQ(ok.at("").shape(), (Shape{3, 1, 28, 28}));
  std::map<std::string, Tensor> wrong_name = {{"image", Tensor(DType::f32, {3, 1, 28, 28})}, {"b", Tensor(DType::f32, {3})}};
  EXPECT_THROW(check_calibration_arrays(wrong_name, g, "x.npz"), Error);
}

TEST(QuantizePass, UnusableAmaxIsAnErrorAndAZeroThatBlocksALayerIsReported) {
  Graph g = fmnist();
  CalibTable t;
  {
    TensorCalibrator c({{"input", samples(false)}}, 32, "", Algo::Entropy2);
    CalibOptions o;
    o.quiet = true;
    t = calibrate(g, c, o).table;
  }
  std::map<std::string, float> amax;
  for (const auto& e : t.entries) amax[e.name] = e.amax;
  const std::string x = "/b2/b2.2/Relu_output_0";
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -1.f,
                    std::numeric_limits<float>::min(), -0.5f}) {
    PlanOptions po;
    po.int8_amax = amax;
    po.int8_amax[x] = bad;
    try {
      Plan::build(g, po);
      ADD_FAILURE() << "amax " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(x), std::string::npos) << e.what();
    }
  }
  PlanOptions po;
  po.int8_amax = amax;
  po.int8_amax[x] = 0.f;
  po.int8_amax["not_in_the_model"] = 0.f;
  auto plan = Plan::build(g, po);
  EXPECT_EQ(plan->quantize_report().zero_scale_tensors, std::vector<std::string>{x});
}
