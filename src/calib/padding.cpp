#include "calib/padding.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/image.h"

namespace octet {

void check_content_box(const ContentBox& b, const Shape& shape, const std::string& input) {
  if (!b.padded()) return;
  OCTET_CHECK(shape.size() == 4 && shape[2] == b.in_h && shape[3] == b.in_w, "the calibrator's content box is for a ",
              b.in_h, "x", b.in_w, " input, but input '", input, "' is ", shape_str(shape));
  OCTET_CHECK(b.top >= 0 && b.left >= 0 && b.height > 0 && b.width > 0 && b.top + b.height <= b.in_h &&
                  b.left + b.width <= b.in_w,
              "the calibrator's content box (top ", b.top, ", left ", b.left, ", ", b.height, "x", b.width,
              ") does not lie inside input '", input, "' (", b.in_h, "x", b.in_w, ")");
}

std::optional<int64_t> map_stride(int64_t in_h, int64_t in_w, int64_t h, int64_t w) {
  if (in_h <= 0 || in_w <= 0 || h < 2 || w < 2 || h > in_h || w > in_w) return std::nullopt;
  // Networks halve: a power of two first (417 -> 14 is stride 32, though ceil(417 / 30) is 14 too).
  for (int64_t p = 1; p <= in_h; p *= 2)
    if ((in_h + p - 1) / p == h && (in_w + p - 1) / p == w) return p;
  const int64_t s = (in_h + h - 1) / h;  // the smallest s with h * s >= in_h; h = ceil(in_h / s) needs (h - 1) * s < in_h
  if ((h - 1) * s >= in_h) return std::nullopt;
  if ((in_w + s - 1) / s != w) return std::nullopt;
  return s;
}

namespace {

// Cells [i0, i1) of a stride-s axis of n cells whose centre (i + 1/2) s lies in [a, b] (input pixels).
void kept_cells(int64_t a, int64_t b, int64_t s, int64_t n, int64_t& i0, int64_t& i1) {
  // (2i + 1) s >= 2a  <=>  i >= (2a - s) / 2s;  (2i + 1) s <= 2b  <=>  i <= (2b - s) / 2s
  const int64_t lo = 2 * a - s, hi = 2 * b - s;
  i0 = lo <= 0 ? 0 : (lo + 2 * s - 1) / (2 * s);
  i1 = hi < 0 ? 0 : hi / (2 * s) + 1;
  i0 = std::min(i0, n);
  i1 = std::min(i1, n);
  if (i1 <= i0) {  // no centre inside: the cell holding the box's middle
    const int64_t mid = std::clamp<int64_t>((a + b) / 2 / s, 0, n - 1);
    i0 = mid;
    i1 = mid + 1;
  }
}

}  // namespace

std::optional<SpatialWindow> content_window(const ContentBox& box, int64_t h, int64_t w) {
  const std::optional<int64_t> s = map_stride(box.in_h, box.in_w, h, w);
  if (!s) return std::nullopt;
  SpatialWindow win;
  win.stride = *s;
  kept_cells(box.top, box.top + box.height, *s, h, win.y0, win.y1);
  kept_cells(box.left, box.left + box.width, *s, w, win.x0, win.x1);
  return win;
}

bool content_values(const Tensor& t, bool channels_last, const ContentBox& box, std::vector<float>& scratch) {
  if (t.rank() != 4 || t.dtype() != DType::f32 || !box.padded()) return false;
  const int64_t n = t.dim(0), c = channels_last ? t.dim(3) : t.dim(1), h = channels_last ? t.dim(1) : t.dim(2),
                w = channels_last ? t.dim(2) : t.dim(3);
  const std::optional<SpatialWindow> win = content_window(box, h, w);
  if (!win || (win->y0 == 0 && win->y1 == h && win->x0 == 0 && win->x1 == w)) return false;
  const int64_t rows = win->y1 - win->y0, cols = win->x1 - win->x0;
  scratch.resize(static_cast<size_t>(n * c * rows * cols));
  const float* x = t.data<float>();
  float* out = scratch.data();
  if (channels_last) {  // a kept row is cols * c contiguous values
    const size_t run = static_cast<size_t>(cols * c);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t y = win->y0; y < win->y1; ++y, out += run)
        std::memcpy(out, x + ((b * h + y) * w + win->x0) * c, run * sizeof(float));
  } else {
    const size_t run = static_cast<size_t>(cols);
    for (int64_t p = 0; p < n * c; ++p)
      for (int64_t y = win->y0; y < win->y1; ++y, out += run)
        std::memcpy(out, x + (p * h + y) * w + win->x0, run * sizeof(float));
  }
  return true;
}

std::vector<ContentBox> content_boxes(const std::vector<ImageGeometry>& geometries) {
  std::vector<ContentBox> boxes;
  for (const ImageGeometry& g : geometries) {
    ContentBox b;
    if (g.letterboxed && g.out_h > 0 && g.out_w > 0) {
      b.in_h = g.out_h;
      b.in_w = g.out_w;
      b.top = g.top;
      b.left = g.left;
      b.height = g.resized_h;
      b.width = g.resized_w;
    }
    boxes.push_back(b);
  }
  return boxes;
}

}  // namespace octet
