// The cuda backend (issue 14; docs/gpu.md): simple, correct kernels for the ops of INT8 plans — the bodies of
// kernels.h / kernels_fp32.h launched one thread per output value — on one stream, with device buffers that
// mirror the plan's host tensors.
//
// Where data lives. The plan owns host tensors; this backend keeps a device mirror per host buffer
// (DeviceContext, one per backend instance, so per plan), tagged with the graph value whose data it holds
// now. A kernel uploads an input only when the device does not hold that value: always for graph inputs and
// values that kernels of other backends produce, once per reshape for constants, never for a value a cuda
// kernel produced this run. It downloads an output only when the host needs it: a graph output, a value a
// non-cuda node reads, or when the plan asks (Kernel::to_host: observers, keep_all_outputs). So a plan that
// runs wholly on cuda copies only at its inputs and outputs.
//
// Launches between two host interactions are recorded into CUDA graphs from the second run after a reshape on
// and replayed after that (graph_recorder.h, BackendOptions::cuda_graphs); `octet bench` times runs with CUDA
// events on the stream (device_timer()); target() ("sm_90") goes into plan files.
//
// Not verified on a GPU yet: this file and kernels.cu have only been compiled (no device in the session that
// wrote them); the bodies they launch are tested on the CPU against ref (tests/cuda/).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/args.h"
#include "backends/cuda/cublaslt.h"
#include "backends/cuda/kernels_gemm.h"
#include "backends/cuda/graph_recorder.h"
#include "backends/cuda/launch.h"
#include "backends/cuda/placement.h"
#include "backends/ref/ref.h"
#include "core/error.h"
#include "runtime/backend.h"

namespace octet {

namespace {

void check(cudaError_t e, const char* what, const std::string& where) {
  if (e != cudaSuccess) fail("cuda: ", what, " failed for ", where, ": ", cudaGetErrorString(e));
}

// CUDA graphs on the context's stream, for the GraphRecorder (graph_recorder.h).
class StreamGraphs final : public cuda::GraphDevice {
 public:
  explicit StreamGraphs(cudaStream_t s) : stream_(s) {}
  ~StreamGraphs() override {
    for (auto& [id, g] : graphs_) cudaGraphExecDestroy(g);
  }
  void begin_capture() override {
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture", "a CUDA graph");
  }
  int end_capture() override {
    cudaGraph_t g = nullptr;
    check(cudaStreamEndCapture(stream_, &g), "cudaStreamEndCapture", "a CUDA graph");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    check(e, "cudaGraphInstantiate", "a CUDA graph");
    graphs_[next_] = exec;
    return next_++;
  }
  void abort_capture() override {
    cudaGraph_t g = nullptr;
    if (cudaStreamEndCapture(stream_, &g) == cudaSuccess && g) cudaGraphDestroy(g);
    cudaGetLastError();  // the capture's error is the launch's, already reported
  }
  void launch_graph(int id) override { check(cudaGraphLaunch(graphs_.at(id), stream_), "cudaGraphLaunch", "a CUDA graph"); }
  void destroy_graph(int id) override {
    auto it = graphs_.find(id);
    if (it == graphs_.end()) return;
    cudaGraphExecDestroy(it->second);
    graphs_.erase(it);
  }

