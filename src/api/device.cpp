// octet/device.h: through the reader the cuda backend registers (runtime/backend.h) when it is linked.
#include "octet/device.h"

#include <cstring>
#include <vector>

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

int64_t strided_span(const int64_t* shape, const int64_t* strides, size_t nd) {
  int64_t span = 1;
  for (size_t i = 0; i < nd; ++i) {
    if (shape[i] == 0) return 0;
    span += (shape[i] - 1) * strides[i];
  }
  return span;
}

void gather_strided(void* dst, const void* span, const int64_t* shape, const int64_t* strides, size_t nd,
                    size_t itemsize) {
  int64_t numel = 1;
  for (size_t i = 0; i < nd; ++i) numel *= shape[i];
  auto* out = static_cast<uint8_t*>(dst);
  const auto* in = static_cast<const uint8_t*>(span);
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;  // element offset of idx in span
  for (int64_t e = 0; e < numel; ++e) {
    std::memcpy(out + static_cast<size_t>(e) * itemsize, in + static_cast<size_t>(off) * itemsize, itemsize);
    for (size_t i = nd; i-- > 0;) {  // the next index, the last dimension fastest
      if (++idx[i] < shape[i]) {
        off += strides[i];
        break;
      }
      off -= (shape[i] - 1) * strides[i];
      idx[i] = 0;
    }
  }
}

}  // namespace octet
