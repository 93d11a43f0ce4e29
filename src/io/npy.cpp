#include "io/npy.h"
#include "core/file_io.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

namespace octet {
namespace {

// ---------------------------------------------------------------------------------------------------
// Random-access byte sources: one parser serves files (read in place, nothing buffered twice) and
// memory buffers (the fuzz target).

class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at off; callers have checked the range against size().
  virtual void read(uint64_t off, void* dst, size_t n) const = 0;
  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

class MemSource : public Source {
 public:
  MemSource(const void* p, size_t n, std::string name) : p_(static_cast<const uint8_t*>(p)), n_(n) {
    name_ = std::move(name);
  }
  uint64_t size() const override { return n_; }
  void read(uint64_t off, void* dst, size_t n) const override {
    if (off > n_ || n > n_ - off) fail("cannot read '", name_, "': unexpected end of data");
    if (n) std::memcpy(dst, p_ + off, n);
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// A regular file only (core/file_io.h: a FIFO or device is refused, never waited on), read with pread.
class FileSource : public Source {
 public:
  FileSource(const std::string& path, const char* what) {
    name_ = path;
    fd_ = open_regular_file(path, what);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      ::close(fd_);
      fail("cannot read ", what, " '", path, "': ", std::strerror(errno));
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  uint64_t size() const override { return size_; }
  void read(uint64_t off, void* dst, size_t n) const override {
    if (off > size_ || n > size_ - off) fail("cannot read '", name_, "': unexpected end of file");
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t r = ::pread(fd_, p, std::min<size_t>(n, 1u << 30), static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) fail("cannot read '", name_, "': ", std::strerror(errno));
      if (r == 0) fail("cannot read '", name_, "': file truncated while reading");
      p += r;
      off += static_cast<uint64_t>(r);
      n -= static_cast<size_t>(r);
    }
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint64_t le64(const uint8_t* p) { return le32(p) | static_cast<uint64_t>(le32(p + 4)) << 32; }

// crc32 over any length (zlib's length argument is 32-bit).
uLong crc32_big(uLong crc, const void* p, uint64_t n) {
  const Bytef* b = static_cast<const Bytef*>(p);
  while (n > 0) {
    uInt k = static_cast<uInt>(std::min<uint64_t>(n, 1u << 30));
    crc = crc32(crc, b, k);
    b += k;
    n -= k;
  }
  return crc;
}

// ---------------------------------------------------------------------------------------------------
// .npy header: a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

constexpr uint64_t kMaxHeader = 1 << 20;  // numpy itself refuses headers over 10000 bytes by default
constexpr int kMaxRank = 64;              // NPY_MAXDIMS

struct NpyHeader {
  DType dtype = DType::f32;
  Shape shape;
  uint64_t data_offset = 0;  // from the start of the .npy
  uint64_t data_bytes = 0;
};

class DictParser {
 public:
  DictParser(const std::string& s, const std::string& what) : s_(s), what_(what) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    std::string descr;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (eat('}')) break;
      std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (peek() == '[') bad("structured dtypes (a list 'descr') are not supported");
        descr = str();
        have_descr = true;
      } else if (key == "fortran_order") {
        bool f = boolean();
        if (f) bad("fortran_order is True; octet reads C-order arrays only (save np.ascontiguousarray(a))");
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + key + "' in header");
      }
      ws();
      if (eat('}')) break;
      expect(',');
    }
    if (!have_descr || !have_order || !have_shape) bad("header lacks 'descr', 'fortran_order' or 'shape'");
    h.dtype = dtype_from_descr(descr);
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& why) { fail("cannot read ", what_, ": ", why); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    if (peek() != c || i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("malformed header (expected '") + c + "' at byte " + std::to_string(i_) + ")");
  }
  std::string str() {
    char q = peek();
    if (q != '\'' && q != '"') bad("malformed header (expected a string at byte " + std::to_string(i_) + ")");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      out += s_[i_++];
    }
    if (i_ >= s_.size()) bad("malformed header (unterminated string)");
    ++i_;
    return out;
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) { i_ += 4; return true; }
    if (s_.compare(i_, 5, "False") == 0) { i_ += 5; return false; }
    bad("malformed header (fortran_order must be True or False)");
  }
  int64_t integer() {
    if (peek() < '0' || peek() > '9') bad("malformed shape (expected a non-negative integer)");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      int d = s_[i_++] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - d) / 10) bad("shape dimension overflows int64");
      v = v * 10 + d;
    }
    eat('L');  // Python 2 longs: (3L, 4L)
    return v;
  }
  Shape tuple() {
    Shape s;
    expect('(');
    ws();
    if (eat(')')) return s;
    for (;;) {
      ws();
      s.push_back(integer());
      if (s.size() > kMaxRank) bad("shape has more than 64 dimensions");
      ws();
      if (eat(')')) return s;
      expect(',');
      ws();
      if (eat(')')) return s;
    }
  }
  DType dtype_from_descr(const std::string& d) {
    if (d.size() != 3) bad("dtype '" + d + "' is not supported (octet reads <f2 <f4 <f8 |i1 |u1 <i4 <i8 |b1)");
    char order = d[0];
    std::string t = d.substr(1);
    DType dt;
    if (t == "f4") dt = DType::f32;
    else if (t == "f8") dt = DType::f64;
    else if (t == "f2") dt = DType::f16;
    else if (t == "i1") dt = DType::i8;
    else if (t == "u1") dt = DType::u8;
    else if (t == "i4") dt = DType::i32;
    else if (t == "i8") dt = DType::i64;
    else if (t == "b1") dt = DType::boolean;
    else bad("dtype '" + d + "' is not supported (octet reads <f2 <f4 <f8 |i1 |u1 <i4 <i8 |b1)");
    if (order == '>' || order == '!') {
      if (dtype_size(dt) != 1) bad("dtype '" + d + "' is big-endian; save it little-endian (a.astype('<" + t + "'))");
    } else if (order != '<' && order != '|' && order != '=') {
      bad("dtype '" + d + "' has an unknown byte order");
    }
    return dt;
  }

  const std::string& s_;
  const std::string& what_;
  size_t i_ = 0;
};