 private:
  cudaStream_t stream_;
  std::unordered_map<int, cudaGraphExec_t> graphs_;
  int next_ = 0;
};

// Device mirrors of host buffers, the stream every kernel runs on, and the CUDA graphs of its launches.
class DeviceContext {
 public:
  explicit DeviceContext(bool graphs) {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate", "the backend");
    graph_dev_ = std::make_unique<StreamGraphs>(stream_);
    recorder_ = std::make_unique<cuda::GraphRecorder>(*graph_dev_, graphs);
  }
  ~DeviceContext() {
    recorder_.reset();
    graph_dev_.reset();
    for (auto& [host, m] : mirrors_) cudaFree(m.dev);
    for (void* p : owned_) cudaFree(p);
    for (Buf& b : scratch_) cudaFree(b.dev);
    cudaStreamDestroy(stream_);
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  cudaStream_t stream() const { return stream_; }

  cuda::GraphRecorder& recorder() { return *recorder_; }

  // After a reshape the host buffers and constants may have changed: no mirror holds a value any more, and
  // the graphs recorded hold stale pointers and sizes.
  void forget_values() {
    recorder_->reset();
    for (auto& [host, m] : mirrors_) m.value = -1;
  }
  // A mirror of at least t's bytes for t's host buffer (allocated in prepare, not in run).
  void reserve(const Tensor& t, const std::string& where) {
    if (t.nbytes() == 0) return;
    Mirror& m = mirrors_[t.raw()];
    if (m.bytes >= t.nbytes()) return;
    if (m.dev) cudaFree(m.dev);
    m = {};
    check(cudaMalloc(&m.dev, t.nbytes()), "cudaMalloc", where);
    m.bytes = t.nbytes();
  }
  // The device copy of value v (in host tensor t: a constant or what a cuda kernel produced), uploaded
  // unless the device holds v already.
  const void* input(const Tensor& t, int v, const std::string& where) {
    if (t.nbytes() == 0) return nullptr;
    Mirror& m = mirror(t, where);
    if (m.value != v) {
      recorder_->flush();  // uploads from pageable memory are not captured
      check(cudaMemcpyAsync(m.dev, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream_), "upload", where);
      m.value = v;
    }
    return m.dev;
  }
  // The device buffer a kernel writes value v of host tensor t to.
  void* output(const Tensor& t, int v, const std::string& where) {
    if (t.nbytes() == 0) return nullptr;
    Mirror& m = mirror(t, where);
    m.value = v;
    return m.dev;
  }
  // Host copy of t from its mirror, when the mirror holds v (waits for the stream).
  void download(Tensor& t, int v, const std::string& where) {
    if (t.nbytes() == 0) return;
    auto it = mirrors_.find(t.raw());
    if (it == mirrors_.end() || it->second.value != v) return;
    recorder_->flush();
    check(cudaMemcpyAsync(t.raw(), it->second.dev, t.nbytes(), cudaMemcpyDeviceToHost, stream_), "download", where);
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize", where);
  }
  // The mirror of t no longer holds value v (a host kernel rewrote t).
  void drop(const Tensor& t) {
    auto it = mirrors_.find(t.raw());
    if (it != mirrors_.end()) it->second.value = -1;
  }
  void sync(const std::string& where) {
    recorder_->flush();
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize", where);
  }
  // Scratch shared by the GEMM-path kernels (they run one after another on the one stream): the im2col
  // columns, the int32 accumulators, cuBLASLt's workspace. Grown in prepare (never in run: CUDA graphs hold
  // the pointers, and every prepare drops the graphs recorded); scratch() is read at launch time.
  enum Scratch { kCols, kAcc, kWorkspace, kScratchSlots };
  void reserve_scratch(Scratch s, size_t bytes, const std::string& where) {
    Buf& b = scratch_[s];
    if (b.bytes >= bytes) return;
    if (b.dev) cudaFree(b.dev);
    b = {};
    check(cudaMalloc(&b.dev, bytes), "cudaMalloc (GEMM scratch)", where);
    b.bytes = bytes;
  }
  void* scratch(Scratch s) const { return scratch_[s].dev; }
  // What the QConv / QLinear kernels chose (for stats()): counts by node, and the first reason for a simple one.
  struct GemmUse {
    std::unordered_map<const void*, bool> fast;  // kernel -> on the GEMM path
    std::string why_not;
  };
  GemmUse& gemm_use() { return gemm_use_; }

  // Device memory for a kernel's own constants (multipliers), freed with the context.
  const float* upload_floats(const std::vector<float>& v, const std::string& where) {
    if (v.empty()) return nullptr;
    void* p = nullptr;
    check(cudaMalloc(&p, v.size() * sizeof(float)), "cudaMalloc", where);
    owned_.push_back(p);
    check(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "upload", where);
    return static_cast<const float*>(p);
  }

 private:
  struct Mirror {
    void* dev = nullptr;
    size_t bytes = 0;
    int value = -1;  // the graph value whose data the device copy holds, -1: none
  };
  Mirror& mirror(const Tensor& t, const std::string& where) {
    auto it = mirrors_.find(t.raw());
    OCTET_CHECK(it != mirrors_.end() && it->second.bytes >= t.nbytes(), "cuda: ", where,
                ": a tensor without a device buffer (prepare() was not called after reshape)");
    return it->second;
  }
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<StreamGraphs> graph_dev_;
  std::unique_ptr<cuda::GraphRecorder> recorder_;
  std::unordered_map<const void*, Mirror> mirrors_;
  std::vector<void*> owned_;
  struct Buf {
    void* dev = nullptr;
    size_t bytes = 0;
  };
  Buf scratch_[kScratchSlots];
  GemmUse gemm_use_;
};

// One node on the GPU. The subclasses' launch() only builds Args from shapes and device pointers.
class CudaKernel : public Kernel {
 public:
  CudaKernel(const Graph& g, const Node& n, std::shared_ptr<DeviceContext> ctx)
      : node_(n), ctx_(std::move(ctx)), where_(n.describe()), ref_(make_ref_backend()->create(g, n)) {
    const cuda::Residency r = cuda::residency(g, n, cuda::supports);
    reuse_ = r.reuse;
    download_ = r.download;
  }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    ctx_->forget_values();
    runs_ = 0;
    use_ref_ = false;
    why_.clear();
    for (const Tensor* t : out)
      if (t && t->numel() == 0) why_ = "empty tensor";  // nothing to launch: ref fills it on the host
    if (!in.empty() && in[0] && in[0]->numel() == 0) why_ = "empty tensor";
    const bool elementwise = node_.op == OpType::Add || node_.op == OpType::Sub || node_.op == OpType::Mul ||
                             node_.op == OpType::Div || node_.op == OpType::Relu;
    if (elementwise && out[0]->rank() > cuda::kMaxRank)
      why_ = "rank " + std::to_string(out[0]->rank()) + " > " + std::to_string(cuda::kMaxRank);
    if (why_.empty()) why_ = shape_limits(in);
    use_ref_ = !why_.empty();
    if (use_ref_) return;
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] && reuse_[i]) ctx_->reserve(*in[i], where_);
    for (const Tensor* t : out) ctx_->reserve(*t, where_);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    if (use_ref_) {
      // The host must see the device's values first; the outputs are then the host's.
      ctx_->recorder().flush();
      for (size_t i = 0; i < in.size(); ++i)
        if (in[i]) ctx_->download(const_cast<Tensor&>(*in[i]), node_.inputs[i], where_);
      ref_->run(in, out);
      for (Tensor* t : out) ctx_->drop(*t);
      return;
    }
    std::vector<const void*> din(in.size(), nullptr);
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i]) continue;
      din[i] = reuse_[i] ? ctx_->input(*in[i], node_.inputs[i], where_) : stage(i, *in[i]);
    }
    std::vector<void*> dout(out.size(), nullptr);
    for (size_t i = 0; i < out.size(); ++i) dout[i] = ctx_->output(*out[i], node_.outputs[i], where_);
    // Into a CUDA graph from the second run after a reshape on (graph_recorder.h); replayed after that.
    cuda::GraphRecorder& rec = ctx_->recorder();
    const int run = runs_ < 2 ? runs_++ : runs_;
    if (rec.before_launch(this, run, [this, in, out, din, dout] { launch(in, out, din, dout); })) {
      try {
        launch(in, out, din, dout);
      } catch (...) {
        rec.abort();
        throw;
      }
    }
    for (size_t i = 0; i < out.size(); ++i)
      if (download_[i]) ctx_->download(*out[i], node_.outputs[i], where_);
  }

  ~CudaKernel() override {
    for (Staging& st : staging_) cudaFree(st.dev);
  }

  void to_host(const std::vector<Tensor*>& out) override {
    if (use_ref_) return;
    for (size_t i = 0; i < out.size(); ++i)
      if (!download_[i]) ctx_->download(*out[i], node_.outputs[i], where_);
  }

  std::string fallback_reason() const override { return why_; }

  // What the device kernels cannot do with these shapes (empty: they can), for the FP32 ops whose supports()
  // could not see the shapes.
  std::string shape_limits(const std::vector<const Tensor*>& in) const {
    const auto has = [&](size_t i) { return i < in.size() && in[i]; };
    switch (node_.op) {
      case OpType::MatMul:
        if (in[0]->rank() < 2 || in[1]->rank() < 2) return "a 1-D MatMul operand";
        if (std::max(in[0]->rank(), in[1]->rank()) - 2 > cuda::kMaxRank) return "more than 6 batch dims";
        return {};
      case OpType::Gemm:
        if (in[0]->rank() != 2 || in[1]->rank() != 2 || (has(2) && in[2]->rank() > 2)) return "Gemm operand ranks";
        return {};
      case OpType::LayerNormalization: {
        const cuda::LayerNormF32Args a = cuda::layernorm_f32_args(node_, in[0]->shape());
        if (in[1]->numel() != a.n || (has(2) && in[2]->numel() != a.n)) return "scale/bias broadcast over the normalized dims";
        return {};
      }
      default: return {};
    }
  }

 protected:
  virtual void launch(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out,
                      const std::vector<const void*>& din, const std::vector<void*>& dout) = 0;
  cudaStream_t stream() const { return ctx_->stream(); }
  bool on_host() const { return use_ref_; }

  Node node_;
  std::shared_ptr<DeviceContext> ctx_;
  std::string where_;

 private:
  // Input i uploaded to this kernel's own buffer (a graph input's host buffer is the caller's and changes
  // from run to run; it is no key for a mirror). Allocates only when the input grows.
  const void* stage(size_t i, const Tensor& t) {
    if (t.nbytes() == 0) return nullptr;
    if (staging_.size() < i + 1) staging_.resize(i + 1);
    Staging& st = staging_[i];
    ctx_->recorder().flush();  // uploads from pageable memory are not captured
    if (st.bytes < t.nbytes()) {
      if (st.dev) cudaFree(st.dev);
      st = {};
      check(cudaMalloc(&st.dev, t.nbytes()), "cudaMalloc", where_);
      st.bytes = t.nbytes();
    }
    check(cudaMemcpyAsync(st.dev, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, ctx_->stream()), "upload", where_);
    return st.dev;
  }
  struct Staging {
    void* dev = nullptr;
    size_t bytes = 0;
  };

  std::unique_ptr<Kernel> ref_;
  std::vector<Staging> staging_;
  std::vector<bool> reuse_, download_;
  bool use_ref_ = false;
  int runs_ = 0;     // runs since the last prepare (counted up to 2: the recorder needs no more)
  std::string why_;  // why run() takes the reference kernel (empty: it does not)
};

