// libFuzzer target for the image path of the io layer (src/io/image.h): encoded bytes -> decode_image ->
// preprocess_image, as calibrate/eval/run do for every file of an image folder. Any input must decode and
// preprocess or throw octet::Error; never crash, hang or read/write outside the buffers (ASan).
//
// The last byte of the input picks the preprocessing (so that one corpus file exercises several): channels
// 3 RGB / 3 BGR / 1 gray, resize-then-crop or whole-image resize, the interpolation, and output sizes that
// are larger than the image (torchvision pads) or smaller. OpenCV's pixel limit is lowered to 2^22 (4 MP)
// here so that a header declaring a huge image is refused by the decoder instead of exhausting the fuzzer's
// memory limit; the CLI keeps OpenCV's default (2^30 pixels).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "io/image.h"

extern "C" int LLVMFuzzerInitialize(int*, char*** argv) {
  // OpenCV reads the variable when it is loaded, before this runs: set it and start again.
  if (!std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS")) {
    ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "4194304", 1);
    ::execv("/proc/self/exe", *argv);
    std::perror("execv /proc/self/exe");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t sel = data[size - 1];
  octet::Preprocess p;
  p.channels = (sel & 3) == 3 ? 1 : 3;
  p.bgr = (sel & 3) == 1;
  p.resize = (sel & 4) ? 7 + (sel >> 6) * 5 : 0;  // 7, 12, 17, 22
  p.height = 5 + ((sel >> 3) & 3) * 4;           // 5 .. 17
  p.width = 6 + ((sel >> 5) & 1) * 9;            // 6 or 15
  static const octet::Interp kInterp[] = {octet::Interp::bilinear, octet::Interp::nearest, octet::Interp::area,
                                          octet::Interp::cubic};
  p.interp = kInterp[(sel >> 6) & 3];
  p.mean = {0.5f};
  p.std = {0.25f};
  try {
    const octet::Preprocess r = p.resolved({p.channels, p.height, p.width});
    cv::Mat img = octet::decode_image(data, size, "<fuzz>");
    std::vector<float> out(static_cast<size_t>(r.channels) * r.height * r.width);
    octet::preprocess_image(img, out.data(), r, "<fuzz>");
  } catch (const octet::Error&) {
  }
  return 0;
}
