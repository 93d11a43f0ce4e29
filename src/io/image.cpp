#include "io/image.h"

#include <cmath>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>
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

}  // namespace

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
  if (p.height == 0) {
    OCTET_CHECK(mh > 0, "preprocessing: the model input height is dynamic; give --size H,W");
    p.height = static_cast<int>(mh);
  }
  if (p.width == 0) {
    OCTET_CHECK(mw > 0, "preprocessing: the model input width is dynamic; give --size H,W");
    p.width = static_cast<int>(mw);
  }
  OCTET_CHECK((mh <= 0 || mh == p.height) && (mw <= 0 || mw == p.width), "preprocessing: --size ", p.height,
              "x", p.width, " but the model input expects ", mh, "x", mw);
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

cv::Mat decode_image(const std::string& path) {
  // Read through core/file_io (a regular file only: a FIFO named x.jpg is an error, not a hang), then decode
  // the bytes as imread would.
  const std::string bytes = read_file(path, "image", static_cast<uint64_t>(INT32_MAX));
  return decode_image(bytes.data(), bytes.size(), path);
}

cv::Mat decode_image(const void* data, size_t size, const std::string& name) {
  if (size == 0 || size > static_cast<size_t>(INT32_MAX)) fail("cannot decode image '", name, "': ", size, " bytes");
  cv::Mat img;
  try {
    cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<void*>(data));
    img = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail("cannot decode image '", name, "': ", e.what());
  }
  if (img.empty()) fail("cannot decode image '", name, "': corrupt or unsupported format");
  return img;
}

void preprocess_image(const cv::Mat& src, float* dst, const Preprocess& p, const std::string& name) {
  OCTET_CHECK(p.channels > 0 && p.height > 0 && p.width > 0, "preprocess_image: Preprocess not resolved");
  if (src.empty() || src.rows <= 0 || src.cols <= 0) fail("cannot use image '", name, "': empty image");
  if (p.channels != 1 && p.channels != 3)
    fail("cannot use image '", name, "': the input expects ", p.channels, " channels; images give 1 (--gray) or 3");
  const int H = p.height, W = p.width, C = p.channels;
  cv::Mat img;
  try {
    img = to_channels(src, C, name);
    const int interp = cv_interp(p.interp);
    if (p.resize > 0) {
      int h0 = img.rows, w0 = img.cols, nh, nw;
      // torchvision _compute_resized_output_size: int(S * long / short), true division then truncation.
      if (w0 <= h0) {
        nw = p.resize;
        nh = static_cast<int>(static_cast<double>(int64_t{p.resize} * h0) / w0);
      } else {
        nh = p.resize;
        nw = static_cast<int>(static_cast<double>(int64_t{p.resize} * w0) / h0);
      }
      if (nh != h0 || nw != w0) {
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
    } else if (img.rows != H || img.cols != W) {
      cv::Mat r;
      cv::resize(img, r, cv::Size(W, H), 0, 0, interp);
      img = r;
    }
  } catch (const cv::Exception& e) {
    fail("cannot preprocess image '", name, "': ", e.what());
  }
  cv::Mat f;
  img.convertTo(f, CV_32F, img.depth() == CV_16U ? 255.0 / 65535.0 : 1.0);

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

void load_image(const std::string& path, float* dst, const Preprocess& p) {
  preprocess_image(decode_image(path), dst, p, path);
}

Tensor load_image(const std::string& path, const Preprocess& p) {
  Tensor t(DType::f32, {1, p.channels, p.height, p.width});
  load_image(path, t.data<float>(), p);
  return t;
}

}  // namespace octet
