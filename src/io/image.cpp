#include "io/image.h"

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <vector>

#ifndef OCTET_NO_IMAGE_DECODE
#include <opencv2/imgcodecs.hpp>
#endif
#include <opencv2/imgproc.hpp>

#include "core/file_io.h"

namespace octet {

Interp interp_from_name(const std::string& name) {
  if (name == "bilinear" || name == "linear") return Interp::bilinear;
  if (name == "nearest") return Interp::nearest;
  if (name == "area") return Interp::area;
  if (name == "cubic" || name == "bicubic") return Interp::cubic;
  fail("unknown interpolation '", name, "' (use bilinear, nearest, area or cubic)");
}

const char* interp_name(Interp i) {
  switch (i) {
    case Interp::bilinear: return "bilinear";
    case Interp::nearest: return "nearest";
    case Interp::area: return "area";
    case Interp::cubic: return "cubic";
  }
  return "?";
}

namespace {

int cv_interp(Interp i) {
  switch (i) {
    case Interp::bilinear: return cv::INTER_LINEAR;
    case Interp::nearest: return cv::INTER_NEAREST;
    case Interp::area: return cv::INTER_AREA;
    case Interp::cubic: return cv::INTER_CUBIC;
  }
  return cv::INTER_LINEAR;
}

// (in - out) / 2 rounded half to even, as Python's round() in torchvision's center_crop.
int crop_offset(int in, int out) {
  int d = in - out;
  int h = d / 2;
  if (d % 2 != 0 && h % 2 != 0) ++h;
  return h;
}

// Channel conversion at the decoded depth. Returns a 1- or 3-channel (BGR) image.
cv::Mat to_channels(const cv::Mat& src, int channels, const std::string& name) {
  cv::Mat img = src;
  int d = img.depth();
  if (d != CV_8U && d != CV_16U && d != CV_32F) img.convertTo(img, CV_32F);  // cvtColor's depths
  int c = img.channels();
  if (c == 2) {  // gray + alpha
    cv::Mat g;
    cv::extractChannel(img, g, 0);
    img = g;
    c = 1;
  }
  if (c != 1 && c != 3 && c != 4) fail("cannot use image '", name, "': ", c, " channels (expected 1 to 4)");
  cv::Mat out;
  if (channels == 1) {
    if (c == 1) return img;
    cv::cvtColor(img, out, c == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  } else {
    if (c == 3) return img;
    cv::cvtColor(img, out, c == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
  }
  return out;
}

// A JPEG (starts FF D8) must end with its EOI marker FF D9, after any trailing padding (zeros, whitespace):
// libjpeg decodes a truncated file with a gray bottom and only a warning on stderr that names no file
// ("Premature end of JPEG file"), so a cut-off file is refused here, before the decoder sees it.
void check_jpeg_complete(const unsigned char* head, size_t head_size, const unsigned char* tail, size_t tail_size,
                         const std::string& name) {
  if (head_size < 2 || head[0] != 0xFF || head[1] != 0xD8) return;  // not a JPEG
  size_t n = tail_size;
  while (n > 0 && (tail[n - 1] == 0 || tail[n - 1] == ' ' || tail[n - 1] == '\n' || tail[n - 1] == '\r' ||
                   tail[n - 1] == '\t'))
    --n;
  if (n >= 2 && tail[n - 2] == 0xFF && tail[n - 1] == 0xD9) return;
  fail("cannot decode image '", name, "': truncated JPEG (no end-of-image marker FF D9 at the end of the file)");
}

}  // namespace

PadPlacement pad_placement_from_name(const std::string& name) {
  if (name == "center" || name == "centre") return PadPlacement::center;
  if (name == "topleft" || name == "top-left") return PadPlacement::topleft;
  fail("unknown pad placement '", name, "' (use center or topleft)");
}

Preprocess Preprocess::resolved(const Shape& chw) const {
  OCTET_CHECK(chw.size() == 3, "preprocessing: model input must be C x H x W per image, got ", shape_str(chw));
  Preprocess p = *this;
  int64_t mc = chw[0], mh = chw[1], mw = chw[2];
  if (p.channels == 0) p.channels = mc > 0 ? static_cast<int>(mc) : 3;
  // Any C is accepted here (a .npy data set may feed any input); images give 1 or 3 (preprocess_image).
  OCTET_CHECK(p.channels > 0, "preprocessing: ", p.channels, " channels requested");
  OCTET_CHECK(mc <= 0 || mc == p.channels, "preprocessing gives ", p.channels, " channel(s)",
              p.channels == 1 ? " (--gray)" : "", " but the model input expects ", mc);
  OCTET_CHECK(p.resize >= 0 && p.height >= 0 && p.width >= 0, "preprocessing: negative --resize or --size");
  OCTET_CHECK(p.limit_side >= 0 && p.multiple >= 0, "preprocessing: negative --limit-side or --multiple");
  OCTET_CHECK(std::isfinite(p.pad_value), "preprocessing: --pad-value must be finite");
  OCTET_CHECK(!(p.letterbox && p.resize > 0), "preprocessing: --letterbox and --resize exclude each other");
  const bool from_image = p.limit_side > 0 || p.multiple > 0;
  if (from_image) {
    OCTET_CHECK(p.height == 0 && p.width == 0 && p.resize == 0 && !p.letterbox,
                "preprocessing: --limit-side / --multiple size each image by itself; leave out --size, --resize and "
                "--letterbox");
    OCTET_CHECK(mh <= 0 && mw <= 0, "preprocessing: --limit-side / --multiple need a model input of dynamic height and "
                "width; this one takes ", mh, "x", mw, " (use --letterbox ", mh, ",", mw, " or --size)");
  }
  const bool size_given = p.height > 0 || p.width > 0;
  if (!size_given && mh <= 0 && mw <= 0 && p.resize == 0 && !p.letterbox) {
    // A model of dynamic H x W and no size: each image keeps its own (after --limit-side / --multiple).
    p.height = p.width = 0;
  } else {
    if (p.height == 0) {
      OCTET_CHECK(mh > 0, "preprocessing: the model input height is dynamic; give --size H,W",
                  p.letterbox ? " (or --letterbox H,W)" : "");
      p.height = static_cast<int>(mh);
    }
    if (p.width == 0) {
      OCTET_CHECK(mw > 0, "preprocessing: the model input width is dynamic; give --size H,W",
                  p.letterbox ? " (or --letterbox H,W)" : "");
      p.width = static_cast<int>(mw);
    }
  }
  OCTET_CHECK((mh <= 0 || p.height == 0 || mh == p.height) && (mw <= 0 || p.width == 0 || mw == p.width),
              "preprocessing: ", p.letterbox ? "--letterbox " : "--size ", p.height, "x", p.width,
              " but the model input expects ", mh, "x", mw);
  auto check_vec = [&](const std::vector<float>& v, const char* what) {
    OCTET_CHECK(v.empty() || v.size() == 1 || static_cast<int>(v.size()) == p.channels, "preprocessing: --", what,
                " has ", v.size(), " values for ", p.channels, " channel(s) (give 1 or ", p.channels, ")");
    for (float x : v) OCTET_CHECK(std::isfinite(x), "preprocessing: --", what, " has a non-finite value");
  };
  check_vec(p.mean, "mean");
  check_vec(p.std, "std");
  for (float s : p.std) OCTET_CHECK(s != 0.f, "preprocessing: --std has a zero");
  OCTET_CHECK(std::isfinite(p.scale) && p.scale != 0.f, "preprocessing: --scale must be finite and non-zero");
  return p;
}

ImageGeometry Preprocess::geometry(int h, int w) const {
  OCTET_CHECK(h > 0 && w > 0, "preprocessing: empty image (", h, "x", w, ")");
  ImageGeometry g;
  if (size_from_image()) {
    // PaddleOCR DetResizeForTest.resize_image_type0, limit_type 'max' (Python arithmetic in doubles).
    double r = 1.0;
    if (limit_side > 0 && std::max(h, w) > limit_side) r = static_cast<double>(limit_side) / (h > w ? h : w);
    int rh = static_cast<int>(h * r), rw = static_cast<int>(w * r);
    if (multiple > 1) {
      auto round_to = [&](int v) {  // max(int(round(v / m) * m), m), round half to even
        const int k = static_cast<int>(std::nearbyint(static_cast<double>(v) / multiple));
        return std::max(k * multiple, multiple);
      };
      rh = round_to(rh);
      rw = round_to(rw);
    }
    rh = std::max(rh, 1);
    rw = std::max(rw, 1);
    g.out_h = g.resized_h = rh;
    g.out_w = g.resized_w = rw;
  } else if (letterbox) {
    const double r = std::min(static_cast<double>(height) / h, static_cast<double>(width) / w);
    if (pad_placement == PadPlacement::topleft) {  // YOLOX preproc: int(w * r), at (0, 0)
      g.resized_h = static_cast<int>(h * r);
      g.resized_w = static_cast<int>(w * r);
    } else {  // Ultralytics LetterBox: round(w * r), centred with round(d / 2 -+ 0.1)
      g.resized_h = static_cast<int>(std::nearbyint(h * r));
      g.resized_w = static_cast<int>(std::nearbyint(w * r));
    }
    g.resized_h = std::clamp(g.resized_h, 1, height);
    g.resized_w = std::clamp(g.resized_w, 1, width);
    if (pad_placement == PadPlacement::center) {
      g.top = static_cast<int>(std::nearbyint((height - g.resized_h) / 2.0 - 0.1));
      g.left = static_cast<int>(std::nearbyint((width - g.resized_w) / 2.0 - 0.1));
    }
    g.out_h = height;
    g.out_w = width;
  } else if (resize > 0) {
    // torchvision _compute_resized_output_size: int(S * long / short), true division then truncation.
    if (w <= h) {
      g.resized_w = resize;
      g.resized_h = static_cast<int>(static_cast<double>(int64_t{resize} * h) / w);
    } else {
      g.resized_h = resize;
      g.resized_w = static_cast<int>(static_cast<double>(int64_t{resize} * w) / h);
    }
    // Padding (a crop larger than the image) puts floor(d / 2) before; the crop offset is half-to-even.
    g.top = height > g.resized_h ? (height - g.resized_h) / 2 : -crop_offset(g.resized_h, height);
    g.left = width > g.resized_w ? (width - g.resized_w) / 2 : -crop_offset(g.resized_w, width);
    g.out_h = height;
    g.out_w = width;
  } else {
    g.out_h = g.resized_h = height;
    g.out_w = g.resized_w = width;
  }
  g.scale_y = static_cast<double>(g.resized_h) / h;
  g.scale_x = static_cast<double>(g.resized_w) / w;
  return g;
}

Shape Preprocess::output_shape(int src_h, int src_w) const {
  if (!size_from_image()) return output_shape();
  ImageGeometry g = geometry(src_h, src_w);
  return {channels, g.out_h, g.out_w};
}

cv::Mat decode_image(const std::string& path) {
  // Read through core/file_io (a regular file only: a FIFO named x.jpg is an error, not a hang), then decode
  // the bytes as imread would.
  const std::string bytes = read_file(path, "image", static_cast<uint64_t>(INT32_MAX));
  return decode_image(bytes.data(), bytes.size(), path);
}

namespace {

// Largest image octet decodes: 2^27 pixels (e.g. 11585 x 11585; ~400 MB as 8-bit RGB). OpenCV's own limit
// (2^30 pixels, fixed when the library loads) lets a 100-byte PNG header ask for gigabytes
// (fuzz/regressions/fuzz_image), so the size a PNG, JPEG, BMP or PNM header declares is checked first.
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 27;

// Width x height as the header of a PNG, JPEG, BMP or binary PNM declares it; 0 when not one of those or not
// found (OpenCV's decoder then applies its own checks).
uint64_t declared_pixels(const unsigned char* p, size_t n) {
  const auto be16 = [&](size_t i) { return static_cast<uint64_t>(p[i]) << 8 | p[i + 1]; };
  const auto be32 = [&](size_t i) { return be16(i) << 16 | be16(i + 2); };
  const auto le32 = [&](size_t i) {
    return static_cast<uint64_t>(p[i]) | static_cast<uint64_t>(p[i + 1]) << 8 | static_cast<uint64_t>(p[i + 2]) << 16 |
           static_cast<uint64_t>(p[i + 3]) << 24;
  };
  if (n >= 24 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return be32(16) * be32(20);
  if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
    const uint64_t w = le32(18), h = le32(22);
    const auto mag = [](uint64_t v) { return v & 0x80000000u ? (~v + 1) & 0xffffffffu : v; };  // int32, may be < 0
    return mag(w) * mag(h);
  }
  if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) {
    size_t i = 2;
    while (i + 9 < n) {
      if (p[i] != 0xFF) return 0;
      const unsigned m = p[i + 1];
      if (m == 0xFF) { ++i; continue; }
      if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
      if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) return be16(i + 5) * be16(i + 7);
      i += 2 + be16(i + 2);
    }
    return 0;
  }
  if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') {
    uint64_t v[2] = {0, 0};
    size_t i = 2;
    for (int k = 0; k < 2; ++k) {
      while (i < n && (std::isspace(p[i]) || p[i] == '#')) {
        if (p[i] == '#')
          while (i < n && p[i] != '\n') ++i;
        else ++i;
      }
      while (i < n && p[i] >= '0' && p[i] <= '9' && v[k] < (uint64_t{1} << 40)) v[k] = v[k] * 10 + (p[i++] - '0');
    }
    return v[0] * v[1];
  }
  return 0;
}

// The formats octet decodes, told by their first bytes: JPEG, PNG, BMP, WebP, TIFF and binary/ASCII PNM. OpenCV
// would also hand other bytes to decoders octet never meant to expose (DICOM through GDCM, which asserts and
// aborts on a malformed header (fuzz/regressions/fuzz_image), JPEG 2000, OpenEXR, Radiance HDR, Sun raster,
// PFM), so anything else is refused before cv::imdecode sees it.
const char* sniff_format(const unsigned char* p, size_t n) {
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "JPEG";
  if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "BMP";
  if (n >= 12 && std::memcmp(p, "RIFF", 4) == 0 && std::memcmp(p + 8, "WEBP", 4) == 0) return "WebP";
  if (n >= 4 && (std::memcmp(p, "II*\0", 4) == 0 || std::memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
  if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6' && std::isspace(p[2])) return "PNM";
  return nullptr;
}

std::string first_bytes_hex(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    if (i) s += ' ';
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

}  // namespace

cv::Mat decode_image(const void* data, size_t size, const std::string& name) {
  if (size == 0 || size > static_cast<size_t>(INT32_MAX)) fail("cannot decode image '", name, "': ", size, " bytes");
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (!sniff_format(bytes, size))
    fail("cannot decode image '", name, "': not a JPEG, PNG, BMP, WebP, TIFF or PNM file (it starts with ",
         first_bytes_hex(bytes, size), ")");
  check_jpeg_complete(static_cast<const unsigned char*>(data), size, static_cast<const unsigned char*>(data), size, name);
  if (const uint64_t px = declared_pixels(static_cast<const unsigned char*>(data), size); px > kMaxImagePixels)
    fail("cannot decode image '", name, "': its header declares ", px, " pixels, more than the ", kMaxImagePixels,
         " octet decodes");
  cv::Mat img;
#ifdef OCTET_NO_IMAGE_DECODE
  fail("cannot decode image '", name, "': this octet was built without image decoding (-DOCTET_IMAGE_DECODE=OFF, ",
       "e.g. the GPU bundle of scripts/gpu_bundle.sh); give the data as .npy");
#else
  try {
    cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<void*>(data));
    img = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail("cannot decode image '", name, "': ", e.what());
  }
#endif
  if (img.empty())
    fail("cannot decode image '", name, "': corrupt or unsupported format");
  return img;
}

void preprocess_image(const cv::Mat& src, float* dst, const Preprocess& p, const std::string& name,
                      ImageGeometry* geo_out) {
  OCTET_CHECK(p.channels > 0 && (p.size_from_image() || (p.height > 0 && p.width > 0)),
              "preprocess_image: Preprocess not resolved");
  if (src.empty() || src.rows <= 0 || src.cols <= 0) fail("cannot use image '", name, "': empty image");
  if (p.channels != 1 && p.channels != 3)
    fail("cannot use image '", name, "': the input expects ", p.channels, " channels; images give 1 (--gray) or 3");
  ImageGeometry geo = p.geometry(src.rows, src.cols);
  geo.letterboxed = p.letterbox;
  if (geo_out) *geo_out = geo;
  const int H = geo.out_h, W = geo.out_w, C = p.channels;
  cv::Mat img;
  try {
    img = to_channels(src, C, name);
    const int interp = cv_interp(p.interp);
    if (p.resize > 0) {
      const int nh = geo.resized_h, nw = geo.resized_w;
      if (nh != img.rows || nw != img.cols) {
        cv::Mat r;
        cv::resize(img, r, cv::Size(nw, nh), 0, 0, interp);
        img = r;
      }
      if (H > img.rows || W > img.cols) {  // torchvision pads a too-small image with zeros, then crops
        int pt = H > img.rows ? (H - img.rows) / 2 : 0, pl = W > img.cols ? (W - img.cols) / 2 : 0;
        int pb = H > img.rows ? (H - img.rows + 1) / 2 : 0, pr = W > img.cols ? (W - img.cols + 1) / 2 : 0;
        cv::Mat padded;
        cv::copyMakeBorder(img, padded, pt, pb, pl, pr, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        img = padded;
      }
      img = img(cv::Rect(crop_offset(img.cols, W), crop_offset(img.rows, H), W, H));
    } else if (img.rows != geo.resized_h || img.cols != geo.resized_w) {
      cv::Mat r;
      cv::resize(img, r, cv::Size(geo.resized_w, geo.resized_h), 0, 0, interp);
      img = r;
    }
  } catch (const cv::Exception& e) {
    fail("cannot preprocess image '", name, "': ", e.what());
  }
  cv::Mat f;
  img.convertTo(f, CV_32F, img.depth() == CV_16U ? 255.0 / 65535.0 : 1.0);
  if (p.letterbox) {  // padding in 8-bit pixel units, whatever the depth
    cv::Mat padded;
    cv::copyMakeBorder(f, padded, geo.top, H - geo.resized_h - geo.top, geo.left, W - geo.resized_w - geo.left,
                       cv::BORDER_CONSTANT, cv::Scalar::all(p.pad_value));
    f = padded;
  }
  OCTET_CHECK(f.rows == H && f.cols == W, "preprocess_image: internal size mismatch");

  float mean[3], stdv[3];
  for (int c = 0; c < C; ++c) {
    mean[c] = p.mean.empty() ? 0.f : p.mean[p.mean.size() == 1 ? 0 : c];
    stdv[c] = p.std.empty() ? 1.f : p.std[p.std.size() == 1 ? 0 : c];
  }
  const float scale = p.scale;
  for (int c = 0; c < C; ++c) {
    // Output plane c reads BGR channel 2-c for RGB output.
    const int sc = (C == 3 && !p.bgr) ? 2 - c : c;
    float* out = dst + static_cast<size_t>(c) * H * W;
    for (int y = 0; y < H; ++y) {
      const float* row = f.ptr<float>(y);
      for (int x = 0; x < W; ++x)
        out[static_cast<size_t>(y) * W + x] = (row[x * C + sc] * scale - mean[c]) / stdv[c];  // as Normalize
    }
  }
}

Tensor preprocess_image(const cv::Mat& img, const Preprocess& p, const std::string& name) {
  if (img.empty() || img.rows <= 0 || img.cols <= 0) fail("cannot use image '", name, "': empty image");
  Tensor t(DType::f32, p.output_shape(img.rows, img.cols));
  preprocess_image(img, t.data<float>(), p, name);
  return t;
}

void load_image(const std::string& path, float* dst, const Preprocess& p, ImageGeometry* geo) {
  preprocess_image(decode_image(path), dst, p, path, geo);
}

Tensor load_image(const std::string& path, const Preprocess& p) {
  Tensor t = preprocess_image(decode_image(path), p, path);
  return t.reshaped({1, t.dim(0), t.dim(1), t.dim(2)});
}

}  // namespace octet
