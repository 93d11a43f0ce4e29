// The cpu backend (oneDNN + octet's AVX-512 kernels). Registered as "cpu" with runtime's make_backend when
// octet_cpu is linked; make_cpu_backend() for callers that want it directly (the op harness).
#pragma once

#include <memory>

#include "runtime/backend.h"

namespace octet {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options = {});

}  // namespace octet
