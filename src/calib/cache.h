// TensorRT calibration cache (§4): text, one header line then one line per tensor.
// (§ numbers: calibration-spec.md, the calibration spec kept with the team's shared documents, outside this
// repository.)
//
//   TRT-101300-EntropyCalibration2
//   images: 3c021406                <- name ": " hex bits of the float32 scale (lower case, no padding)
//   ONNXTRT_Broadcast_1855_output: 0
//
// scale = amax / 127 (float32), amax = 127 * scale. Entries keep file order (TensorRT's order is internal;
// readers must not rely on it). Reading splits each line at its LAST colon (names contain ':', spaces,
// '*', brackets, '/').
#pragma once

#include "core/file_io.h"  // write_file_atomic, used by the cache's callers too

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "calib/algorithms.h"
#include "quant/scale_rule.h"

namespace octet {

// Default TensorRT version number written in headers: 10.13.0 (a current 10.x; TRT 11 has no calibrator).
constexpr int kDefaultTrtVersion = 101300;

// "10.9.0" -> 100900, "8.6.1" -> 8601, "10.13" -> 101300 (spec §4.2: major*10000+minor*100+patch for
// TRT >= 10, major*1000+minor*100+patch before; a fourth build component is ignored). Throws Error.
int trt_version_number(std::string_view dotted);

// "TRT-<version>-<token>", e.g. make_header(101300, Algo::Entropy2) == "TRT-101300-EntropyCalibration2".
// Throws Error for algorithms without a TensorRT token (percentile, mse).
std::string make_cache_header(int version, Algo algo);
std::string make_cache_header(int version, std::string_view algo_token);

struct CacheHeader {
  int version = 0;
  std::string algo_token;
};
// Parses "TRT-<digits>-<token>". Throws Error on anything else.
CacheHeader parse_cache_header(std::string_view header);

// Compares a cache's header with the one this calibrator would write. ok == true iff the strings are
// equal; otherwise `reason` says what differs, e.g. "cache header 'TRT-8600-EntropyCalibration2' does not
// match 'TRT-101300-EntropyCalibration2': written by TensorRT version 8600, expected 101300".
struct HeaderCheck {
  bool ok = false;
  bool version_differs = false;
  bool algo_differs = false;
  std::string reason;
};
HeaderCheck check_cache_header(std::string_view found, std::string_view expected);

// float32 scale <-> amax and the hex spelling of the scale.
inline float scale_from_amax(float amax) { return amax / 127.0f; }
inline float amax_from_scale(float scale) { return 127.0f * scale; }
std::string scale_hex(float scale);  // printf("%x") of the bits: "3c010a14", "0"

struct CacheEntry {
  std::string name;
  float scale = 0.f;
  size_t line = 0;  // 1-based line in the text it was parsed from (0: not parsed from text)
};



struct CalibCache {
  std::string header;  // verbatim first line, without line terminator
  std::vector<CacheEntry> entries;
};

// Throws Error, naming `what` (a file), the tensor and its line, for the first entry whose scale is neither
// usable (quant/scale_rule.h scale_problem) nor exactly 0 (0 is legal: TensorRT writes it for tensors it does not quantize,
// e.g. shape tensors; whether a 0 is used is the INT8 plan's business, see passes/quantize.h).
void check_cache_scales(const CalibCache& cache, std::string_view what);
// "line 7 of 'model.cache'" style location of an entry for messages ("'model.cache'" when line is 0).
std::string cache_entry_location(const CacheEntry& e, std::string_view what);

// Serializes header and entries (in order), each line ending in "\n". Throws Error for a name that is
// empty or contains '\n' / '\r'.
std::string serialize_cache(const CalibCache& cache);

// Parses a cache from memory. Lines end in "\n" or "\r\n"; empty lines are skipped; the first non-empty
// line is the header (must be TRT-<digits>-<token>); every other line is NAME ":" HEX where the colon is
// the last one on the line, NAME is non-empty and HEX, after trimming spaces/tabs, is 1-8 hex digits.
// Throws Error naming the line number for a malformed line, a duplicate name or an empty buffer.
// `what` names the source in messages (a file path).
CalibCache parse_cache(std::string_view buf, std::string_view what = "calibration cache");

// File I/O. read: Error if the file can't be read or is malformed. write: atomic — the bytes go to a
// temporary file in the same directory, which is flushed, synced and renamed over `path`; on any error
// the temporary is removed and an existing `path` is left untouched.
CalibCache read_cache_file(const std::string& path);
void write_cache_file(const std::string& path, const CalibCache& cache);  // core/file_io.h write_file_atomic

}  // namespace octet
