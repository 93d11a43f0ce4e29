// NumPy .npy / .npz files <-> octet::Tensor.
//
// .npy: format versions 1.0, 2.0 and 3.0 are read; C order only (fortran_order True is refused, say
// np.ascontiguousarray first); little-endian only (a '>' byte order is refused). dtypes:
//   <f4 float32, <f8 float64, <f2 float16, |i1 int8, |u1 uint8, <i4 int32, <i8 int64, |b1 bool.
// A 0-d array reads as a rank-0 Tensor (shape {}, one element); a shape with a zero has no data.
// Writing emits version 1.0 (2.0 when the header needs it) with the header padded to 64 bytes, byte for
// byte what np.save writes for the same array.
//
// .npz: a zip archive of .npy entries, stored or deflated (np.savez / np.savez_compressed), zip64 sizes
// and offsets included. Keys are entry names without ".npy". Writing stores entries uncompressed.
//
// Every reader treats its input as untrusted: a bad magic, header, shape, size product, zip record or
// truncated data throws octet::Error naming the file (or the `name` given to the parse functions) and
// the entry; nothing is allocated before the declared size has been checked against the bytes present.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "core/tensor.h"

namespace octet {

Tensor read_npy(const std::string& path);
// Parses a whole .npy held in memory; `name` is used in error messages. Trailing bytes after the data
// are ignored, as np.load does.
Tensor parse_npy(const void* data, size_t size, const std::string& name = "<memory>");

void write_npy(const std::string& path, const Tensor& t);
// The bytes np.save would write for `t`.
std::string npy_bytes(const Tensor& t);

std::map<std::string, Tensor> read_npz(const std::string& path);
std::map<std::string, Tensor> parse_npz(const void* data, size_t size, const std::string& name = "<memory>");
// Entries "<key>.npy", stored (no compression). `force_zip64` writes zip64 records even for small
// files (for tests; they are used automatically beyond 4 GiB).
void write_npz(const std::string& path, const std::map<std::string, Tensor>& arrays, bool force_zip64 = false);

// Fuzzing entry point: parse_npz when the buffer starts with a zip signature, else parse_npy.
void parse_npy_or_npz(const void* data, size_t size);

}  // namespace octet
