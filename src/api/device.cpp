// octet/device.h: through the reader the cuda backend registers (runtime/backend.h) when it is linked.
#include "octet/device.h"

#include "core/error.h"
#include "runtime/backend.h"

namespace octet {

bool cuda_built() { return device_reader() != nullptr; }

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  const DeviceReader read = device_reader();
  if (!read)
    fail("octet was built without CUDA, so it cannot read device memory (no nvcc found, or OCTET_CUDA=OFF; see "
         "docs/gpu.md)");
  if (bytes == 0) return;
  read(dst, src, bytes);
}

}  // namespace octet
