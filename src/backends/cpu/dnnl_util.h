// oneDNN plumbing shared by the cpu kernels: one engine and stream per process, post-op translation.
// Debian's libdnnl is 2.6 (OpenMP runtime): descriptors are built with op::desc, scales with output_scales.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "ir/graph.h"

namespace octet::cpu {

dnnl::engine& engine();
dnnl::stream& stream();

// Appends the activation of `p` as a oneDNN eltwise post-op (after an optional sum). Returns false for
// activations oneDNN cannot express, so the caller keeps the node on another kernel.
bool append_activation(dnnl::post_ops& po, const PostOp& p);
bool activation_supported(const PostOp& p);

dnnl::memory::dims to_dims(const Shape& s);

}  // namespace octet::cpu
