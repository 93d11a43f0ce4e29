// Tensors that only rearrange a network input (a YOLO Focus: Slice x4 -> Concat of the image) are calibrated
// like the input (MinMax by default), not clipped by the algorithm: entropy2 put yolox_det's Focus output at
// amax 114 of the image's 255.
#include <gtest/gtest.h>

#include <cmath>

#include "calib/builtin_calibrators.h"
#include "calib/calibrate.h"
#include "test_util.h"

using namespace octet;

namespace {

float amax_of(const CalibTable& t, const std::string& name) {
  for (const auto& e : t.entries)
    if (e.name == name) return e.amax;
  ADD_FAILURE() << "no entry for " << name;
  return 0.f;
}

TEST(CalibDriver, TensorsThatOnlyMoveInputValuesAreCalibratedLikeTheInput) {
  Graph g;
  const int x = g.add_value("x");
  g.value(x).declared = {Dim{-1, "N"}, Dim{1, ""}, Dim{16, ""}, Dim{16, ""}};
  g.value(x).has_declared_shape = true;
  g.inputs = {x};
  Node tr;
  tr.op = OpType::Transpose;
  tr.name = "moved";
  tr.inputs = {x};
  tr.outputs = {g.add_value("t")};
  tr.attrs["perm"] = attr_ints({0, 1, 3, 2});
  Node relu;
  relu.op = OpType::Relu;
  relu.name = "relu";
  relu.inputs = {tr.outputs[0]};
  relu.outputs = {g.add_value("r")};
  g.nodes = {tr, relu};
  g.outputs = {relu.outputs[0]};
  g.finalize();

  // Exponentially distributed values: entropy2 clips such a long tail below its absmax.
  Tensor data = test::random_f32({32, 1, 16, 16}, 3, 0.f, 0.9999f);
  float absmax = 0.f;
  for (int64_t i = 0; i < data.numel(); ++i) data.data<float>()[i] = -std::log(1.f - data.data<float>()[i]);
  for (int64_t i = 0; i < data.numel(); ++i) absmax = std::max(absmax, std::fabs(data.data<float>()[i]));
  TensorCalibrator c({{"x", data}}, 8, "", Algo::Entropy2);
  CalibOptions o;
  o.quiet = true;
  CalibOutcome r = calibrate(g, c, o);
  EXPECT_FLOAT_EQ(amax_of(r.table, "x"), absmax);
  EXPECT_FLOAT_EQ(amax_of(r.table, "t"), absmax);  // moved values: MinMax like the input
  EXPECT_LT(amax_of(r.table, "r"), 0.9f * absmax);  // arithmetic: entropy2 as asked

  o.inputs_minmax = false;  // TensorRT's behaviour: the algorithm everywhere
  TensorCalibrator c2({{"x", data}}, 8, "", Algo::Entropy2);
  CalibOutcome r2 = calibrate(g, c2, o);
  EXPECT_LT(amax_of(r2.table, "t"), 0.9f * absmax);
}

}  // namespace
