#include "io/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "core/file_io.h"
#include "core/warnings.h"
#include "octet/log.h"
#include "io/npy.h"

namespace octet {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_file(const fs::path& p) {
  static const char* kExt[] = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  std::string e = lower(p.extension().string());
  for (const char* k : kExt)
    if (e == k) return true;
  return false;
}

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// The images below one or more folders, each folder and each image file visited once (by device and inode),
// so that links (`ln -s . a`, a link to a parent, a class folder linked into another, bind mounts) can neither
// make the walk endless nor count an image twice. Real sub-folders are walked first (breadth first, entries
// sorted), links afterwards, in the same deterministic order; so an image is named by its real path when it
// has one. What was skipped is reported once, summarized, by report().
class FolderWalk {
 public:
  explicit FolderWalk(std::string root) : root_(std::move(root)) {}

  // Marks `dir` (links followed) as visited without listing it: the labelled reader's top folder.
  void mark_visited(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) dirs_.insert({st.st_dev, st.st_ino});
  }

  // Adds the images below `dir` to group `k` (call it for every group, then finish()). Returns false
  // when `dir` was already visited (through another path).
  bool add_root(const fs::path& dir, size_t k) {
    if (groups_.size() <= k) groups_.resize(k + 1);
    return walk_real(dir, k);
  }

  // Follows the links found so far (and those found below them); returns every group's images, sorted.
  std::vector<std::vector<fs::path>> finish() {
    for (size_t i = 0; i < pending_.size(); ++i) {  // grows while we go
      const auto [p, k] = pending_[i];
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) continue;  // a dangling link: nothing to read, as before
      if (S_ISDIR(st.st_mode)) {
        if (!walk_real(p, k)) skipped_links_.push_back(p.string());
      } else {
        add_file(p, st, k);
      }
    }
    for (auto& g : groups_) std::sort(g.begin(), g.end());
    return std::move(groups_);
  }

  // One note (log handler) when anything was skipped (nothing otherwise).
  void report() const {
    if (skipped_links_.empty() && duplicates_.empty() && not_regular_.empty() && too_deep_.empty()) return;
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size() && i < 3; ++i) s += (i ? ", '" : ": '") + v[i] + "'";
      return s + (v.size() > 3 ? ", ..." : "");
    };
    std::string msg = "data folder '" + root_ + "':";
    const char* sep = " skipped ";
    if (!skipped_links_.empty()) {
      msg += sep + std::to_string(skipped_links_.size()) + " link(s) to folders already read (loops or duplicates)" +
             list(skipped_links_);
      sep = "; skipped ";
    }
    if (!duplicates_.empty()) {
      msg += sep + std::to_string(duplicates_.size()) + " image(s) already read through another path" + list(duplicates_);
      sep = "; skipped ";
    }
    if (!not_regular_.empty()) {
      msg += sep + std::to_string(not_regular_.size()) + " image name(s) that are not regular files (FIFO, device, ...)" +
             list(not_regular_);
      sep = "; skipped ";
    }
    if (!too_deep_.empty())
      msg += sep + std::to_string(too_deep_.size()) + " folder(s) nested deeper than 256 levels" + list(too_deep_);
    log_message(LogLevel::note, msg);
  }

 private:
  using Id = std::pair<dev_t, ino_t>;

  // Breadth first over the real sub-folders of `dir`; links are queued for finish().
  bool walk_real(const fs::path& dir, size_t k) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail("cannot list folder '", dir.string(), "': ", std::strerror(errno));
    if (!dirs_.insert({st.st_dev, st.st_ino}).second) return false;
    std::vector<std::pair<fs::path, int>> queue{{dir, 0}};
    for (size_t qi = 0; qi < queue.size(); ++qi) {
      const auto [d, depth] = queue[qi];
      std::error_code ec;
      std::vector<fs::path> entries;
      for (fs::directory_iterator it(d, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
           it.increment(ec))
        entries.push_back(it->path());
      if (ec) fail("cannot list folder '", d.string(), "': ", ec.message());
      std::sort(entries.begin(), entries.end());
      for (const fs::path& p : entries) {
        if (hidden(p)) continue;
        struct stat es {};
        if (::lstat(p.c_str(), &es) != 0) continue;  // vanished meanwhile
        if (S_ISLNK(es.st_mode)) {
          pending_.push_back({p, k});
        } else if (S_ISDIR(es.st_mode)) {
          if (depth >= 256) {
            too_deep_.push_back(p.string());
            continue;
          }
          if (dirs_.insert({es.st_dev, es.st_ino}).second) queue.push_back({p, depth + 1});
          else skipped_links_.push_back(p.string());  // a bind mount of a folder already read
        } else {
          add_file(p, es, k);
        }
      }
    }
    return true;
  }

  // `st` is the file's (links followed) status.
  void add_file(const fs::path& p, const struct stat& st, size_t k) {
    if (!is_image_file(p)) return;
    if (!S_ISREG(st.st_mode)) {
      not_regular_.push_back(p.string());
      return;
    }
    if (files_.insert({st.st_dev, st.st_ino}).second) groups_[k].push_back(p);
    else duplicates_.push_back(p.string());
  }

  std::string root_;
  std::set<Id> dirs_, files_;
  std::vector<std::pair<fs::path, size_t>> pending_;
  std::vector<std::vector<fs::path>> groups_;
  std::vector<std::string> skipped_links_, duplicates_, not_regular_, too_deep_;
};

