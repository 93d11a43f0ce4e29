#include "backends/ref/ref.h"
#include "runtime/backend.h"
#include "core/error.h"

#include <cstdlib>
#include <cstring>

namespace octet {

namespace {

class RefKernel final : public Kernel {
 public:
  explicit RefKernel(const Node& n) : node_(n), fn_(ref_fn(n.op)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    fn_(OpArgs{node_, in, out});
  }

 private:
  Node node_;  // a copy: kernels outlive graph edits
  RefFn fn_;
};

class RefBackend final : public Backend {
 public:
  const char* name() const override { return "ref"; }
  bool supports(const Graph&, const Node&) const override { return true; }
  std::unique_ptr<Kernel> create(const Graph&, const Node& n) const override {
    return std::make_unique<RefKernel>(n);
  }
};

}  // namespace

std::unique_ptr<Backend> make_ref_backend() { return std::make_unique<RefBackend>(); }

BackendOptions BackendOptions::from_environment() {
  auto on = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
  };
  BackendOptions o;
  o.strict = on("OCTET_CPU_STRICT");
  o.qconv_epilogue = on("OCTET_QCONV_EPILOGUE");
  o.verbose = on("OCTET_CPU_VERBOSE");
  if (const char* band = std::getenv("OCTET_QCONV_BAND_BYTES"); band && *band) {
    char* end = nullptr;
    const long long b = std::strtoll(band, &end, 10);
    OCTET_CHECK(*end == 0 && b >= 0, "OCTET_QCONV_BAND_BYTES: not a byte count: '", band, "'");
    o.qconv_band_bytes = b;
  }
  const char* graphs = std::getenv("OCTET_CUDA_GRAPHS");
  o.cuda_graphs = !(graphs && std::strcmp(graphs, "0") == 0);
  const char* gemm = std::getenv("OCTET_CUDA_GEMM");
  o.cuda_gemm = !(gemm && std::strcmp(gemm, "0") == 0);
  return o;
}

namespace {

// Registered backends in registration order, "ref" first (a function-local static: backends register from
// static initializers of other libraries).
std::vector<std::pair<std::string, BackendFactory>>& registry() {
  static std::vector<std::pair<std::string, BackendFactory>> r{{"ref", [](const BackendOptions&) { return make_ref_backend(); }}};
  return r;
}

}  // namespace

void register_backend(const std::string& name, BackendFactory factory) {
  for (auto& [n, f] : registry())
    if (n == name) {
      f = factory;
      return;
    }
  registry().emplace_back(name, factory);
}

namespace {
DeviceReader g_device_reader = nullptr;  // constant-initialized: safe to set from other static initializers
}  // namespace

void register_device_reader(DeviceReader reader) { g_device_reader = reader; }
DeviceReader device_reader() { return g_device_reader; }

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  std::string valid;
  for (const auto& [n, f] : registry()) {
    if (n == name) return f(options);
    valid += (valid.empty() ? "" : ", ") + n;
  }
  if (name == "cuda")
    fail("backend 'cuda' is not available: this octet was built without CUDA (no nvcc found, or OCTET_CUDA=OFF; "
         "see docs/gpu.md) (valid: ", valid, ")");
  fail("unknown backend '", name, "' (valid: ", valid, ")");
}

}  // namespace octet
