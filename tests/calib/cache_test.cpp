#include "calib/cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "calib/table.h"
#include "core/error.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("octet_calib_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(CacheHex, GoldenVectors) {  // spec §4.4
  EXPECT_EQ(scale_hex(1.f / 127.f), "3c010204");
  EXPECT_EQ(scale_hex(255.f / 127.f), "40008102");
  EXPECT_EQ(scale_hex(0.f), "0");
  EXPECT_EQ(scale_hex(scale_from_amax(1.f)), "3c010204");
  const CalibCache c = parse_cache("TRT-7000-EntropyCalibration2\na: 3c010a14\nb: 400054a6\nc: 280de15b\nd: 0\n");
  ASSERT_EQ(c.entries.size(), 4u);
  EXPECT_FLOAT_EQ(c.entries[0].scale, 0.00787594f);
  EXPECT_NEAR(amax_from_scale(c.entries[0].scale), 1.000244, 1e-6);
  EXPECT_FLOAT_EQ(c.entries[1].scale, 2.0051665f);
  EXPECT_NEAR(amax_from_scale(c.entries[1].scale), 254.656, 1e-3);
  EXPECT_NEAR(c.entries[2].scale, 7.876e-15, 1e-18);
  EXPECT_EQ(c.entries[3].scale, 0.f);
  EXPECT_EQ(std::bit_cast<uint32_t>(c.entries[0].scale), 0x3c010a14u);
}

TEST(CacheVersion, Numbers) {  // spec §4.2
  EXPECT_EQ(trt_version_number("10.9.0"), 100900);
  EXPECT_EQ(trt_version_number("8.6.1"), 8601);
  EXPECT_EQ(trt_version_number("10.13"), 101300);
  EXPECT_EQ(trt_version_number("7.2.3.4"), 7203);
  EXPECT_EQ(trt_version_number("5.1.5"), 5105);
  EXPECT_THROW(trt_version_number("10"), Error);
  EXPECT_THROW(trt_version_number("ten.1"), Error);
  EXPECT_THROW(trt_version_number("10.100.0"), Error);
  EXPECT_EQ(make_cache_header(kDefaultTrtVersion, Algo::Entropy2), "TRT-101300-EntropyCalibration2");
  EXPECT_EQ(make_cache_header(8400, Algo::MinMax), "TRT-8400-MinMaxCalibration");
  EXPECT_THROW(make_cache_header(8400, Algo::Mse), Error);
}

TEST(CacheHeader, ParseAndCompare) {
  const CacheHeader h = parse_cache_header("TRT-100900-EntropyCalibration2");
  EXPECT_EQ(h.version, 100900);
  EXPECT_EQ(h.algo_token, "EntropyCalibration2");
  EXPECT_THROW(parse_cache_header("init_K 6.91"), Error);
  EXPECT_THROW(parse_cache_header("TRT-x-EntropyCalibration2"), Error);
  EXPECT_THROW(parse_cache_header("TRT-8600-"), Error);

  EXPECT_TRUE(check_cache_header("TRT-8600-EntropyCalibration2", "TRT-8600-EntropyCalibration2").ok);
  HeaderCheck v = check_cache_header("TRT-8600-EntropyCalibration2", "TRT-101300-EntropyCalibration2");
  EXPECT_FALSE(v.ok);
  EXPECT_TRUE(v.version_differs);
  EXPECT_FALSE(v.algo_differs);
  EXPECT_NE(v.reason.find("TensorRT version 8600, expected 101300"), std::string::npos) << v.reason;
  HeaderCheck a = check_cache_header("TRT-101300-MinMaxCalibration", "TRT-101300-EntropyCalibration2");
  EXPECT_FALSE(a.ok);
  EXPECT_FALSE(a.version_differs);
  EXPECT_TRUE(a.algo_differs);
  EXPECT_NE(a.reason.find("calibrator MinMaxCalibration, expected EntropyCalibration2"), std::string::npos)
      << a.reason;
  HeaderCheck both = check_cache_header("TRT-8400-MinMaxCalibration", "TRT-101300-EntropyCalibration2");
  EXPECT_TRUE(both.version_differs && both.algo_differs);
  HeaderCheck junk = check_cache_header("garbage", "TRT-101300-EntropyCalibration2");
  EXPECT_FALSE(junk.ok);
  EXPECT_NE(junk.reason.find("TRT-"), std::string::npos);
}

