// Accuracy measures of `octet eval`, on output tensors (N x K float32 scores).
#pragma once

#include <cstdint>
#include <vector>

#include "octet/tensor.h"

namespace octet {

// Index of the largest score of every row (first on ties, like numpy.argmax).
std::vector<int64_t> top1(const HostTensor& scores);
// Share of rows whose top-1 equals `labels` / the other tensor's top-1.
double top1_accuracy(const HostTensor& scores, const std::vector<int>& labels);
double agreement(const HostTensor& a, const HostTensor& b);
// SQNR in dB of `test` against `ref` (10 log10 sum ref^2 / sum (test-ref)^2); +inf when equal.
double sqnr_db(const HostTensor& ref, const HostTensor& test);
// sqnr_db over several batches: add() each batch's outputs, db() at the end.
struct SqnrSums {
  double signal = 0, noise = 0;
  void add(const HostTensor& ref, const HostTensor& test);
  double db() const;
};

}  // namespace octet
