// octet._octet: nanobind bindings of octet's public API (include/octet/*.h only). The Python layer
// (python/octet/__init__.py) adds the TensorRT-compatible names on top.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <type_traits>

#include <octet/octet.h>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// ---------------------------------------------------------------- arrays

octet::DType dtype_of(const nb::dlpack::dtype& d) {
  using C = nb::dlpack::dtype_code;
  const auto code = static_cast<C>(d.code);
  if (code == C::Float && d.bits == 32) return octet::DType::f32;
  if (code == C::Float && d.bits == 64) return octet::DType::f64;
  if (code == C::Float && d.bits == 16) return octet::DType::f16;
  if (code == C::Int && d.bits == 8) return octet::DType::i8;
  if (code == C::UInt && d.bits == 8) return octet::DType::u8;
  if (code == C::Int && d.bits == 32) return octet::DType::i32;
  if (code == C::Int && d.bits == 64) return octet::DType::i64;
  if (code == C::Bool) return octet::DType::boolean;
  throw octet::Error("unsupported array dtype (code " + std::to_string(d.code) + ", " + std::to_string(d.bits) + " bits)");
}

nb::dlpack::dtype dl_of(octet::DType t) {
  switch (t) {
    case octet::DType::f32: return nb::dtype<float>();
    case octet::DType::f64: return nb::dtype<double>();
    case octet::DType::i8: return nb::dtype<int8_t>();
    case octet::DType::u8: return nb::dtype<uint8_t>();
    case octet::DType::i32: return nb::dtype<int32_t>();
    case octet::DType::i64: return nb::dtype<int64_t>();
    case octet::DType::boolean: return nb::dtype<bool>();
    case octet::DType::f16: return {static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
  }
  return nb::dtype<float>();
}

using HostArray = nb::ndarray<nb::device::cpu, nb::c_contig>;

// A view of a C-contiguous host array (no copy: valid while the array lives).
octet::TensorView view_of(const HostArray& a) {
  octet::TensorView v;
  v.dtype = dtype_of(a.dtype());
  for (size_t i = 0; i < a.ndim(); ++i) v.shape.push_back(static_cast<int64_t>(a.shape(i)));
  v.data = a.data();
  return v;
}

// A numpy array owning (sharing) the tensor's buffer: no copy.
nb::object to_numpy(const octet::HostTensor& t) {
  auto* keep = new octet::HostTensor(t);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<octet::HostTensor*>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  nb::ndarray<nb::numpy> a(keep->data(), shape.size(), shape.data(), owner, nullptr, dl_of(t.dtype()));
  return a.cast();
}

octet::HostTensor host_of(const HostArray& a) { return octet::HostTensor::copy_of(view_of(a)); }

std::vector<int64_t> shape_list(const octet::Shape& s) { return {s.begin(), s.end()}; }

// ---------------------------------------------------------------- calibrators written in Python

// Raised through octet's C++ frames when a Python callback raised: the Python exception is kept (with its
// traceback) and re-raised as itself once calibrate() has unwound.
struct PythonCallbackFailed : std::exception {
  const char* what() const noexcept override { return "a Python calibrator method raised"; }
};

// Adapts a Python object with TensorRT's calibrator methods (get_batch_size, get_batch(names),
// read_calibration_cache, write_calibration_cache, get_algorithm) to octet::Calibrator. octet's calibrate()
// runs with the GIL released; every call into Python takes it back.
//
// Modes: `stream` forwards getBatch to Python (one pass, or two when the Python object has rewind());
// `record` reads every batch once (read_all) and replays it, so that the default two-pass calibration — whose
// result does not depend on batch size or order — works with calibrators that cannot rewind, as `octet
// calibrate` does for its own data.
class PyCalibrator : public octet::Calibrator {
 public:
  PyCalibrator(nb::object obj, std::vector<octet::TensorSpec> inputs, std::string algorithm, bool record)
      : obj_(std::move(obj)), inputs_(std::move(inputs)), algorithm_(std::move(algorithm)), record_(record) {
    nb::object bs = obj_.attr("get_batch_size")();
    batch_ = nb::cast<int>(bs);
    if (batch_ <= 0) throw octet::Error("get_batch_size() returned " + std::to_string(batch_) + "; it must be positive");
    for (const auto& s : inputs_) {
      int64_t v = 1;
      for (size_t i = 1; i < s.shape.size(); ++i) {
        if (s.shape[i] < 0)
          throw octet::Error("input '" + s.name + "' has a symbolic dimension " + std::to_string(i) +
                             "; calibrating it from Python needs a fixed shape");
        v *= s.shape[i];
      }
      sample_numel_.push_back(v);
      names_.push_back(s.name);
    }
    has_rewind_ = nb::hasattr(obj_, "rewind");
  }

  int batchSize() const override { return batch_; }

  // Reads every batch from Python (record mode); returns the number of samples.
  int64_t read_all() {
    int64_t total = 0;
    while (true) {
      Batch b;
      if (!fetch(b)) break;
      total += b.n;
      batches_.push_back(std::move(b));
    }
    recorded_ = true;
    return total;
  }
  bool recorded() const { return recorded_; }

  bool getBatch(void* bindings[], const char* names[], int nb_bindings) override {
    if (record_) {
      if (!recorded_) throw octet::Error("internal: record mode without read_all()");
      if (pos_ >= batches_.size()) return false;
      const Batch& b = batches_[pos_++];
      bind(b, bindings, names, nb_bindings);
      return true;
    }
    current_ = Batch{};
    if (!fetch(current_)) return false;
    bind(current_, bindings, names, nb_bindings);
    return true;
  }

  bool rewind() override {
    if (record_) {
      pos_ = 0;
      return true;
    }
    if (!has_rewind_) return false;
    return call([&] { return nb::cast<bool>(obj_.attr("rewind")()); });
  }

  std::optional<std::string> readCalibrationCache() override {
    if (!cache_read_) {
      cache_ = call([&]() -> std::optional<std::string> {
        nb::object r = obj_.attr("read_calibration_cache")();
        return bytes_of(r, "read_calibration_cache");
      });
      cache_read_ = true;
      if ((!cache_ || cache_->empty()) && file_cache_) {  // calibrate(cache=PATH): the file's, as the CLI reads it
        cache_ = file_cache_;
        cache_from_file_ = true;
      }
    }
    return cache_;
  }

  // The cache at calibrate()'s cache=PATH: used when read_calibration_cache() gives none.
  void set_file_cache(std::optional<std::string> c) { file_cache_ = std::move(c); }
  bool cache_from_file() const { return cache_from_file_; }

  void writeCalibrationCache(const void* data, size_t length) override {
    call([&] {
      obj_.attr("write_calibration_cache")(nb::bytes(static_cast<const char*>(data), length));
      return 0;
    });
  }

  std::string algorithm() const override { return algorithm_; }

  // The Python exception a callback raised (re-raised by calibrate()).
  std::optional<nb::python_error>& error() { return error_; }

 private:
  struct Batch {
    std::vector<std::vector<float>> data;  // per input: batch_ x sample_numel floats (the tail zero when n < batch_)
    int n = 0;
  };

  template <typename F>
  std::invoke_result_t<F> call(F&& f) {
    nb::gil_scoped_acquire gil;
    try {
      return f();
    } catch (nb::python_error& e) {
      error_.emplace(std::move(e));
      throw PythonCallbackFailed();
    }
  }

  static std::optional<std::string> bytes_of(const nb::object& r, const char* what) {
    if (r.is_none()) return std::nullopt;
    if (nb::isinstance<nb::bytes>(r)) {
      nb::bytes b = nb::borrow<nb::bytes>(r);
      return std::string(b.c_str(), b.size());
    }
    if (nb::isinstance<nb::str>(r)) return nb::cast<std::string>(r);
    // bytearray, memoryview, numpy buffers: through bytes()
    nb::object b = nb::module_::import_("builtins").attr("bytes")(r);
    nb::bytes bb = nb::borrow<nb::bytes>(b);
    (void)what;
    return std::string(bb.c_str(), bb.size());
  }

  // One batch from Python's get_batch(names): None / [] / False -> no more data.
  bool fetch(Batch& b) {
    return call([&] {
      nb::list names;
      for (const auto& n : names_) names.append(nb::str(n.c_str()));
      nb::object r = obj_.attr("get_batch")(names);
      if (r.is_none()) return false;
      if (nb::isinstance<nb::bool_>(r) && !nb::cast<bool>(r)) return false;
      nb::object conv = nb::module_::import_("octet._convert").attr("batch_arrays");
      // -> list of float32 C-contiguous numpy arrays, one per input, each n x sample (flat ok); device memory
      // read to the host (a full batch from an integer pointer)
      nb::list per_sample;
      for (int64_t v : sample_numel_) per_sample.append(v);
      nb::list arrays = nb::borrow<nb::list>(conv(r, names, nb::cast(batch_), per_sample, nb::cast(++fetched_)));
      if (arrays.size() == 0) return false;
      if (arrays.size() != names_.size())
        throw octet::Error(where() + " returned " + std::to_string(arrays.size()) + " bindings for " +
                           std::to_string(names_.size()) + " model inputs");
      b.data.resize(names_.size());
      int n = -1;
      for (size_t i = 0; i < names_.size(); ++i) {
        auto a = nb::cast<nb::ndarray<float, nb::device::cpu, nb::c_contig>>(arrays[i]);
        const int64_t numel = static_cast<int64_t>(a.size());
        const int64_t per = sample_numel_[i];
        if (per == 0 || numel % per != 0 || numel / per == 0 || numel / per > batch_)
          throw octet::Error(where() + ": binding " + std::to_string(i) + " ('" + names_[i] + "') holds " +
                             std::to_string(numel) + " values; expected a multiple (1 to " + std::to_string(batch_) +
                             ") of " + std::to_string(per) + " per sample");
        const int k = static_cast<int>(numel / per);
        if (n >= 0 && k != n)
          throw octet::Error(where() + ": the bindings hold different numbers of samples (" + std::to_string(n) +
                             " and " + std::to_string(k) + ")");
        n = k;
        b.data[i].assign(static_cast<size_t>(batch_ * per), 0.f);
        std::memcpy(b.data[i].data(), a.data(), static_cast<size_t>(numel) * sizeof(float));
      }
      b.n = n;
      return true;
    });
  }

  std::string where() const { return "get_batch (batch " + std::to_string(fetched_) + ")"; }

  void bind(const Batch& b, void* bindings[], const char* names[], int nb_bindings) {
    for (int i = 0; i < nb_bindings; ++i) {
      size_t k = 0;
      while (k < names_.size() && names_[k] != names[i]) ++k;
      if (k == names_.size()) throw octet::Error(std::string("calibration asked for unknown input '") + names[i] + "'");
      bindings[i] = const_cast<float*>(b.data[k].data());
    }
    if (b.n != batch_) setLastBatchSize(b.n);
  }

  nb::object obj_;
  std::vector<octet::TensorSpec> inputs_;
  std::vector<std::string> names_;
  std::vector<int64_t> sample_numel_;
  std::string algorithm_;
  bool record_ = false, recorded_ = false, has_rewind_ = false;
  int batch_ = 0;
  int fetched_ = 0;  // get_batch calls that returned data, for messages
  std::vector<Batch> batches_;
  size_t pos_ = 0;
  Batch current_;
  bool cache_read_ = false, cache_from_file_ = false;
  std::optional<std::string> cache_, file_cache_;
  std::optional<nb::python_error> error_;
};

// Ctrl-C while octet works with the GIL released: Python's SIGINT handler only sets a flag, which Python checks
// when it runs Python code — never, during the FP32 passes over replayed batches or the refinement. While it
// lives, this guard puts a progress handler in front of the installed one (octet calls it after every batch
// and every refinement trial) that runs PyErr_CheckSignals and, when a handler raised (KeyboardInterrupt),
// throws Interrupted: calibration unwinds before any cache is written, and the caller re-raises the Python
// exception. The handler is process-wide: two calibrations in two threads at once share it.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

class InterruptGuard {
 public:
  // `quiet`: the work was asked to be quiet — events go nowhere but here (as octet's own quiet work reports
  // nothing); else to the installed handler, or without one to a progress line on stderr (a terminal).
  explicit InterruptGuard(bool quiet) : quiet_(quiet), line_(!quiet && isatty(2)) {
    prev_ = octet::set_progress_handler([this](const octet::ProgressEvent& e) { on_event(e); });
  }
  ~InterruptGuard() { octet::set_progress_handler(std::move(prev_)); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  std::optional<nb::python_error>& error() { return error_; }

 private:
  void on_event(const octet::ProgressEvent& e) {
    if (quiet_) {
    } else if (prev_) {
      prev_(e);
    } else if (line_) {
      draw(e);
    }
    if (e.finished || error_) return;  // never throw from a finish: it may run while unwinding
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      error_.emplace();  // takes the raised exception (KeyboardInterrupt, or what a signal handler raised)
      throw Interrupted();
    }
  }
  static void draw(const octet::ProgressEvent& e) {
    std::fprintf(stderr, "\r%s %lld/%lld %s   ", e.label.c_str(), static_cast<long long>(e.done),
                 static_cast<long long>(e.total), e.unit.c_str());
    if (e.finished) std::fputc('\n', stderr);
    std::fflush(stderr);
  }
  bool quiet_, line_;
  octet::ProgressHandler prev_;
  std::optional<nb::python_error> error_;
};

// Thrown by the probe calibrator: calibration needs data.
struct NeedsData : std::exception {};

// Wraps a calibrator: getBatch throws NeedsData (to learn, without reading data, whether the cache is used).
class ProbeCalibrator : public octet::Calibrator {
 public:
  explicit ProbeCalibrator(PyCalibrator& inner) : inner_(inner) {}
  int batchSize() const override { return inner_.batchSize(); }
  bool getBatch(void**, const char**, int) override { throw NeedsData(); }
  bool rewind() override { return true; }
  std::optional<std::string> readCalibrationCache() override { return inner_.readCalibrationCache(); }
  void writeCalibrationCache(const void* d, size_t n) override { inner_.writeCalibrationCache(d, n); }
  std::string algorithm() const override { return inner_.algorithm(); }

 private:
  PyCalibrator& inner_;
};

octet::CalibrationOptions calib_options(int trt_version, bool inputs_minmax, bool one_pass, bool import_cache,
                                        double percentile, double quantile, const std::string& backend,
                                        int64_t refine_samples, int64_t refine_batch, int refine_sweeps, bool quiet) {
  octet::CalibrationOptions o;
  o.trt_version = trt_version;
  o.inputs_minmax = inputs_minmax;
  o.one_pass = one_pass;
  o.import_cache = import_cache;
  o.percentile = percentile;
  o.legacy_quantile = quantile;
  o.backend = backend;
  o.quiet = quiet;
  o.refine.samples = refine_samples;
  o.refine.batch = refine_batch;
  o.refine.max_sweeps = refine_sweeps;
  return o;
}

octet::CalibrationResult calibrate_python(const octet::Model& model, nb::object calibrator, const std::string& algo,
                                          bool record, octet::CalibrationOptions o,
                                          std::optional<std::string> file_cache, const std::string& file_reject) {
  PyCalibrator cal(calibrator, model.inputs(), algo, record);
  cal.set_file_cache(std::move(file_cache));
  InterruptGuard guard(o.quiet);
  o.quiet = false;  // progress events reach the guard, which passes them on unless asked to be quiet
  auto rethrow = [&]() {
    for (auto* slot : {&cal.error(), &guard.error()}) {
      if (*slot) {
        nb::python_error e = std::move(**slot);
        slot->reset();
        throw std::move(e);
      }
    }
  };
  try {
    cal.readCalibrationCache();  // once, first: whose cache it is decides whether the file's verdict applies
    if (cal.cache_from_file()) o.reject_cache = file_reject;
    if (record) {
      // Without reading data: is the calibrator's cache used? (read_calibration_cache is asked once.)
      if (auto c = cal.readCalibrationCache(); c && !c->empty()) {
        ProbeCalibrator probe(cal);
        try {
          nb::gil_scoped_release nogil;
          octet::CalibrationOptions po = o;
          po.refine.samples = 0;
          return octet::calibrate(model, probe, po);
        } catch (const NeedsData&) {
        }
      }
      o.expected_samples = cal.read_all();
      if (o.expected_samples == 0) throw octet::Error("the calibrator provided no data (get_batch returned None at once)");
    }
    nb::gil_scoped_release nogil;
    return octet::calibrate(model, cal, o);
  } catch (const PythonCallbackFailed&) {
    rethrow();
    throw;
  } catch (const Interrupted&) {
    rethrow();
    throw;
  }
}

// The data set options of calibrate_data and load_samples (the CLI's --data, --limit, --shuffle, ... and
// preprocessing), from the keyword arguments octet/__init__.py passes.
octet::DataOptions data_options_of(const std::string& path, size_t skip, size_t limit, bool shuffle, uint64_t seed, bool skip_bad,
                                   int height, int width, int resize, std::vector<float> mean, std::vector<float> std,
                                   float scale, bool bgr, bool gray, const std::string& interp, bool letterbox,
                                   float pad_value, const std::string& pad_placement, int limit_side, int multiple) {
  octet::DataOptions d;
  d.path = path;
  d.skip = skip;
  d.limit = limit;
  d.shuffle = shuffle;
  d.seed = seed;
  d.skip_bad_images = skip_bad;
  octet::ImagePreprocess& p = d.preprocess;
  p.height = height;
  p.width = width;
  p.resize = resize;
  p.mean = std::move(mean);
  p.std = std::move(std);
  p.scale = scale;
  p.bgr = bgr;
  p.gray = gray;
  p.interp = interp;
  p.letterbox = letterbox;
  p.pad_value = pad_value;
  p.pad_placement = pad_placement;
  p.limit_side = limit_side;
  p.multiple = multiple;
  return d;
}

}  // namespace

