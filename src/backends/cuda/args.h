// Node + shapes -> the kernel bodies' Args (kernels.h), with every pointer left null for the caller to set:
// the cuda backend fills in device buffers, tests/cuda/ fills in host tensors and runs the same bodies on the
// CPU. Plain C++ (no CUDA headers), so the CPU tests build with or without a CUDA toolkit. Shapes and
// attributes were validated by shape inference (ir/infer_quant.cpp); these only read them.
#pragma once

#include <vector>

#include "backends/cuda/kernels.h"
#include "backends/cuda/kernels_fp32.h"
#include "ir/graph.h"

namespace octet::cuda {

// The window of an NHWC op on x [N, H, W, C] (global: the whole image), as ref's.
Win2 nhwc_window(const Node& n, const Shape& x, const Shape& kernel, bool global);

QConvArgs qconv_args(const Node& n, const Shape& x, const Shape& w);
QLinearArgs qlinear_args(const Node& n, const Shape& x, const Shape& w);
QAddArgs qadd_args(const Node& n, const Shape& y);
QMulGateArgs qmulgate_args(const Node& n, const Shape& x, const Shape& g);
QPoolArgs qpool_args(const Node& n, const Shape& x);  // QMaxPool and QAvgPool
// One QConcatPartArgs per input (x and y pointers null), in input order.
std::vector<QConcatPartArgs> qconcat_args(const Node& n, const std::vector<Shape>& xs, const Shape& y);
QuantizeArgs quantize_args(const Node& n, const Shape& x);
DequantizeArgs dequantize_args(const Node& n, const Shape& x);

// FP32 ops (kernels_fp32.h).
TransposeArgs layout_args(const Node& n, const Shape& x);  // ToNhwc / ToNchw
BinaryArgs binary_args(const Node& n, const Shape& a, const Shape& b, const Shape& y);
ConcatPartArgs concat_part_args(const Node& n, const std::vector<Shape>& xs, size_t i, const Shape& y);
GlobalPoolArgs global_pool_args(const Node& n, const Shape& x);  // PoolNhwc with global=1
BatchNormArgs batchnorm_args(const Node& n, const Shape& x);
PostF32 post_f32_of(const Node& n);
ConvF32Args conv_f32_args(const Node& n, const Shape& x, const Shape& w);  // ConvNhwc
PoolF32Args pool_f32_args(const Node& n, const Shape& x);                 // PoolNhwc with global=0
// MatMul with both operands at least 2-D (batch dims broadcast, at most kMaxRank of them).
MatMulF32Args matmul_f32_args(const Node& n, const Shape& a, const Shape& b);
// Gemm: 2-D A and B, optional C (rank <= 2, unidirectional broadcast; c null: none).
MatMulF32Args gemm_f32_args(const Node& n, const Shape& a, const Shape& b, const Shape* c);
SoftmaxF32Args softmax_f32_args(const Node& n, const Shape& x);
LayerNormF32Args layernorm_f32_args(const Node& n, const Shape& x);  // scale/bias of numel(x[axis:]) each

}  // namespace octet::cuda