// Reads the header of the .npy occupying [base, base+len) of src and validates the data size.
NpyHeader read_header(const Source& src, uint64_t base, uint64_t len, const std::string& what) {
  uint8_t pre[12];
  if (len < 10) fail("cannot read ", what, ": too short for a .npy file (", len, " bytes)");
  src.read(base, pre, 10);
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) fail("cannot read ", what, ": not a .npy file (bad magic)");
  int major = pre[6];
  uint64_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = le16(pre + 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) fail("cannot read ", what, ": truncated header");
    src.read(base, pre, 12);
    hlen = le32(pre + 8);
    hstart = 12;
  } else {
    fail("cannot read ", what, ": .npy format version ", major, ".", int(pre[7]), " is not supported (1.0-3.0)");
  }
  if (hlen > len - hstart) fail("cannot read ", what, ": header length ", hlen, " exceeds the ", len, "-byte file");
  if (hlen > kMaxHeader) fail("cannot read ", what, ": header length ", hlen, " is implausibly large");
  std::string h(hlen, '\0');
  src.read(base + hstart, h.data(), hlen);
  NpyHeader hdr = DictParser(h, what).parse();
  uint64_t n = 1;
  for (int64_t d : hdr.shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      fail("cannot read ", what, ": shape ", shape_str(hdr.shape), " overflows");
  uint64_t bytes;
  if (__builtin_mul_overflow(n, dtype_size(hdr.dtype), &bytes) || bytes > (uint64_t{1} << 62))
    fail("cannot read ", what, ": shape ", shape_str(hdr.shape), " overflows");
  hdr.data_offset = hstart + hlen;
  hdr.data_bytes = bytes;
  uint64_t avail = len - hdr.data_offset;
  if (bytes > avail)
    fail("cannot read ", what, ": truncated: shape ", shape_str(hdr.shape), " of ", dtype_name(hdr.dtype),
         " needs ", bytes, " bytes of data, only ", avail, " present");
  return hdr;
}

