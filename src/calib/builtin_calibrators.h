// Calibrators octet ships: images (folder, IDX, .npy of samples) through the Batcher, and in-memory tensors
// (.npy/.npz arrays, raw float32 files) for models with several inputs. All can rewind, so calibration
// uses the order-independent two-pass mode; all read and write a cache file when given one.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "calib/algorithms.h"
#include "calib/calibrate.h"
#include "ir/graph.h"
#include "io/dataset.h"
#include "octet/calibrator.h"

namespace octet {

// Reads/writes the cache file at `cache_path` (empty: no cache). Writing is atomic and replaces an
// existing file only with a complete new one; an existing cache with other contents (one calibration did not
// reuse) is first kept as `<cache_path>.old`.
// With defer_write(true), writeCalibrationCache only holds the bytes and commit() writes them: the CLI writes
// the sidecar first, so that the cache — the commit point — never exists without the sidecar made with it.
class FileCacheCalibrator : public Calibrator {
 public:
  FileCacheCalibrator(std::string cache_path, Algo algo) : cache_path_(std::move(cache_path)), algo_(algo) {}
  std::optional<std::string> readCalibrationCache() override;
  void writeCalibrationCache(const void* data, size_t length) override;
  std::string algorithm() const override { return algo_name(algo_); }
  bool wrote() const { return wrote_; }
  bool kept_old() const { return kept_old_; }  // the previous cache was saved as <cache_path>.old
  void defer_write(bool on) { defer_ = on; }
  void commit();  // writes the bytes held by a deferred writeCalibrationCache (no-op when none)

 private:
  std::string cache_path_;
  Algo algo_;
  bool wrote_ = false, kept_old_ = false, defer_ = false;
  std::optional<std::string> pending_;
};

// One-input models: batches from a Dataset (image folder, IDX, .npy of N x C x H x W).
// Letterboxed images (Preprocess::letterbox) say where the image lies in each sample (ContentBoxSource).
class DatasetCalibrator : public FileCacheCalibrator, public SampleIndexSource, public BatchShapeSource,
                          public ContentBoxSource {
 public:
  DatasetCalibrator(const Dataset& ds, const Preprocess& p, int batch, const Shape& chw, std::string cache_path,
                    Algo algo, bool skip_bad = false);
  int batchSize() const override { return static_cast<int>(batcher_.batch_size()); }
  bool getBatch(void* bindings[], const char* names[], int nbBindings) override;
  bool rewind() override {
    batcher_.reset();
    return true;
  }
  const Batcher& batcher() const { return batcher_; }
  // Dataset::canonical_index of the samples (the refinement's choice ignores --shuffle; calibrate.h).
  std::vector<int64_t> all_sample_ids() const override;
  std::vector<int64_t> batch_sample_ids() const override;
  std::vector<std::vector<int64_t>> batch_sample_shapes() const override;
  std::vector<ContentBox> batch_content_boxes() const override;

 private:
  const Dataset& ds_;
  Batcher batcher_;
};

// Any number of inputs: one array per input name, N x (input shape) each, N equal.
class TensorCalibrator : public FileCacheCalibrator, public BatchShapeSource {
 public:
  TensorCalibrator(std::map<std::string, Tensor> arrays, int batch, std::string cache_path, Algo algo);
  int batchSize() const override { return batch_; }
  bool getBatch(void* bindings[], const char* names[], int nbBindings) override;
  bool rewind() override {
    pos_ = 0;
    return true;
  }
  int64_t samples() const { return n_; }
  std::vector<std::vector<int64_t>> batch_sample_shapes() const override { return shapes_; }

 private:
  std::map<std::string, Tensor> arrays_;
  std::vector<std::vector<int64_t>> shapes_;  // of the last getBatch, per binding
  int batch_;
  int64_t n_ = 0, pos_ = 0;
};

// Loads calibration tensors from a .npy (single-input models: key = ""), a .npz (keys = input names), or a
// raw float32 file (single input; its size must be a multiple of the sample size `sample_chw`).
std::map<std::string, Tensor> load_calibration_arrays(const std::string& path, const Shape& sample_chw);

// Checks (and, where needed, reshapes) `arrays` against the inputs of `model`: every input needs an array
// (key "" stands for the only input of a one-input model) of shape N x (the input's shape without its batch
// dimension; a dynamic dimension matches any size), N >= 1; N x H x W is taken as N x 1 x H x W for an input of
// one channel. Throws Error naming `path`, the array's shape and the shape the input expects.
void check_calibration_arrays(std::map<std::string, Tensor>& arrays, const Graph& model, const std::string& path);

}  // namespace octet