TEST(CacheFiles, RealTensorRtCachesRoundTripByteForByte) {
  const std::string shared = test::shared_dir();
  if (shared.empty() || !fs::is_directory(shared + "/data/trt-caches"))
    GTEST_SKIP() << "shared/data/trt-caches not found (set OCTET_SHARED)";
  int n = 0;
  for (const auto& de : fs::directory_iterator(shared + "/data/trt-caches")) {
    if (de.path().extension() != ".cache") continue;
    ++n;
    const std::string bytes = slurp(de.path());
    const CalibCache c = read_cache_file(de.path().string());
    EXPECT_FALSE(c.entries.empty()) << de.path();
    EXPECT_EQ(serialize_cache(c), bytes) << de.path();
    // And through a CalibTable (amax = 127*scale and back) — exact for these files.
    const CalibTable t = table_from_cache(c);
    EXPECT_EQ(serialize_cache(to_cache(t, parse_cache_header(c.header).version)), bytes) << de.path();
  }
  EXPECT_GE(n, 3);
  const CalibCache mnist = read_cache_file(shared + "/data/trt-caches/sampleint8_mnist_trt7000.cache");
  EXPECT_EQ(mnist.header, "TRT-7000-EntropyCalibration2");
  ASSERT_EQ(mnist.entries.size(), 8u);
  EXPECT_EQ(mnist.entries.back().name, "prob");
  EXPECT_EQ(std::bit_cast<uint32_t>(mnist.entries.back().scale), 0x3c010a14u);
  const CalibCache deim = read_cache_file(shared + "/data/trt-caches/deimkit_excerpt_trt100900.cache");
  EXPECT_EQ(deim.entries.back().name, "ONNXTRT_Broadcast_1855_output");
  EXPECT_EQ(deim.entries.back().scale, 0.f);
  const CalibCache vgg = read_cache_file(shared + "/data/trt-caches/vgg16_minmax_excerpt_trt8400.cache");
  EXPECT_EQ(table_from_cache(vgg).algo, Algo::MinMax);
  EXPECT_NE(vgg.entries[3].name.find("(Unnamed Layer* 46) [Constant]_output"), std::string::npos);
}

