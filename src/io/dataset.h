// Data sets for calibration and evaluation, and the Batcher that turns one into NCHW float batches.
//
// A Dataset is an indexable list of samples, each an image (a file, or an image already in memory)
// with an optional label. What `--data PATH` may name (open_dataset):
//   - a folder of images (jpg jpeg png bmp webp tif tiff, any case; hidden files skipped):
//       unlabelled: every image below it, recursively, sorted by path (component-wise);
//       labelled:   one sub-folder per class, sorted names = labels 0..K-1 (torchvision ImageFolder);
//                   images are searched recursively inside each class folder.
//   - an IDX image file (MNIST / Fashion-MNIST format, "*-images-idx3-ubyte", optionally ".gz"), or its
//     prefix: ".../fashion-mnist/t10k" means ".../fashion-mnist/t10k-images-idx3-ubyte[.gz]". The labels
//     file is found by name (t10k-images-idx3-ubyte -> t10k-labels-idx1-ubyte, with or without .gz).
//     Samples are 8-bit gray images in memory and go through the same Preprocess (size, scale, mean, std).
//   - a single image file: a one-sample set.
//   - a .npy of shape N x C x H x W (or N x H x W, C = 1), already preprocessed: each sample is copied
//     as is (converted to float32); Preprocess only has to agree on C, H and W.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/tensor.h"
#include "io/image.h"

namespace octet {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Class index of sample i in [0, class_names().size()), or -1 when the set has no labels.
  virtual int label(size_t i) const = 0;
  // Class names in label order; empty for an unlabelled set.
  virtual const std::vector<std::string>& class_names() const = 0;
  bool labelled() const { return !class_names().empty(); }
  // Preprocesses sample i into dst[p.channels * p.height * p.width]; `p` must be resolved().
  // Throws octet::Error naming the sample. Thread-safe: the Batcher calls it from OpenMP threads.
  // `geo` (optional): where an image landed in dst (left as it is for samples that are not images).
  virtual void load(size_t i, float* dst, const Preprocess& p, ImageGeometry* geo = nullptr) const = 0;
  // Sample i as a new C x H x W tensor: p.output_shape() for a fixed size; with p.size_from_image(), the size
  // the sample gives (an image's own after --limit-side / --multiple; a .npy's sample shape). Thread-safe.
  virtual Tensor load_tensor(size_t i, const Preprocess& p) const;
  // A name for messages: the image path, or "<file>[i]" for samples inside a file.
  virtual std::string sample_name(size_t i) const = 0;
  // What the set was opened from (folder or file).
  virtual std::string source() const = 0;
  // Index of sample i in the underlying set's own (unshuffled) order: views (select, spread) map through.
  virtual size_t canonical_index(size_t i) const { return i; }
};

// One sample of an ImageDataset: an image file, or (when `image` is non-empty) a decoded image.
struct Sample {
  std::string path;   // the file, or a display name for an in-memory image
  cv::Mat image;      // any depth, 1-4 channels (BGR order), as decode_image returns; empty: read `path`
  int label = -1;
};