// QConv (group 1) and QLinear on the GEMM path (kernels_gemm.h): im2col (or the activations themselves) +
// cuBLASLt's int8 GEMM into int32 + octet's epilogue; equal to QConvBody / QLinearBody bit for bit. Where
// cuBLASLt is missing or has no algorithm for the shape, the simple one-thread kernel runs (stats() says so).
class GemmKernel final : public CudaKernel {
 public:
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;
  GemmKernel(const Graph& g, const Node& n, std::shared_ptr<DeviceContext> ctx, const float* mult)
      : CudaKernel(g, n, std::move(ctx)), mult_(mult), linear_(n.op == OpType::QLinear) {}
  ~GemmKernel() override { cudaFree(packed_); }

  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    CudaKernel::prepare(in, out);
    fast_ = false;
    is_packed_ = false;
    if (on_host()) return;
    cuda::Win2 w{};
    int64_t M = 0;
    if (linear_) {
      const cuda::QLinearArgs a = cuda::qlinear_args(node_, in[0]->shape(), in[1]->shape());
      w = cuda::linear_window(a.rows, a.K);
      M = a.Nout;
      ep_ = a.ep;
    } else {
      const cuda::QConvArgs a = cuda::qconv_args(node_, in[0]->shape(), in[1]->shape());
      w = a.win;
      M = a.K;
      ep_ = a.ep;
    }
    win_ = w;
    gs_ = cuda::conv_gemm_shape(w, M);
    std::string why;
    auto& use = ctx_->gemm_use();
    if (gemm_.plan(gs_.Mp, gs_.P, gs_.Kp, kWorkspaceBytes, &why)) {
      const size_t wbytes = static_cast<size_t>(gs_.Mp * gs_.Kp);
      if (packed_bytes_ < wbytes) {
        cudaFree(packed_);
        packed_ = nullptr;
        packed_bytes_ = 0;
        check(cudaMalloc(&packed_, wbytes), "cudaMalloc (packed weights)", where_);
        packed_bytes_ = wbytes;
      }
      if (!gs_.direct) ctx_->reserve_scratch(DeviceContext::kCols, static_cast<size_t>(gs_.P * gs_.Kp), where_);
      ctx_->reserve_scratch(DeviceContext::kAcc, static_cast<size_t>(gs_.P * gs_.Mp) * sizeof(int32_t), where_);
      ctx_->reserve_scratch(DeviceContext::kWorkspace, kWorkspaceBytes, where_);
      fast_ = true;
    } else if (use.why_not.empty()) {
      use.why_not = why;
    }
    use.fast[this] = fast_;
  }

 protected:
  void launch(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out,
              const std::vector<const void*>& d, const std::vector<void*>& o) override {
    using namespace cuda;
    if (!fast_) {
      if (linear_) {
        QLinearArgs a = qlinear_args(node_, in[0]->shape(), in[1]->shape());
        a.x = p8(d, 0), a.w = p8(d, 1), a.bias = pf(d, 2), a.multiplier = mult_, a.y = static_cast<int8_t*>(o[0]);
        cuda::launch<QLinearBody>(a, stream());
      } else {
        QConvArgs a = qconv_args(node_, in[0]->shape(), in[1]->shape());
        a.x = p8(d, 0), a.w = p8(d, 1), a.bias = pf(d, 2), a.residual = linear_ ? nullptr : p8(d, 3);
        a.multiplier = mult_, a.y = static_cast<int8_t*>(o[0]);
        cuda::launch<QConvBody>(a, stream());
      }
      return;
    }
    // The weights are a constant: packed once after each prepare (in the first, eager run; a CUDA graph
    // captured later holds only the per-run launches).
    if (!is_packed_) {
      const Shape& ws = in[1]->shape();
      PackWeightsArgs pa{p8(d, 1), static_cast<int8_t*>(packed_), gs_.M, win_.C, linear_ ? 1 : ws[2],
                         linear_ ? 1 : ws[3], gs_.Mp, gs_.Kp};
      cuda::launch<PackWeightsBody>(pa, stream());
      is_packed_ = true;
    }
    const int8_t* B = p8(d, 0);
    if (!gs_.direct) {
      Im2colArgs ia{p8(d, 0), static_cast<int8_t*>(ctx_->scratch(DeviceContext::kCols)), win_, gs_.Kp};
      cuda::launch<Im2colBody>(ia, stream());
      B = ia.cols;
    }
    int32_t* acc = static_cast<int32_t*>(ctx_->scratch(DeviceContext::kAcc));
    gemm_.run(static_cast<const int8_t*>(packed_), B, acc, ctx_->scratch(DeviceContext::kWorkspace), kWorkspaceBytes,
              stream());
    GemmEpilogueArgs ea{};
    ea.acc = acc;
    ea.bias = pf(d, 2);
    ea.multiplier = mult_;
    ea.residual = linear_ ? nullptr : p8(d, 3);
    ea.y = static_cast<int8_t*>(o[0]);
    ea.P = gs_.P, ea.M = gs_.M, ea.Mp = gs_.Mp;
    ea.ep = ep_;
    cuda::launch<GemmEpilogueBody>(ea, stream());
  }

 private:
  static const int8_t* p8(const std::vector<const void*>& d, size_t i) {
    return i < d.size() ? static_cast<const int8_t*>(d[i]) : nullptr;
  }
  static const float* pf(const std::vector<const void*>& d, size_t i) {
    return i < d.size() ? static_cast<const float*>(d[i]) : nullptr;
  }
  const float* mult_;
  bool linear_;
  bool fast_ = false, is_packed_ = false;
  cuda::Win2 win_{};
  cuda::GemmShape gs_;
  quant::EpilogueArgs ep_{};
  cuda::Int8Gemm gemm_;
  void* packed_ = nullptr;
  size_t packed_bytes_ = 0;
};

