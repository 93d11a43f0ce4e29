// .npy / .npz: round trips, bytes written by numpy, and hostile inputs.
#include <zlib.h>

#include <cstring>
#include <functional>

#include <gtest/gtest.h>

#include "io/io_test_util.h"
#include "io/npy.h"

namespace octet {
namespace {

using test::from_hex;
using test::TempDir;

// Fixtures: exactly what numpy 2.4 np.save / np.savez / np.savez_compressed wrote (see comments).
// np.save(np.arange(6, dtype='<f4').reshape(2, 3))
const std::string kF4_2x3 = from_hex(
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020202020202020202020200a000000000000803f0000004000004040"
    "000080400000a040");
// np.save(np.array(-7, dtype='<i8'))
const std::string kI8Scalar = from_hex(
    "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020202020202020202020200af9ffffffffffffff");
// np.save(np.array([True, False, True]))
const std::string kB1_3 = from_hex(
    "934e554d5059010076007b276465736372273a20277c6231272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020202020202020202020200a010001");
// np.save(np.zeros((0, 2), 'u1'))
const std::string kU1_0x2 = from_hex(
    "934e554d5059010076007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028302c2032292c207d202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020202020202020202020200a");
// np.savez_compressed(w=np.arange(6, dtype='<f4').reshape(2, 3), idx=np.array([1, 2, 3], dtype='<i4'))
// (deflated; local headers carry zip64 sizes, as numpy forces zip64 on every entry)
const std::string kNpzDeflated = from_hex(
    "504b03042d0000000800000021004fe9002affffffffffffffff05001400772e6e707901001000980000000000000055"
    "000000000000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a06e9366a2aea3a09e965f54529498179f5f94920a"
    "12774bcc294e058a17672416a402f91a463a0ac69a3a0ab50a64032e063068b007120e4004c40d40bcc00100504b0304"
    "2d000000080000002100ebc02b04ffffffffffffffff070014006964782e6e7079010010008c000000000000004d0000"
    "00000000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a06e9369a2aea3a09e965f54529498179f5f94920a1277"
    "4bcc294e058a17672416a402f91ac63a9a3a0ab50a14002e46060606262066066200504b01022d032d00000008000000"
    "21004fe9002a5500000098000000050000000000000000000000800100000000772e6e7079504b01022d032d00000008"
    "0000002100ebc02b044d0000008c00000007000000000000000000000080018c0000006964782e6e7079504b05060000"
    "00000200020068000000120100000000");
// np.savez(x=np.array([[1, -2], [3, 4]], dtype='|i1'))  (stored)
const std::string kNpzStored = from_hex(
    "504b03042d000000000000002100256a3ef0ffffffffffffffff05001400782e6e707901001000840000000000000084"
    "00000000000000934e554d5059010076007b276465736372273a20277c6931272c2027666f727472616e5f6f72646572"
    "273a2046616c73652c20277368617065273a2028322c2032292c207d2020202020202020202020202020202020202020"
    "20202020202020202020202020202020202020202020202020202020202020202020202020200a01fe0304504b01022d"
    "032d000000000000002100256a3ef08400000084000000050000000000000000000000800100000000782e6e7079504b"
    "0506000000000100010033000000bb0000000000");

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string bytes_of(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.nbytes()); }

Tensor pattern(DType dt, const Shape& s) {
  Tensor t(dt, s);
  auto* b = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) b[i] = dt == DType::boolean ? (i % 3 == 0) : static_cast<uint8_t>(i * 37 + 11);
  return t;
}

