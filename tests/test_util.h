// Shared test helpers: paths to the repo and to ../shared, random tensors, comparisons.
#pragma once

#include <functional>
#include <string>

#include "core/tensor.h"

namespace octet::test {

// Repository root (from OCTET_SOURCE_DIR, set by CTest).
std::string source_dir();
// The shared data folder: $OCTET_SHARED, else <repo>/../shared. Empty if it does not exist.
std::string shared_dir();
// Uniform random floats in [lo, hi) with a fixed seed.
Tensor random_f32(const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f);
// max |a-b| / (max|b| + 1e-6) style relative error; shapes must match.
double max_rel_error(const Tensor& a, const Tensor& b);
double max_abs_error(const Tensor& a, const Tensor& b);
// The message of the octet::Error that `f` throws, or "<no error>".
std::string error_of(const std::function<void()>& f);
// error_of(f) on another thread; when `f` is still blocked after 5 s (on the FIFO `fifo`), a writer is opened to
// release it and the test fails instead of hanging.
std::string error_without_hang(const std::string& fifo, const std::function<void()>& f);

}  // namespace octet::test
