// Where an ONNX TensorProto's bytes are, checked before anything is allocated (the importer and the Q/DQ
// exporter share it). The model file is untrusted:
//
//   uint64_t n = checked_element_count(t, dtype_size, "initializer 'w'");   // dims >= 0, no overflow, <= 16 GiB
//   ExternalData ext = locate_external_data(t, n * 4, base_dir, "initializer 'w'");  // bounds checked
//   ... allocate n * 4 bytes ...
//   read_external_data(ext, dst);
//
// External data rules (as ONNX Runtime): `location` is a relative path that stays inside the model's folder —
// no absolute path, no "..", and the path with every symbolic link resolved must still be inside the folder
// (a link to /etc/passwd is refused); it must be a regular file (a FIFO or directory is an error, never a
// hang); `offset` and `length` are decimal digits only, and offset + length must lie inside the file
// (overflow-safe); `length`, when given, must equal the size the dims and data type need.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>

namespace octet {

// Refused above this many bytes for one tensor (16 GiB).
inline constexpr uint64_t kMaxTensorBytes = 16ull << 30;

// Number of elements `t.dims()` declare; throws octet::Error ("<who> has a negative dimension ...", "<who> has
// absurd dimensions ...") when a dim is negative or the element count times `elem_size` overflows or exceeds
// kMaxTensorBytes. `who` names the tensor, e.g. "initializer 'w'".
uint64_t checked_element_count(const onnx::TensorProto& t, size_t elem_size, const std::string& who);

struct ExternalData {
  std::string location;  // as written in the model
  std::string path;      // resolved (links followed), inside the model's folder
  uint64_t offset = 0;
  uint64_t length = 0;   // == the bytes wanted
};

// Validates the external data of `t` for `want` bytes (see the file comment); throws octet::Error naming
// `who` and the location.
ExternalData locate_external_data(const onnx::TensorProto& t, uint64_t want, const std::string& base_dir,
                                  const std::string& who);

// Reads ext.length bytes at ext.offset into `dst` (the file is opened again as a regular file; a file that
// shrank meanwhile is an error).
void read_external_data(const ExternalData& ext, void* dst, const std::string& who);

}  // namespace octet