// A kernel whose Args come from a function of (node, in, out shapes) plus pointers: F fills the pointers.
template <class F>
class FnKernel final : public CudaKernel {
 public:
  FnKernel(const Graph& g, const Node& n, std::shared_ptr<DeviceContext> ctx, F f)
      : CudaKernel(g, n, std::move(ctx)), f_(std::move(f)) {}

 protected:
  void launch(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out,
              const std::vector<const void*>& din, const std::vector<void*>& dout) override {
    f_(*this, in, out, din, dout);
  }

 public:
  cudaStream_t s() const { return stream(); }
  const Node& node() const { return node_; }

 private:
  F f_;
};

template <class F>
std::unique_ptr<Kernel> make(const Graph& g, const Node& n, std::shared_ptr<DeviceContext> ctx, F f) {
  return std::make_unique<FnKernel<F>>(g, n, std::move(ctx), std::move(f));
}

using In = std::vector<const Tensor*>;
using Out = std::vector<Tensor*>;
using DIn = std::vector<const void*>;
using DOut = std::vector<void*>;

template <class T>
const T* p(const DIn& d, size_t i) {
  return i < d.size() ? static_cast<const T*>(d[i]) : nullptr;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(const BackendOptions& o, std::string target)
      : opt_(o), ctx_(std::make_shared<DeviceContext>(o.cuda_graphs)), target_(std::move(target)) {}
  const char* name() const override { return "cuda"; }
  std::string target() const override { return target_; }
  std::unique_ptr<DeviceTimer> device_timer() const override { return std::make_unique<EventTimer>(ctx_); }
  std::string stats() const override {
    const cuda::GraphRecorder& r = ctx_->recorder();
    std::string s = !opt_.cuda_graphs ? "cuda graphs off (OCTET_CUDA_GRAPHS=0)"
                                      : "cuda graphs: " + std::to_string(r.graphs_captured()) + " recorded, " +
                                            std::to_string(r.graphs_launched()) + " launches, " +
                                            std::to_string(r.replays_broken()) + " replays broken off";
    return s + "; " + gemm_stats();
  }
  // Which QConv/QLinear nodes run on the int8 GEMM path (cuBLASLt) and why the others do not (said once).
  std::string gemm_stats() const {
    if (!opt_.cuda_gemm) return "int8 GEMM path off (OCTET_CUDA_GEMM=0): QConv/QLinear on the simple kernels";
    if (!cuda::cublaslt_available()) return "int8 GEMM path: " + cuda::cublaslt_status();
    const auto& use = ctx_->gemm_use();
    size_t fast = 0;
    for (const auto& [k, f] : use.fast) fast += f;
    std::string s = "int8 GEMM path (" + cuda::cublaslt_status() + "): " + std::to_string(fast) + " of " +
                    std::to_string(use.fast.size()) + " QConv/QLinear";
    if (!use.why_not.empty()) s += "; simple kernels for the rest: " + use.why_not;
    return s;
  }
  Layout preferred_layout() const override { return Layout::NHWC; }
  bool supports(const Graph& g, const Node& n) const override { return cuda::supports(g, n); }

  std::unique_ptr<Kernel> create(const Graph& g, const Node& n) const override {
    using namespace cuda;
    const std::string where = n.describe();
    // A QConv with x_zero_point takes the simple kernel (QConvBody subtracts the zero point; the im2col of the
    // GEMM path pads with 0, not with the zero point).
    if (opt_.cuda_gemm && (n.op == OpType::QLinear || (n.op == OpType::QConv && n.attr_i("group", 1) == 1 &&
                                                       n.attr_i("x_zero_point", 0) == 0)))
      return std::make_unique<GemmKernel>(g, n, ctx_, ctx_->upload_floats(n.attr_floats("multiplier"), where));
    switch (n.op) {
      case OpType::Quantize:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QuantizeArgs a = quantize_args(k.node(), in[0]->shape());
          a.x = p<float>(d, 0);
          a.y = static_cast<int8_t*>(o[0]);
          cuda::launch<QuantizeBody>(a, k.s());
        });
      case OpType::Dequantize:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          DequantizeArgs a = dequantize_args(k.node(), in[0]->shape());
          a.x = p<int8_t>(d, 0);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<DequantizeBody>(a, k.s());
        });
      case OpType::QConv: {
        const float* mult = ctx_->upload_floats(n.attr_floats("multiplier"), where);
        return make(g, n, ctx_, [mult](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QConvArgs a = qconv_args(k.node(), in[0]->shape(), in[1]->shape());
          a.x = p<int8_t>(d, 0);
          a.w = p<int8_t>(d, 1);
          a.bias = p<float>(d, 2);
          a.residual = p<int8_t>(d, 3);
          a.multiplier = mult;
          a.y = static_cast<int8_t*>(o[0]);
          cuda::launch<QConvBody>(a, k.s());
        });
      }
      case OpType::QLinear: {
        const float* mult = ctx_->upload_floats(n.attr_floats("multiplier"), where);
        return make(g, n, ctx_, [mult](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QLinearArgs a = qlinear_args(k.node(), in[0]->shape(), in[1]->shape());
          a.x = p<int8_t>(d, 0);
          a.w = p<int8_t>(d, 1);
          a.bias = p<float>(d, 2);
          a.multiplier = mult;
          a.y = static_cast<int8_t*>(o[0]);
          cuda::launch<QLinearBody>(a, k.s());
        });
      }
      case OpType::QAdd:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QAddArgs a = qadd_args(k.node(), out[0]->shape());
          a.a = p<int8_t>(d, 0);
          a.b = p<int8_t>(d, 1);
          a.y = static_cast<int8_t*>(o[0]);
          cuda::launch<QAddBody>(a, k.s());
        });
      case OpType::QMulGate:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QMulGateArgs a = qmulgate_args(k.node(), in[0]->shape(), in[1]->shape());
          a.x = p<int8_t>(d, 0);
          a.g = p<float>(d, 1);
          a.y = static_cast<int8_t*>(o[0]);
          cuda::launch<QMulGateBody>(a, k.s());
        });
      case OpType::QMaxPool: case OpType::QAvgPool:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          QPoolArgs a = qpool_args(k.node(), in[0]->shape());
          a.x = p<int8_t>(d, 0);
          a.y = static_cast<int8_t*>(o[0]);
          if (k.node().op == OpType::QMaxPool) cuda::launch<QMaxPoolBody>(a, k.s());
          else cuda::launch<QAvgPoolBody>(a, k.s());
        });
      case OpType::QConcat: case OpType::Concat:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          std::vector<Shape> xs;
          for (const Tensor* t : in) xs.push_back(t->shape());
          if (k.node().op == OpType::QConcat) {
            std::vector<QConcatPartArgs> parts = qconcat_args(k.node(), xs, out[0]->shape());
            for (size_t i = 0; i < parts.size(); ++i) {
              parts[i].x = p<int8_t>(d, i);
              parts[i].y = static_cast<int8_t*>(o[0]);
              cuda::launch<QConcatPartBody>(parts[i], k.s());
            }
          } else {
            for (size_t i = 0; i < xs.size(); ++i) {
              ConcatPartArgs a = concat_part_args(k.node(), xs, i, out[0]->shape());
              a.x = p<float>(d, i);
              a.y = static_cast<float*>(o[0]);
              cuda::launch<ConcatPartBody>(a, k.s());
            }
          }
        });
      case OpType::ToNhwc: case OpType::ToNchw:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          TransposeArgs a = layout_args(k.node(), in[0]->shape());
          a.x = d[0];
          a.y = o[0];
          a.elem_bytes = static_cast<int>(dtype_size(out[0]->dtype()));
          cuda::launch<TransposeBody>(a, k.s());
        });
      case OpType::Flatten: case OpType::Reshape: case OpType::Squeeze: case OpType::Unsqueeze:
      case OpType::Identity:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          if (out[0]->nbytes() == 0) return;
          check(cudaMemcpyAsync(o[0], d[0], out[0]->nbytes(), cudaMemcpyDeviceToDevice, k.s()), "copy",
                k.node().describe());
        });
      case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div: case OpType::Relu:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          const bool unary = k.node().op == OpType::Relu;
          BinaryArgs a = binary_args(k.node(), in[0]->shape(), unary ? in[0]->shape() : in[1]->shape(),
                                     out[0]->shape());
          a.a = p<float>(d, 0);
          a.b = unary ? a.a : p<float>(d, 1);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<BinaryBody>(a, k.s());
        });
      case OpType::PoolNhwc:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          if (k.node().attr_i("global", 0) == 0) {
            PoolF32Args a = pool_f32_args(k.node(), in[0]->shape());
            a.x = p<float>(d, 0);
            a.y = static_cast<float*>(o[0]);
            cuda::launch<PoolF32Body>(a, k.s());
            return;
          }
          GlobalPoolArgs a = global_pool_args(k.node(), in[0]->shape());
          a.x = p<float>(d, 0);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<GlobalPoolBody>(a, k.s());
        });
      case OpType::BatchNormalization:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          BatchNormArgs a = batchnorm_args(k.node(), in[0]->shape());
          a.x = p<float>(d, 0);
          a.scale = p<float>(d, 1);
          a.shift = p<float>(d, 2);
          a.mean = p<float>(d, 3);
          a.var = p<float>(d, 4);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<BatchNormBody>(a, k.s());
        });
      case OpType::ConvNhwc:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          ConvF32Args a = conv_f32_args(k.node(), in[0]->shape(), in[1]->shape());
          a.x = p<float>(d, 0);
          a.w = p<float>(d, 1);
          a.bias = p<float>(d, 2);
          a.residual = p<float>(d, 3);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<ConvF32Body>(a, k.s());
        });
      case OpType::MatMul: case OpType::Gemm:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          const Node& nd = k.node();
          const bool gemm = nd.op == OpType::Gemm;
          const Shape cshape = gemm && in.size() > 2 && in[2] ? in[2]->shape() : Shape{};
          MatMulF32Args a = gemm ? gemm_f32_args(nd, in[0]->shape(), in[1]->shape(), in.size() > 2 && in[2] ? &cshape : nullptr)
                                 : matmul_f32_args(nd, in[0]->shape(), in[1]->shape());
          a.a = p<float>(d, 0);
          a.b = p<float>(d, 1);
          a.c = gemm ? p<float>(d, 2) : nullptr;
          a.residual = nd.post.residual_input >= 0 ? p<float>(d, static_cast<size_t>(nd.post.residual_input)) : nullptr;
          a.y = static_cast<float*>(o[0]);
          cuda::launch<MatMulF32Body>(a, k.s());
        });
      case OpType::Softmax:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          SoftmaxF32Args a = softmax_f32_args(k.node(), in[0]->shape());
          a.x = p<float>(d, 0);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<SoftmaxF32Body>(a, k.s());
        });
      case OpType::LayerNormalization:
        return make(g, n, ctx_, [](auto& k, const In& in, const Out& out, const DIn& d, const DOut& o) {
          LayerNormF32Args a = layernorm_f32_args(k.node(), in[0]->shape());
          a.x = p<float>(d, 0);
          a.scale = p<float>(d, 1);
          a.bias = p<float>(d, 2);
          a.y = static_cast<float*>(o[0]);
          cuda::launch<LayerNormF32Body>(a, k.s());
        });
      default: fail(where, ": the cuda backend has no kernel for ", op_name(n.op));
    }
  }

 private:
  // CUDA events on the context's stream.
  class EventTimer final : public DeviceTimer {
   public:
    explicit EventTimer(std::shared_ptr<DeviceContext> ctx) : ctx_(std::move(ctx)) {}
    ~EventTimer() override {
      for (cudaEvent_t e : events_) cudaEventDestroy(e);
    }
    size_t record() override {
      cudaEvent_t e = nullptr;
      check(cudaEventCreate(&e), "cudaEventCreate", "the bench timer");
      events_.push_back(e);
      ctx_->recorder().flush();
      check(cudaEventRecord(e, ctx_->stream()), "cudaEventRecord", "the bench timer");
      return events_.size() - 1;
    }
    double elapsed_ms(size_t a, size_t b) override {
      check(cudaEventSynchronize(events_.at(b)), "cudaEventSynchronize", "the bench timer");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, events_.at(a), events_.at(b)), "cudaEventElapsedTime", "the bench timer");
      return ms;
    }

   private:
    std::shared_ptr<DeviceContext> ctx_;
    std::vector<cudaEvent_t> events_;
  };

  BackendOptions opt_;
  std::shared_ptr<DeviceContext> ctx_;
  std::string target_;
};

