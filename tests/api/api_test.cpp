// The public API (include/octet/) as a user sees it: only <octet/...> headers here (and the test helpers).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <random>

#include <unistd.h>

#include <octet/octet.h>

#include "test_util.h"

namespace {

std::string fmnist() { return octet::test::source_dir() + "/models/fmnist_cnn.onnx"; }

std::string temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("octet_api_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

std::vector<float> random_images(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n * 28 * 28));
  for (auto& x : v) x = u(rng);
  return v;
}

// Calibrates fmnist on random images with a session; returns the cache text.
std::string session_cache(const octet::Model& m, const std::vector<float>& x, int64_t n) {
  octet::CalibrationSession s(m);
  for (int pass = 0; pass < s.passes(); ++pass) {
    if (pass) s.next_pass();
    s.observe({{"input", octet::TensorView::of(x.data(), {n, 1, 28, 28})}});
  }
  return s.finish();
}

TEST(PublicApi, ModelEngineRunSaveLoad) {
  octet::Model m = octet::Model::load(fmnist());
  EXPECT_FALSE(m.is_plan());
  EXPECT_FALSE(m.is_qdq());
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].name, "input");
  EXPECT_EQ(m.inputs()[0].dtype, octet::DType::f32);

  const int64_t n = 16;
  std::vector<float> x = random_images(n, 1);
  const std::string dir = temp_dir(), cache = dir + "/m.cache";
  std::ofstream(cache) << session_cache(m, x, n);

  octet::EngineOptions o8;
  o8.precision = octet::Precision::int8;
  o8.cache_path = cache;
  octet::Engine e8 = octet::Engine::build(m, o8);
  octet::Engine e32 = octet::Engine::build(m, {});
  EXPECT_EQ(e8.precision(), octet::Precision::int8);
  EXPECT_EQ(e32.precision(), octet::Precision::fp32);
  EXPECT_EQ(e8.backend(), "cpu");
  EXPECT_FALSE(e8.layers().empty());
  auto view = octet::TensorView::of(x.data(), {n, 1, 28, 28});
  const octet::HostTensor y8 = e8.run({{"input", view}}).at("logits");
  const octet::HostTensor y32 = e32.run({{"input", view}}).at("logits");
  ASSERT_EQ(y8.shape(), (octet::Shape{n, 10}));
  EXPECT_GT(octet::sqnr_db(y32, y8), 10.0);
  EXPECT_GE(octet::agreement(y32, y8), 0.5);

  // amax map = cache file
  octet::EngineOptions oa = o8;
  oa.cache_path.clear();
  oa.amax = octet::read_scales(cache).amax();
  octet::Engine ea = octet::Engine::build(m, oa);
  const octet::HostTensor ya = ea.run({{"input", view}}).at("logits");
  EXPECT_EQ(0, std::memcmp(ya.data(), y8.data(), y8.nbytes()));

  // save -> load as a plan -> same outputs; a plan refuses another precision and a cache
  e8.save(dir + "/m.plan");
  octet::Model p = octet::Model::load(dir + "/m.plan");
  EXPECT_TRUE(p.is_plan());
  octet::Engine ep = octet::Engine::build(p, {});
  const octet::HostTensor yp = ep.run({{"input", view}}).at("logits");
  EXPECT_EQ(0, std::memcmp(yp.data(), y8.data(), y8.nbytes()));
  octet::EngineOptions wrong;
  wrong.precision = octet::Precision::fp32;
  EXPECT_THROW(octet::Engine::build(p, wrong), octet::Error);
  EXPECT_THROW(octet::Engine::build(p, o8), octet::Error);

  // errors are octet::Error with the name in the message
  try {
    e8.run({{"images", view}});
    FAIL();
  } catch (const octet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'input'"), std::string::npos);
  }
  EXPECT_THROW(octet::Model::load(dir + "/missing.onnx"), octet::Error);
  std::filesystem::remove_all(dir);
}

