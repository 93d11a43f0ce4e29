#include "calib/pending.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace octet {

void PendingObservations::add(int v, const Tensor& t) {
  const size_t need = (t.nbytes() + 63) / 64 * 64;
  if (used_ + need > arena_.nbytes()) {
    flush();
    if (need > arena_.nbytes())
      arena_ = Tensor(DType::f32, {static_cast<int64_t>(std::max(need, kArenaBytes) / sizeof(float))});
  }
  char* at = static_cast<char*>(arena_.raw()) + used_;
  std::memcpy(at, t.raw(), t.nbytes());
  pending_.emplace_back(v, Tensor::view(DType::f32, t.shape(), at));
  used_ += need;
}

void PendingObservations::flush() {
  if (pending_.empty()) return;
  std::vector<std::pair<int, Tensor>> todo;  // the arena is free again once this returns, or throws
  todo.swap(pending_);
  used_ = 0;
  auto observer = [&](size_t k) { return obs_of_[static_cast<size_t>(todo[k].first)]; };
  // Entries of one observer (a value and its channels-last copy) stay together and in order.
  std::vector<size_t> order(todo.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return observer(a) < observer(b); });
  std::vector<size_t> starts;
  for (size_t k = 0; k < order.size(); ++k)
    if (k == 0 || observer(order[k]) != observer(order[k - 1])) starts.push_back(k);
  starts.push_back(order.size());
  std::vector<std::vector<float>> scratch(static_cast<size_t>(omp_get_max_threads()));
  parallel_tasks(static_cast<int64_t>(starts.size()) - 1, [&](int64_t gi, int thread) {
    for (size_t k = starts[static_cast<size_t>(gi)]; k < starts[static_cast<size_t>(gi) + 1]; ++k)
      bin_(todo[order[k]].first, todo[order[k]].second, scratch[static_cast<size_t>(thread)]);
  });
}

}  // namespace octet
