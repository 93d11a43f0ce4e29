// Data sets on disk, as octet's calibrators and `octet eval` read them: images decoded and preprocessed into
// N x C x H x W float32 batches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octet/model.h"
#include "octet/tensor.h"

namespace octet {

// Image preprocessing (the CLI's --size --resize --mean --std --scale --bgr --gray --interp). 0 / empty: from
// the model's input shape, mean 0, std 1.
struct ImagePreprocess {
  int height = 0, width = 0;
  int resize = 0;  // > 0: shorter side to `resize`, then center-crop height x width
  std::vector<float> mean, std;
  float scale = 1.f / 255.f;
  bool bgr = false, gray = false;
  std::string interp = "bilinear";  // bilinear, nearest, area, cubic
  // Keep the aspect ratio: scale to fit height x width, pad with pad_value (a pixel value before scale/mean/std)
  // at "center" (Ultralytics) or "topleft" (YOLOX: padding at the bottom/right).
  bool letterbox = false;
  float pad_value = 114.f;
  std::string pad_placement = "center";
  // Models of dynamic H x W with no height/width given: each image keeps its own size, the longer side limited
  // to limit_side (0: none) and each side rounded to a multiple of `multiple` (0: none) as PP-OCR does.
  int limit_side = 0, multiple = 0;
};

// A data set: an image folder (flat, or class sub-folders = labels), an IDX set (MNIST format, file or prefix
// such as ".../fashion-mnist/t10k"), or a .npy of N x C x H x W samples; for calibration also a .npz keyed by
// input name or a raw float32 file.
struct DataOptions {
  std::string path;
  size_t limit = 0;  // first N samples (after shuffling and skip); 0: all (image / IDX data)
  bool shuffle = false;
  uint64_t seed = 0;
  bool skip_bad_images = false;
  ImagePreprocess preprocess;
  size_t skip = 0;  // leave out the first N samples (after shuffling, before limit; image / IDX data): a held-out split
};

struct Samples {
  HostTensor data;          // N x C x H x W float32, preprocessed for the model's (first) input
  std::vector<int> labels;  // per sample; empty for an unlabelled set
};

// Reads the whole set (after limit) into memory for `model`'s first input. `labels`: require labels.
Samples load_samples(const Model& model, const DataOptions& data, bool labels = false);

}  // namespace octet
