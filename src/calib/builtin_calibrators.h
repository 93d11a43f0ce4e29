// Calibrators octet ships: images (folder, IDX, .npy of samples) through the Batcher, and in-memory tensors
// (.npy/.npz arrays, raw float32 files) for models with several inputs. All can rewind, so calibration
// uses the order-independent two-pass mode; all read and write a cache file when given one.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "calib/algorithms.h"
#include "io/dataset.h"
#include "octet/calibrator.h"

namespace octet {

// Reads/writes the cache file at `cache_path` (empty: no cache). Writing is atomic and replaces an
// existing file only with a complete new one.
class FileCacheCalibrator : public Calibrator {
 public:
  FileCacheCalibrator(std::string cache_path, Algo algo) : cache_path_(std::move(cache_path)), algo_(algo) {}
  std::optional<std::string> readCalibrationCache() override;
  void writeCalibrationCache(const void* data, size_t length) override;
  std::string algorithm() const override { return algo_name(algo_); }
  bool wrote() const { return wrote_; }

 private:
  std::string cache_path_;
  Algo algo_;
  bool wrote_ = false;
};

// One-input models: batches from a Dataset (image folder, IDX, .npy of N x C x H x W).
class DatasetCalibrator : public FileCacheCalibrator {
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

 private:
  Batcher batcher_;
};

// Any number of inputs: one array per input name, N x (input shape) each, N equal.
class TensorCalibrator : public FileCacheCalibrator {
 public:
  TensorCalibrator(std::map<std::string, Tensor> arrays, int batch, std::string cache_path, Algo algo);
  int batchSize() const override { return batch_; }
  bool getBatch(void* bindings[], const char* names[], int nbBindings) override;
  bool rewind() override {
    pos_ = 0;
    return true;
  }
  int64_t samples() const { return n_; }

 private:
  std::map<std::string, Tensor> arrays_;
  int batch_;
  int64_t n_ = 0, pos_ = 0;
};

// Loads calibration tensors from a .npy (single-input models: key = ""), a .npz (keys = input names), or a
// raw float32 file (single input; its size must be a multiple of the sample size `sample_chw`).
std::map<std::string, Tensor> load_calibration_arrays(const std::string& path, const Shape& sample_chw);

}  // namespace octet
