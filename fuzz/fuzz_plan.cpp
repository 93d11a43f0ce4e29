// libFuzzer target for the plan file reader (src/runtime/plan_file.h), behind the checksum.
// Properties: parse_plan either returns or throws octet::Error (never crashes, never another exception, never
// allocates more than the input allows); whatever it accepts re-serializes to a file that parses back (with
// the checksum verified) and re-serializes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "runtime/plan_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  octet::PlanContents c;
  try {
    c = octet::parse_plan(buf, "fuzz input", /*verify_checksum=*/false);
  } catch (const octet::Error&) {
    return 0;
  }
  const std::string bytes = octet::serialize_plan(c);
  const octet::PlanContents back = octet::parse_plan(bytes, "re-serialized fuzz input");
  if (octet::serialize_plan(back) != bytes) std::abort();
  return 0;
}