// The general list of images, which the folder and IDX readers return.
class ImageDataset : public Dataset {
 public:
  ImageDataset(std::vector<Sample> samples, std::vector<std::string> class_names, std::string source);
  size_t size() const override { return samples_.size(); }
  int label(size_t i) const override { return samples_.at(i).label; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  void load(size_t i, float* dst, const Preprocess& p, ImageGeometry* geo = nullptr) const override;
  Tensor load_tensor(size_t i, const Preprocess& p) const override;
  std::string sample_name(size_t i) const override { return samples_.at(i).path; }
  std::string source() const override { return source_; }
  const Sample& sample(size_t i) const { return samples_.at(i); }

 private:
  std::vector<Sample> samples_;
  std::vector<std::string> classes_;
  std::string source_;
};

struct DatasetOptions {
  bool shuffle = false;  // permute the samples with `seed` (deterministic on every platform)
  uint64_t seed = 0;
  size_t limit = 0;      // keep the first `limit` samples (after shuffling and skip); 0 = all
  size_t skip = 0;       // drop the first `skip` samples (after shuffling, before limit): a held-out split
};

// The folder reader (see the top of this file). Throws naming the folder when it has no images, or
// when `labelled` and it has no class sub-folders, a class folder is empty or images sit beside them.
std::unique_ptr<Dataset> open_image_folder(const std::string& dir, bool labelled);
// IDX images (file or prefix, see above). `need_labels`: a missing labels file is an error; otherwise
// the labels are used when found.
std::unique_ptr<Dataset> open_idx(const std::string& path, bool need_labels);
// Picks the reader from what `path` is, then applies `opts`. `need_labels` asks for a labelled set
// (eval) and fails clearly when `path` cannot give one.
std::unique_ptr<Dataset> open_dataset(const std::string& path, bool need_labels, const DatasetOptions& opts = {});
// A view of `base` shuffled and/or limited by `opts` (returns `base` itself when opts change nothing).
std::unique_ptr<Dataset> select(std::unique_ptr<Dataset> base, const DatasetOptions& opts);
// Every size/count-th index of [0, size), min(count, size) of them: samples spread evenly over a set
// (calibration folders are often sorted by class, so the first `count` would be one class).
std::vector<size_t> spread_indices(size_t size, size_t count);
// A view of those samples of `base`.
std::unique_ptr<Dataset> spread(std::unique_ptr<Dataset> base, size_t count);

// Fills N x C x H x W float32 batches from a Dataset, decoding the images of a batch in parallel
// (OpenMP; decoding is the hot spot of calibration).
// With a size taken from each image (Preprocess::size_from_image: a model of dynamic H x W), a batch holds
// consecutive samples of one size: it ends early where the next sample has another size, and batch() has
// that batch's H x W.
class Batcher {
 public:
  // `chw` is the model input shape without the batch dimension (values <= 0 dynamic); `p` is
  // resolved against it. batch_size > 0. `ds` must outlive the Batcher. With `skip_bad`, an image that fails to load is skipped with a
  // warning on stderr (and counted) and the next one takes its slot; otherwise next() throws.
  Batcher(const Dataset& ds, const Preprocess& p, int64_t batch_size, const Shape& chw, bool skip_bad = false);

  // Loads the next batch; returns how many images it holds (< batch_size only for the last one, 0 once
  // the set is exhausted). Rows past the count are zero.
  int64_t next();
  const Tensor& batch() const { return batch_; }
  // Per image of the last batch: its label (-1 unlabelled) and its index in the data set.
  const std::vector<int>& labels() const { return labels_; }
  const std::vector<size_t>& indices() const { return indices_; }
  // Per image of the last batch: where it landed in its slot (ImageGeometry::letterboxed tells whether the slot has
  // letterbox padding; out_h == 0 for a sample that is not an image, e.g. of a .npy). Empty with size_from_image.
  const std::vector<ImageGeometry>& geometries() const { return geometries_; }
  size_t skipped() const { return skipped_; }
  size_t position() const { return pos_; }  // index of the next sample to read
  int64_t batch_size() const { return n_; }
  const Preprocess& preprocess() const { return p_; }
  // Batches in one pass when nothing is skipped: ceil(size / batch_size).
  int64_t num_batches() const { return (static_cast<int64_t>(ds_.size()) + n_ - 1) / n_; }
  // Starts again from the first sample (the skip count is kept).
  void reset() {
    pos_ = 0;
    pending_.clear();
  }

 private:
  const Dataset& ds_;
  Preprocess p_;
  int64_t n_;
  bool skip_bad_;
  Tensor batch_;
  std::vector<int> labels_;
  std::vector<size_t> indices_;
  std::vector<ImageGeometry> geometries_;
  size_t pos_ = 0;
  size_t skipped_ = 0;
  std::vector<std::pair<size_t, Tensor>> pending_;  // size_from_image: loaded, not yet batched (index, C x H x W)
  int64_t next_sized();
};

}  // namespace octet