const char* kImageKinds = "jpg, jpeg, png, bmp, webp, tif, tiff";

// --- IDX ----------------------------------------------------------------------------------------------

uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}

class GzFile {
 public:
  GzFile(const std::string& path, const char* what) : path_(path) {
    const int fd = open_regular_file(path, what);  // a FIFO or device is refused, never waited on
    f_ = gzdopen(fd, "rb");                         // reads plain files too
    if (!f_) {
      ::close(fd);
      fail("cannot open '", path, "': ", std::strerror(errno));
    }
  }
  ~GzFile() { gzclose(f_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  // Reads up to n bytes; returns how many (fewer only at the end of the data).
  size_t read(void* dst, size_t n) {
    size_t got = 0;
    while (got < n) {
      unsigned k = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 26));
      int r = gzread(f_, static_cast<char*>(dst) + got, k);
      if (r < 0) {
        int code;
        const char* msg = gzerror(f_, &code);
        fail("cannot read '", path_, "': ", msg ? msg : "read error", " (corrupt gzip data?)");
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }
  // Reads exactly `bytes` into a vector grown as the data arrives, so a lying header cannot make us
  // allocate more than the file holds.
  std::vector<uint8_t> read_exact(uint64_t bytes, const char* what) {
    std::vector<uint8_t> v;
    while (v.size() < bytes) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(bytes - v.size(), 64u << 20));
      size_t old = v.size();
      v.resize(old + k);
      size_t got = read(v.data() + old, k);
      if (got < k) fail("cannot read '", path_, "': truncated: header declares ", bytes, " bytes of ", what,
                        ", only ", old + got, " present");
    }
    return v;
  }

 private:
  std::string path_;
  gzFile f_;
};

// Something is at `p` (links followed): a FIFO there is an error naming it when opened, not "missing".
bool exists_file(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec) && !fs::is_directory(p, ec);
}

// t10k-images-idx3-ubyte[.gz] -> t10k-labels-idx1-ubyte[.gz] (either compression).
std::vector<std::string> label_candidates(const std::string& images) {
  fs::path p(images);
  std::string name = p.filename().string();
  bool gz = name.size() > 3 && lower(name.substr(name.size() - 3)) == ".gz";
  if (gz) name.resize(name.size() - 3);
  size_t a = name.find("images"), b = name.find("idx3");
  if (a == std::string::npos || b == std::string::npos) return {};
  name.replace(b, 4, "idx1");
  name.replace(a, 6, "labels");
  fs::path base = p.parent_path() / name;
  std::string s = base.string();
  return gz ? std::vector<std::string>{s + ".gz", s} : std::vector<std::string>{s, s + ".gz"};
}

const std::vector<std::string>& fashion_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

// --- views and tensors --------------------------------------------------------------------------------

class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::unique_ptr<Dataset> base, std::vector<size_t> idx) : base_(std::move(base)), idx_(std::move(idx)) {}
  size_t size() const override { return idx_.size(); }
  int label(size_t i) const override { return base_->label(idx_.at(i)); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  void load(size_t i, float* dst, const Preprocess& p, ImageGeometry* geo) const override {
    base_->load(idx_.at(i), dst, p, geo);
  }
  Tensor load_tensor(size_t i, const Preprocess& p) const override { return base_->load_tensor(idx_.at(i), p); }
  std::string sample_name(size_t i) const override { return base_->sample_name(idx_.at(i)); }
  std::string source() const override { return base_->source(); }
  size_t canonical_index(size_t i) const override { return base_->canonical_index(idx_.at(i)); }

 private:
  std::unique_ptr<Dataset> base_;
  std::vector<size_t> idx_;
};

