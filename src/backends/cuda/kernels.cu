// The __global__ wrappers of the kernel bodies: map threads to flat output indices, nothing else (the bodies,
// and their CPU twin run_on_host, are in kernels.h / kernels_fp32.h). Compiled with --fmad=false (the FMAs of
// quant.h are explicit) for sm_90a.
#include <cstdint>
#include <string>
#include <typeinfo>

#include "backends/cuda/kernels.h"
#include "backends/cuda/kernels_fp32.h"
#include "backends/cuda/kernels_gemm.h"
#include "backends/cuda/kernels_hist.h"
#include "backends/cuda/launch.h"
#include "core/error.h"

namespace octet::cuda {

namespace {

template <class Body>
__global__ void each_index(const typename Body::Args a, int64_t n) {
  const Body body{};
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) body(a, i);
}

}  // namespace

template <class Body>
void launch(const typename Body::Args& a, cudaStream_t stream) {
  const int64_t n = a.count();
  if (n <= 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 32 ? blocks : 65535 * 32);
  each_index<Body><<<grid, kThreads, 0, stream>>>(a, n);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(std::string("cuda: launching ") + typeid(Body).name() + " failed: " + cudaGetErrorString(e));
}

template void launch<QConvBody>(const QConvArgs&, cudaStream_t);
template void launch<QLinearBody>(const QLinearArgs&, cudaStream_t);
template void launch<PackWeightsBody>(const PackWeightsArgs&, cudaStream_t);
template void launch<Im2colBody>(const Im2colArgs&, cudaStream_t);
template void launch<GemmEpilogueBody>(const GemmEpilogueArgs&, cudaStream_t);
template void launch<QAddBody>(const QAddArgs&, cudaStream_t);
template void launch<QMulGateBody>(const QMulGateArgs&, cudaStream_t);
template void launch<QMaxPoolBody>(const QPoolArgs&, cudaStream_t);
template void launch<QAvgPoolBody>(const QPoolArgs&, cudaStream_t);
template void launch<QConcatPartBody>(const QConcatPartArgs&, cudaStream_t);
template void launch<QuantizeBody>(const QuantizeArgs&, cudaStream_t);
template void launch<DequantizeBody>(const DequantizeArgs&, cudaStream_t);
template void launch<TransposeBody>(const TransposeArgs&, cudaStream_t);
template void launch<BinaryBody>(const BinaryArgs&, cudaStream_t);
template void launch<ConcatPartBody>(const ConcatPartArgs&, cudaStream_t);
template void launch<GlobalPoolBody>(const GlobalPoolArgs&, cudaStream_t);
template void launch<BatchNormBody>(const BatchNormArgs&, cudaStream_t);
template void launch<ConvF32Body>(const ConvF32Args&, cudaStream_t);
template void launch<PoolF32Body>(const PoolF32Args&, cudaStream_t);
template void launch<MatMulF32Body>(const MatMulF32Args&, cudaStream_t);
template void launch<SoftmaxF32Body>(const SoftmaxF32Args&, cudaStream_t);
template void launch<LayerNormF32Body>(const LayerNormF32Args&, cudaStream_t);
template void launch<AbsMaxBody>(const AbsMaxArgs&, cudaStream_t);
template void launch<HistogramBody>(const HistogramArgs&, cudaStream_t);

}  // namespace octet::cuda
