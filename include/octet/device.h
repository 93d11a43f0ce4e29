// Reading device memory that a user hands octet by address: TensorRT-style calibrators return device pointers
// (pycuda's mem_alloc, cudaMalloc) or device tensors (CuPy, PyTorch) from get_batch. octet calibrates on the
// host, so it copies them over through the CUDA runtime linked into a CUDA build (docs/gpu.md).
#pragma once

#include <cstddef>

namespace octet {

// Whether this octet was built with the cuda backend (and so can read device memory).
bool cuda_built();

// Copies `bytes` from `src` — device memory, CUDA managed memory or pinned host memory — to host memory at
// `dst`, after the work pending on that device. Throws octet::Error saying why it cannot: octet was built
// without CUDA, no NVIDIA driver or device, `src` is not CUDA memory (plain host memory, a stale or made-up
// address), or the copy failed.
void copy_device_to_host(void* dst, const void* src, size_t bytes);

}  // namespace octet