class NpyDataset : public Dataset {
 public:
  explicit NpyDataset(const std::string& path) : path_(path) {
    Tensor t = read_npy(path);
    OCTET_CHECK(t.rank() == 4 || t.rank() == 3, "cannot use '", path, "' as data: expected N x C x H x W (or N x H x W), got ",
                shape_str(t.shape()));
    if (t.rank() == 3) t = t.reshaped({t.dim(0), 1, t.dim(1), t.dim(2)});
    if (t.dtype() != DType::f32) {
      std::vector<float> v = t.to_f32();
      t = Tensor::from<float>(t.shape(), v);
    }
    data_ = t;
  }
  size_t size() const override { return static_cast<size_t>(data_.dim(0)); }
  int label(size_t) const override { return -1; }
  const std::vector<std::string>& class_names() const override { return none_; }
  void load(size_t i, float* dst, const Preprocess& p, ImageGeometry*) const override {
    OCTET_CHECK(p.channels == data_.dim(1) && p.height == data_.dim(2) && p.width == data_.dim(3), "'", path_,
                "' holds ", data_.dim(1), "x", data_.dim(2), "x", data_.dim(3), " samples but the input needs ",
                p.channels, "x", p.height, "x", p.width);
    size_t n = static_cast<size_t>(data_.dim(1) * data_.dim(2) * data_.dim(3));
    std::memcpy(dst, data_.data<float>() + i * n, n * sizeof(float));
  }
  Tensor load_tensor(size_t i, const Preprocess& p) const override {
    if (!p.size_from_image()) return Dataset::load_tensor(i, p);
    OCTET_CHECK(p.channels == data_.dim(1), "'", path_, "' holds samples of ", data_.dim(1),
                " channel(s) but the input needs ", p.channels);
    Tensor t(DType::f32, {data_.dim(1), data_.dim(2), data_.dim(3)});
    std::memcpy(t.raw(), data_.data<float>() + i * static_cast<size_t>(t.numel()), t.nbytes());
    return t;
  }
  std::string sample_name(size_t i) const override { return path_ + "[" + std::to_string(i) + "]"; }
  std::string source() const override { return path_; }

 private:
  std::string path_;
  Tensor data_;
  std::vector<std::string> none_;
};

}  // namespace

Tensor Dataset::load_tensor(size_t i, const Preprocess& p) const {
  OCTET_CHECK(!p.size_from_image(), "data '", source(), "' cannot give samples of their own size; give the size");
  Tensor t(DType::f32, p.output_shape());
  load(i, t.data<float>(), p);
  return t;
}

// --- ImageDataset -------------------------------------------------------------------------------------

ImageDataset::ImageDataset(std::vector<Sample> samples, std::vector<std::string> class_names, std::string source)
    : samples_(std::move(samples)), classes_(std::move(class_names)), source_(std::move(source)) {}

void ImageDataset::load(size_t i, float* dst, const Preprocess& p, ImageGeometry* geo) const {
  const Sample& s = samples_.at(i);
  if (s.image.empty())
    load_image(s.path, dst, p, geo);
  else
    preprocess_image(s.image, dst, p, s.path, geo);
}

Tensor ImageDataset::load_tensor(size_t i, const Preprocess& p) const {
  if (!p.size_from_image()) return Dataset::load_tensor(i, p);
  const Sample& s = samples_.at(i);
  return preprocess_image(s.image.empty() ? decode_image(s.path) : s.image, p, s.path);
}

// --- readers ------------------------------------------------------------------------------------------