NB_MODULE(_octet, m) {
  m.doc() = "octet: INT8 post-training quantization for ONNX models (C++ bindings; use the octet package)";
  nb::exception<octet::Error>(m, "Error");
  m.def("version", [] { return std::string(octet::version()); });
  m.def("cuda_available", [] { return octet::cuda_built(); });

  // Device memory a calibrator returned (python/octet/_convert.py): `nbytes` bytes at the integer address `ptr`
  // -> a new uint8 numpy array, through the CUDA runtime (octet/device.h); octet.Error says why not.
  m.def("copy_from_device", [](uintptr_t ptr, size_t nbytes) {
    octet::HostTensor t(octet::DType::u8, {static_cast<int64_t>(nbytes)});
    {
      nb::gil_scoped_release nogil;
      octet::copy_device_to_host(t.data(), reinterpret_cast<const void*>(ptr), nbytes);
    }
    return to_numpy(t);
  }, "ptr"_a, "nbytes"_a);

  // A DLPack tensor on a CUDA device (CuPy, PyTorch; anything nanobind imports through __dlpack__ or a capsule)
  // -> a host numpy array of its dtype and shape. A strided view (a permuted or channels-last tensor, every
  // other sample) is read as the values it spans and gathered on the host, as .contiguous() would.
  m.def("dlpack_to_host", [](nb::ndarray<nb::ro> a) {
    const octet::DType dt = dtype_of(a.dtype());
    const size_t nd = a.ndim();
    std::vector<int64_t> shape(nd), stride(nd);
    int64_t expect = 1, numel = 1;
    bool contiguous = true;
    for (size_t i = nd; i-- > 0;) {
      shape[i] = static_cast<int64_t>(a.shape(i));
      stride[i] = static_cast<int64_t>(a.stride(i));
      if (shape[i] != 1 && stride[i] != expect) contiguous = false;
      expect *= shape[i];
      numel *= shape[i];
      if (stride[i] < 0)
        throw octet::Error("the device tensor has negative strides (call .contiguous() / cupy.ascontiguousarray first)");
    }
    octet::HostTensor t(dt, shape);
    if (numel == 0) return to_numpy(t);
    if (contiguous) {
      {
        nb::gil_scoped_release nogil;  // released for the copy only: to_numpy makes a Python object
        octet::copy_device_to_host(t.data(), a.data(), a.nbytes());
      }
      return to_numpy(t);
    }
    const size_t isz = a.itemsize();
    const int64_t span = octet::strided_span(shape.data(), stride.data(), nd);
    if (span > std::max<int64_t>(8 * numel, (int64_t{1} << 20) / static_cast<int64_t>(isz)))
      throw octet::Error("the device tensor is a strided view spanning " + std::to_string(span) + " values for " +
                         std::to_string(numel) + " (call .contiguous() / cupy.ascontiguousarray first)");
    {
      nb::gil_scoped_release nogil;
      std::vector<uint8_t> raw(static_cast<size_t>(span) * isz);
      octet::copy_device_to_host(raw.data(), a.data(), raw.size());
      octet::gather_strided(t.data(), raw.data(), shape.data(), stride.data(), nd, isz);
    }
    return to_numpy(t);
  }, "tensor"_a);

  // Progress of long work (calibration passes, refinement, tune): fn(label, done, total, unit, finished), called
  // with the GIL taken from the thread doing the work; None: octet's progress line (on a terminal). An exception
  // raised by fn is reported as unraisable (the work goes on).
  m.def("set_progress_handler", [](nb::object fn) {
    if (fn.is_none()) {
      octet::set_progress_handler(nullptr);
      return;
    }
    std::shared_ptr<nb::object> holder(new nb::object(std::move(fn)), [](nb::object* p) {
      nb::gil_scoped_acquire gil;
      delete p;
    });
    octet::set_progress_handler([holder](const octet::ProgressEvent& e) {
      nb::gil_scoped_acquire gil;
      try {
        (*holder)(e.label, e.done, e.total, e.unit, e.finished);
      } catch (nb::python_error& err) {
        // Ctrl-C while the callback ran (Python raised it there): trip the flag again for the interrupt guard.
        if (err.matches(PyExc_KeyboardInterrupt)) PyErr_SetInterrupt();
        else err.discard_as_unraisable("octet progress handler");
      }
    });
  }, "fn"_a.none());

  nb::class_<octet::TensorSpec>(m, "TensorSpec")
      .def_ro("name", &octet::TensorSpec::name)
      .def_prop_ro("dtype", [](const octet::TensorSpec& s) { return std::string(octet::dtype_name(s.dtype)); })
      .def_prop_ro("shape", [](const octet::TensorSpec& s) { return shape_list(s.shape); })
      .def("__repr__", [](const octet::TensorSpec& s) {
        std::string r = "TensorSpec(name='" + s.name + "', dtype='" + octet::dtype_name(s.dtype) + "', shape=[";
        for (size_t i = 0; i < s.shape.size(); ++i) r += (i ? ", " : "") + std::to_string(s.shape[i]);
        return r + "])";
      });

  nb::class_<octet::Model>(m, "Model")
      .def("__init__", [](octet::Model* self, const std::string& path) {
        nb::gil_scoped_release nogil;
        new (self) octet::Model(octet::Model::load(path));
      }, "path"_a)
      .def_prop_ro("path", &octet::Model::path)
      .def_prop_ro("is_plan", &octet::Model::is_plan)
      .def_prop_ro("is_qdq", &octet::Model::is_qdq)
      .def_prop_ro("inputs", &octet::Model::inputs)
      .def_prop_ro("outputs", &octet::Model::outputs)
      .def("__repr__", [](const octet::Model& mo) { return "octet.Model('" + mo.path() + "')"; });

  nb::class_<octet::LayerPrecision>(m, "LayerPrecision")
      .def_ro("node", &octet::LayerPrecision::node)
      .def_ro("op", &octet::LayerPrecision::op)
      .def_ro("precision", &octet::LayerPrecision::precision)
      .def_ro("why", &octet::LayerPrecision::why);

  nb::class_<octet::Engine>(m, "Engine")
      .def("__init__",
           [](octet::Engine* self, const octet::Model& model, std::optional<std::string> precision,
              const std::string& cache, std::optional<std::vector<std::string>> fp32_layers, const std::string& backend,
              int threads, const std::string& asymmetric) {
             octet::EngineOptions o;
             if (precision) {
               if (*precision == "fp32") o.precision = octet::Precision::fp32;
               else if (*precision == "int8") o.precision = octet::Precision::int8;
               else throw octet::Error("precision must be 'fp32' or 'int8', got '" + *precision + "'");
             }
             o.cache_path = cache;
             o.fp32_layers = std::move(fp32_layers);
             o.backend = backend;
             o.threads = threads;
             if (asymmetric == "symmetric") o.asymmetric = octet::AsymmetricPolicy::symmetric;
             else if (asymmetric != "simulate") throw octet::Error("asymmetric must be 'simulate' or 'symmetric'");
             nb::gil_scoped_release nogil;
             new (self) octet::Engine(octet::Engine::build(model, o));
           },
           "model"_a, "precision"_a = nb::none(), "cache"_a = "", "fp32_layers"_a = nb::none(), "backend"_a = "",
           "threads"_a = 0, "asymmetric"_a = "simulate")
      .def("run",
           [](octet::Engine& e, const std::map<std::string, HostArray>& inputs) {
             std::map<std::string, octet::TensorView> views;
             for (const auto& [k, a] : inputs) views.emplace(k, view_of(a));
             std::map<std::string, octet::HostTensor> outs;
             {
               nb::gil_scoped_release nogil;
               outs = e.run(views);
             }
             nb::dict d;
             for (const auto& [k, t] : outs) d[nb::str(k.c_str())] = to_numpy(t);
             return d;
           },
           "inputs"_a)
      .def_prop_ro("inputs", &octet::Engine::inputs)
      .def_prop_ro("outputs", &octet::Engine::outputs)
      .def_prop_ro("precision", [](const octet::Engine& e) { return std::string(octet::precision_name(e.precision())); })
      .def_prop_ro("backend", &octet::Engine::backend)
      .def("input_shapes", [](const octet::Engine& e, int64_t batch) {
        std::vector<std::vector<int64_t>> r;
        for (const auto& s : e.input_shapes(batch)) r.push_back(shape_list(s));
        return r;
      }, "batch"_a = 1)
      .def("layers", &octet::Engine::layers)
      .def("describe", &octet::Engine::describe)
      .def("save", &octet::Engine::save, "plan_path"_a);

  nb::class_<octet::RefinedTensor>(m, "RefinedTensor")
      .def_ro("tensor", &octet::RefinedTensor::tensor)
      .def_ro("choice", &octet::RefinedTensor::choice)
      .def_ro("amax_from", &octet::RefinedTensor::from)
      .def_ro("amax_to", &octet::RefinedTensor::to);

  nb::class_<octet::CalibrationResult>(m, "CalibrationResult")
      .def_prop_ro("cache", [](const octet::CalibrationResult& r) { return nb::bytes(r.cache.data(), r.cache.size()); })
      .def_ro("header", &octet::CalibrationResult::header)
      .def_ro("from_cache", &octet::CalibrationResult::from_cache)
      .def_ro("note", &octet::CalibrationResult::note)
      .def_ro("tensors", &octet::CalibrationResult::tensors)
      .def_ro("images", &octet::CalibrationResult::images)
      .def_ro("batches", &octet::CalibrationResult::batches)
      .def_ro("two_pass", &octet::CalibrationResult::two_pass)
      .def_ro("seconds", &octet::CalibrationResult::seconds)
      .def_ro("warnings", &octet::CalibrationResult::warnings)
      .def_ro("refined", &octet::CalibrationResult::refined)
      .def_ro("refinement_skipped", &octet::CalibrationResult::refinement_skipped)
      .def_ro("sqnr_before_db", &octet::CalibrationResult::sqnr_before_db)
      .def_ro("sqnr_after_db", &octet::CalibrationResult::sqnr_after_db)
      .def_ro("refined_tensors", &octet::CalibrationResult::refined_tensors)
      .def("save", [](const octet::CalibrationResult& r, const std::string& cache_path, const std::string& model_path,
                      const std::string& data_source) { r.save(cache_path, model_path, data_source); },
           "cache_path"_a, "model_path"_a = "", "data_source"_a = "");

  // calibrate with a Python calibrator (TensorRT's method names).
  m.def("calibrate_python",
        [](const octet::Model& model, nb::object calibrator, const std::string& algo, bool record, int trt_version,
           bool inputs_minmax, bool one_pass, bool import_cache, double percentile, double quantile,
           const std::string& backend, int64_t refine_samples, int64_t refine_batch, int refine_sweeps, bool quiet,
           std::optional<nb::bytes> file_cache, const std::string& file_reject) {
          std::optional<std::string> fc;
          if (file_cache) fc = std::string(file_cache->c_str(), file_cache->size());
          return calibrate_python(model, std::move(calibrator), algo, record,
                                  calib_options(trt_version, inputs_minmax, one_pass, import_cache, percentile, quantile,
                                                backend, refine_samples, refine_batch, refine_sweeps, quiet),
                                  std::move(fc), file_reject);
        },
        "model"_a, "calibrator"_a, "algo"_a, "record"_a, "trt_version"_a, "inputs_minmax"_a, "one_pass"_a,
        "import_cache"_a, "percentile"_a, "quantile"_a, "backend"_a, "refine_samples"_a, "refine_batch"_a,
        "refine_sweeps"_a, "quiet"_a, "file_cache"_a = nb::none(), "file_reject"_a = "");

  // calibrate on a data set with octet's calibrators (as `octet calibrate --data`).
  m.def("calibrate_data",
        [](const octet::Model& model, const std::string& data, const std::string& cache, int batch, const std::string& algo,
           size_t skip, size_t limit, bool shuffle, uint64_t seed, bool skip_bad, int height, int width, int resize,
           std::vector<float> mean, std::vector<float> stdv, float scale, bool bgr, bool gray, const std::string& interp,
           bool letterbox, float pad_value, const std::string& pad_placement, int limit_side, int multiple,
           int trt_version, bool inputs_minmax, bool one_pass, bool import_cache, double percentile, double quantile,
           const std::string& backend, int64_t refine_samples, int64_t refine_batch, int refine_sweeps, bool quiet,
           const std::string& reject_cache, const std::string& calib_padding) {
          const octet::DataOptions d =
              data_options_of(data, skip, limit, shuffle, seed, skip_bad, height, width, resize, std::move(mean), std::move(stdv),
                              scale, bgr, gray, interp, letterbox, pad_value, pad_placement, limit_side, multiple);
          octet::CalibrationOptions o = calib_options(trt_version, inputs_minmax, one_pass, import_cache, percentile,
                                                      quantile, backend, refine_samples, refine_batch, refine_sweeps, false);
          o.reject_cache = reject_cache;
          o.calib_padding = calib_padding;
          InterruptGuard guard(quiet);
          try {
            nb::gil_scoped_release nogil;
            auto cal = octet::make_data_calibrator(model, d, cache, batch, algo);
            o.expected_samples = cal->samples();
            return octet::calibrate(model, *cal, o);
          } catch (const Interrupted&) {
            nb::python_error e = std::move(*guard.error());
            guard.error().reset();
            throw std::move(e);
          }
        },
        "model"_a, "data"_a, "cache"_a, "batch"_a, "algo"_a, "skip"_a, "limit"_a, "shuffle"_a, "seed"_a, "skip_bad_images"_a,
        "height"_a, "width"_a, "resize"_a, "mean"_a, "std"_a, "scale"_a, "bgr"_a, "gray"_a, "interp"_a, "letterbox"_a,
        "pad_value"_a, "pad_placement"_a, "limit_side"_a, "multiple"_a, "trt_version"_a, "inputs_minmax"_a, "one_pass"_a,
        "import_cache"_a, "percentile"_a, "quantile"_a, "backend"_a, "refine_samples"_a, "refine_batch"_a,
        "refine_sweeps"_a, "quiet"_a, "reject_cache"_a = "", "calib_padding"_a = "exclude");

  m.def("load_samples",
        [](const octet::Model& model, const std::string& path, size_t skip, size_t limit, bool shuffle, uint64_t seed, bool skip_bad,
           int height, int width, int resize, std::vector<float> mean, std::vector<float> stdv, float scale, bool bgr,
           bool gray, const std::string& interp, bool letterbox, float pad_value, const std::string& pad_placement,
           int limit_side, int multiple, bool labels) {
          const octet::DataOptions d =
              data_options_of(path, skip, limit, shuffle, seed, skip_bad, height, width, resize, std::move(mean), std::move(stdv),
                              scale, bgr, gray, interp, letterbox, pad_value, pad_placement, limit_side, multiple);
          octet::Samples s;
          {
            nb::gil_scoped_release nogil;
            s = octet::load_samples(model, d, labels);
          }
          return nb::make_tuple(to_numpy(s.data), s.labels);
        },
        "model"_a, "path"_a, "skip"_a, "limit"_a, "shuffle"_a, "seed"_a, "skip_bad_images"_a, "height"_a, "width"_a, "resize"_a,
        "mean"_a, "std"_a, "scale"_a, "bgr"_a, "gray"_a, "interp"_a, "letterbox"_a, "pad_value"_a, "pad_placement"_a,
        "limit_side"_a, "multiple"_a, "labels"_a);

  // Q/DQ export (octet quantize): returns the result; the model bytes are written to out_path.
  nb::class_<octet::QdqResult>(m, "QdqResult")
      .def_ro("opset", &octet::QdqResult::opset)
      .def_ro("quantized_nodes", &octet::QdqResult::quantized_nodes)
      .def_ro("activation_pairs", &octet::QdqResult::activation_pairs)
      .def_ro("weights", &octet::QdqResult::weights)
      .def_ro("biases", &octet::QdqResult::biases)
      .def_ro("notes", &octet::QdqResult::notes)
      .def_ro("skipped", &octet::QdqResult::skipped);
  m.def("quantize_qdq",
        [](const std::string& onnx, const std::string& scales, const std::string& out, const std::string& format,
           std::optional<std::vector<std::string>> fp32_layers, bool rules_only) {
          octet::QdqOptions o;
          o.format = format;
          o.fp32_layers = std::move(fp32_layers);
          o.rules_only = rules_only;
          nb::gil_scoped_release nogil;
          octet::QdqResult r = octet::quantize_qdq(onnx, scales, out, o);
          std::ofstream f(out, std::ios::binary);
          f.write(r.model.data(), static_cast<std::streamsize>(r.model.size()));
          if (!f) throw octet::Error("cannot write '" + out + "'");
          r.model.clear();
          return r;
        },
        "onnx_path"_a, "scales_path"_a, "out_path"_a, "format"_a = "trt", "fp32_layers"_a = nb::none(),
        "rules_only"_a = false);

  // Caches.
  m.def("read_scales", [](const std::string& path) {
    octet::ScaleTable t = octet::read_scales(path);
    std::vector<std::pair<std::string, float>> e;
    for (const auto& s : t.entries) e.emplace_back(s.name, s.scale);
    return nb::make_tuple(t.header, e);
  }, "path"_a);
  m.def("write_scales",
        [](const std::string& path, const std::string& header, const std::vector<std::pair<std::string, float>>& entries,
           const std::string& format) {
          octet::ScaleTable t;
          t.header = header;
          for (const auto& [n, s] : entries) t.entries.push_back({n, s});
          octet::CacheFormat f = format == "trt" ? octet::CacheFormat::trt
                                 : format == "ort_json" ? octet::CacheFormat::ort_json
                                 : format == "ort_text" ? octet::CacheFormat::ort_text
                                 : throw octet::Error("format must be trt, ort_json or ort_text, got '" + format + "'");
          octet::write_scales(path, t, f);
        },
        "path"_a, "header"_a, "entries"_a, "format"_a = "trt");
  m.def("cache_header", &octet::cache_header, "trt_version"_a, "algo_token"_a = "EntropyCalibration2");
  m.def("cache_fp32_layers", &octet::cache_fp32_layers, "cache_path"_a);
  // (exists, reject reason or "", sidecar missing) of the cache at `cache_path` for `model_path` (octet calibrate's checks)
  m.def("check_cache_file", [](const std::string& cache_path, const std::string& model_path,
                               const std::string& calib_padding) {
    octet::CacheFileCheck c = octet::check_cache_file(cache_path, model_path, calib_padding);
    return nb::make_tuple(c.exists, c.reject, c.sidecar_missing);
  }, "cache_path"_a, "model_path"_a, "calib_padding"_a = "");

  // Accuracy measures (numpy in).
  m.def("top1", [](const HostArray& s) { return octet::top1(host_of(s)); }, "scores"_a);
  m.def("top1_accuracy", [](const HostArray& s, const std::vector<int>& l) { return octet::top1_accuracy(host_of(s), l); },
        "scores"_a, "labels"_a);
  m.def("agreement", [](const HostArray& a, const HostArray& b) { return octet::agreement(host_of(a), host_of(b)); },
        "a"_a, "b"_a);
  m.def("sqnr_db", [](const HostArray& r, const HostArray& t) { return octet::sqnr_db(host_of(r), host_of(t)); },
        "ref"_a, "test"_a);

  // tune (octet tune): samples = list of batches, each a list of arrays (one per model input).
  nb::class_<octet::TuningResult>(m, "TuningResult")
      .def_ro("sqnr_start_db", &octet::TuningResult::sqnr_start_db)
      .def_ro("sqnr_scales_db", &octet::TuningResult::sqnr_scales_db)
      .def_ro("sqnr_final_db", &octet::TuningResult::sqnr_final_db)
      .def_ro("fp32_layers", &octet::TuningResult::fp32_layers)
      .def_ro("int8_layers", &octet::TuningResult::int8_layers)
      .def_ro("trials", &octet::TuningResult::trials)
      .def_ro("searched_scales", &octet::TuningResult::searched_scales)
      .def_ro("budget_met", &octet::TuningResult::budget_met)
      .def_ro("agreement", &octet::TuningResult::agreement)
      .def_ro("top1", &octet::TuningResult::top1)
      .def_ro("fp32_top1", &octet::TuningResult::fp32_top1)
      .def_ro("macs_total", &octet::TuningResult::macs_total)
      .def_ro("macs_int8", &octet::TuningResult::macs_int8)
      .def_ro("fp32_nodes", &octet::TuningResult::fp32_nodes)
      .def_ro("task_score_start", &octet::TuningResult::task_score_start)
      .def_ro("task_score", &octet::TuningResult::task_score)
      .def_prop_ro("cache", [](const octet::TuningResult& r) { return nb::bytes(r.cache.data(), r.cache.size()); })
      .def("save", &octet::TuningResult::save, "cache_path"_a);
  m.def("tune",
        [](const octet::Model& model, const std::string& cache, const std::vector<std::vector<HostArray>>& samples,
           int max_fp32_layers, double min_gain_db, bool scale_search, std::vector<std::string> fp32_layers,
           const std::string& backend, double max_top1_drop, double min_agreement, std::optional<double> min_sqnr_db,
           std::vector<int> labels, bool quiet, const std::string& task, double min_task_score, const std::string& decode,
           double score_threshold, double nms_iou, std::vector<int> strides, double match_iou, double mask_threshold,
           int rank_samples, double min_int8_mac_share) {
          std::vector<std::vector<octet::HostTensor>> s;
          for (const auto& b : samples) {
            std::vector<octet::HostTensor> v;
            for (const auto& a : b) v.push_back(host_of(a));
            s.push_back(std::move(v));
          }
          octet::TuningOptions o;
          o.max_fp32_layers = max_fp32_layers;
          o.min_gain_db = min_gain_db;
          o.scale_search = scale_search;
          o.fp32_layers = std::move(fp32_layers);
          o.backend = backend;
          o.max_top1_drop = max_top1_drop;
          o.min_agreement = min_agreement;
          if (min_sqnr_db) o.min_sqnr_db = *min_sqnr_db;
          o.labels = std::move(labels);
          o.task = task;  // octet tune --task: checked (with min_task_score) by octet::tune
          o.min_task_score = min_task_score;
          if (task == "detect") o.decode.head = octet::detect_head_from_name(decode);
          o.decode.score_threshold = score_threshold;
          o.decode.nms_iou = nms_iou;
          o.decode.strides = std::move(strides);
          o.match_iou = match_iou;
          o.mask_threshold = static_cast<float>(mask_threshold);
          o.rank_samples = rank_samples;
          o.min_int8_mac_share = min_int8_mac_share;
          // Ctrl-C: checked at every trial's progress event (the guard passes events on unless quiet)
          InterruptGuard guard(quiet);
          o.quiet = false;
          try {
            nb::gil_scoped_release nogil;
            return octet::tune(model, cache, s, o);
          } catch (const Interrupted&) {
            nb::python_error e = std::move(*guard.error());
            guard.error().reset();
            throw std::move(e);
          }
        },
        "model"_a, "cache"_a, "samples"_a, "max_fp32_layers"_a = -1, "min_gain_db"_a = 0.1, "scale_search"_a = true,
        "fp32_layers"_a = std::vector<std::string>{}, "backend"_a = "cpu", "max_top1_drop"_a = -1.0,
        "min_agreement"_a = -1.0, "min_sqnr_db"_a = nb::none(), "labels"_a = std::vector<int>{}, "quiet"_a = true, "task"_a = "",
        "min_task_score"_a = -1.0, "decode"_a = "yolox", "score_threshold"_a = 0.3, "nms_iou"_a = 0.45,
        "strides"_a = std::vector<int>{8, 16, 32}, "match_iou"_a = 0.5, "mask_threshold"_a = 0.3,
        "rank_samples"_a = 0, "min_int8_mac_share"_a = 0.0);
}
