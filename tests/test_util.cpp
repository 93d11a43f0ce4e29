#include "test_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <future>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace octet::test {

namespace {
// testing::TempDir() is /tmp/ for every test process, so two test binaries (ctest -j, or two checkouts tested
// at once on one machine) writing the same file name there raced. Each test process gets its own folder
// instead, unless the runner chose one (TEST_TMPDIR), removed when the process ends normally.
struct PrivateTempDir {
  std::string path;
  pid_t owner = ::getpid();
  PrivateTempDir() {
    if (std::getenv("TEST_TMPDIR")) return;
    std::string tmpl = (std::filesystem::temp_directory_path() / "octet-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    path = tmpl;
    ::setenv("TEST_TMPDIR", (path + "/").c_str(), 1);
  }
  ~PrivateTempDir() {
    std::error_code ec;
    if (!path.empty() && ::getpid() == owner) std::filesystem::remove_all(path, ec);
  }
};
const PrivateTempDir g_private_temp_dir;
}  // namespace

std::string source_dir() {
  const char* s = std::getenv("OCTET_SOURCE_DIR");
  return s ? s : ".";
}

std::string shared_dir() {
  const char* s = std::getenv("OCTET_SHARED");
  std::string d = s ? s : source_dir() + "/../shared";
  return std::filesystem::is_directory(d) ? d : "";
}

Tensor random_f32(const Shape& s, uint32_t seed, float lo, float hi) {
  Tensor t(DType::f32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = u(rng);
  return t;
}

double max_abs_error(const Tensor& a, const Tensor& b) {
  OCTET_CHECK(a.shape() == b.shape(), "shape mismatch ", shape_str(a.shape()), " vs ", shape_str(b.shape()));
  auto va = a.to_f32(), vb = b.to_f32();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) != std::isnan(vb[i])) return INFINITY;
    if (!std::isnan(va[i])) m = std::max(m, static_cast<double>(std::fabs(va[i] - vb[i])));
  }
  return m;
}

double max_rel_error(const Tensor& a, const Tensor& b) {
  auto vb = b.to_f32();
  double ref = 0;
  for (float v : vb) ref = std::max(ref, static_cast<double>(std::fabs(v)));
  return max_abs_error(a, b) / (ref + 1e-6);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string error_without_hang(const std::string& fifo, const std::function<void()>& f) {
  auto fut = std::async(std::launch::async, [&] { return error_of(f); });
  if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
    ADD_FAILURE() << "blocked on the FIFO '" << fifo << "'";
  }
  return fut.get();
}

}  // namespace octet::test
