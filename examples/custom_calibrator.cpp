// The classic TensorRT INT8 calibrator, written for octet: list a folder, batch, preprocess, cache file.
//   custom_calibrator model.onnx images/ model.cache      (1x3x224x224 input, ImageNet normalization)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include <octet/octet.h>

class FolderCalibrator : public octet::Calibrator {
 public:
  FolderCalibrator(const std::string& dir, std::string cache) : cache_(std::move(cache)) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) files_.push_back(e.path().string());
    std::sort(files_.begin(), files_.end());
  }
  int batchSize() const override { return kBatch; }
  bool rewind() override { next_ = 0; return true; }  // lets octet use its order-independent two-pass mode
  bool getBatch(void* bindings[], const char* names[], int nbBindings) override {
    if (next_ >= files_.size()) return false;
    int n = 0;
    for (; n < kBatch && next_ < files_.size(); ++next_) {
      cv::Mat img = cv::imread(files_[next_], cv::IMREAD_COLOR);
      if (img.empty()) continue;  // not an image
      cv::resize(img, img, cv::Size(224, 224));
      cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
      const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 224; ++y)
          for (int x = 0; x < 224; ++x)
            batch_[((n * 3 + c) * 224 + y) * 224 + x] = (img.at<cv::Vec3b>(y, x)[c] / 255.f - mean[c]) / std[c];
      ++n;
    }
    if (n == 0) return false;
    if (n < kBatch) setLastBatchSize(n);
    bindings[0] = batch_.data();
    return true;
  }
  std::optional<std::string> readCalibrationCache() override {
    std::ifstream f(cache_, std::ios::binary);
    if (!f) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  void writeCalibrationCache(const void* data, size_t length) override {
    std::ofstream(cache_, std::ios::binary).write(static_cast<const char*>(data), static_cast<std::streamsize>(length));
  }

 private:
  static constexpr int kBatch = 8;
  std::vector<std::string> files_;
  size_t next_ = 0;
  std::vector<float> batch_ = std::vector<float>(kBatch * 3 * 224 * 224);
  std::string cache_;
};

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s model.onnx image_dir model.cache\n", argv[0]);
    return 2;
  }
  try {
    FolderCalibrator calibrator(argv[2], argv[3]);
    std::string cache = octet::calibrate_model(argv[1], calibrator);
    std::printf("%s", cache.substr(0, cache.find('\n') + 1).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
