// Image decoding and torchvision-style preprocessing into NCHW float32.
//
// The pipeline (DESIGN.md "What a user does"), in this order:
//   1. decode with OpenCV (any depth, 1-4 channels; see decode_image)
//   2. channels: RGB by default (`bgr` keeps OpenCV's BGR order), or 1 gray channel. A gray image given
//      to a 3-channel model is replicated to 3 channels; a colour image given to a 1-channel model is
//      converted with cv::COLOR_BGR2GRAY (ITU-R 601: .299 R + .587 G + .114 B, as PIL's convert("L")).
//      Alpha is dropped (not composited).
//   3. geometry, both as torchvision does it:
//      - `resize` S > 0: Resize(S) then CenterCrop(height, width): the shorter side becomes S, the longer
//        int(S * long / short); the crop offset is round((in - out) / 2) with Python's half-to-even
//        round; a crop larger than the image pads with zeros (pixel value 0, before normalization).
//      - `resize` == 0: resize the whole image to exactly height x width (cv2.resize in the classic
//        calibrators), aspect ratio not kept.
//      - `letterbox`: keep the aspect ratio: scale by r = min(height / h, width / w), then pad to height x width
//        with `pad_value` (a pixel value, before scale/mean/std). PadPlacement::topleft is YOLOX's preproc
//        (size int(w * r) x int(h * r), image at the top left, padding at the bottom/right);
//        PadPlacement::center is Ultralytics' LetterBox (size round(w * r) x round(h * r), padding split with
//        top = round(dh / 2 - 0.1), left = round(dw / 2 - 0.1), the rest at the bottom/right).
//      - size from the image (height == width == 0 after resolved(): a model with dynamic H x W and no size
//        given): PP-OCR's DetResizeForTest (limit_type 'max'): r = limit_side / max(h, w) when `limit_side` > 0
//        and the longer side exceeds it, else 1; h' = int(h * r), w' = int(w * r); with `multiple` > 1 each is
//        then max(round(h' / multiple) * multiple, multiple) (Python's half-to-even round), and the image is
//        resized to exactly h' x w' (so the aspect ratio may change by less than one multiple).
//      Resizing runs at the decoded depth (8-bit results are rounded to 8 bits, as cv2.resize on a uint8
//      array). INTER_LINEAR is NOT antialiased when downscaling: it matches cv2.resize, not PIL/torchvision
//      (whose bilinear filter widens with the scale factor); use `area` to approximate antialiasing.
//   4. value = (pixel * depth_factor * scale - mean[c]) / std[c]; depth_factor is 1 for 8-bit and float
//      images and 255/65535 for 16-bit ones, so the default scale 1/255 maps every integer depth to [0,1].
//   5. layout: planar C x H x W float32, channel order as in 2 (mean and std are given in that order).
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/tensor.h"

namespace octet {

enum class Interp { bilinear, nearest, area, cubic };
enum class PadPlacement { center, topleft };

// "center" or "topleft"; throws naming the accepted values.
PadPlacement pad_placement_from_name(const std::string& name);

// Where the source image lands in the output of Preprocess (geometry()): resized to resized_h x resized_w, its
// top-left pixel at (top, left) of the out_h x out_w output (negative: cropped). To map an output coordinate
// back to the source image: x_src = (x_out - left) / scale_x, y_src = (y_out - top) / scale_y.
struct ImageGeometry {
  int out_h = 0, out_w = 0;
  int resized_h = 0, resized_w = 0;
  int top = 0, left = 0;
  double scale_y = 1, scale_x = 1;  // resized / source
  // Letterbox padding around the image (Preprocess::letterbox): set by preprocess_image; the content box is then
  // rows [top, top + resized_h) and columns [left, left + resized_w) of the output (calibration leaves the rest out
  // of its histograms, calib/padding.h).
  bool letterboxed = false;
};

// "bilinear"|"linear", "nearest", "area", "cubic"|"bicubic"; throws naming the accepted values.
Interp interp_from_name(const std::string& name);
const char* interp_name(Interp i);

struct Preprocess {
  int channels = 0;     // 3 (RGB/BGR) or 1 (gray, the CLI's --gray); 0 = the model's C, else 3
                        // (other C only for data sets of tensors: images give 1 or 3)
  bool bgr = false;     // 3 channels in OpenCV's B,G,R order instead of R,G,B
  int resize = 0;       // pixels; > 0: shorter side to `resize`, then center-crop height x width
  int height = 0;       // output size in pixels; 0 = the model's
  int width = 0;
  Interp interp = Interp::bilinear;
  float scale = 1.f / 255.f;
  std::vector<float> mean;  // empty: 0; else 1 value (all channels) or one per channel
  std::vector<float> std;   // empty: 1; else 1 value or one per channel; must be non-zero
  bool letterbox = false;   // keep the aspect ratio, pad to height x width (see the top of this file)
  float pad_value = 114.f;  // letterbox padding, a pixel value before scale/mean/std (YOLO's 114)
  PadPlacement pad_placement = PadPlacement::center;  // center: Ultralytics; topleft: YOLOX
  int limit_side = 0;       // size from the image: the longer side at most this (0: no limit)
  int multiple = 0;         // size from the image: each side rounded to a multiple of this (0, 1: none)

  // Fills what is left at 0 from the model input shape `chw` (C, H, W; a value <= 0 is a dynamic
  // dimension) and validates everything; throws octet::Error saying which setting disagrees with the
  // model. The returned Preprocess has channels, height and width set.
  Preprocess resolved(const Shape& chw) const;
  // C x H x W of the output; only meaningful after resolved() and when !size_from_image().
  Shape output_shape() const { return {channels, height, width}; }
  // After resolved(): the output size depends on each image (a model with dynamic H x W and no size given).
  bool size_from_image() const { return height == 0 || width == 0; }
  // Where an image of src_h x src_w lands (resolved() first). Throws for an empty image.
  ImageGeometry geometry(int src_h, int src_w) const;
  // C x H x W of the output for an image of src_h x src_w.
  Shape output_shape(int src_h, int src_w) const;
};

// Decodes with cv::IMREAD_UNCHANGED: keeps 1/2/3/4 channels and 8/16-bit or float depth, so grayscale,
// gray+alpha, RGBA and 16-bit files keep their information; CMYK/YCCK JPEGs come back as BGR (libjpeg
// converts). EXIF orientation is NOT applied, as with PIL.Image.open in torchvision (cv2.imread's
// default IMREAD_COLOR would rotate). Throws octet::Error naming the file if it is missing or corrupt.
cv::Mat decode_image(const std::string& path);
// Same from bytes in memory (an encoded file); `name` is used in messages.
cv::Mat decode_image(const void* data, size_t size, const std::string& name);

// Steps 2-5 on a decoded image (any depth, 1-4 channels) into dst[channels * height * width] (with
// size_from_image(): the size of p.output_shape(img.rows, img.cols)).
// `p` must be resolved(). `name` is used in messages. Thread-safe. `geo` (optional): where the image landed.
void preprocess_image(const cv::Mat& img, float* dst, const Preprocess& p, const std::string& name,
                      ImageGeometry* geo = nullptr);
// The same into a new C x H x W tensor of whatever size the image gives.
Tensor preprocess_image(const cv::Mat& img, const Preprocess& p, const std::string& name);

// decode_image + preprocess_image into the slot dst[channels * height * width]. Thread-safe.
void load_image(const std::string& path, float* dst, const Preprocess& p, ImageGeometry* geo = nullptr);
// The same into a new 1 x C x H x W tensor (any size with size_from_image()).
Tensor load_image(const std::string& path, const Preprocess& p);

}  // namespace octet