// Why no device can be used (cudaGetDeviceCount failed or found none), naming the likely cause: no driver at
// all, a driver older than the runtime linked in, or no device. Empty when there is a device.
std::string no_device_reason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count > 0) return {};
  cudaGetLastError();  // clear it, so that later runtime calls start clean
  int driver = 0;
  cudaDriverGetVersion(&driver);
  std::string why = e != cudaSuccess ? cudaGetErrorString(e) : "no devices";
  if (driver == 0)
    why = "no NVIDIA driver found (libcuda.so.1)";
  else if (e == cudaErrorInsufficientDriver)
    why += " (the driver supports CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
           ", this octet needs " + std::to_string(CUDART_VERSION / 1000) + "." +
           std::to_string(CUDART_VERSION % 1000 / 10) + ")";
  return why;
}

// The backend needs a device this build can run on: sm_90 (the code is sm_90a only).
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& o) {
  if (const std::string why = no_device_reason(); !why.empty())
    fail("backend 'cuda': no usable NVIDIA GPU: ", why, "; use --backend cpu, or see docs/gpu.md");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties", "device 0");
  if (prop.major != 9 || prop.minor != 0)
    fail("backend 'cuda': device 0 (", prop.name, ") is compute capability ", prop.major, ".", prop.minor,
         "; this octet was built for sm_90a (Hopper: H100, H200, GH200) only");
  return std::make_unique<CudaBackend>(o, "sm_" + std::to_string(prop.major) + std::to_string(prop.minor));
}