TEST(PublicApi, LogHandlerGetsTheSidecarNoteAndQdqExportMirrorsThePlan) {
  octet::Model m = octet::Model::load(fmnist());
  const int64_t n = 8;
  std::vector<float> x = random_images(n, 2);
  const std::string dir = temp_dir(), cache = dir + "/t.cache";
  std::ofstream(cache) << session_cache(m, x, n);
  // A sidecar as octet tune writes it, with one FP32 layer.
  std::ofstream(cache + ".json") << "{\"format\": \"octet-calibration-sidecar\", \"format_version\": 1, "
                                     "\"algorithm\": \"entropy2\", \"fp32_layers\": [\"/b1/b1.0/Conv\"], \"tensors\": []}";
  std::vector<std::string> messages;
  auto old = octet::set_log_handler([&](octet::LogLevel, const std::string& t) { messages.push_back(t); });
  EXPECT_EQ(octet::cache_fp32_layers(cache), std::vector<std::string>{"/b1/b1.0/Conv"});
  octet::EngineOptions o;
  o.precision = octet::Precision::int8;
  o.cache_path = cache;
  octet::Engine e = octet::Engine::build(m, o);
  octet::set_log_handler(old);
  bool fp32 = false;
  for (const auto& l : e.layers()) fp32 |= l.node == "/b1/b1.0/Conv" && l.precision == "fp32";
  EXPECT_TRUE(fp32);
  // The note is said once per process (no other test here makes an engine with a sidecar).
  ASSERT_EQ(messages.size(), 1u);
  for (const auto& t : messages) EXPECT_NE(t.find("kept in FP32"), std::string::npos) << t;

  octet::QdqResult q = octet::quantize_qdq(fmnist(), cache, dir + "/q.onnx");
  EXPECT_GT(q.activation_pairs, 0);
  EXPECT_FALSE(q.model.empty());
  std::filesystem::remove_all(dir);
}

// Batches of 4 from memory; can rewind (two-pass mode).
class VectorCalibrator : public octet::Calibrator {
 public:
  explicit VectorCalibrator(const std::vector<float>& x) : x_(x) {}
  int batchSize() const override { return 4; }
  bool getBatch(void* bindings[], const char*[], int) override {
    const size_t per = 4 * 28 * 28;
    if (pos_ >= x_.size()) return false;
    bindings[0] = const_cast<float*>(x_.data() + pos_);
    const size_t left = (x_.size() - pos_) / (28 * 28);
    if (left < 4) setLastBatchSize(static_cast<int>(left));
    pos_ += per;
    return true;
  }
  bool rewind() override {
    pos_ = 0;
    return true;
  }

 private:
  const std::vector<float>& x_;
  size_t pos_ = 0;
};

TEST(PublicApi, CalibrateReportsProgressAndEqualsTheSession) {
  octet::Model m = octet::Model::load(fmnist());
  const int64_t n = 10;
  std::vector<float> x = random_images(n, 4);
  std::vector<octet::ProgressEvent> events;
  auto old = octet::set_progress_handler([&](const octet::ProgressEvent& e) { events.push_back(e); });
  VectorCalibrator cal(x);
  octet::CalibrationOptions o;
  o.quiet = false;
  o.expected_samples = n;
  o.refine.samples = 0;
  octet::CalibrationResult r = octet::calibrate(m, cal, o);
  octet::set_progress_handler(old);
  EXPECT_TRUE(r.two_pass);
  EXPECT_EQ(r.images, n);
  EXPECT_EQ(r.batches, 3);
  EXPECT_FALSE(r.refined);
  EXPECT_EQ(r.cache, session_cache(m, x, n));
  std::vector<std::string> finished;
  for (const auto& e : events)
    if (e.finished) finished.push_back(e.label + " " + std::to_string(e.done) + "/" + std::to_string(e.total));
  EXPECT_EQ(finished, (std::vector<std::string>{"calibrate 1/2 10/10", "calibrate 2/2 10/10"}));
}