std::unique_ptr<Dataset> open_image_folder(const std::string& dir, bool labelled) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("cannot open data folder '", dir, "': not a folder");
  std::vector<Sample> samples;
  std::vector<std::string> classes;
  FolderWalk walk(dir);
  if (!labelled) {
    walk.add_root(dir, 0);
    const auto groups = walk.finish();
    walk.report();
    for (const fs::path& p : groups[0]) samples.push_back({p.string(), {}, -1});
    if (samples.empty()) fail("data folder '", dir, "' has no images (", kImageKinds, ")");
  } else {
    std::vector<fs::path> class_dirs;
    std::vector<std::string> loose;
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (hidden(it->path())) continue;
      if (it->is_directory(ec))
        class_dirs.push_back(it->path());
      else if (is_image_file(it->path()))
        loose.push_back(it->path().filename().string());
    }
    if (ec) fail("cannot list folder '", dir, "': ", ec.message());
    if (class_dirs.empty())
      fail("data folder '", dir, "' has no class sub-folders; a labelled set needs one sub-folder per class "
           "(sorted names = labels 0..K-1)");
    if (!loose.empty())
      fail("data folder '", dir, "' has images (e.g. '", loose.front(),
           "') beside its class sub-folders; a labelled set keeps every image inside a class folder");
    std::sort(class_dirs.begin(), class_dirs.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    // One walk for all classes: a link from one class folder into another (or up to the top folder) cannot
    // give an image two labels.
    walk.mark_visited(dir);
    std::vector<bool> fresh(class_dirs.size());
    for (size_t k = 0; k < class_dirs.size(); ++k) fresh[k] = walk.add_root(class_dirs[k], k);
    const auto groups = walk.finish();
    walk.report();
    for (size_t k = 0; k < class_dirs.size(); ++k) {
      if (!fresh[k])
        fail("class folder '", class_dirs[k].string(), "' is a folder already read (a link to the top folder or to "
             "another class folder); each class needs its own folder");
      if (groups[k].empty()) fail("class folder '", class_dirs[k].string(), "' has no images (", kImageKinds, ")");
      classes.push_back(class_dirs[k].filename().string());
      for (const fs::path& p : groups[k]) samples.push_back({p.string(), {}, static_cast<int>(k)});
    }
  }
  return std::make_unique<ImageDataset>(std::move(samples), std::move(classes), dir);
}

std::unique_ptr<Dataset> open_idx(const std::string& path_in, bool need_labels) {
  std::string path = path_in;
  if (!exists_file(path)) {
    for (const char* suffix : {"-images-idx3-ubyte", "-images-idx3-ubyte.gz"})
      if (exists_file(path_in + suffix)) {
        path = path_in + suffix;
        break;
      }
    if (!exists_file(path))
      fail("cannot open data '", path_in, "': no such file or folder (nor IDX images '", path_in,
           "-images-idx3-ubyte[.gz]')");
  }
  GzFile f(path, "IDX images");
  uint8_t h[16];
  if (f.read(h, 16) != 16) fail("cannot read '", path, "': too short for an IDX image file");
  uint32_t magic = be32(h);
  if (magic != 0x00000803)
    fail("cannot read '", path, "': not an IDX file of 8-bit images (magic 0x", std::hex, magic, std::dec,
         ", expected 0x00000803)");
  uint64_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
  if (rows == 0 || cols == 0 || rows > 65536 || cols > 65536)
    fail("cannot read '", path, "': implausible image size ", rows, "x", cols);
  uint64_t total;
  if (__builtin_mul_overflow(n, rows * cols, &total)) fail("cannot read '", path, "': image count overflows");
  auto pixels = std::make_shared<std::vector<uint8_t>>(f.read_exact(total, "pixels"));

  std::vector<int> labels;
  std::vector<std::string> classes;
  std::string label_path;
  for (const std::string& c : label_candidates(path))
    if (exists_file(c)) {
      label_path = c;
      break;
    }
  if (label_path.empty() && need_labels) {
    auto c = label_candidates(path);
    fail("IDX data '", path, "' has no labels file (looked for ", c.empty() ? std::string("*-labels-idx1-ubyte") : "'" + c[0] + "'",
         ")");
  }
  if (!label_path.empty()) {
    GzFile lf(label_path, "IDX labels");
    uint8_t lh[8];
    if (lf.read(lh, 8) != 8 || be32(lh) != 0x00000801)
      fail("cannot read '", label_path, "': not an IDX label file (magic 0x00000801)");
    if (be32(lh + 4) != n)
      fail("IDX labels '", label_path, "' has ", be32(lh + 4), " labels for ", n, " images in '", path, "'");
    std::vector<uint8_t> l = lf.read_exact(n, "labels");
    int k = 0;
    for (uint8_t v : l) {
      labels.push_back(v);
      k = std::max(k, v + 1);
    }
    bool fashion = lower(path).find("fashion") != std::string::npos;
    for (int i = 0; i < k; ++i)
      classes.push_back(fashion && k <= 10 ? fashion_names()[i] : std::to_string(i));
  }

  std::vector<Sample> samples(n);
  for (uint64_t i = 0; i < n; ++i) {
    // A Mat header into the shared pixel buffer; the buffer outlives the data set through `keep`.
    samples[i].image = cv::Mat(static_cast<int>(rows), static_cast<int>(cols), CV_8UC1,
                               pixels->data() + i * rows * cols);
    samples[i].path = path + "[" + std::to_string(i) + "]";
    samples[i].label = labels.empty() ? -1 : labels[i];
  }
  // Keep the pixel buffer alive as long as the Mats that point into it.
  class IdxDataset : public ImageDataset {
   public:
    IdxDataset(std::vector<Sample> s, std::vector<std::string> c, std::string src, std::shared_ptr<std::vector<uint8_t>> keep)
        : ImageDataset(std::move(s), std::move(c), std::move(src)), keep_(std::move(keep)) {}

   private:
    std::shared_ptr<std::vector<uint8_t>> keep_;
  };
  return std::make_unique<IdxDataset>(std::move(samples), std::move(classes), path, std::move(pixels));
}