// runtime/backend.h's DeviceReader: memory a user hands octet by address (a Python calibrator's pycuda
// pointer, CuPy / PyTorch tensor). Any compute capability will do (only the runtime copies). The context current
// on this thread is kept (pycuda makes its own): the device is switched only when the memory lives on another,
// and switched back.
void read_device_memory(void* dst, const void* src, size_t bytes) {
  if (const std::string why = no_device_reason(); !why.empty()) fail("cannot read device memory: ", why);
  cudaPointerAttributes a{};
  if (const cudaError_t e = cudaPointerGetAttributes(&a, src); e != cudaSuccess) {
    cudaGetLastError();
    fail("cannot read device memory: cudaPointerGetAttributes: ", cudaGetErrorString(e));
  }
  if (a.type == cudaMemoryTypeUnregistered)
    fail("it is not CUDA memory (cudaPointerGetAttributes: host memory unknown to CUDA, or no allocation); return "
         "host data as a numpy array, or a pointer from cudaMalloc / pycuda's mem_alloc");
  int prev = 0;
  check(cudaGetDevice(&prev), "cudaGetDevice", "reading device memory");
  const bool other = a.type != cudaMemoryTypeHost && a.device >= 0 && a.device != prev;
  if (other) check(cudaSetDevice(a.device), "cudaSetDevice", "reading device memory");
  cudaError_t e = cudaDeviceSynchronize();  // the producer's kernels and copies, on whatever stream, are done
  if (e == cudaSuccess) e = cudaMemcpy(dst, src, bytes, cudaMemcpyDefault);
  if (other) cudaSetDevice(prev);
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail("cannot read ", bytes, " bytes of device memory (device ", a.device, "): ", cudaGetErrorString(e));
  }
}

const bool kRegistered = (register_backend("cuda", make_cuda_backend), register_device_reader(read_device_memory), true);

}  // namespace

}  // namespace octet

// Referenced by the octet_cuda target's link option (--undefined) so that the registering object file is kept.
extern const int octet_cuda_backend_anchor;
const int octet_cuda_backend_anchor = 1;
