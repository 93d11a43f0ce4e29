// octet's calibrator interface, shaped like TensorRT's IInt8EntropyCalibrator2 so its users feel at home.
//
//   class MyCalibrator : public octet::Calibrator {
//     int batchSize() const override { return 32; }
//     bool getBatch(void* bindings[], const char* names[], int nbBindings) override {
//       if (no more images) return false;           // ends calibration
//       fill my_buffer_ with 32 preprocessed NCHW float32 images;
//       bindings[0] = my_buffer_.data();            // host memory, valid until the next getBatch call
//       return true;
//     }
//     std::optional<std::string> readCalibrationCache() override;   // a valid cache: getBatch is never called
//     void writeCalibrationCache(const void* data, size_t length) override;
//   };
//
// Differences from TensorRT, all in the user's favour:
// - bindings point to host memory (octet copies; no CUDA needed);
// - rewind(): a calibrator that can start its data again lets octet use the default two-pass mode
//   (absmax, then a fixed-range histogram), whose result does not depend on batch size or order. One that
//   cannot (the default) gets TensorRT's one-pass mode, where the histogram range doubles as needed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace octet {

class Calibrator {
 public:
  virtual ~Calibrator() = default;
  // Images per batch; every batch but the last must hold exactly this many.
  virtual int batchSize() const = 0;
  // Points bindings[i] at batchSize x (input i's shape without batch) float32 values for input names[i].
  // Returns false when there is no more data. The last batch may be partial: then call setLastBatchSize.
  virtual bool getBatch(void* bindings[], const char* names[], int nbBindings) = 0;
  // Starts the data again from the beginning; false (the default) if this calibrator cannot.
  virtual bool rewind() { return false; }
  // The cache written by an earlier run, or nullopt to calibrate. A cache whose header does not match this
  // calibrator's algorithm (and TensorRT version) is ignored, with the reason printed.
  virtual std::optional<std::string> readCalibrationCache() { return std::nullopt; }
  // Receives the TensorRT calibration cache (text). May be called again with the same bytes.
  virtual void writeCalibrationCache(const void* /*data*/, size_t /*length*/) {}
  // entropy2 (default), entropy, minmax, percentile, mse or legacy.
  virtual std::string algorithm() const { return "entropy2"; }

  // For a partial last batch: how many of batchSize() images the current bindings hold.
  void setLastBatchSize(int n) { last_batch_ = n; }
  int takeLastBatchSize() {
    int n = last_batch_;
    last_batch_ = -1;
    return n;
  }

 private:
  int last_batch_ = -1;
};

}  // namespace octet