std::unique_ptr<Dataset> select(std::unique_ptr<Dataset> base, const DatasetOptions& opts) {
  size_t n = base->size();
  if (!opts.shuffle && opts.skip == 0 && (opts.limit == 0 || opts.limit >= n)) return base;
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  if (opts.shuffle) {
    // Fisher-Yates with mt19937_64 (whose output the standard fixes), not std::shuffle (whose algorithm
    // differs between standard libraries), so a seed picks the same images everywhere.
    std::mt19937_64 rng(opts.seed);
    for (size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[rng() % i]);
  }
  OCTET_CHECK(opts.skip < n, "skipping ", opts.skip, " samples of '", base->source(), "' leaves none: it has ", n);
  idx.erase(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(opts.skip));
  if (opts.limit && opts.limit < idx.size()) idx.resize(opts.limit);
  return std::make_unique<SubsetDataset>(std::move(base), std::move(idx));
}

std::vector<size_t> spread_indices(size_t size, size_t count) {
  count = std::min(count, size);
  std::vector<size_t> idx;
  for (size_t i = 0; i < count; ++i) idx.push_back(i * size / count);
  return idx;
}

std::unique_ptr<Dataset> spread(std::unique_ptr<Dataset> base, size_t count) {
  std::vector<size_t> idx = spread_indices(base->size(), count);
  return std::make_unique<SubsetDataset>(std::move(base), std::move(idx));
}

std::unique_ptr<Dataset> open_dataset(const std::string& path, bool need_labels, const DatasetOptions& opts) {
  std::error_code ec;
  std::unique_ptr<Dataset> ds;
  std::string name = lower(fs::path(path).filename().string());
  // A FIFO, device or socket is refused here, naming it, before any reader could wait on it.
  if (fs::exists(path, ec) && !fs::is_directory(path, ec)) require_regular_file(path, "data");
  if (fs::is_directory(path, ec)) {
    ds = open_image_folder(path, need_labels);
  } else if (!fs::exists(path, ec) || name.find("idx3") != std::string::npos) {
    ds = open_idx(path, need_labels);
  } else if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") {
    if (need_labels) fail("data '", path, "' is a .npy of inputs and has no labels; use a labelled image folder");
    ds = std::make_unique<NpyDataset>(path);
  } else if (is_image_file(path)) {
    if (need_labels) fail("data '", path, "' is a single image and has no label; use a labelled image folder");
    ds = std::make_unique<ImageDataset>(std::vector<Sample>{{path, {}, -1}}, std::vector<std::string>{}, path);
  } else {
    fail("cannot tell what data '", path, "' is: expected a folder of images, an IDX file (*-images-idx3-ubyte[.gz]), "
         "a .npy or an image");
  }
  if (ds->size() == 0) fail("data '", path, "' has no samples");
  return select(std::move(ds), opts);
}

// --- Batcher ------------------------------------------------------------------------------------------

Batcher::Batcher(const Dataset& ds, const Preprocess& p, int64_t batch_size, const Shape& chw, bool skip_bad)
    : ds_(ds), p_(p.resolved(chw)), n_(batch_size), skip_bad_(skip_bad) {
  OCTET_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  if (!p_.size_from_image()) batch_ = Tensor(DType::f32, {n_, p_.channels, p_.height, p_.width});
}

