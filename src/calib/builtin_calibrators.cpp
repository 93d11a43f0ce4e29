#include "calib/builtin_calibrators.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "calib/cache.h"
#include "core/file_io.h"
#include "io/npy.h"

namespace octet {

std::optional<std::string> FileCacheCalibrator::readCalibrationCache() {
  if (cache_path_.empty() || file_kind(cache_path_) == "missing") return std::nullopt;
  // A FIFO or device at the cache path is an error naming it, not a hang (core/file_io.h).
  return read_file(cache_path_, "calibration cache", 64ull << 20);
}

void FileCacheCalibrator::writeCalibrationCache(const void* data, size_t length) {
  if (cache_path_.empty()) return;
  pending_ = std::string(static_cast<const char*>(data), length);
  if (!defer_) commit();
}

void FileCacheCalibrator::commit() {
  if (!pending_) return;
  std::string bytes = std::move(*pending_);
  pending_.reset();
  auto old = readCalibrationCache();
  if (old && *old == bytes) return;  // same content: leave the file alone
  if (old && !old->empty()) {
    write_file_atomic(cache_path_ + ".old", *old);  // a cache calibration did not reuse is kept, not lost
    kept_old_ = true;
  }
  write_file_atomic(cache_path_, bytes);
  wrote_ = true;
}

DatasetCalibrator::DatasetCalibrator(const Dataset& ds, const Preprocess& p, int batch, const Shape& chw,
                                     std::string cache_path, Algo algo, bool skip_bad)
    : FileCacheCalibrator(std::move(cache_path), algo), ds_(ds), batcher_(ds, p, batch, chw, skip_bad) {}

std::vector<int64_t> DatasetCalibrator::all_sample_ids() const {
  std::vector<int64_t> ids(ds_.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(ds_.canonical_index(i));
  return ids;
}

std::vector<int64_t> DatasetCalibrator::batch_sample_ids() const {
  std::vector<int64_t> ids;
  for (size_t i : batcher_.indices()) ids.push_back(static_cast<int64_t>(ds_.canonical_index(i)));
  return ids;
}

std::vector<std::vector<int64_t>> DatasetCalibrator::batch_sample_shapes() const {
  Shape s = batcher_.batch().shape();
  if (!s.empty()) s.erase(s.begin());
  return {s};
}

std::vector<ContentBox> DatasetCalibrator::batch_content_boxes() const {
  return content_boxes(batcher_.geometries());
}

bool DatasetCalibrator::getBatch(void* bindings[], const char* names[], int nbBindings) {
  OCTET_CHECK(nbBindings == 1, "image calibration feeds one input; the model has ", nbBindings,
              " (use .npz data keyed by input name)");
  int64_t n = batcher_.next();
  if (n == 0) return false;
  if (n < batcher_.batch_size()) setLastBatchSize(static_cast<int>(n));
  bindings[0] = const_cast<void*>(batcher_.batch().raw());
  return true;
}

TensorCalibrator::TensorCalibrator(std::map<std::string, Tensor> arrays, int batch, std::string cache_path, Algo algo)
    : FileCacheCalibrator(std::move(cache_path), algo), arrays_(std::move(arrays)), batch_(batch) {
  OCTET_CHECK(!arrays_.empty(), "no calibration arrays");
  for (auto& [name, t] : arrays_) {
    OCTET_CHECK(t.rank() >= 1, "calibration array '", name, "' is a scalar; expected N x (input shape)");
    if (t.dtype() != DType::f32) {
      auto v = t.to_f32();
      Tensor f(DType::f32, t.shape());
      std::memcpy(f.raw(), v.data(), v.size() * sizeof(float));
      t = f;
    }
    if (n_ == 0) n_ = t.dim(0);
    OCTET_CHECK(t.dim(0) == n_, "calibration arrays hold different sample counts (", n_, " and ", t.dim(0), " in '", name, "')");
  }
}

bool TensorCalibrator::getBatch(void* bindings[], const char* names[], int nbBindings) {
  if (pos_ >= n_) return false;
  int64_t n = std::min<int64_t>(batch_, n_ - pos_);
  for (int i = 0; i < nbBindings; ++i) {
    auto it = arrays_.find(names[i]);
    if (it == arrays_.end() && arrays_.size() == 1 && nbBindings == 1) it = arrays_.begin();
    OCTET_CHECK(it != arrays_.end(), "no calibration array for input '", names[i], "'");
    const Tensor& t = it->second;
    int64_t per = t.numel() / t.dim(0);
    bindings[i] = const_cast<float*>(t.data<float>()) + pos_ * per;
    Shape s = t.shape();
    s.erase(s.begin());
    if (i == 0) shapes_.clear();
    shapes_.push_back(s);
  }
  if (n < batch_) setLastBatchSize(static_cast<int>(n));
  pos_ += n;
  return true;
}

std::map<std::string, Tensor> load_calibration_arrays(const std::string& path, const Shape& sample_chw) {
  auto ends_with = [&](const char* s) {
    std::string x(s);
    return path.size() >= x.size() && path.compare(path.size() - x.size(), x.size(), x) == 0;
  };
  if (ends_with(".npz")) return read_npz(path);
  if (ends_with(".npy")) return {{"", read_npy(path)}};
  // Raw float32: samples of sample_chw back to back.
  int64_t per = numel(sample_chw);
  OCTET_CHECK(per > 0, "raw calibration data '", path, "' needs the model's input shape to be static");
  const int fd = open_regular_file(path, "raw calibration data");  // a FIFO is refused, not waited on
  struct stat st {};
  const int64_t bytes = ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
  if (!(bytes > 0 && bytes % (per * 4) == 0)) {
    ::close(fd);
    fail("raw float32 file '", path, "' has ", bytes, " bytes, not a multiple of one sample (", shape_str(sample_chw),
         " x 4 bytes)");
  }
  Shape s = sample_chw;
  s.insert(s.begin(), bytes / (per * 4));
  Tensor t(DType::f32, s);
  char* dst = static_cast<char*>(t.raw());
  int64_t got = 0;
  while (got < bytes) {
    const ssize_t r = ::read(fd, dst + got, static_cast<size_t>(std::min<int64_t>(bytes - got, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int e = r < 0 ? errno : 0;
      ::close(fd);
      fail("cannot read raw calibration data '", path, "': ", e ? std::strerror(e) : "file truncated while reading");
    }
    got += r;
  }
  ::close(fd);
  return {{"", t}};
}

void check_calibration_arrays(std::map<std::string, Tensor>& arrays, const Graph& model, const std::string& path) {
  for (int v : model.inputs) {
    const Value& in = model.value(v);
    auto it = arrays.find(in.name);
    if (it == arrays.end() && model.inputs.size() == 1 && arrays.size() == 1) it = arrays.begin();
    OCTET_CHECK(it != arrays.end(), "calibration data '", path, "' has no array for the model input '", in.name, "'");
    Tensor& t = it->second;
    // What one sample must look like: the declared shape without the batch dimension (-1: dynamic).
    Shape want;
    for (size_t i = 1; i < in.declared.size(); ++i) want.push_back(in.declared[i].value);
    auto want_str = [&] {
      std::string s;
      for (size_t i = 0; i < want.size(); ++i) s += (i ? "x" : "") + (want[i] >= 0 ? std::to_string(want[i]) : std::string("?"));
      return s;
    };
    const std::string key = it->first.empty() ? "" : " (array '" + it->first + "')";
    if (in.has_declared_shape && t.rank() == static_cast<int64_t>(want.size()) && want.size() == 3 && want[0] == 1 &&
        (want[1] < 0 || t.dim(1) == want[1]) && (want[2] < 0 || t.dim(2) == want[2]))
      t = t.reshaped({t.dim(0), 1, t.dim(1), t.dim(2)});  // N x H x W for a one-channel input
    bool ok = t.rank() >= 1 && t.dim(0) >= 1;
    if (in.has_declared_shape) {
      ok = ok && t.rank() == static_cast<int64_t>(want.size()) + 1;
      for (size_t i = 0; ok && i < want.size(); ++i) ok = want[i] < 0 || t.dim(static_cast<int64_t>(i) + 1) == want[i];
    }
    OCTET_CHECK(ok, "calibration data '", path, "'", key, " has shape ", shape_str(t.shape()), ", but the model input '",
                in.name, "' takes samples of ", want_str(), " (an array of N x ", want_str(), ")");
  }
}

}  // namespace octet
