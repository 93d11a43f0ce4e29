// libFuzzer target: the ONNX importer on arbitrary bytes must throw octet::Error or succeed, never crash.
#include <cstddef>
#include <cstdint>

#include "onnx/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    octet::ImportOptions opt;
    opt.strict = false;
    octet::import_onnx_buffer(data, size, "<fuzz>", "/nonexistent", opt);
  } catch (const octet::Error&) {
  }
  return 0;
}