// check_cache_file + CalibrationOptions::reject_cache: what `octet calibrate --cache` does to an existing cache,
// for callers that manage the file (the Python package).
TEST(PublicApi, CheckCacheFileRejectsAnotherModelsCache) {
  octet::Model m = octet::Model::load(fmnist());
  const std::string dir = temp_dir(), cache = dir + "/m.cache", other = dir + "/other.onnx";
  EXPECT_FALSE(octet::check_cache_file(cache, fmnist()).exists);
  std::vector<float> x = random_images(10, 5);
  VectorCalibrator cal(x);
  octet::CalibrationOptions o;
  o.refine.samples = 0;
  octet::CalibrationResult r = octet::calibrate(m, cal, o);
  r.save(cache, fmnist());
  octet::CacheFileCheck c = octet::check_cache_file(cache, fmnist());
  EXPECT_TRUE(c.exists);
  EXPECT_EQ(c.reject, "");
  EXPECT_FALSE(c.sidecar_missing);
  std::ofstream(other) << "not the same model";
  r.save(cache, other);  // the sidecar now names another model
  c = octet::check_cache_file(cache, fmnist());
  EXPECT_NE(c.reject.find("another model"), std::string::npos) << c.reject;

  struct Cached : VectorCalibrator {
    Cached(const std::vector<float>& x, std::string c) : VectorCalibrator(x), c_(std::move(c)) {}
    std::optional<std::string> readCalibrationCache() override { return c_; }
    std::string c_;
  };
  Cached cached(x, r.cache);
  EXPECT_TRUE(octet::calibrate(m, cached, o).from_cache);  // a valid cache: reused
  o.reject_cache = c.reject;
  Cached rejected(x, r.cache);
  octet::CalibrationResult again = octet::calibrate(m, rejected, o);
  EXPECT_FALSE(again.from_cache);
  EXPECT_NE(again.note.find("another model"), std::string::npos) << again.note;
  EXPECT_EQ(again.cache, r.cache);

  std::filesystem::create_directories(dir + "/d.cache");  // only a regular file may be there
  EXPECT_THROW(octet::check_cache_file(dir + "/d.cache", fmnist()), octet::Error);
  std::filesystem::remove_all(dir);
}

TEST(PublicApi, CachesConvertBetweenFormats) {
  octet::ScaleTable t;
  t.header = octet::cache_header("10.13.0");
  t.entries = {{"a", 0.5f}, {"b", 1.f / 127.f}};
  const std::string dir = temp_dir();
  octet::write_scales(dir + "/c.json", t, octet::CacheFormat::ort_json);
  std::optional<octet::CacheFormat> f;
  octet::ScaleTable back = octet::read_scales(dir + "/c.json", &f);
  EXPECT_EQ(f, octet::CacheFormat::ort_json);
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].scale, 0.5f);
  EXPECT_EQ(back.entries[1].scale, 1.f / 127.f);
  EXPECT_EQ(octet::serialize_scales(back, octet::CacheFormat::trt), octet::serialize_scales(t, octet::CacheFormat::trt));
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

// Absurd thread counts (issue 17: --threads 100000 crashed libgomp) are clamped to the CPUs; negative refused.
TEST(PublicApi, ThreadsAreClampedToTheCpus) {
  octet::Model m = octet::Model::load(fmnist());
  octet::EngineOptions o;
  o.threads = 100000;
  octet::Engine e = octet::Engine::build(m, o);
  std::vector<float> x = random_images(2, 3);
  const octet::HostTensor y = e.run({{"input", octet::TensorView::of(x.data(), {2, 1, 28, 28})}}).at("logits");
  EXPECT_EQ(y.shape(), (octet::Shape{2, 10}));
  o.threads = -1;
  EXPECT_THROW(octet::Engine::build(m, o), octet::Error);
}

}  // namespace
