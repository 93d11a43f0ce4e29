// Calibration without the letterbox padding (issue 15; `octet calibrate --calib-padding exclude`, the default for
// letterboxed data).
//
// A letterboxed sample is partly constant padding (YOLOX: a 640x480 scene in a 416x416 input leaves a quarter of
// it at pixel 114). Its activations are the same few values in every sample, so they pile into single histogram
// bins and pull entropy2's thresholds. When the data set knows where the image lies in each sample (the content
// box, in input pixels: Batcher::geometries), calibration observes, of every 4-D activation whose spatial size
// maps to the input's by one integer stride, only the positions whose receptive centre lies in the content box.
//
// Mapping: a tensor [N, C, H, W] (or channels-last [N, H, W, C]) of an input H_in x W_in maps at stride s when
// H = ceil(H_in / s) and W = ceil(W_in / s) for the same integer s >= 1, a power of two where one fits (strides 1/2/8/16/32, a Focus or
// space-to-depth output at 2, an upsampled FPN map at the stride of its size, odd sizes rounded up as a
// convolution of padding k/2 does), and H >= 2 and W >= 2. Anything else keeps all its values: rank != 4,
// flattened heads (yolox's 1x3549x6), global pools (1x1), maps of another aspect.
//
// Border: cell i of a stride-s map covers input rows [i*s, (i+1)*s) and its receptive centre is (i + 1/2) * s;
// it is kept when that centre lies in the closed content box [top, top + height], i.e. when at least half of the
// cell's rows are image. At stride 32 a content height of 312 ends 3/4 into cell 9 (rows 288..319): cell 9 is
// kept, cells 10..12 (all padding) are not. Half-or-more is the rule because a cell's value is dominated by what
// its centre sees (its receptive field is centred there), and it is symmetric: a centred letterbox loses the
// same band at both ends. A box so thin that no centre falls in it keeps the one cell that holds its middle.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace octet {

// Where the image lies in one sample of a network input of in_h x in_w pixels.
struct ContentBox {
  int64_t in_h = 0, in_w = 0;              // the input's spatial size; 0: no box (the sample is all content)
  int64_t top = 0, left = 0, height = 0, width = 0;
  // A box that leaves part of the input out (else there is nothing to exclude).
  bool padded() const {
    return in_h > 0 && in_w > 0 && (top > 0 || left > 0 || top + height < in_h || left + width < in_w);
  }
};

// Rows [y0, y1) and columns [x0, x1) of a map kept for a box.
struct SpatialWindow {
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
  int64_t stride = 1;
};

// Throws Error naming the input when a padded box does not lie inside the input `shape` (N x C x H x W) it is for.
void check_content_box(const ContentBox& box, const Shape& shape, const std::string& input);

// The stride at which an H x W map relates to the box's input (see the top of this file), or nothing.
std::optional<int64_t> map_stride(int64_t in_h, int64_t in_w, int64_t h, int64_t w);
// The kept window of an H x W map for `box`, or nothing when the map does not relate to the input.
std::optional<SpatialWindow> content_window(const ContentBox& box, int64_t h, int64_t w);

// The values of `t` (f32, rank 4; channels_last: [N, H, W, C], else [N, C, H, W]) inside the box's window, in
// `scratch`; returns false (scratch untouched) when `t` does not map or the window is the whole map, so that the
// caller observes all of `t`.
bool content_values(const Tensor& t, bool channels_last, const ContentBox& box, std::vector<float>& scratch);

struct ImageGeometry;  // io/image.h

// The boxes of a batch of preprocessed images (Batcher::geometries()): a letterboxed image's box, else no box.
std::vector<ContentBox> content_boxes(const std::vector<ImageGeometry>& geometries);

}  // namespace octet
