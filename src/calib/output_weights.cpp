#include "calib/output_weights.h"

#include <algorithm>
#include <cmath>

#include "calib/sqnr.h"
#include "core/error.h"

namespace octet {

int component_axis(const Shape& shape) {
  if (shape.size() != 3) return -1;
  return shape[2] < shape[1] ? 2 : 1;
}

OutputWeights OutputWeights::from_reference(const std::vector<std::vector<Tensor>>& ref, double spread_db) {
  OutputWeights w;
  if (ref.empty()) return w;
  const size_t outputs = ref[0].size();
  w.outputs_.resize(outputs);
  for (size_t o = 0; o < outputs; ++o) {
    One& one = w.outputs_[o];
    const Tensor& first = ref[0][o];
    const int axis = first.dtype() == DType::f32 ? component_axis(first.shape()) : -1;
    if (axis < 0 || first.dim(axis) < 2) continue;
    const int64_t k = first.dim(axis);
    int64_t inner = 1;
    for (int i = axis + 1; i < first.rank(); ++i) inner *= first.dim(i);
    std::vector<double> energy(static_cast<size_t>(k), 0.0);
    bool same_layout = true;
    for (const auto& outs : ref) {
      const Tensor& t = outs[o];
      // The component axis and what follows it must be alike in every batch (dynamic spatial sizes differ
      // before the component axis only when it is the last one).
      int64_t tin = 1;
      for (int i = axis + 1; i < t.rank(); ++i) tin *= t.dim(i);
      if (t.dtype() != DType::f32 || t.rank() != first.rank() || t.dim(axis) != k || tin != inner) {
        same_layout = false;
        break;
      }
      const float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) energy[static_cast<size_t>((i / inner) % k)] += double(p[i]) * p[i];
    }
    if (!same_layout) continue;
    double total = 0, lo = energy[0], hi = energy[0];
    for (double e : energy) {
      total += e;
      lo = std::min(lo, e);
      hi = std::max(hi, e);
    }
    if (!(total > 0)) continue;
    const double mean = total / static_cast<double>(k), floor = 1e-4 * mean;
    one.spread_db = 10.0 * std::log10(hi / std::max(lo, floor));
    if (!(one.spread_db > spread_db)) continue;
    one.inner = inner;
    one.weight.resize(static_cast<size_t>(k));
    for (int64_t c = 0; c < k; ++c) one.weight[static_cast<size_t>(c)] = mean / std::max(energy[static_cast<size_t>(c)], floor);
  }
  return w;
}

void OutputWeights::add(size_t o, const float* ref, const float* test, int64_t n, double& signal, double& noise) const {
  if (!weighted(o)) {
    add_sqnr_sums(ref, test, n, signal, noise);
    return;
  }
  const One& one = outputs_[o];
  const int64_t k = static_cast<int64_t>(one.weight.size());
  for (int64_t i = 0; i < n; ++i) {
    const double w = one.weight[static_cast<size_t>((i / one.inner) % k)];
    const double r = ref[i], d = static_cast<double>(test[i]) - r;
    signal += w * r * r;
    noise += w * d * d;
  }
}

}  // namespace octet