TEST(CacheParse, OddNamesRoundTrip) {
  CalibCache c;
  c.header = make_cache_header(kDefaultTrtVersion, Algo::Entropy2);
  const char* names[] = {"(Unnamed Layer* 46) [Constant]_output", "ssd_300_vgg/conv_init/Conv2D__176:0",
                         "/model/backbone/stem/stem1/conv/Conv_output_0", "a: 3c",  "onnx::Conv_329",
                         "name with  spaces", "x:0:1", "*", "[]"};
  float s = 1e-3f;
  for (const char* n : names) {
    c.entries.push_back({n, s});
    s *= 3.7f;
  }
  c.entries.push_back({"zero", 0.f});
  const std::string text = serialize_cache(c);
  const CalibCache back = parse_cache(text);
  ASSERT_EQ(back.entries.size(), c.entries.size());
  EXPECT_EQ(back.header, c.header);
  for (size_t i = 0; i < c.entries.size(); ++i) {
    EXPECT_EQ(back.entries[i].name, c.entries[i].name);
    EXPECT_EQ(std::bit_cast<uint32_t>(back.entries[i].scale), std::bit_cast<uint32_t>(c.entries[i].scale));
  }
  EXPECT_EQ(serialize_cache(back), text);
  EXPECT_NE(text.find("\nzero: 0\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(CacheParse, ToleratesCrlfBlankLinesAndSpacing) {
  const CalibCache c =
      parse_cache("\r\nTRT-8205-EntropyCalibration2\r\n\r\nonnx::Conv_329: 3c96d93c\r\nx:3C010A14  \r\n\n  \ny: 0");
  EXPECT_EQ(c.header, "TRT-8205-EntropyCalibration2");
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(c.entries[0].name, "onnx::Conv_329");
  EXPECT_EQ(std::bit_cast<uint32_t>(c.entries[1].scale), 0x3c010a14u);
  EXPECT_EQ(c.entries[2].scale, 0.f);
}

void expect_error(std::string_view text, const std::string& needle) {
  try {
    parse_cache(text, "test.cache");
    ADD_FAILURE() << "no error for: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(CacheParse, MalformedLinesNameTheLine) {
  expect_error("", "empty");
  expect_error("\n\n", "empty");
  expect_error("hello\n", "line 1");
  expect_error("TRT-7000-EntropyCalibration2\nconv1 3c88edfc\n", "line 2");
  expect_error("TRT-7000-EntropyCalibration2\nconv1: 3c88edfc\n\nconv2: 123456789\n", "line 4");
  expect_error("TRT-7000-EntropyCalibration2\nconv1: 3g\n", "line 2");
  expect_error("TRT-7000-EntropyCalibration2\nconv1: \n", "line 2");
  expect_error("TRT-7000-EntropyCalibration2\n: 3c\n", "empty tensor name");
  expect_error("TRT-7000-EntropyCalibration2\na: 1\nb: 2\na: 3\n", "already appeared on line 2");
  expect_error("TRT-7000-EntropyCalibration2\na: -1\n", "line 2");
  expect_error("TRT-7000-EntropyCalibration2\na: 0x1\n", "line 2");
  expect_error("TRT-7000-EntropyCalibration2\na\rb: 1\n", "carriage return");
}

TEST(CacheWrite, RejectsLineBreaksInNames) {
  CalibCache c;
  c.header = "TRT-8601-EntropyCalibration2";
  c.entries.push_back({"bad\nname", 1.f});
  EXPECT_THROW(serialize_cache(c), Error);
  c.entries[0].name = "";
  EXPECT_THROW(serialize_cache(c), Error);
}

TEST(CacheWrite, AtomicReplace) {
  const fs::path dir = temp_dir("atomic");
  const std::string path = (dir / "model.cache").string();
  CalibCache c;
  c.header = make_cache_header(trt_version_number("8.6.1"), Algo::Entropy2);
  c.entries = {{"input", 1.f / 127.f}, {"conv1:0", 0.f}};
  write_cache_file(path, c);
  EXPECT_EQ(slurp(path), "TRT-8601-EntropyCalibration2\ninput: 3c010204\nconv1:0: 0\n");
  const CalibCache back = read_cache_file(path);
  EXPECT_EQ(back.entries.size(), 2u);

  // A failing write (bad entry) leaves the old file untouched and no temporary behind.
  CalibCache bad = c;
  bad.entries.push_back({"x\ny", 1.f});
  EXPECT_THROW(write_cache_file(path, bad), Error);
  EXPECT_EQ(slurp(path), "TRT-8601-EntropyCalibration2\ninput: 3c010204\nconv1:0: 0\n");

  // Replacing: complete new content.
  c.entries.push_back({"out", 2.f});
  write_cache_file(path, c);
  EXPECT_EQ(read_cache_file(path).entries.size(), 3u);
  int files = 0;
  for (const auto& de : fs::directory_iterator(dir)) {
    (void)de;
    ++files;
  }
  EXPECT_EQ(files, 1);

  // Unwritable directory: Error, nothing created.
  EXPECT_THROW(write_cache_file((dir / "no/such/dir/x.cache").string(), c), Error);
  EXPECT_THROW(read_cache_file((dir / "missing.cache").string()), Error);
  fs::remove_all(dir);
}

TEST(CalibTable, ToCacheUsesScaleBits) {
  CalibTable t;
  t.algo = Algo::MinMax;
  t.entries.push_back({});
  t.entries.back().name = "x";
  t.entries.back().amax = 255.f;
  const CalibCache c = to_cache(t, 8400);
  EXPECT_EQ(serialize_cache(c), "TRT-8400-MinMaxCalibration\nx: 40008102\n");
  t.algo = Algo::Percentile;
  EXPECT_THROW(to_cache(t), Error);
  EXPECT_EQ(to_cache(t, 8601, "LegacyCalibration").header, "TRT-8601-LegacyCalibration");
}

}  // namespace
}  // namespace octet

// Issue 17: the one rule for a scale a kernel may use, and the cache check that names tensor and line.
namespace octet {
namespace {

TEST(ScaleRule, OnlyNormalPositiveFiniteScalesWithFiniteAmaxAndReciprocal) {
  EXPECT_EQ(scale_problem(0.0078740157f), "");
  EXPECT_EQ(scale_problem(std::numeric_limits<float>::min()), "");  // smallest normal: 1/s is finite
  EXPECT_EQ(scale_problem(std::numeric_limits<float>::max() / 128.f), "");
  EXPECT_EQ(scale_problem(std::numeric_limits<float>::quiet_NaN()), "NaN");
  EXPECT_NE(scale_problem(std::numeric_limits<float>::infinity()), "");
  EXPECT_NE(scale_problem(-std::numeric_limits<float>::infinity()), "");
  EXPECT_EQ(scale_problem(-1.f), "negative");
  EXPECT_EQ(scale_problem(0.f), "zero");
  EXPECT_EQ(scale_problem(-0.f), "negative zero");
  EXPECT_EQ(scale_problem(std::numeric_limits<float>::denorm_min()), "denormal");
  EXPECT_NE(scale_problem(std::numeric_limits<float>::max()).find("127"), std::string::npos);
  EXPECT_EQ(amax_problem(1.f), "");
  EXPECT_NE(amax_problem(std::numeric_limits<float>::min()), "");  // amax / 127 is denormal
  EXPECT_NE(amax_problem(std::numeric_limits<float>::quiet_NaN()), "");
  EXPECT_NE(amax_problem(-2.f), "");
}

TEST(ScaleRule, CheckCacheScalesNamesTensorAndLineAndAllowsZero) {
  CalibCache c = parse_cache("TRT-101300-EntropyCalibration2\n\ninput: 3c010a14\nshape_t: 0\nconv:out: 7fc00000\n", "'m.cache'");
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(c.entries[0].line, 3u);
  EXPECT_EQ(c.entries[2].line, 5u);
  try {
    check_cache_scales(c, "'m.cache'");
    FAIL() << "NaN scale accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("line 5 of 'm.cache'"), std::string::npos) << m;
    EXPECT_NE(m.find("'conv:out'"), std::string::npos) << m;
    EXPECT_NE(m.find("NaN"), std::string::npos) << m;
  }
  c.entries.pop_back();
  EXPECT_NO_THROW(check_cache_scales(c, "'m.cache'"));  // 0 (not quantized) is legal in a cache
  for (const char* hex : {"7f800000", "bf800000", "1", "7f7fffff", "80000000"}) {
    CalibCache b = parse_cache(std::string("TRT-101300-EntropyCalibration2\nx: ") + hex + "\n");
    EXPECT_THROW(check_cache_scales(b, "b"), Error) << hex;
  }
}

}  // namespace
}  // namespace octet