Tensor read_npy_at(const Source& src, uint64_t base, uint64_t len, const std::string& what) {
  NpyHeader h = read_header(src, base, len, what);
  Tensor t(h.dtype, h.shape);
  if (h.data_bytes) src.read(base + h.data_offset, t.raw(), h.data_bytes);
  if (h.dtype == DType::boolean) {  // keep bools canonical: anything non-zero is true
    uint8_t* b = static_cast<uint8_t*>(t.raw());
    for (uint64_t i = 0; i < h.data_bytes; ++i) b[i] = b[i] != 0;
  }
  return t;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// ---------------------------------------------------------------------------------------------------
// .npy writing

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::f16: return "<f2";
    case DType::i8: return "|i1";
    case DType::u8: return "|u1";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::boolean: return "|b1";
  }
  return "?";
}

// numpy.lib.format._write_array_header: dict, room for the first axis to grow to 21 digits, spaces to
// a 64-byte boundary, newline.
std::string npy_header(const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  if (t.shape().size() == 1) shape += ",";
  shape += ")";
  std::string d = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " +
                  shape + ", }";
  if (!t.shape().empty()) d += std::string(21 - std::to_string(t.shape()[0]).size(), ' ');
  size_t hlen = d.size() + 1;
  int version = 1;
  size_t prefix = 10;
  if (hlen + 64 - (prefix + hlen) % 64 >= 65536) {
    version = 2;
    prefix = 12;
  }
  size_t pad = 64 - (prefix + hlen) % 64;
  d += std::string(pad, ' ') + "\n";
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(version);
  out += '\0';
  uint32_t n = static_cast<uint32_t>(d.size());
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (version == 2) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  return out + d;
}

void check_writable(const Tensor& t) {
  OCTET_CHECK(t.raw() != nullptr || t.nbytes() == 0, "cannot write an unallocated tensor to .npy");
}

