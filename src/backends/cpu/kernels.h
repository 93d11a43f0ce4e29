// The cpu backend's kernels, each with its capability predicate. Creation never fails for a node whose
// predicate said yes; a prepare() that meets a shape oneDNN refuses makes the kernel fall back to ref.
#pragma once

#include <memory>

#include "runtime/backend.h"

namespace octet::cpu {

bool conv_supported(const Graph& g, const Node& n);
std::unique_ptr<Kernel> make_conv(const Graph& g, const Node& n);
bool matmul_supported(const Graph& g, const Node& n);  // MatMul and Gemm
std::unique_ptr<Kernel> make_matmul(const Graph& g, const Node& n);
bool pool_supported(const Graph& g, const Node& n);  // MaxPool, AveragePool, Global*Pool
std::unique_ptr<Kernel> make_pool(const Graph& g, const Node& n);

}  // namespace octet::cpu
