// libFuzzer target for the .npy/.npz reader: any input must parse or throw octet::Error, never crash,
// hang or allocate more than the input could justify.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DOCTET_FUZZ=ON && cmake --build build-fuzz --target fuzz_npy
//   ./build-fuzz/fuzz/fuzz_npy -max_len=4096 -rss_limit_mb=512 corpus/
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    octet::parse_npy_or_npz(data, size);
  } catch (const octet::Error&) {
  }
  return 0;
}
