// cuBLASLt through dlopen (cublaslt.h). The header <cublasLt.h> is used for its types and constants only;
// every function is looked up in the library loaded at run time.
#include "backends/cuda/cublaslt.h"

#include <cublasLt.h>
#include <dlfcn.h>

#include <mutex>

#include "core/error.h"

namespace octet::cuda {

namespace {

// The cuBLASLt functions octet calls, resolved with dlsym.
#define OCTET_LT_FUNCTIONS(X) \
  X(cublasLtCreate) \
  X(cublasLtMatmulDescCreate) \
  X(cublasLtMatmulDescDestroy) \
  X(cublasLtMatmulDescSetAttribute) \
  X(cublasLtMatrixLayoutCreate) \
  X(cublasLtMatrixLayoutDestroy) \
  X(cublasLtMatmulPreferenceCreate) \
  X(cublasLtMatmulPreferenceDestroy) \
  X(cublasLtMatmulPreferenceSetAttribute) \
  X(cublasLtMatmulAlgoGetHeuristic) \
  X(cublasLtMatmul)

struct Lib {
  void* so = nullptr;
  std::string status;
  cublasLtHandle_t handle = nullptr;
#define OCTET_LT_FN(name) decltype(&::name) name = nullptr;
  OCTET_LT_FUNCTIONS(OCTET_LT_FN)
#undef OCTET_LT_FN
};

const Lib& lib() {
  static Lib l;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("OCTET_CUBLASLT");  // a path or name to try first (tests: a missing one)
    std::string tried, err;
    for (const char* name : {env, "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) {
      if (!name || !*name) continue;
      l.so = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (l.so) {
        l.status = std::string("cuBLASLt ") + name;
        break;
      }
      const char* e = dlerror();
      tried += (tried.empty() ? "" : ", ") + std::string(name);
      err = e ? e : "";
      if (env && name == env) break;  // an explicit choice is the only one tried
    }
    if (!l.so) {
      l.status = "cuBLASLt not found (tried " + tried + (err.empty() ? "" : ": " + err) +
                 "): QConv/QLinear run the simple kernels";
      return;
    }
    bool ok = true;
#define OCTET_LT_FN(name)                                                      \
  l.name = reinterpret_cast<decltype(&::name)>(dlsym(l.so, #name));            \
  if (!l.name) {                                                               \
    ok = false;                                                                \
    l.status += " lacks " #name;                                               \
  }
    OCTET_LT_FUNCTIONS(OCTET_LT_FN)
#undef OCTET_LT_FN
    if (ok && l.cublasLtCreate(&l.handle) != CUBLAS_STATUS_SUCCESS) {
      ok = false;
      l.status += ": cublasLtCreate failed";
    }
    if (!ok) {
      l.status += ": QConv/QLinear run the simple kernels";
      l.handle = nullptr;
    }
  });
  return l;
}

}  // namespace

bool cublaslt_available() { return lib().handle != nullptr; }
const std::string& cublaslt_status() { return lib().status; }

struct Int8Gemm::Impl {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool planned = false;
  void release() {
    const Lib& l = lib();
    if (desc) l.cublasLtMatmulDescDestroy(desc);
    if (a) l.cublasLtMatrixLayoutDestroy(a);
    if (b) l.cublasLtMatrixLayoutDestroy(b);
    if (c) l.cublasLtMatrixLayoutDestroy(c);
    desc = nullptr, a = b = c = nullptr, planned = false;
  }
};

Int8Gemm::Int8Gemm() : impl_(std::make_unique<Impl>()) {}
Int8Gemm::~Int8Gemm() {
  if (cublaslt_available()) impl_->release();
}

bool Int8Gemm::plan(int64_t m, int64_t n, int64_t k, size_t workspace_bytes, std::string* why) {
  const Lib& l = lib();
  if (!l.handle) {
    *why = l.status;
    return false;
  }
  impl_->release();
  Impl& d = *impl_;
  auto fail = [&](const char* what, int st) {
    *why = std::string("cuBLASLt ") + what + " (status " + std::to_string(st) + ") for m=" + std::to_string(m) +
           " n=" + std::to_string(n) + " k=" + std::to_string(k);
    d.release();
    return false;
  };
  cublasStatus_t st = l.cublasLtMatmulDescCreate(&d.desc, CUBLAS_COMPUTE_32I, CUDA_R_32I);
  if (st != CUBLAS_STATUS_SUCCESS) return fail("cublasLtMatmulDescCreate", st);
  const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  l.cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t);
  l.cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof nt);
  // Column-major: A is k x m (op T), B k x n, C m x n.
  if ((st = l.cublasLtMatrixLayoutCreate(&d.a, CUDA_R_8I, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k)) !=
      CUBLAS_STATUS_SUCCESS)
    return fail("layout A", st);
  if ((st = l.cublasLtMatrixLayoutCreate(&d.b, CUDA_R_8I, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k)) !=
      CUBLAS_STATUS_SUCCESS)
    return fail("layout B", st);
  if ((st = l.cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32I, static_cast<uint64_t>(m), static_cast<uint64_t>(n), m)) !=
      CUBLAS_STATUS_SUCCESS)
    return fail("layout C", st);
  cublasLtMatmulPreference_t pref = nullptr;
  if ((st = l.cublasLtMatmulPreferenceCreate(&pref)) != CUBLAS_STATUS_SUCCESS) return fail("preference", st);
  const uint64_t ws = workspace_bytes;
  l.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  cublasLtMatmulHeuristicResult_t r{};
  int found = 0;
  st = l.cublasLtMatmulAlgoGetHeuristic(l.handle, d.desc, d.a, d.b, d.c, d.c, pref, 1, &r, &found);
  l.cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found < 1) return fail("found no algorithm", st);
  d.algo = r.algo;
  d.planned = true;
  return true;
}

void Int8Gemm::run(const int8_t* A, const int8_t* B, int32_t* C, void* workspace, size_t workspace_bytes,
                   cudaStream_t stream) const {
  const Lib& l = lib();
  OCTET_CHECK(impl_->planned, "cuda: Int8Gemm::run before a successful plan()");
  const int32_t one = 1, zero = 0;
  const cublasStatus_t st = l.cublasLtMatmul(l.handle, impl_->desc, &one, A, impl_->a, B, impl_->b, &zero, C,
                                             impl_->c, C, impl_->c, &impl_->algo, workspace, workspace_bytes, stream);
  OCTET_CHECK(st == CUBLAS_STATUS_SUCCESS, "cuda: cublasLtMatmul failed (status ", static_cast<int>(st), ")");
}

}  // namespace octet::cuda
