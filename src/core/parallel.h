// Independent tasks on the OpenMP threads, for callers outside the backends (calibration's binning and
// threshold searches). An exception must not leave an OpenMP region: the first one a task throws is kept and
// rethrown once every task has ended.
#pragma once

#include <omp.h>

#include <cstdint>
#include <exception>

namespace octet {

// Runs fn(k, thread) for k in [0, n), one task at a time per thread (dynamic schedule); `thread` is in
// [0, omp_get_max_threads()), for per-thread scratch buffers.
template <class Fn>
void parallel_tasks(int64_t n, Fn&& fn) {
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < n; ++k) {
    try {
      fn(k, omp_get_thread_num());
    } catch (...) {
#pragma omp critical(octet_parallel_tasks)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace octet