TEST(IoNpy, RoundTripEveryDtypeAndShape) {
  TempDir dir;
  const DType dtypes[] = {DType::f32, DType::f64, DType::f16, DType::i8, DType::u8, DType::i32, DType::i64, DType::boolean};
  const Shape shapes[] = {{}, {0}, {3, 0, 2}, {7}, {2, 3, 5}, {1, 1, 1, 1, 1, 1}};
  for (DType dt : dtypes)
    for (const Shape& s : shapes) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s));
      Tensor t = pattern(dt, s);
      std::string path = dir / "a.npy";
      write_npy(path, t);
      Tensor r = read_npy(path);
      EXPECT_EQ(r.dtype(), dt);
      EXPECT_EQ(r.shape(), s);
      EXPECT_EQ(bytes_of(r), bytes_of(t));
      std::string mem = npy_bytes(t);
      EXPECT_EQ(mem, test::read_file(path));
      EXPECT_EQ(mem.find("\n") + 1, mem.size() - t.nbytes());  // header ends in a newline
      EXPECT_EQ((mem.size() - t.nbytes()) % 64, 0u);             // and is 64-byte aligned
      Tensor m = parse_npy(mem.data(), mem.size());
      EXPECT_EQ(m.shape(), s);
      EXPECT_EQ(bytes_of(m), bytes_of(t));
    }
}

