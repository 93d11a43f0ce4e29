// Reading device memory that a user hands octet by address: TensorRT-style calibrators return device pointers
// (pycuda's mem_alloc, cudaMalloc) or device tensors (CuPy, PyTorch) from get_batch. octet calibrates on the
// host, so it copies them over through the CUDA runtime linked into a CUDA build (docs/gpu.md).
#pragma once

#include <cstddef>
#include <cstdint>

namespace octet {

// Whether this octet was built with the cuda backend (and so can read device memory).
bool cuda_built();

// Copies `bytes` from `src` — device memory, CUDA managed memory or pinned host memory — to host memory at
// `dst`, after the work pending on that device. Throws octet::Error saying why it cannot: octet was built
// without CUDA, no NVIDIA driver or device, `src` is not CUDA memory (plain host memory, a stale or made-up
// address), or the copy failed.
void copy_device_to_host(void* dst, const void* src, size_t bytes);

// Strided views (a permuted or channels-last tensor, every other sample): shape and strides in elements,
// strides >= 0. strided_span: the elements from the first the view reads to the last (0 for an empty view).
// gather_strided: the view over `span` (a host copy of those elements, from the view's first) into C order
// at `dst`. Reading a device view: copy_device_to_host of strided_span * itemsize bytes, then gather_strided.
int64_t strided_span(const int64_t* shape, const int64_t* strides, size_t nd);
void gather_strided(void* dst, const void* span, const int64_t* shape, const int64_t* strides, size_t nd,
                    size_t itemsize);

}  // namespace octet
