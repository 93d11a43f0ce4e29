#include "calib/cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"

namespace octet {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Printable excerpt of a line for error messages.
std::string excerpt(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 80)) out += (c >= 32 && c < 127) ? c : '?';
  if (line.size() > 80) out += "...";
  return out;
}


}  // namespace

int trt_version_number(std::string_view dotted) {
  int parts[3] = {0, 0, 0};
  int np = 0;
  std::string_view s = dotted;
  while (true) {
    const size_t dot = s.find('.');
    const std::string_view part = s.substr(0, dot);
    OCTET_CHECK(all_digits(part) && part.size() <= 4, "bad TensorRT version '", dotted,
                "' (expected MAJOR.MINOR[.PATCH], e.g. 10.9.0)");
    if (np < 3) parts[np] = std::stoi(std::string(part));
    ++np;
    if (dot == std::string_view::npos) break;
    s = s.substr(dot + 1);
  }
  OCTET_CHECK(np >= 2 && np <= 4, "bad TensorRT version '", dotted, "' (expected MAJOR.MINOR[.PATCH], e.g. 10.9.0)");
  OCTET_CHECK(parts[1] < 100 && parts[2] < 100, "bad TensorRT version '", dotted,
              "': minor and patch must be < 100");
  const int major = parts[0];
  OCTET_CHECK(major >= 1 && major < 100, "bad TensorRT version '", dotted, "': major must be in 1..99");
  // NV_TENSORRT_VERSION: major*1000+minor*100+patch up to 9.x; major*10000+minor*100+patch from 10.0.
  return (major >= 10 ? major * 10000 : major * 1000) + parts[1] * 100 + parts[2];
}

std::string make_cache_header(int version, std::string_view token) {
  OCTET_CHECK(version > 0, "TensorRT version number must be positive, got ", version);
  OCTET_CHECK(!token.empty() && token.find_first_of("\r\n") == std::string_view::npos,
              "bad calibration algorithm token '", excerpt(token), "'");
  return "TRT-" + std::to_string(version) + "-" + std::string(token);
}

std::string make_cache_header(int version, Algo algo) {
  const char* tok = algo_trt_token(algo);
  OCTET_CHECK(tok != nullptr, "algorithm '", algo_name(algo),
              "' has no TensorRT cache token; TensorRT only knows EntropyCalibration2, EntropyCalibration, "
              "MinMaxCalibration and LegacyCalibration");
  return make_cache_header(version, std::string_view(tok));
}

CacheHeader parse_cache_header(std::string_view h) {
  const auto bad = [&](const char* why) {
    fail("bad calibration cache header '", excerpt(h), "': ", why, " (expected TRT-<version>-<algorithm>, e.g. ",
         "TRT-100900-EntropyCalibration2)");
  };
  if (h.substr(0, 4) != "TRT-") bad("does not start with 'TRT-'");
  const std::string_view rest = h.substr(4);
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos) bad("no '-' after the version");
  const std::string_view ver = rest.substr(0, dash);
  if (!all_digits(ver) || ver.size() > 9) bad("version is not a number");
  CacheHeader out;
  out.version = std::stoi(std::string(ver));
  out.algo_token = std::string(rest.substr(dash + 1));
  if (out.algo_token.empty()) bad("no algorithm name");
  return out;
}

HeaderCheck check_cache_header(std::string_view found, std::string_view expected) {
  HeaderCheck r;
  if (found == expected) {
    r.ok = true;
    return r;
  }
  std::ostringstream os;
  os << "cache header '" << excerpt(found) << "' does not match '" << excerpt(expected) << "': ";
  CacheHeader f, e;
  try {
    f = parse_cache_header(found);
    e = parse_cache_header(expected);
  } catch (const Error& err) {
    r.version_differs = r.algo_differs = true;
    os << err.what();
    r.reason = os.str();
    return r;
  }
  r.version_differs = f.version != e.version;
  r.algo_differs = f.algo_token != e.algo_token;
  if (r.version_differs)
    os << "written by TensorRT version " << f.version << ", expected " << e.version;
  if (r.version_differs && r.algo_differs) os << "; ";
  if (r.algo_differs) os << "written by calibrator " << f.algo_token << ", expected " << e.algo_token;
  if (!r.version_differs && !r.algo_differs) os << "different spelling";  // e.g. leading zeros in the version
  r.reason = os.str();
  return r;
}