// Output collected as pieces and written atomically at close() (core/file_io.h): an error or an interruption
// never leaves a partial file, and only a regular file is ever replaced. Small pieces (headers) are copied; a
// tensor's bytes are referenced (write_view), not copied, so a large output does not take twice its memory.
class OutFile {
 public:
  explicit OutFile(const std::string& path) : path_(path) { check_output(path, /*overwrite=*/true, "output"); }
  void write(const std::string& s) {
    owned_.push_back(s);
    pieces_.emplace_back(owned_.back());
    pos_ += s.size();
  }
  // `p` must stay valid until close().
  void write_view(const void* p, uint64_t n) {
    if (n) pieces_.emplace_back(static_cast<const char*>(p), static_cast<size_t>(n));
    pos_ += n;
  }
  void close() { write_file_atomic(path_, pieces_); }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  std::deque<std::string> owned_;  // stable addresses for the views in pieces_
  std::vector<std::string_view> pieces_;
  uint64_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// zip

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;

struct ZipEntry {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t comp = 0, uncomp = 0, local_offset = 0;
};

std::vector<ZipEntry> zip_directory(const Source& src) {
  const std::string what = quoted(src.name());
  uint64_t size = src.size();
  if (size < 22) fail("cannot read ", what, ": too short for a zip archive");
  uint64_t tail_len = std::min<uint64_t>(size, 22 + 65535);
  std::vector<uint8_t> tail(tail_len);
  src.read(size - tail_len, tail.data(), tail_len);
  int64_t at = -1;
  for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; --i)
    if (le32(&tail[i]) == kEocdSig && i + 22 + le16(&tail[i + 20]) <= static_cast<int64_t>(tail_len)) {
      at = i;
      break;
    }
  if (at < 0) fail("cannot read ", what, ": not a zip archive (no end-of-central-directory record)");
  const uint8_t* e = &tail[at];
  uint64_t eocd_pos = size - tail_len + at;
  uint64_t count = le16(e + 10), cd_size = le32(e + 12), cd_off = le32(e + 16);
  if (le16(e + 4) != 0 || le16(e + 6) != 0) fail("cannot read ", what, ": multi-disk zip archives are not supported");
  if (eocd_pos >= 20) {
    uint8_t loc[20];
    src.read(eocd_pos - 20, loc, 20);
    if (le32(loc) == kZip64LocatorSig) {
      uint64_t z = le64(loc + 8);
      if (z > size || size - z < 56) fail("cannot read ", what, ": bad zip64 locator");
      uint8_t r[56];
      src.read(z, r, 56);
      if (le32(r) != kZip64EocdSig) fail("cannot read ", what, ": bad zip64 end-of-central-directory record");
      count = le64(r + 32);
      cd_size = le64(r + 40);
      cd_off = le64(r + 48);
    }
  }
  if (cd_off > size || cd_size > size - cd_off) fail("cannot read ", what, ": central directory lies outside the file");
  if (count > cd_size / 46) fail("cannot read ", what, ": central directory too small for ", count, " entries");
  std::vector<uint8_t> cd(cd_size);
  src.read(cd_off, cd.data(), cd_size);
  std::vector<ZipEntry> out;
  uint64_t p = 0;
  for (uint64_t k = 0; k < count; ++k) {
    if (cd_size - p < 46 || le32(&cd[p]) != kCentralSig) fail("cannot read ", what, ": corrupt central directory");
    const uint8_t* c = &cd[p];
    ZipEntry z;
    z.flags = le16(c + 8);
    z.method = le16(c + 10);
    z.crc = le32(c + 16);
    z.comp = le32(c + 20);
    z.uncomp = le32(c + 24);
    uint64_t nlen = le16(c + 28), xlen = le16(c + 30), clen = le16(c + 32);
    z.local_offset = le32(c + 42);
    if (cd_size - p - 46 < nlen + xlen + clen) fail("cannot read ", what, ": corrupt central directory");
    z.name.assign(reinterpret_cast<const char*>(c + 46), nlen);
    // zip64 extended information: the 8-byte values present are those whose 32-bit field is all ones.
    const uint8_t* x = c + 46 + nlen;
    for (uint64_t q = 0; q + 4 <= xlen;) {
      uint16_t id = le16(x + q), sz = le16(x + q + 2);
      if (q + 4 + sz > xlen) break;
      if (id == 0x0001) {
        const uint8_t* v = x + q + 4;
        uint16_t left = sz;
        auto take = [&](uint64_t& field) {
          if (field != 0xffffffffu) return;
          if (left < 8) fail("cannot read ", what, ": corrupt zip64 field for entry '", z.name, "'");
          field = le64(v);
          v += 8;
          left -= 8;
        };
        take(z.uncomp);
        take(z.comp);
        take(z.local_offset);
      }
      q += 4 + sz;
    }
    out.push_back(std::move(z));
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

std::vector<uint8_t> inflate_entry(const Source& src, uint64_t off, const ZipEntry& z, const std::string& what) {
  // Deflate cannot expand data by more than ~1032:1; a larger declared size is a lie, and refusing it
  // bounds the allocation by the file size.
  if (z.uncomp > z.comp * 1040 + 1024) fail("cannot read ", what, ": implausible uncompressed size ", z.uncomp);
  std::vector<uint8_t> in(z.comp), out(z.uncomp);
  src.read(off, in.data(), in.size());
  z_stream s{};
  if (inflateInit2(&s, -MAX_WBITS) != Z_OK) fail("cannot read ", what, ": zlib init failed");
  uint64_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    uInt ai = static_cast<uInt>(std::min<uint64_t>(in.size() - in_pos, 1u << 30));
    uInt ao = static_cast<uInt>(std::min<uint64_t>(out.size() - out_pos, 1u << 30));
    s.next_in = in.data() + in_pos;
    s.avail_in = ai;
    uint8_t dummy;
    s.next_out = ao ? out.data() + out_pos : &dummy;
    s.avail_out = ao ? ao : 1;
    rc = inflate(&s, Z_NO_FLUSH);
    in_pos += ai - s.avail_in;
    out_pos += (ao ? ao : 1) - s.avail_out;
    if (out_pos > out.size()) rc = Z_BUF_ERROR;  // wrote into the dummy byte: more data than declared
    if (rc == Z_OK && ai == s.avail_in && (ao ? ao : 1) == s.avail_out) rc = Z_BUF_ERROR;  // no progress
  }
  inflateEnd(&s);
  if (rc != Z_STREAM_END || out_pos != out.size())
    fail("cannot read ", what, ": corrupt deflate data (", out_pos, " of ", z.uncomp, " bytes inflated)");
  return out;
}

std::map<std::string, Tensor> read_zip_npys(const Source& src) {
  std::map<std::string, Tensor> out;
  for (const ZipEntry& z : zip_directory(src)) {
    if (!z.name.empty() && z.name.back() == '/') continue;  // directory
    std::string what = quoted(src.name()) + " entry " + quoted(z.name);
    if (z.flags & 1) fail("cannot read ", what, ": encrypted zip entries are not supported");
    if (z.method != 0 && z.method != 8)
      fail("cannot read ", what, ": compression method ", z.method, " is not supported (stored or deflated only)");
    uint8_t lh[30];
    if (z.local_offset > src.size() || src.size() - z.local_offset < 30)
      fail("cannot read ", what, ": local header lies outside the file");
    src.read(z.local_offset, lh, 30);
    if (le32(lh) != kLocalSig) fail("cannot read ", what, ": bad local header");
    uint64_t data = z.local_offset + 30 + le16(lh + 26) + le16(lh + 28);
    if (data > src.size() || z.comp > src.size() - data) fail("cannot read ", what, ": data lies outside the file");
    Tensor t;
    uLong crc = 0;
    if (z.method == 0) {
      if (z.comp != z.uncomp) fail("cannot read ", what, ": stored entry with different sizes");
      // Parse in place (no second copy of the array), then check the CRC over header, data and tail.
      NpyHeader h = read_header(src, data, z.comp, what);
      std::vector<uint8_t> head(h.data_offset);
      src.read(data, head.data(), head.size());
      crc = crc32_big(crc32(0, nullptr, 0), head.data(), head.size());
      t = Tensor(h.dtype, h.shape);
      if (h.data_bytes) src.read(data + h.data_offset, t.raw(), h.data_bytes);
      crc = crc32_big(crc, t.raw(), h.data_bytes);
      std::vector<uint8_t> rest(z.comp - h.data_offset - h.data_bytes);
      src.read(data + h.data_offset + h.data_bytes, rest.data(), rest.size());
      crc = crc32_big(crc, rest.data(), rest.size());
      if (h.dtype == DType::boolean)
        for (uint64_t i = 0; i < h.data_bytes; ++i) static_cast<uint8_t*>(t.raw())[i] = static_cast<uint8_t*>(t.raw())[i] != 0;
    } else {
      std::vector<uint8_t> bytes = inflate_entry(src, data, z, what);
      crc = crc32_big(crc32(0, nullptr, 0), bytes.data(), bytes.size());
      MemSource mem(bytes.data(), bytes.size(), src.name());
      t = read_npy_at(mem, 0, bytes.size(), what);
    }
    if (crc != z.crc) fail("cannot read ", what, ": CRC mismatch (corrupt archive)");
    std::string key = z.name;
    if (key.size() >= 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    if (!out.emplace(key, std::move(t)).second) fail("cannot read ", what, ": duplicate entry");
  }
  return out;
}

void put16(std::string& s, uint16_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>(v >> 8);
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v & 0xffff));
  put16(s, static_cast<uint16_t>(v >> 16));
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v));
  put32(s, static_cast<uint32_t>(v >> 32));
}

}  // namespace

