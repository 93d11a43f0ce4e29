// libFuzzer target for the TensorRT calibration cache reader (src/calib/cache.h).
// Properties: parse_cache either returns or throws octet::Error (never crashes, never another exception);
// whatever it accepts re-serializes, and that text parses back to the same entries (bit-exact scales).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "calib/cache.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  octet::CalibCache c;
  try {
    c = octet::parse_cache(buf, "fuzz input");
  } catch (const octet::Error&) {
    return 0;
  }
  const std::string text = octet::serialize_cache(c);  // accepted names never hold line breaks
  const octet::CalibCache back = octet::parse_cache(text, "re-serialized fuzz input");
  if (back.header != c.header || back.entries.size() != c.entries.size()) std::abort();
  for (size_t i = 0; i < c.entries.size(); ++i) {
    if (back.entries[i].name != c.entries[i].name) std::abort();
    if (std::bit_cast<uint32_t>(back.entries[i].scale) != std::bit_cast<uint32_t>(c.entries[i].scale))
      std::abort();
  }
  if (octet::serialize_cache(back) != text) std::abort();
  return 0;
}
