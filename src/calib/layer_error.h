// Where INT8 loses accuracy: the error of every tensor of an INT8 plan against the FP32 plan of the same
// model on the same inputs (octet eval --layers). For each ONNX tensor both plans compute, the INT8 plan's
// value -- an int8 tensor dequantized with its scale, or the float result of an op that ran in FP32 on
// dequantized inputs -- is compared with FP32: SQNR (10 log10 sum ref^2 / sum (int8 - ref)^2), cosine
// similarity, and for int8 tensors the share of values at the int8 limits (-128 / 127: clipped by the
// calibrated scale). The error at a tensor includes everything upstream of it; where SQNR drops from one row
// to the next is where quantization hurts.
#pragma once

#include <string>
#include <vector>

#include "runtime/plan.h"

namespace octet {

struct LayerError {
  std::string tensor;  // ONNX tensor name
  std::string op;      // the FP32 plan's op that produces it (after fusion: the fused kernel's op)
  bool int8 = false;   // the INT8 plan holds it as int8 (else as float)
  int32_t zero_point = 0;  // int8 with a zero point (an asymmetric SiLU output): saturated counts 127 only
  int64_t values = 0, saturated = 0;
  double ref_sq = 0, err_sq = 0, dot = 0, q_sq = 0;
  double sqnr() const;     // dB (calib/sqnr.h): +inf when the values are equal
  double cosine() const;   // 1 when both are all zero
  double saturated_share() const { return values ? static_cast<double>(saturated) / static_cast<double>(values) : 0; }
};

class LayerErrorMeter {
 public:
  // `fp32` and `int8`: plans of the same model; int8 must be built from the ONNX model in this process (its
  // QuantizeReport lists the int8 tensors; plan files do not keep that list). Neither plan needs
  // keep_all_outputs: the FP32 tensors of one add() are copied as the observer sees them (one batch of
  // activations in memory).
  LayerErrorMeter(Plan& fp32, Plan& int8);
  // Runs both plans on x and accumulates. When given, fp32_out / int8_out receive copies of the plans' outputs
  // (graph-output order), so a caller that also compares outputs (octet report) need not run the plans again.
  void add(const Tensor& x, std::vector<Tensor>* fp32_out = nullptr, std::vector<Tensor>* int8_out = nullptr);
  // One row per tensor, in the FP32 plan's execution order.
  std::vector<LayerError> results() const;

 private:
  Plan& fp32_;
  Plan& int8_;
  std::vector<LayerError> rows_;
  std::vector<int> row_of_fp32_value_;  // fp32 plan value -> row or -1
  struct SourceLoc {                    // where the INT8 plan holds a row's tensor
    int value = -1;
    bool nhwc = false;  // channels-last (int8 rank-4 tensors, channels-last float copies)
    float scale = 0.f;  // > 0: an int8 tensor with this scale
    int32_t zero_point = 0;
  };
  std::vector<SourceLoc> sources_;      // per row
  std::vector<int> row_of_int8_value_;  // int8 plan value -> row or -1
};

}  // namespace octet
