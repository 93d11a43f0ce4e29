// libFuzzer target: the ONNX importer on arbitrary bytes must throw octet::Error or succeed, never crash, hang
// or ask for memory the input cannot justify.
//
// External data is fuzzed too: the model's folder is a real temporary folder (LLVMFuzzerInitialize) holding
//   weights.bin    4096 bytes of data          sub/w.bin   512 bytes, one folder down
//   outside.bin -> a file OUTSIDE the folder (a symbolic link; its bytes are a per-process secret)
//   uplink/     -> the folder's parent (a link to a folder outside)
//   fifo.bin       a FIFO (must be refused, never block)
//   dir.bin/       a folder
// The seed corpus (fuzz/corpus/fuzz_onnx) has models pointing at each. Properties checked beyond "no crash":
//   - no imported constant holds the secret (external data never escapes the folder, links or not);
//   - no octet::Error says "out of memory" (a size must be checked against the data present before it is
//     allocated; the regression runner limits memory so that an unchecked allocation fails).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "core/error.h"
#include "onnx/import.h"

namespace {

std::string g_root;     // parent of both, removed at exit
std::string g_dir;      // the model's folder
std::string g_secret;   // bytes of the outside file

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void cleanup() {
  std::error_code ec;
  if (!g_root.empty()) std::filesystem::remove_all(g_root, ec);
}

void setup() {
  char tmpl[] = "/tmp/octet_fuzz_onnx.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_root = tmpl;
  g_dir = g_root + "/model";
  std::filesystem::create_directories(g_dir + "/sub");
  std::filesystem::create_directories(g_dir + "/dir.bin");
  std::string w(4096, '\0');
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<char>(i * 7 + 1);
  write_bytes(g_dir + "/weights.bin", w);
  write_bytes(g_dir + "/sub/w.bin", w.substr(0, 512));
  std::random_device rd;
  for (int i = 0; i < 32; ++i) g_secret.push_back(static_cast<char>(rd() | 0x80));
  std::string outside;
  while (outside.size() < 4096) outside += g_secret;
  write_bytes(g_root + "/secret.bin", outside);
  std::filesystem::create_symlink(g_root + "/secret.bin", g_dir + "/outside.bin");
  std::filesystem::create_directory_symlink(g_root, g_dir + "/uplink");
  if (::mkfifo((g_dir + "/fifo.bin").c_str(), 0600) != 0) std::perror("mkfifo");
  std::atexit(cleanup);
}

// Byte loop without memcmp and without comparison tracing: libFuzzer learns the operands of instrumented
// comparisons (and of memcmp/strstr), and would then write the secret into a raw_data itself.
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
bool holds_secret(const octet::Tensor& t) {
  if (!t.raw() || t.nbytes() < 16) return false;
  const unsigned char* p = static_cast<const unsigned char*>(t.raw());
  const unsigned char* s = reinterpret_cast<const unsigned char*>(g_secret.data());
  const size_t n = t.nbytes(), m = g_secret.size();
  // Any 16 bytes of the outside file (the secret repeated) at any offset: every rotation of the secret.
  for (size_t i = 0; i + 16 <= n; ++i)
    for (size_t r = 0; r < m; ++r) {
      if (p[i] != s[r]) continue;
      unsigned diff = 0;
      for (size_t k = 0; k < 16; ++k) diff |= static_cast<unsigned>(p[i + k] ^ s[(r + k) % m]);
      if (diff == 0) return true;
    }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    octet::ImportOptions opt;
    opt.strict = false;
    octet::ImportResult r = octet::import_onnx_buffer(data, size, "<fuzz>", g_dir, opt);
    for (const auto& v : r.graph.values)
      if (v.constant && holds_secret(*v.constant)) {
        std::fprintf(stderr, "external data escaped the model's folder: '%s' holds the outside file's bytes\n",
                     v.name.c_str());
        std::abort();
      }
  } catch (const octet::Error& e) {
    // Only the allocator's own message starts so (every importer message starts "cannot load '<fuzz>'", and
    // the input can put any text in the names it quotes).
    if (std::string_view(e.what()).starts_with("out of memory")) {
      std::fprintf(stderr, "allocation from unchecked sizes: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
