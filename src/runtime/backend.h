// Backend interface: a capability query and a kernel factory.
//
// Lifecycle (XNNPACK/ORT style): create() at plan build (validate attributes, pack constant weights),
// prepare() after every reshape (shapes are final and tensors allocated: create shape-dependent primitives),
// run() many times — it neither allocates, logs nor validates.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/layout.h"

namespace octet {

// Options of a backend, passed in through PlanOptions::backend_options rather than read from the environment
// by the kernels. (OCTET_CPU_ISA, the cpu backend's process-wide choice of row kernels, is still read there.)
struct BackendOptions {
  bool strict = false;          // cpu: a kernel whose shape-dependent setup fails throws instead of running ref
  bool qconv_epilogue = false;  // cpu: QConv/QLinear run oneDNN with an s32 dst and octet's own epilogue
  bool verbose = false;         // cpu: print the oneDNN implementation of each int8 primitive to stderr
  // cpu: QConv's s32 route splits one image's output into bands of rows of at most this many s32 bytes when
  // one image's s32 is more than twice that (0: never); each thread runs whole bands, convolution then epilogue,
  // while the accumulators are in its core's L2. OCTET_QCONV_BAND_BYTES (a number) sets it; tests make it tiny.
  int64_t qconv_band_bytes = int64_t{256} << 10;
  bool cuda_graphs = true;      // cuda: record each run's launches into CUDA graphs and replay them
  bool cuda_gemm = true;        // cuda: QConv (group 1) / QLinear as im2col + cuBLASLt int8 GEMM + own epilogue
  // The environment variables OCTET_CPU_STRICT, OCTET_QCONV_EPILOGUE, OCTET_CPU_VERBOSE (set, not "0": on),
  // OCTET_CUDA_GRAPHS, OCTET_CUDA_GEMM ("0": off), OCTET_QCONV_BAND_BYTES:
  // what a plan uses when PlanOptions::backend_options is unset (the CLI's and tests' switches).
  static BackendOptions from_environment();
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Optional: shape-dependent setup. Default: nothing.
  virtual void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) {}
  virtual void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) = 0;
  // Optional: the index of an input that output 0 may overwrite (same shape and byte size), or -1. The plan
  // then gives output 0 that input's buffer when the input is read by nobody after this node and is neither a
  // graph input nor a graph output, and run() sees in[i]->raw() == out[0]->raw(). A kernel that says so must
  // also work when the buffers differ (keep_all_outputs, the input is read later, ...). A fused residual is
  // the use: conv's sum post-op accumulates into dst, which otherwise needs a copy of the residual first.
  virtual int inplace_input() const { return -1; }
  // After prepare(): why this kernel runs the reference implementation instead of its own for these shapes
  // (empty when it does not). Plan::describe() reports it.
  virtual std::string fallback_reason() const { return {}; }
  // Optional: make the host copies of this node's outputs current. A device backend (cuda) keeps a value on
  // the device when only its own kernels read it; the plan calls this after run() where it reads every
  // tensor itself (an observer, keep_all_outputs). Default: nothing (the outputs are host memory).
  virtual void to_host(const std::vector<Tensor*>& out) {}
};

// A clock on a device backend's queue (cuda: CUDA events on its stream), for `octet bench`: record() marks the
// queue's position now and returns the mark's index; elapsed_ms(a, b) waits for mark b and gives the device
// time between marks a and b.
class DeviceTimer {
 public:
  virtual ~DeviceTimer() = default;
  virtual size_t record() = 0;
  virtual double elapsed_ms(size_t a, size_t b) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Can this backend run `n` as it stands in `g` (op, attributes, dtypes, constant weights)?
  virtual bool supports(const Graph& g, const Node& n) const = 0;
  virtual std::unique_ptr<Kernel> create(const Graph& g, const Node& n) const = 0;
  // The layout its 2-D convolutions and pools want: NHWC makes the compile pipeline convert the graph
  // (passes/pipeline.h) when PlanOptions::channels_last allows it.
  virtual Layout preferred_layout() const { return Layout::NCHW; }
  // The hardware its kernels are built for, recorded in plan files and checked when one is loaded ("sm_90" on
  // cuda); empty: nothing beyond the CPU level (runtime/plan_file.h).
  virtual std::string target() const { return {}; }
  // A device clock (DeviceTimer), or null for host backends (time them with the host's clock).
  virtual std::unique_ptr<DeviceTimer> device_timer() const { return nullptr; }
  // What the backend did beyond its kernels (cuda: CUDA graphs recorded and replayed), for bench; may be empty.
  virtual std::string stats() const { return {}; }
};

std::unique_ptr<Backend> make_ref_backend();

// Backends above the runtime (backends/cpu, ...) register a factory by name; "ref" is always there. The cpu
// backend registers itself when octet_cpu is linked (its CMake target pulls in the registering object file).
using BackendFactory = std::unique_ptr<Backend> (*)(const BackendOptions&);
void register_backend(const std::string& name, BackendFactory factory);
// A registered backend by name ("ref", "cpu"); throws listing the valid names.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options = {});

// Reading memory a user hands octet by address (a Python calibrator's device pointers): the cuda backend
// registers a reader when it is linked. It copies `bytes` from `src` (device, managed or pinned host memory) to
// host `dst` after the device's pending work, or throws saying why not (no driver, no device, not CUDA memory).
using DeviceReader = void (*)(void* dst, const void* src, size_t bytes);
void register_device_reader(DeviceReader reader);
DeviceReader device_reader();  // nullptr: octet was built without CUDA

}  // namespace octet
