// cuBLASLt, loaded at run time with dlopen (libcublasLt.so.13, else .so.12, else .so): the CUDA toolkit's
// library is 541 MB and is not linked or bundled; on the GPU machine it comes from the pip package
// nvidia-cublas (LD_LIBRARY_PATH, scripts/gpu_check.sh). Without it octet still starts and the cuda backend's
// QConv / QLinear run the simple one-thread kernels (CudaBackend::stats() says why, once per plan).
//
// Int8Gemm is the one GEMM the GEMM path needs (kernels_gemm.h): C[m, n] (int32, column-major, ldc = m) =
// A[k, m]^T B[k, n] with A and B int8 column-major (lda = ldb = k), CUBLAS_COMPUTE_32I, alpha 1, beta 0: the
// "TN" int8 layout. int32 accumulation is exact, so any algorithm cuBLASLt picks gives the same C.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace octet::cuda {

// Whether cuBLASLt could be loaded (first call loads it; thread-safe), and what was loaded or why not.
bool cublaslt_available();
const std::string& cublaslt_status();

class Int8Gemm {
 public:
  Int8Gemm();
  ~Int8Gemm();
  Int8Gemm(const Int8Gemm&) = delete;
  Int8Gemm& operator=(const Int8Gemm&) = delete;
  // Chooses an algorithm for these sizes (m and k multiples of 4) within `workspace_bytes`; false, with the
  // reason in *why, when cuBLASLt is missing or offers none.
  bool plan(int64_t m, int64_t n, int64_t k, size_t workspace_bytes, std::string* why);
  // Enqueues C = A^T B on `stream` (no allocation: capturable into a CUDA graph). Throws on a cuBLASLt error.
  void run(const int8_t* A, const int8_t* B, int32_t* C, void* workspace, size_t workspace_bytes,
           cudaStream_t stream) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cuda
