#include "onnx/tensor_data.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <tuple>

#include "core/error.h"
#include "core/file_io.h"

namespace octet {

namespace {

std::string dims_str(const onnx::TensorProto& t) {
  std::string s = "[";
  for (int i = 0; i < t.dims_size(); ++i) s += (i ? ", " : "") + std::to_string(t.dims(i));
  return s + "]";
}

// Decimal digits only ("12", not "+12", " 12", "0x10", "1e3" or "12abc"), at most INT64_MAX.
bool parse_decimal(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');  // 19 digits fit in uint64_t
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return false;
  out = v;
  return true;
}

std::string real_path(const std::string& p) {
  std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

}  // namespace

uint64_t checked_element_count(const onnx::TensorProto& t, size_t elem_size, const std::string& who) {
  const uint64_t limit = kMaxTensorBytes / std::max<size_t>(elem_size, 1);
  uint64_t n = 1;
  bool zero = false;
  for (int64_t d : t.dims()) {
    if (d < 0) fail(who, " has a negative dimension (dims ", dims_str(t), ")");
    if (d == 0) zero = true;
  }
  // Any zero dim makes an empty tensor, whatever the others say; otherwise the product must stay in bounds.
  if (zero) return 0;
  for (int64_t d : t.dims()) {
    if (n > limit / static_cast<uint64_t>(d))
      fail(who, " has absurd dimensions ", dims_str(t), ": more than the ", kMaxTensorBytes >> 30,
           " GiB octet loads for one tensor");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

ExternalData locate_external_data(const onnx::TensorProto& t, uint64_t want, const std::string& base_dir,
                                  const std::string& who) {
  ExternalData e;
  bool has_location = false;
  const std::string* offset_s = nullptr;
  const std::string* length_s = nullptr;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") {
      e.location = kv.value();
      has_location = true;
    } else if (kv.key() == "offset") {
      offset_s = &kv.value();
    } else if (kv.key() == "length") {
      length_s = &kv.value();
    }
  }
  if (!has_location || e.location.empty()) fail(who, " has external data without a location");
  const std::string loc_msg = who + ": external data location '" + e.location + "'";
  for (const auto& [key, text, dst] : {std::tuple{"offset", offset_s, &e.offset}, std::tuple{"length", length_s, &e.length}})
    if (text && !parse_decimal(*text, *dst))
      fail(loc_msg, ": key '", key, "' is '", text->substr(0, 40), text->size() > 40 ? "...'" : "'",
           ", not a non-negative decimal integer");
  const bool has_length = length_s != nullptr;
  // Like ONNX Runtime: external data lives beside the model (in its folder or below), never elsewhere.
  const std::filesystem::path loc(e.location);
  bool escapes = loc.is_absolute();
  for (const auto& part : loc) escapes = escapes || part == "..";
  if (escapes) fail(loc_msg, " must be a relative path inside the model's folder (no '..', not absolute)");
  const std::string base = real_path(base_dir.empty() ? "." : base_dir);
  if (base.empty()) fail(loc_msg, ": cannot resolve the model's folder '", base_dir, "': ", std::strerror(errno));
  const std::string joined = (std::filesystem::path(base) / loc).string();
  e.path = real_path(joined);
  if (e.path.empty()) fail(loc_msg, ": cannot open external data file '", joined, "': ", std::strerror(errno));
  // A symbolic link (of the file or a folder on the way) may not lead out of the model's folder.
  const std::string inside = base == "/" ? base : base + "/";
  if (e.path.compare(0, inside.size(), inside) != 0 || e.path.size() == inside.size())
    fail(loc_msg, " resolves to '", e.path, "', outside the model's folder '", base,
         "' (through a symbolic link); external data must be inside the model's folder");
  uint64_t size = 0;
  try {
    size = regular_file_size(e.path, "external data file");
  } catch (const Error& err) {
    fail(loc_msg, ": ", err.what());
  }
  if (has_length && e.length != want)
    fail(loc_msg, ": length ", e.length, " does not match the ", want, " bytes its dims ", dims_str(t),
         " and data type need");
  e.length = want;
  if (e.offset > size || e.length > size - e.offset)
    fail(loc_msg, ": offset ", e.offset, " + length ", e.length, " is past the end of '", e.path, "' (", size,
         " bytes); the file does not hold the ", want, " bytes its dims need");
  return e;
}

void read_external_data(const ExternalData& e, void* dst, const std::string& who) {
  if (e.length == 0) return;
  int fd = -1;
  try {
    fd = open_regular_file(e.path, "external data file");
  } catch (const Error& err) {
    fail(who, ": external data location '", e.location, "': ", err.what());
  }
  char* p = static_cast<char*>(dst);
  uint64_t got = 0;
  while (got < e.length) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(e.length - got, 1u << 30));
    const ssize_t r = ::pread(fd, p + got, chunk, static_cast<off_t>(e.offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = errno;
      ::close(fd);
      fail(who, ": external data location '", e.location, "': reading '", e.path, "' failed: ",
           r == 0 ? "the file ended early (it shrank?)" : std::strerror(err));
    }
    got += static_cast<uint64_t>(r);
  }
  ::close(fd);
}

}  // namespace octet
