"""octet: INT8 post-training quantization for ONNX models, with TensorRT-compatible calibration caches.

TensorRT-style calibrators run unchanged with one import changed::

    import octet as trt            # instead of: import tensorrt as trt

    class MyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self, ...):
            trt.IInt8EntropyCalibrator2.__init__(self)
            ...
        def get_batch_size(self): ...
        def get_batch(self, names): ...         # one binding per name (numpy, device memory); None when done
        def read_calibration_cache(self): ...
        def write_calibration_cache(self, cache): ...

    result = octet.calibrate("model.onnx", MyCalibrator(...), cache="model.cache")
    engine = octet.Engine("model.onnx", precision="int8", cache="model.cache")
    outputs = engine.run({"input": x})        # {name: numpy array}
"""
import atexit as _atexit
import enum as _enum
import operator as _operator
import os as _os
import tempfile as _tempfile
import warnings as _warnings

import numpy as _np


def _omp_defaults():
    """The CLI's OpenMP wait default (tools/main.cpp), for this process: libgomp reads OMP_WAIT_POLICY and
    GOMP_SPINCOUNT once, when it is loaded (by the extension below). With neither set by the user (nor
    OCTET_OMP_DEFAULTS): a short spin (GOMP_SPINCOUNT=3000) when the CPUs this process may use are idle, else
    OMP_WAIT_POLICY=passive — spinning workers on shared cores make octet 10-100x slower."""
    env = _os.environ
    if any(k in env for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OCTET_OMP_DEFAULTS")):
        return
    try:
        with open("/proc/self/maps") as f:
            if "libgomp" in f.read():
                return  # already loaded by another library: too late to choose
        usable = len(_os.sched_getaffinity(0))

        def idle():
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            return v[3] + v[4], sum(v)

        import time
        i0, t0 = idle()
        time.sleep(0.03)
        i1, t1 = idle()
        idle_cpus = (i1 - i0) / max(t1 - t0, 1) * (_os.cpu_count() or 1)
    except OSError:
        return
    if idle_cpus >= usable - 0.5:
        env["GOMP_SPINCOUNT"] = "3000"
    else:
        env["OMP_WAIT_POLICY"] = "passive"
    env["OCTET_OMP_DEFAULTS"] = "applied"


_omp_defaults()

from . import _octet  # noqa: E402
from ._octet import CalibrationResult, Error, QdqResult, TensorSpec, TuningResult  # noqa: F401,E402

__version__ = _octet.version()
CUDA = _octet.cuda_available()

# ----------------------------------------------------------------------------------------------- model, engine


class Model(_octet.Model):
    """An ONNX model (FP32 or Q/DQ) or an octet plan file. `inputs` / `outputs`: TensorSpec (name, dtype, shape)."""

    def __init__(self, path):
        super().__init__(_os.fspath(path))

    @property
    def input_names(self):
        return [s.name for s in self.inputs]

    @property
    def output_names(self):
        return [s.name for s in self.outputs]


def _model(m):
    return m if isinstance(m, _octet.Model) else Model(m)


class Engine(_octet.Engine):
    """A model built for a precision ("fp32" or "int8"; default as `octet run`: fp32 for an ONNX model, a plan's
    own) with INT8 scales from `cache` (a TensorRT calibration cache), else a Q/DQ model's own.
    `run({name: array})` -> {name: numpy array}; the GIL is released while it runs."""

    def __init__(self, model, precision=None, cache=None, fp32_layers=None, backend="", threads=0,
                 asymmetric="simulate"):
        super().__init__(_model(model), precision, _os.fspath(cache) if cache else "", fp32_layers, backend,
                         threads, asymmetric)

    def run(self, inputs):
        if not isinstance(inputs, dict):
            names = [s.name for s in self.inputs]
            if len(names) != 1:
                raise Error(f"run() takes a dict of {len(names)} inputs {names}")
            inputs = {names[0]: inputs}
        arrays = {}
        for k, v in inputs.items():
            a = _np.ascontiguousarray(v)
            if a.dtype == _np.float64:
                a = a.astype(_np.float32)
            arrays[k] = a
        return super().run(arrays)

    @property
    def input_names(self):
        return [s.name for s in self.inputs]

    @property
    def output_names(self):
        return [s.name for s in self.outputs]


# ----------------------------------------------------------------------------------------------- data sets


def _hw(v, what):
    """H or (H, W) -> (H, W) of positive integers (the CLI's H[,W])."""
    try:
        hw = tuple(v) if hasattr(v, "__len__") else (v,)
        hw = tuple(_operator.index(x) for x in hw if not isinstance(x, bool))
    except TypeError:
        hw = ()
    if len(hw) not in (1, 2) or not all(1 <= x <= 65536 for x in hw):
        raise Error(f"{what} must be positive integers H or (H, W), got {v!r}")
    return (hw[0], hw[-1])


class Dataset:
    """Data on disk with `octet calibrate`'s preprocessing (--size --resize --mean --std --scale --bgr --gray
    --interp --letterbox --pad-value --pad-placement --limit-side --multiple --skip --limit --shuffle --seed
    --skip-bad-images): an image folder, an IDX set, a .npy / .npz / raw file.

    `skip` leaves out the first samples (after shuffling) and `limit` keeps the first of the rest: with the same
    `shuffle`/`seed`, `limit=N` and `skip=N` split a set in two (e.g. tune on one part, evaluate on the other).

    `letterbox`: True (to `size`, else the model's) or the output size H / (H, W) as the CLI's --letterbox H[,W]:
    keep the aspect ratio, pad with `pad_value` (a pixel value before scale/mean/std; default 114) at
    `pad_placement` "center" (Ultralytics, default) or "topleft" (YOLOX)."""

    def __init__(self, path, size=None, resize=0, mean=None, std=None, scale=1.0 / 255.0, bgr=False, gray=False,
                 interp="bilinear", limit=0, shuffle=False, seed=0, skip_bad_images=False, letterbox=False,
                 pad_value=None, pad_placement=None, limit_side=0, multiple=0, skip=0):
        self.path = _os.fspath(path)
        h, w = (0, 0) if size is None else _hw(size, "size")
        if letterbox is not False and letterbox is not None:
            if letterbox is not True:
                if size is not None:
                    raise Error("letterbox=(H, W) gives the output size; leave out size (or pass letterbox=True)")
                h, w = _hw(letterbox, "letterbox")
            if resize:
                raise Error("letterbox and resize exclude each other (as --letterbox and --resize)")
            self.letterbox = True
        else:
            if pad_value is not None or pad_placement is not None:
                raise Error("pad_value and pad_placement apply to letterbox=...")
            self.letterbox = False
        self.pad_value = 114.0 if pad_value is None else float(pad_value)
        self.pad_placement = "center" if pad_placement is None else str(pad_placement)
        self.limit_side, self.multiple = int(limit_side), int(multiple)
        if self.limit_side < 0 or self.multiple < 0:
            raise Error(f"limit_side and multiple must be positive (0: none), got {limit_side}, {multiple}")
        self.height, self.width = int(h), int(w)
        self.resize = int(resize)
        self.mean = [float(x) for x in (mean or [])]
        self.std = [float(x) for x in (std or [])]
        self.scale = float(scale)
        self.bgr, self.gray, self.interp = bool(bgr), bool(gray), interp
        self.limit, self.shuffle, self.seed, self.skip_bad_images = int(limit), bool(shuffle), int(seed), bool(
            skip_bad_images)
        self.skip = int(skip)
        if self.limit < 0 or self.skip < 0:
            raise Error(f"limit and skip must be 0 or positive, got {limit}, {skip}")

    def _args(self):
        return dict(skip=self.skip, limit=self.limit, shuffle=self.shuffle, seed=self.seed, skip_bad_images=self.skip_bad_images,
                    height=self.height, width=self.width, resize=self.resize, mean=self.mean, std=self.std,
                    scale=self.scale, bgr=self.bgr, gray=self.gray, interp=self.interp, letterbox=self.letterbox,
                    pad_value=self.pad_value, pad_placement=self.pad_placement, limit_side=self.limit_side,
                    multiple=self.multiple)

    def load(self, model, labels=False):
        """The whole set, preprocessed for `model`'s first input: (N x C x H x W float32 array, labels list)."""
        return _octet.load_samples(_model(model), self.path, labels=labels, **self._args())

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"


class ImageFolder(Dataset):
    pass


class NpyData(Dataset):
    pass


class IdxData(Dataset):
    pass


def load_samples(model, data, labels=False, **preprocessing):
    d = data if isinstance(data, Dataset) else Dataset(data, **preprocessing)
    return d.load(model, labels)


# ----------------------------------------------------------------------------------------------- TensorRT names


def volume(shape):
    """Number of elements of `shape` (tensorrt.volume)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


class DataType:
    """tensorrt.DataType's element types (itemsize, nptype)."""

    def __init__(self, name, nptype):
        self.name, self._nptype = name, nptype
        self.itemsize = _np.dtype(nptype).itemsize

    def __repr__(self):
        return f"DataType.{self.name.upper()}"


float32 = DataType("float", _np.float32)
float16 = DataType("half", _np.float16)
int8 = DataType("int8", _np.int8)
int32 = DataType("int32", _np.int32)
int64 = DataType("int64", _np.int64)
uint8 = DataType("uint8", _np.uint8)
bool_ = DataType("bool", _np.bool_)
DataType.FLOAT, DataType.HALF, DataType.INT8, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.BOOL = (
    float32, float16, int8, int32, int64, uint8, bool_)


def nptype(t):
    """The numpy type of a DataType (tensorrt.nptype)."""
    return t._nptype


class CalibrationAlgoType(_enum.IntEnum):
    LEGACY_CALIBRATION = 0
    ENTROPY_CALIBRATION = 1
    ENTROPY_CALIBRATION_2 = 2
    MINMAX_CALIBRATION = 3


_ALGO_NAMES = {
    CalibrationAlgoType.LEGACY_CALIBRATION: "legacy",
    CalibrationAlgoType.ENTROPY_CALIBRATION: "entropy",
    CalibrationAlgoType.ENTROPY_CALIBRATION_2: "entropy2",
    CalibrationAlgoType.MINMAX_CALIBRATION: "minmax",
}


class Logger:
    """tensorrt.Logger: octet's notes and warnings go to stderr; the severity is kept for compatibility."""

    class Severity(_enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = Severity

    def __init__(self, min_severity=Severity.WARNING):
        self.min_severity = min_severity

    def log(self, severity, msg):
        if severity <= self.min_severity:
            import sys
            print(msg, file=sys.stderr)


class IInt8Calibrator:
    """TensorRT's calibrator interface (tensorrt.IInt8Calibrator). Subclass one of the algorithm classes and
    override get_batch_size, get_batch(names), read_calibration_cache, write_calibration_cache.

    get_batch(names) returns one binding per name, in the order of `names` — a numpy array (or anything with
    __array_interface__ or DLPack on the CPU) holding batch_size x (input shape) float32 values — or None when
    the data is used up. A last batch with fewer samples is fine. Device memory is read through the CUDA runtime
    when octet is built with CUDA (octet.CUDA) and a driver is present: an integer pointer (pycuda's
    int(mem_alloc(...)), cudaMalloc) as a full batch of float32, objects with __cuda_array_interface__ and
    CUDA DLPack tensors (CuPy, PyTorch) as their shape and dtype; otherwise octet.Error says why."""

    def __init__(self):
        pass

    def get_batch_size(self):
        return 1

    def get_batch(self, names):
        return None

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache):
        return None

    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2


class IInt8EntropyCalibrator2(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2


class IInt8EntropyCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION


class IInt8MinMaxCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.MINMAX_CALIBRATION


class IInt8LegacyCalibrator(IInt8Calibrator):
    """TensorRT's legacy calibrator: octet uses get_quantile() (default 0.9999); get_regression_cutoff() is
    accepted for compatibility and not used."""

    def get_algorithm(self):
        return CalibrationAlgoType.LEGACY_CALIBRATION

    def get_quantile(self):
        return 0.9999

    def get_regression_cutoff(self):
        return 1.0


# ----------------------------------------------------------------------------------------------- calibrate


class CacheWarning(UserWarning):
    """calibrate(cache=PATH) did not reuse the cache at PATH (why: the message) and calibrated again."""


def _write_atomic(path, data):
    """Writes bytes to `path` through a temporary file in its folder and a rename; refuses a non-regular file
    there (as octet's own outputs, core/file_io.h)."""
    if _os.path.lexists(path) and (_os.path.islink(path) or not _os.path.isfile(path)):
        raise Error(f"cannot write '{path}': it is not a regular file (octet replaces only regular files)")
    fd, tmp = _tempfile.mkstemp(prefix=_os.path.basename(path) + ".", suffix=".tmp",
                                dir=_os.path.dirname(_os.path.abspath(path)))
    try:
        with _os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _os.fsync(f.fileno())
        _os.replace(tmp, path)
    except BaseException:
        _os.unlink(tmp)
        raise


def _cache_file(cache_path, model_path, calib_padding=""):
    """octet calibrate's checks of the cache at `cache_path`: (its bytes or None, why it must not be reused);
    `calib_padding`: the mode asked for, where the data may be letterboxed (a cache made with the other is not
    reused)."""
    if not cache_path:
        return None, ""
    exists, reject, _ = _octet.check_cache_file(cache_path, model_path, calib_padding)
    if not exists:
        return None, ""
    with open(cache_path, "rb") as f:
        return f.read(), reject


def _after_calibration(r, cache_path, old):
    """Says why an existing cache was not reused, and where it was kept (as octet calibrate prints it)."""
    if not cache_path or r.from_cache or old is None:
        return
    kept = f"; the previous cache is kept as '{cache_path}.old'" if old and old != r.cache else ""
    why = r.note or "the calibrator's own cache was used instead"
    _warnings.warn(f"'{cache_path}': {why}{kept}", CacheWarning, stacklevel=3)


def _trt_version(v):
    if isinstance(v, int):
        return v
    s = str(v)
    if "." in s:
        parts = [int(p) for p in s.split(".")] + [0, 0]
        return parts[0] * 10000 + parts[1] * 100 + parts[2]
    return int(s)


def _algo_name(a):
    if a is None:
        return None
    if isinstance(a, str):
        return a
    return _ALGO_NAMES[CalibrationAlgoType(int(a))]


def set_progress_handler(fn):
    """Progress of long work (calibration passes, refinement, tune) goes to fn(label, done, total, unit, finished)
    (total 0: unknown), e.g. to drive a tqdm bar; None restores octet's progress line on stderr."""
    _octet.set_progress_handler(fn)


_atexit.register(_octet.set_progress_handler, None)  # before the interpreter goes


class ProgressBars:
    """A progress callback that drives one bar per stage ("calibrate 1/2", "calibrate 2/2", "refine", "tune"),
    made by `bar(desc=label, total=total or None, unit=unit)` — tqdm.tqdm by default (tqdm.auto.tqdm in a
    notebook); the bar's `n` and `total` follow octet's counts and it is closed when its stage ends::

        octet.calibrate("model.onnx", "images/", progress=octet.ProgressBars())
    """

    def __init__(self, bar=None):
        if bar is None:
            try:
                from tqdm import tqdm as bar
            except ImportError:
                raise Error("ProgressBars() draws with tqdm (pip install tqdm), or pass bar=a tqdm-like class")
        self._make, self._bars = bar, {}

    def __call__(self, label, done, total, unit, finished):
        b = self._bars.get(label)
        if b is None:
            if finished and done == 0:
                return
            b = self._bars[label] = self._make(desc=label, total=total or None, unit=unit)
        if total and b.total != total:
            b.total = total
        b.update(done - b.n)
        if finished:
            b.close()
            del self._bars[label]


def calibrate(model, data, cache=None, algo=None, refine=True, batch=32, *, calibrate_inputs=False,
              one_pass=False, import_cache=False, percentile=99.99, quantile=None, trt_version="10.13.0",
              refine_batch=8, refine_sweeps=3, backend="cpu", quiet=True, progress=None, calib_padding="exclude",
              **preprocessing):
    """Calibrates `model` (path or Model) — what `octet calibrate` does, with its defaults — and returns a
    CalibrationResult (`.cache`: the TensorRT cache bytes).

    `data`: a calibrator (TensorRT's Python interface: subclass octet.IInt8EntropyCalibrator2 & co.), or a
    data set — a path (image folder, IDX, .npy/.npz/raw) or an octet.Dataset / ImageFolder; preprocessing
    keywords (size, mean, std, ...) as `octet calibrate`'s flags.
    `cache`: also write this cache file and its JSON sidecar (as `octet calibrate --cache`); a valid cache there
    skips calibration (for a calibrator: when its read_calibration_cache gives none); one that is stale or invalid
    (other algorithm or TensorRT version, unreadable, a sidecar for another model or cache) is kept as PATH.old and
    calibration runs again, with a CacheWarning saying why. A calibrator gets the cache through
    write_calibration_cache, and a valid cache from its read_calibration_cache skips calibration (as in TensorRT).
    Ctrl-C (KeyboardInterrupt), during the passes or the refinement, stops the work and writes no cache.
    `algo`: entropy2 (default), entropy, minmax, percentile, mse, legacy (a calibrator's own by default).
    `refine`: True (default: 128 samples), False, or the number of samples.
    `progress`: fn(label, done, total, unit, finished) called as the passes and the refinement advance.
    `calib_padding`: "exclude" (default) leaves the padding of letterboxed data (letterbox=...) out of the
    histograms, observing only activations whose receptive centre lies in the image; "include" observes every value
    (`octet calibrate --calib-padding`). A calibrator's raw arrays carry no box: every value is observed.
    A calibrator that cannot rewind has its batches read once and kept in memory, so that the default two-pass
    calibration gives the CLI's result; one_pass=True streams them instead (TensorRT's one-pass histograms)."""
    if progress is not None:
        set_progress_handler(progress)
        try:
            return calibrate(model, data, cache, algo, refine, batch, calibrate_inputs=calibrate_inputs,
                             one_pass=one_pass, import_cache=import_cache, percentile=percentile, quantile=quantile,
                             trt_version=trt_version, refine_batch=refine_batch, refine_sweeps=refine_sweeps,
                             backend=backend, quiet=False, calib_padding=calib_padding, **preprocessing)
        finally:
            set_progress_handler(None)
    m = _model(model)
    refine_samples = 0 if refine is False or refine is None else 128 if refine is True else int(refine)
    cache_path = _os.fspath(cache) if cache else ""
    common = dict(trt_version=_trt_version(trt_version), inputs_minmax=not calibrate_inputs, one_pass=one_pass,
                  import_cache=import_cache, percentile=float(percentile), backend=backend,
                  refine_samples=refine_samples, refine_batch=int(refine_batch), refine_sweeps=int(refine_sweeps),
                  quiet=quiet)
    if isinstance(data, (str, bytes, _os.PathLike, Dataset)):
        ds = data if isinstance(data, Dataset) else Dataset(data, **preprocessing)
        old, reject = _cache_file(cache_path, m.path, calib_padding)
        r = _octet.calibrate_data(m, ds.path, cache_path, int(batch), _algo_name(algo) or "entropy2",
                                  quantile=0.9999 if quantile is None else float(quantile), reject_cache=reject,
                                  calib_padding=calib_padding, **ds._args(), **common)
        if cache_path and not r.from_cache:
            r.save(cache_path, m.path, ds.path)
        _after_calibration(r, cache_path, old)
        return r
    if preprocessing:
        raise TypeError(f"unexpected keyword arguments for a calibrator: {sorted(preprocessing)}")
    calibrator = data
    name = _algo_name(algo)
    if name is None:
        get = getattr(calibrator, "get_algorithm", None)
        name = _algo_name(get()) if get else "entropy2"
    if quantile is None:
        q = getattr(calibrator, "get_quantile", None)
        quantile = float(q()) if q else 0.9999
    record = not one_pass and not hasattr(calibrator, "rewind")
    old, reject = _cache_file(cache_path, m.path)
    r = _octet.calibrate_python(m, calibrator, name, record, quantile=float(quantile), file_cache=old,
                                file_reject=reject, **common)
    if cache_path and not (r.from_cache and r.cache == old):
        if old and old != r.cache:
            _write_atomic(cache_path + ".old", old)  # a cache calibration did not reuse is kept, not lost
        r.save(cache_path, m.path, "python:" + type(calibrator).__name__)
    _after_calibration(r, cache_path, old)
    return r


# ----------------------------------------------------------------------------------------------- other verbs


def quantize(model, cache, out, format="trt", fp32_layers=None, rules_only=False):
    """The FP32 ONNX model with Q/DQ nodes carrying the cache's scales, written to `out` (`octet quantize`)."""
    mp = model.path if isinstance(model, _octet.Model) else _os.fspath(model)
    return _octet.quantize_qdq(mp, _os.fspath(cache), _os.fspath(out), format, fp32_layers, rules_only)


def read_cache(path):
    """(header, {tensor: scale}) of a TensorRT cache, ONNX Runtime calibration.json / .cache, or Q/DQ model."""
    header, entries = _octet.read_scales(_os.fspath(path))
    return header, dict(entries)


def write_cache(path, header, scales, format="trt"):
    """Writes {tensor: scale} as a TensorRT cache (format "trt"), ONNX Runtime "ort_json" or "ort_text"."""
    _octet.write_scales(_os.fspath(path), header, list(scales.items()), format)


def convert_cache(src, dst, format="trt"):
    header, scales = read_cache(src)
    write_cache(dst, header, scales, format)


cache_header = _octet.cache_header
cache_fp32_layers = _octet.cache_fp32_layers
top1 = _octet.top1
agreement = _octet.agreement
sqnr_db = _octet.sqnr_db


def top1_accuracy(scores, labels):
    return _octet.top1_accuracy(scores, list(labels))


def tune(model, cache, samples, out=None, batch=8, labels=None, budget=None, min_agreement=None, min_sqnr=None,
         progress=None, task=None, min_f1=None, min_iou=None, min_int8_macs=None, **options):
    """`octet tune`: threshold search and mixed precision on `samples` (an N x ... array for a one-input model,
    or a list of batches, each a list of arrays per input). Writes `out` (and its sidecar) when given.
    To a budget, as `octet tune --budget/--min-agreement/--min-sqnr`: the fewest FP32 layers such that the
    top-1 drop vs FP32 is <= `budget` points (needs `labels`, one class per sample), the INT8/FP32 top-1
    agreement >= `min_agreement` percent, the output SQNR >= `min_sqnr` dB; the result says budget_met,
    the MACs in INT8 and fp32_nodes (ONNX Runtime's / ModelOpt's nodes_to_exclude). `min_int8_macs`: at least
    this percent of the MACs stays INT8 (`--min-int8-macs`); `rank_samples=N` as `--rank-samples`.
    `progress`: fn(label, done, total, unit, finished) after every trial ("tune", "trials"); quiet=False without
    it: the progress handler's, else a line on stderr. Ctrl-C (KeyboardInterrupt) stops the search at the next
    trial and writes nothing.
    Detectors and segmenters, as `octet tune --task`: task="detect", decode="yolox"|"yolov5"|"yolov8", min_f1=F
    (box F1 of INT8 vs FP32 boxes; score_threshold=, nms_iou=, strides=, match_iou= as octet eval --task), or
    task="segment", min_iou=F (mask IoU; mask_threshold=); the result's task_score_start / task_score."""
    if min_f1 is not None or min_iou is not None:
        want = "detect" if min_f1 is not None else "segment"
        if task != want or (min_f1 is not None and min_iou is not None):
            raise Error(f"tune: {'min_f1' if want == 'detect' else 'min_iou'}= goes with task='{want}'")
        options["min_task_score"] = float(min_f1 if min_f1 is not None else min_iou)
    if task is not None:
        options["task"] = task
    if progress is not None:
        set_progress_handler(progress)
        try:
            return tune(model, cache, samples, out, batch, labels, budget, min_agreement, min_sqnr,
                        min_int8_macs=min_int8_macs, **{**options, "quiet": False})
        finally:
            set_progress_handler(None)
    if budget is not None:
        if labels is None:
            raise Error("tune: budget= is a top-1 drop and needs labels= (one class per sample)")
        options["max_top1_drop"] = float(budget)
    if min_agreement is not None:
        options["min_agreement"] = float(min_agreement) / 100.0
    if min_sqnr is not None:
        options["min_sqnr_db"] = float(min_sqnr)
    if min_int8_macs is not None:
        pct = float(min_int8_macs)
        if not 0 <= pct <= 100:
            raise Error(f"tune: min_int8_macs is a percentage of the MACs (0 to 100), got {min_int8_macs!r}")
        options["min_int8_mac_share"] = pct / 100.0
    if labels is not None:
        options["labels"] = [int(v) for v in _np.asarray(labels).reshape(-1)]
    m = _model(model)
    if isinstance(samples, _np.ndarray):
        samples = [[_np.ascontiguousarray(samples[i:i + batch], dtype=_np.float32)]
                   for i in range(0, len(samples), batch)]
    r = _octet.tune(m, _os.fspath(cache), samples, **options)
    if out:
        r.save(_os.fspath(out))
    return r


def evaluate(engine, data, labels=None, batch=64, reference=None):
    """Runs `engine` over `data` (N x ... array for its first input): {"top1": accuracy with labels,
    "agreement": top-1 agreement and "sqnr_db" vs the `reference` engine's outputs}."""
    name = engine.inputs[0].name
    outs, refs = [], []
    for i in range(0, len(data), batch):
        x = data[i:i + batch]
        outs.append(next(iter(engine.run({name: x}).values())))
        if reference is not None:
            refs.append(next(iter(reference.run({name: x}).values())))
    scores = _np.concatenate(outs)
    r = {}
    if labels is not None:
        r["top1"] = top1_accuracy(scores, labels)
    if reference is not None:
        ref = _np.concatenate(refs)
        r["agreement"] = agreement(scores, ref)
        r["sqnr_db"] = sqnr_db(ref, scores)
    return r