// -------------------------------------------------------------------------------------------------------

Tensor read_npy(const std::string& path) {
  FileSource f(path, ".npy file");
  return read_npy_at(f, 0, f.size(), quoted(path));
}

Tensor parse_npy(const void* data, size_t size, const std::string& name) {
  MemSource m(data, size, name);
  return read_npy_at(m, 0, size, quoted(name));
}

std::string npy_bytes(const Tensor& t) {
  check_writable(t);
  std::string out = npy_header(t);
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  check_writable(t);
  OutFile f(path);
  f.write(npy_header(t));
  f.write_view(t.raw(), t.nbytes());
  f.close();
}

std::map<std::string, Tensor> read_npz(const std::string& path) {
  FileSource f(path, ".npz file");
  return read_zip_npys(f);
}

std::map<std::string, Tensor> parse_npz(const void* data, size_t size, const std::string& name) {
  MemSource m(data, size, name);
  return read_zip_npys(m);
}

void write_npz(const std::string& path, const std::map<std::string, Tensor>& arrays, bool force_zip64) {
  constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01 00:00, for reproducible files
  OutFile f(path);
  std::string central;
  bool any64 = force_zip64;
  for (const auto& [key, t] : arrays) {
    check_writable(t);
    OCTET_CHECK(!key.empty() && key.size() < 65000, "cannot write '", path, "': bad array name '", key, "'");
    std::string name = key + ".npy";
    std::string head = npy_header(t);
    uint64_t size = head.size() + t.nbytes();
    uLong crc = crc32_big(crc32(0, nullptr, 0), head.data(), head.size());
    crc = crc32_big(crc, t.raw(), t.nbytes());
    uint64_t offset = f.pos();
    bool z64 = force_zip64 || size >= 0xffffffffu || offset >= 0xffffffffu;
    any64 |= z64;
    std::string lh;
    put32(lh, kLocalSig);
    put16(lh, z64 ? 45 : 20);
    put16(lh, 0);  // flags
    put16(lh, 0);  // stored
    put16(lh, 0);
    put16(lh, kDosDate);
    put32(lh, static_cast<uint32_t>(crc));
    put32(lh, z64 ? 0xffffffffu : static_cast<uint32_t>(size));
    put32(lh, z64 ? 0xffffffffu : static_cast<uint32_t>(size));
    put16(lh, static_cast<uint16_t>(name.size()));
    put16(lh, z64 ? 20 : 0);
    lh += name;
    if (z64) {
      put16(lh, 1);
      put16(lh, 16);
      put64(lh, size);
      put64(lh, size);
    }
    f.write(lh);
    f.write(head);
    f.write_view(t.raw(), t.nbytes());

    put32(central, kCentralSig);
    put16(central, (3 << 8) | (z64 ? 45 : 20));  // made by: unix
    put16(central, z64 ? 45 : 20);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, kDosDate);
    put32(central, static_cast<uint32_t>(crc));
    put32(central, z64 ? 0xffffffffu : static_cast<uint32_t>(size));
    put32(central, z64 ? 0xffffffffu : static_cast<uint32_t>(size));
    put16(central, static_cast<uint16_t>(name.size()));
    put16(central, z64 ? 28 : 0);
    put16(central, 0);  // comment
    put16(central, 0);  // disk
    put16(central, 0);  // internal attributes
    put32(central, 0644u << 16);
    put32(central, z64 ? 0xffffffffu : static_cast<uint32_t>(offset));
    central += name;
    if (z64) {
      put16(central, 1);
      put16(central, 24);
      put64(central, size);
      put64(central, size);
      put64(central, offset);
    }
  }
  uint64_t cd_off = f.pos(), cd_size = central.size(), n = arrays.size();
  f.write(central);
  any64 |= cd_off >= 0xffffffffu || n >= 0xffff;
  std::string tail;
  if (any64) {
    uint64_t z_off = f.pos();
    put32(tail, kZip64EocdSig);
    put64(tail, 44);
    put16(tail, 45);
    put16(tail, 45);
    put32(tail, 0);
    put32(tail, 0);
    put64(tail, n);
    put64(tail, n);
    put64(tail, cd_size);
    put64(tail, cd_off);
    put32(tail, kZip64LocatorSig);
    put32(tail, 0);
    put64(tail, z_off);
    put32(tail, 1);
  }
  put32(tail, kEocdSig);
  put16(tail, 0);
  put16(tail, 0);
  put16(tail, any64 ? 0xffff : static_cast<uint16_t>(n));
  put16(tail, any64 ? 0xffff : static_cast<uint16_t>(n));
  put32(tail, any64 ? 0xffffffffu : static_cast<uint32_t>(cd_size));
  put32(tail, any64 ? 0xffffffffu : static_cast<uint32_t>(cd_off));
  put16(tail, 0);
  f.write(tail);
  f.close();
}

void parse_npy_or_npz(const void* data, size_t size) {
  if (size >= 4 && std::memcmp(data, "PK", 2) == 0)
    parse_npz(data, size, "fuzz.npz");
  else
    parse_npy(data, size, "fuzz.npy");
}

}  // namespace octet
