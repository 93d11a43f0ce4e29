// The cpu backend's kernels, each with its capability predicate. Creation never fails for a node whose
// predicate said yes; a prepare() that meets a shape oneDNN refuses makes the kernel fall back to ref.
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace octet::cpu {

bool conv_supported(const Graph& g, const Node& n);
std::unique_ptr<Kernel> make_conv(const Graph& g, const Node& n);
bool matmul_supported(const Graph& g, const Node& n);  // MatMul and Gemm
std::unique_ptr<Kernel> make_matmul(const Graph& g, const Node& n);
bool pool_supported(const Graph& g, const Node& n);  // MaxPool, AveragePool, Global*Pool
std::unique_ptr<Kernel> make_pool(const Graph& g, const Node& n);

// INT8 ops (contracts: src/ir/qops.h; arithmetic bit-identical to src/quant/quant.h).
bool qconv_supported(const Graph& g, const Node& n);  // oneDNN int8 convolution (qconv_dnnl.cpp)
std::unique_ptr<Kernel> make_qconv(const Graph& g, const Node& n, const BackendOptions& opt);
bool qdeconv_supported(const Graph& g, const Node& n);  // QConvTranspose: oneDNN int8 deconvolution (qdeconv_dnnl.cpp)
std::unique_ptr<Kernel> make_qdeconv(const Graph& g, const Node& n, const BackendOptions& opt);
bool qresize_supported(const Graph& g, const Node& n);  // QResize (qresize.cpp)
std::unique_ptr<Kernel> make_qresize(const Graph& g, const Node& n);
bool qlinear_supported(const Graph& g, const Node& n);  // oneDNN int8 matmul (qlinear_dnnl.cpp)
std::unique_ptr<Kernel> make_qlinear(const Graph& g, const Node& n, const BackendOptions& opt);
bool qelementwise_supported(const Graph& g, const Node& n);  // Quantize, Dequantize, QAdd, QConcat, QMulGate
std::unique_ptr<Kernel> make_qelementwise(const Graph& g, const Node& n);
bool qpool_supported(const Graph& g, const Node& n);  // QMaxPool, QAvgPool
std::unique_ptr<Kernel> make_qpool(const Graph& g, const Node& n);

// The oneDNN implementation (pd.impl_info_str()) of the int8 primitive created last, for tests and triage;
// with BackendOptions::verbose (OCTET_CPU_VERBOSE=1) each one is also printed to stderr when created (prepare, never run).
void note_dnnl_impl(const char* op, const std::string& impl, bool verbose);
std::string last_dnnl_impl();
std::string last_dnnl_op();  // and what octet ran it as ("QConv(s32 + epilogue, 5 bands of 4 rows)", ...)

bool layout_supported(const Graph& g, const Node& n);  // ToNhwc, ToNchw
std::unique_ptr<Kernel> make_layout(const Graph& g, const Node& n);

}  // namespace octet::cpu