int64_t Batcher::next_sized() {
  labels_.clear();
  indices_.clear();
  geometries_.clear();
  std::vector<std::pair<size_t, Tensor>> got;
  while (static_cast<int64_t>(got.size()) < n_) {
    if (pending_.empty()) {
      if (pos_ >= ds_.size()) break;
      const int64_t k = std::min<int64_t>(n_, static_cast<int64_t>(ds_.size() - pos_));
      std::vector<Tensor> t(static_cast<size_t>(k));
      std::vector<std::string> err(static_cast<size_t>(k));
      std::vector<char> ok(static_cast<size_t>(k), 0);
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t j = 0; j < k; ++j) {
        try {
          t[static_cast<size_t>(j)] = ds_.load_tensor(pos_ + static_cast<size_t>(j), p_);
          ok[static_cast<size_t>(j)] = 1;
        } catch (const std::exception& e) {
          err[static_cast<size_t>(j)] = e.what();
        }
      }
      for (int64_t j = 0; j < k; ++j) {
        const size_t idx = pos_ + static_cast<size_t>(j);
        if (!ok[static_cast<size_t>(j)]) {
          if (!skip_bad_) {
            pos_ = idx + 1;
            pending_.clear();
            fail(err[static_cast<size_t>(j)]);
          }
          warn("skipped_sample", "skipping sample " + std::to_string(idx) + ": " + err[static_cast<size_t>(j)]);
          ++skipped_;
          continue;
        }
        pending_.emplace_back(idx, std::move(t[static_cast<size_t>(j)]));
      }
      pos_ += static_cast<size_t>(k);
      continue;
    }
    if (!got.empty() && pending_.front().second.shape() != got.front().second.shape()) break;  // one size a batch
    got.push_back(std::move(pending_.front()));
    pending_.erase(pending_.begin());
  }
  if (got.empty()) return 0;
  const Shape& s = got.front().second.shape();
  batch_ = Tensor(DType::f32, {n_, s[0], s[1], s[2]});
  const size_t per = static_cast<size_t>(got.front().second.numel());
  float* out = batch_.data<float>();
  for (size_t j = 0; j < got.size(); ++j) {
    std::memcpy(out + j * per, got[j].second.raw(), per * sizeof(float));
    labels_.push_back(ds_.label(got[j].first));
    indices_.push_back(got[j].first);
  }
  std::memset(out + got.size() * per, 0, (static_cast<size_t>(n_) - got.size()) * per * sizeof(float));
  return static_cast<int64_t>(got.size());
}

int64_t Batcher::next() {
  if (p_.size_from_image()) return next_sized();
  const size_t per = static_cast<size_t>(p_.channels) * p_.height * p_.width;
  float* out = batch_.data<float>();
  labels_.clear();
  indices_.clear();
  geometries_.clear();
  int64_t filled = 0;
  while (filled < n_ && pos_ < ds_.size()) {
    const int64_t k = std::min<int64_t>(n_ - filled, static_cast<int64_t>(ds_.size() - pos_));
    std::vector<ImageGeometry> geo(static_cast<size_t>(k));
    std::vector<std::string> err(static_cast<size_t>(k));
    std::vector<char> ok(static_cast<size_t>(k), 0);
    // Exceptions must not cross the OpenMP region: each image records its own failure.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t j = 0; j < k; ++j) {
      try {
        ds_.load(pos_ + j, out + (filled + j) * per, p_, &geo[static_cast<size_t>(j)]);
        ok[j] = 1;
      } catch (const std::exception& e) {
        err[j] = e.what();
      }
    }
    int64_t w = filled;
    for (int64_t j = 0; j < k; ++j) {
      size_t idx = pos_ + j;
      if (!ok[j]) {
        if (!skip_bad_) {
          pos_ = idx + 1;
          fail(err[j]);
        }
        warn("skipped_sample", "skipping sample " + std::to_string(idx) + ": " + err[j]);
        ++skipped_;
        continue;
      }
      if (w != filled + j) std::memmove(out + w * per, out + (filled + j) * per, per * sizeof(float));
      labels_.push_back(ds_.label(idx));
      indices_.push_back(idx);
      geometries_.push_back(geo[static_cast<size_t>(j)]);
      ++w;
    }
    pos_ += static_cast<size_t>(k);
    filled = w;
  }
  if (filled < n_) std::memset(out + filled * per, 0, (n_ - filled) * per * sizeof(float));
  return filled;
}

}  // namespace octet