std::string scale_hex(float scale) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", static_cast<unsigned>(std::bit_cast<uint32_t>(scale)));
  return buf;
}

std::string serialize_cache(const CalibCache& cache) {
  OCTET_CHECK(!cache.header.empty() && cache.header.find_first_of("\r\n") == std::string::npos,
              "calibration cache header must be one non-empty line, got '", excerpt(cache.header), "'");
  std::string out;
  out.reserve(cache.header.size() + 1 + cache.entries.size() * 48);
  out += cache.header;
  out += '\n';
  for (const auto& e : cache.entries) {
    OCTET_CHECK(!e.name.empty(), "cannot write a calibration cache entry with an empty tensor name");
    OCTET_CHECK(e.name.find_first_of("\r\n") == std::string::npos, "cannot write tensor name '", excerpt(e.name),
                "' to a calibration cache: it contains a line break");
    out += e.name;
    out += ": ";
    out += scale_hex(e.scale);
    out += '\n';
  }
  return out;
}

CalibCache parse_cache(std::string_view buf, std::string_view what) {
  CalibCache out;
  bool have_header = false;
  std::unordered_map<std::string_view, size_t> seen;  // name -> line number
  size_t lineno = 0;
  size_t pos = 0;
  while (pos < buf.size()) {
    size_t eol = buf.find('\n', pos);
    if (eol == std::string_view::npos) eol = buf.size();
    std::string_view line = buf.substr(pos, eol - pos);
    pos = eol + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    const auto bad = [&](auto&&... why) {
      fail("cannot read ", what, ": line ", lineno, " '", excerpt(line), "': ", why...);
    };
    if (line.find('\r') != std::string_view::npos) bad("carriage return inside the line");
    if (!have_header) {
      try {
        parse_cache_header(line);
      } catch (const Error& e) {
        bad(e.what());
      }
      out.header = std::string(line);
      have_header = true;
      continue;
    }
    const size_t colon = line.rfind(':');
    if (colon == std::string_view::npos) bad("expected '<tensor name>: <hex scale>'");
    const std::string_view name = line.substr(0, colon);
    const std::string_view hex = trim(line.substr(colon + 1));
    if (name.empty()) bad("empty tensor name");
    if (hex.empty() || hex.size() > 8) bad("scale must be 1 to 8 hex digits");
    uint32_t bits = 0;
    for (char c : hex) {
      const int d = hex_digit(c);
      if (d < 0) bad("scale must be 1 to 8 hex digits");
      bits = bits << 4 | static_cast<uint32_t>(d);
    }
    auto [it, inserted] = seen.emplace(name, lineno);
    if (!inserted) bad("tensor '", excerpt(name), "' already appeared on line ", it->second);
    out.entries.push_back({std::string(name), std::bit_cast<float>(bits), lineno});
  }
  OCTET_CHECK(have_header, "cannot read ", what, ": it is empty (no TRT-<version>-<algorithm> header)");
  return out;
}

std::string cache_entry_location(const CacheEntry& e, std::string_view what) {
  std::ostringstream os;
  if (e.line > 0) os << "line " << e.line << " of ";
  os << what;
  return os.str();
}

void check_cache_scales(const CalibCache& cache, std::string_view what) {
  for (const auto& e : cache.entries) {
    if (e.scale == 0.f && !std::signbit(e.scale)) continue;  // "0": not quantized (checked where used)
    const std::string why = scale_problem(e.scale);
    if (why.empty()) continue;
    fail("calibration scales ", cache_entry_location(e, what), ": tensor '", excerpt(e.name), "' has scale ",
         scale_hex(e.scale), " (", why,
         "); a scale must be a normal positive finite float32 with 127 x scale and 1 / scale finite "
         "(recalibrate, or correct that line)");
  }
}

CalibCache read_cache_file(const std::string& path) {
  // 64 MiB: a cache is one short line per tensor; anything larger is not one (and is not read into memory).
  return parse_cache(read_file(path, "calibration cache", 64ull << 20), "'" + path + "'");
}

void write_cache_file(const std::string& path, const CalibCache& cache) {
  write_file_atomic(path, serialize_cache(cache));  // serialize first: a bad entry never touches the disk
}

}  // namespace octet
