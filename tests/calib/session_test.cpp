// Calibration in phases (calib/session.h): observer state export/import round-trips exactly, and shards
// calibrated separately and merged give the one-process cache byte for byte.
#include <gtest/gtest.h>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "calib/session.h"
#include "onnx/import.h"
#include "test_util.h"

namespace octet {
namespace {

Graph fmnist() { return import_onnx_file(test::source_dir() + "/models/fmnist_cnn.onnx").graph; }

// `n` samples in [0, 1) from `seed`, N x 1 x 28 x 28.
Tensor samples(int64_t n, uint32_t seed) { return test::random_f32({n, 1, 28, 28}, seed, 0.f, 1.f); }

Tensor rows(const Tensor& t, int64_t from, int64_t count) {
  Tensor out(DType::f32, {count, 1, 28, 28});
  const size_t row = static_cast<size_t>(28 * 28);
  std::memcpy(out.raw(), t.data<float>() + static_cast<size_t>(from) * row, static_cast<size_t>(count) * row * sizeof(float));
  return out;
}

void observe_in_batches(CalibSession& s, const Tensor& data, int64_t from, int64_t to, int64_t batch) {
  for (int64_t b = from; b < to; b += batch) s.observe({rows(data, b, std::min(batch, to - b))});
}

TEST(CalibSession, StateRoundTripsExactly) {
  Graph g = fmnist();
  Tensor data = samples(12, 3);
  CalibSession a(g, {});
  observe_in_batches(a, data, 0, 12, 5);
  const std::string s0 = a.export_state();
  CalibSession b(g, {});
  b.import_state(s0);
  EXPECT_EQ(b.export_state(), s0);
  a.next_pass();
  b.next_pass();
  observe_in_batches(a, data, 0, 12, 5);
  observe_in_batches(b, data, 0, 12, 4);
  const std::string s1 = a.export_state();
  CalibSession c(g, {});
  c.import_state(s1);
  EXPECT_EQ(c.export_state(), s1);
  EXPECT_EQ(c.finish(), a.finish());
  EXPECT_EQ(b.finish(), a.finish());  // batch size does not matter
}

TEST(CalibSession, TwoShardsMergedGiveTheOneProcessCache) {
  Graph g = fmnist();
  const int64_t n = 40;
  Tensor data = samples(n, 7);

  // One process, octet calibrate's driver, no refinement.
  std::map<std::string, Tensor> arrays{{"", data}};
  TensorCalibrator cal(arrays, 8, "", Algo::Entropy2);
  CalibOptions opt;
  opt.quiet = true;
  const std::string one = calibrate(g, cal, opt).cache_bytes;

  // One session over everything.
  CalibSession whole(g, {});
  observe_in_batches(whole, data, 0, n, 8);
  whole.next_pass();
  observe_in_batches(whole, data, 0, n, 8);
  EXPECT_EQ(whole.finish(), one);

  // Two shards (uneven split, other batch sizes) and a coordinator.
  CalibSession s1(g, {}), s2(g, {}), coord(g, {});
  observe_in_batches(s1, data, 0, 15, 4);
  observe_in_batches(s2, data, 15, n, 6);
  coord.merge_state(s1.export_state());
  coord.merge_state(s2.export_state());
  const std::string pass0 = coord.export_state();
  s1.import_state(pass0);
  s2.import_state(pass0);
  s1.next_pass();
  s2.next_pass();
  coord.next_pass();
  observe_in_batches(s1, data, 0, 15, 4);
  observe_in_batches(s2, data, 15, n, 6);
  coord.merge_state(s2.export_state());  // any order
  coord.merge_state(s1.export_state());
  EXPECT_EQ(coord.finish(), one);
  EXPECT_GT(one.size(), 100u);
}

TEST(CalibSession, RefusesStateOfAnotherPassOrAlgorithm) {
  Graph g = fmnist();
  Tensor data = samples(4, 1);
  CalibSession a(g, {});
  observe_in_batches(a, data, 0, 4, 4);
  const std::string s0 = a.export_state();
  a.next_pass();
  EXPECT_THROW(a.merge_state(s0), Error);
  CalibSessionOptions mm;
  mm.algo = Algo::MinMax;
  CalibSession b(g, mm);
  EXPECT_THROW(b.merge_state(s0), Error);
  EXPECT_THROW(b.import_state("not a state"), Error);
  std::string truncated = s0.substr(0, s0.size() - 3);
  CalibSession c(g, {});
  EXPECT_THROW(c.import_state(truncated), Error);
  EXPECT_THROW(c.finish(), Error);  // still in pass 0 of 2
}

}  // namespace
}  // namespace octet
