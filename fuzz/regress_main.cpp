// Plain-compiler driver for a libFuzzer harness: feeds every file under the folders given (the seed corpus and
// the reproducers, fuzz/corpus/<target> and fuzz/regressions/<target>) to LLVMFuzzerTestOneInput, so that
// every crash the fuzzers ever found stays fixed in the default test suite (ctest: fuzz_regress.<target>), and
// under AddressSanitizer in the sanitizer build.
//
//   fuzz_onnx_regress fuzz/corpus/fuzz_onnx fuzz/regressions/fuzz_onnx
//
// A crash or abort fails the test (the harnesses abort on a broken property). Each input gets 10 s (SIGALRM
// ends a hang) and the process at most 4 GiB of address space (without ASan; with ASan, allocations over
// 4 GiB fail instead), so an allocation sized from an unchecked declaration fails instead of succeeding.
// The first folder (the corpus) missing or empty is an error: a runner that tests nothing must not pass.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

#if defined(__SANITIZE_ADDRESS__)
#define OCTET_REGRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OCTET_REGRESS_ASAN 1
#endif
#endif

#ifdef OCTET_REGRESS_ASAN
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1:max_allocation_size_mb=4096"; }
#endif

namespace {

const char* g_current = "";

void on_alarm(int) {
  const char msg[] = "fuzz regression: timeout (10 s) on ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, g_current, std::strlen(g_current));
  (void)!::write(2, "\n", 1);
  std::_Exit(124);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
#ifndef OCTET_REGRESS_ASAN
  struct rlimit rl {};
  rl.rlim_cur = rl.rlim_max = 4ull << 30;
  ::setrlimit(RLIMIT_AS, &rl);
#endif
  std::signal(SIGALRM, on_alarm);
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  namespace fs = std::filesystem;
  int failures = 0;
  size_t total = 0;
  for (int a = 1; a < argc; ++a) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_regular_file(argv[a], ec)) {
      files.push_back(argv[a]);
    } else if (fs::is_directory(argv[a], ec)) {
      for (const auto& e : fs::recursive_directory_iterator(argv[a]))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
    if (files.empty()) {
      // The corpus (first folder) must hold inputs; a target may have no reproducers (yet).
      std::fprintf(stderr, "fuzz regression: no inputs in '%s'%s\n", argv[a], a == 1 ? "" : " (none yet)");
      if (a == 1) ++failures;
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::string name = f.string();
      g_current = name.c_str();
      std::fprintf(stderr, "running %s (%zu bytes)\n", name.c_str(), bytes.size());
      ::alarm(10);
      // A copy of exactly the input's size, as libFuzzer gives: ASan sees a read past its end.
      std::vector<uint8_t> copy(bytes.begin(), bytes.end());
      LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
      ::alarm(0);
      ++total;
    }
  }
  std::fprintf(stderr, "fuzz regression: %zu inputs, %s\n", total, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
