// Launching a kernel body (kernels.h, kernels_fp32.h) on the GPU: one thread per output value in a grid-stride
// loop, on `stream`, asynchronously. Instantiated in kernels.cu for every body; a launch error throws, naming
// the body.
#pragma once

#include <cuda_runtime_api.h>

namespace octet::cuda {

template <class Body>
void launch(const typename Body::Args& a, cudaStream_t stream);

}  // namespace octet::cuda