TEST(IoNpy, WritesWhatNumpyWrites) {
  Tensor f = Tensor::from<float>({2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(npy_bytes(f), kF4_2x3);
  EXPECT_EQ(npy_bytes(Tensor::from<int64_t>({}, {-7})), kI8Scalar);
  EXPECT_EQ(npy_bytes(Tensor::from<bool>({3}, {true, false, true})), kB1_3);
  EXPECT_EQ(npy_bytes(Tensor(DType::u8, {0, 2})), kU1_0x2);
}

TEST(IoNpy, ReadsNumpyFiles) {
  Tensor f = parse_npy(kF4_2x3.data(), kF4_2x3.size());
  ASSERT_EQ(f.dtype(), DType::f32);
  ASSERT_EQ(f.shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(f.data<float>()[i], static_cast<float>(i));
  Tensor s = parse_npy(kI8Scalar.data(), kI8Scalar.size());
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.data<int64_t>()[0], -7);
  Tensor b = parse_npy(kB1_3.data(), kB1_3.size());
  EXPECT_EQ(b.dtype(), DType::boolean);
  EXPECT_EQ(b.to_i64(), (std::vector<int64_t>{1, 0, 1}));
  Tensor e = parse_npy(kU1_0x2.data(), kU1_0x2.size());
  EXPECT_EQ(e.shape(), (Shape{0, 2}));
}

std::string npy_v(int major, const std::string& dict, const std::string& data) {
  std::string h = "\x93NUMPY";
  h += static_cast<char>(major);
  h += '\0';
  uint32_t n = static_cast<uint32_t>(dict.size());
  h += static_cast<char>(n & 0xff);
  h += static_cast<char>(n >> 8);
  if (major >= 2) {
    h += static_cast<char>(n >> 16);
    h += static_cast<char>(n >> 24);
  }
  return h + dict + data;
}

TEST(IoNpy, OlderAndNewerHeaders) {
  std::string data("\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00", 24);
  // numpy < 1.14 under Python 2: 16-byte alignment, long literals, no trailing comma.
  std::string py2 = npy_v(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L)}            \n", data);
  Tensor a = parse_npy(py2.data(), py2.size());
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.to_i64(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  for (int major : {2, 3}) {
    std::string v = npy_v(major, "{\"shape\": (6,), \"fortran_order\": False, \"descr\": \"=i4\"}\n", data);
    Tensor b = parse_npy(v.data(), v.size());
    EXPECT_EQ(b.shape(), (Shape{6}));
    EXPECT_EQ(b.to_i64(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  }
  // Trailing bytes after the data are ignored, as np.load does.
  std::string extra = kF4_2x3 + "junk";
  EXPECT_EQ(parse_npy(extra.data(), extra.size()).numel(), 6);
  // Byte order is meaningless for one-byte types.
  std::string u1 = npy_v(1, "{'descr': '>u1', 'fortran_order': False, 'shape': (2,), }\n", "\x05\x06");
  EXPECT_EQ(parse_npy(u1.data(), u1.size()).to_i64(), (std::vector<int64_t>{5, 6}));
}

TEST(IoNpy, BadInputsThrowNamingTheFile) {
  auto err = [](const std::string& bytes) {
    return error_of([&] { parse_npy(bytes.data(), bytes.size(), "bad.npy"); });
  };
  auto dict = [](const std::string& d, const std::string& data = std::string(64, '\0')) { return npy_v(1, d + "\n", data); };
  struct Case {
    std::string bytes, expect;
  } cases[] = {
      {"", "too short"},
      {std::string("\x93NUMPX\x01\x00\x00\x00", 10), "bad magic"},
      {npy_v(4, "{}", ""), "version 4.0"},
      {kF4_2x3.substr(0, 60), "header length"},
      {kF4_2x3.substr(0, kF4_2x3.size() - 1), "truncated"},
      {dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"), "fortran_order"},
      {dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }"), "big-endian"},
      {dict("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }"), "not supported"},
      {dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"), "not supported"},
      {dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"), "structured"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"), "overflows"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 2), }"), "overflows"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"), "overflows"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }"), "truncated"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "non-negative"},
      {dict("{'descr': '<f4', 'shape': (2,), }"), "lacks"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"), "unexpected key"},
      {dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,"), "malformed"},
      {dict("{'descr': '<f4"), "unterminated"},
      {dict("['descr']"), "malformed"},
  };
  for (const Case& c : cases) {
    std::string e = err(c.bytes);
    EXPECT_NE(e.find("'bad.npy'"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << e;
  }
  TempDir dir;
  std::string path = dir / "trunc.npy";
  test::write_file(path, kF4_2x3.substr(0, 140));
  std::string e = error_of([&] { read_npy(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  e = error_of([&] { read_npy(dir / "missing.npy"); });
  EXPECT_NE(e.find("missing.npy"), std::string::npos) << e;
}

TEST(IoNpy, EveryPrefixAndByteFlipIsHandled) {
  for (const std::string* f : {&kF4_2x3, &kI8Scalar, &kNpzDeflated, &kNpzStored}) {
    for (size_t n = 0; n < f->size(); ++n) {
      std::string cut = f->substr(0, n);
      EXPECT_THROW(parse_npy_or_npz(cut.data(), cut.size()), Error) << n;
    }
    for (size_t i = 0; i < f->size(); ++i) {
      std::string flip = *f;
      flip[i] = static_cast<char>(flip[i] ^ 0x5a);
      try {
        parse_npy_or_npz(flip.data(), flip.size());
      } catch (const Error&) {
      }
    }
  }
}

TEST(IoNpz, ReadsNumpyDeflatedAndStored) {
  auto d = parse_npz(kNpzDeflated.data(), kNpzDeflated.size());
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.at("w").shape(), (Shape{2, 3}));
  EXPECT_EQ(d.at("w").to_f32(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(d.at("idx").dtype(), DType::i32);
  EXPECT_EQ(d.at("idx").to_i64(), (std::vector<int64_t>{1, 2, 3}));
  auto s = parse_npz(kNpzStored.data(), kNpzStored.size());
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.at("x").dtype(), DType::i8);
  EXPECT_EQ(s.at("x").to_i64(), (std::vector<int64_t>{1, -2, 3, 4}));
}

// A zip built by hand: entries stored or deflated with zlib (raw deflate, as zip wants).
struct ZipIn {
  std::string name, data;
  bool deflate;
};
void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::string raw_deflate(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
std::string make_zip(const std::vector<ZipIn>& entries) {
  std::string file, cd;
  for (const ZipIn& e : entries) {
    std::string body = e.deflate ? raw_deflate(e.data) : e.data;
    uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size())));
    uint64_t off = file.size();
    put(file, 0x04034b50, 4); put(file, 20, 2); put(file, 0, 2); put(file, e.deflate ? 8 : 0, 2);
    put(file, 0, 4); put(file, crc, 4); put(file, body.size(), 4); put(file, e.data.size(), 4);
    put(file, e.name.size(), 2); put(file, 0, 2);
    file += e.name + body;
    put(cd, 0x02014b50, 4); put(cd, 20, 2); put(cd, 20, 2); put(cd, 0, 2); put(cd, e.deflate ? 8 : 0, 2);
    put(cd, 0, 4); put(cd, crc, 4); put(cd, body.size(), 4); put(cd, e.data.size(), 4);
    put(cd, e.name.size(), 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4);
    put(cd, off, 4);
    cd += e.name;
  }
  uint64_t cd_off = file.size();
  file += cd;
  put(file, 0x06054b50, 4); put(file, 0, 4); put(file, entries.size(), 2); put(file, entries.size(), 2);
  put(file, cd.size(), 4); put(file, cd_off, 4); put(file, 0, 2);
  return file;
}

TEST(IoNpz, DeflatedWithZlib) {
  Tensor big = pattern(DType::f32, {64, 33});
  Tensor zeros(DType::i64, {1000});
  std::string zip = make_zip({{"big.npy", npy_bytes(big), true},
                              {"zeros.npy", npy_bytes(zeros), true},
                              {"dir/", "", false},
                              {"plain.npy", npy_bytes(Tensor::from<double>({2}, {1.5, -2.5})), false}});
  TempDir dir;
  test::write_file(dir / "z.npz", zip);
  for (const auto& m : {read_npz(dir / "z.npz"), parse_npz(zip.data(), zip.size())}) {
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(bytes_of(m.at("big")), bytes_of(big));
    EXPECT_EQ(m.at("zeros").shape(), (Shape{1000}));
    EXPECT_EQ(m.at("plain").to_f32(), (std::vector<float>{1.5f, -2.5f}));
  }
}

TEST(IoNpz, WriteRoundTripIncludingZip64) {
  TempDir dir;
  std::map<std::string, Tensor> in = {{"a", pattern(DType::f32, {3, 4})},
                                      {"scalar", Tensor::from<int32_t>({}, {42})},
                                      {"empty", Tensor(DType::u8, {0})},
                                      {"mask", pattern(DType::boolean, {5})}};
  for (bool z64 : {false, true}) {
    std::string path = dir / (z64 ? "z64.npz" : "z.npz");
    write_npz(path, in, z64);
    auto out = read_npz(path);
    ASSERT_EQ(out.size(), in.size());
    for (const auto& [k, t] : in) {
      EXPECT_EQ(out.at(k).dtype(), t.dtype()) << k;
      EXPECT_EQ(out.at(k).shape(), t.shape()) << k;
      EXPECT_EQ(bytes_of(out.at(k)), bytes_of(t)) << k;
    }
  }
}

TEST(IoNpz, CorruptArchivesThrow) {
  TempDir dir;
  std::map<std::string, Tensor> in = {{"a", pattern(DType::f32, {3, 4})}};
  std::string path = dir / "z.npz";
  write_npz(path, in);
  std::string good = test::read_file(path);
  auto err = [&](const std::string& bytes) {
    test::write_file(path, bytes);
    return error_of([&] { read_npz(path); });
  };
  // A flipped data byte breaks the CRC.
  std::string bad = good;
  bad[good.find("NUMPY") + 140] ^= 1;
  EXPECT_NE(err(bad).find("CRC"), std::string::npos);
  // Truncations.
  for (size_t n : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    std::string e = err(good.substr(0, n));
    EXPECT_NE(e.find(path), std::string::npos) << e;
  }
  // Unsupported method and encryption.
  std::string m = good;
  size_t cd = m.find("PK\x01\x02");
  m[cd + 10] = 12;  // bzip2
  EXPECT_NE(err(m).find("compression method 12"), std::string::npos);
  std::string enc = good;
  enc[cd + 8] = 1;
  EXPECT_NE(err(enc).find("encrypted"), std::string::npos);
  // A deflated entry that claims a huge uncompressed size is refused before allocating.
  std::string zip = make_zip({{"a.npy", npy_bytes(in.at("a")), true}});
  size_t c = zip.find("PK\x01\x02");
  for (int i = 0; i < 4; ++i) zip[c + 24 + i] = '\x7f';
  std::string e = error_of([&] { parse_npz(zip.data(), zip.size(), "huge.npz"); });
  EXPECT_NE(e.find("implausible"), std::string::npos) << e;
  // Not a zip at all.
  EXPECT_NE(err(kF4_2x3).find("not a zip"), std::string::npos);
}

}  // namespace
}  // namespace octet
