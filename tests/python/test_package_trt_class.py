"""Issue 13's done-when for the Python package: the TensorRT-10-style calibrator class (cv2 loading, resize,
normalize, sorted folder listing, batch_size, read/write_calibration_cache) on ../shared/data/imagenet-samples
gives the cache `octet calibrate` writes, byte for byte; what get_batch may return; ImageFolder's letterbox;
Ctrl-C during calibration and refinement; calibrate(cache=PATH) with stale and invalid caches as the CLI.

The model is built here with the onnx package: a small conv net taking N x 3 x 224 x 224 (seconds, not minutes).
Preprocessing, the same in the class and the CLI (src/io/image.h): cv2.imread (BGR) -> RGB -> cv2.resize to
224 x 224 with INTER_LINEAR on the uint8 image -> (pixel * float32(1/255) - mean) / std in float32, NCHW. The
normalisation is written as the CLI computes it (a multiplication by the scale): `img / 255.0` rounds half of the
256 pixel values differently in float32. Needs opencv-python-headless (scripts/setup.sh installs it).
"""
import os
import signal
import subprocess
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
onnx = pytest.importorskip("onnx")
trt = pytest.importorskip("octet")  # `import octet as trt`: the only change from TensorRT code

REPO = Path(__file__).resolve().parents[2]
OCTET = Path(os.environ.get("OCTET_BIN", REPO / "build" / "octet"))
SHARED = Path(os.environ.get("OCTET_SHARED", REPO.parent / "shared"))
IMAGES = SHARED / "data" / "imagenet-samples"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORM = ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]


NO_DECODE = "built without image decoding"  # the GPU bundle's octet (-DOCTET_IMAGE_DECODE=OFF)


def cli(*args, check=True):
    if not OCTET.exists():
        pytest.skip(f"octet binary not found at {OCTET} (set OCTET_BIN)")
    r = subprocess.run([str(OCTET), *map(str, args)], capture_output=True, text=True)
    assert not check or r.returncode == 0, f"octet {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    return r


def cli_cache(model, images, cache, *flags):
    """The cache of `octet calibrate MODEL --data IMAGES <NORM> FLAGS`. An octet built without image decoding
    (the GPU bundle) calibrates instead on an .npy of the same photos preprocessed by the class's cv2 pipeline:
    the same float32 bits (test_class_preprocessing_is_octets shows it wherever octet decodes images)."""
    r = cli("calibrate", model, "--data", images, "--cache", cache, "--quiet", *NORM, *flags, check=False)
    if r.returncode != 0 and NO_DECODE in r.stderr:
        npy = Path(str(cache) + ".input.npy")
        np.save(npy, cv2_samples(images))
        r = cli("calibrate", model, "--data", npy, "--cache", cache, "--quiet", *flags, check=False)
    assert r.returncode == 0, f"octet calibrate failed:\n{r.stdout}\n{r.stderr}"
    return Path(cache).read_bytes()


def cv2_samples(images):
    cal = MyEntropyCalibrator(str(images), "unused.cache")
    return np.stack([cal.load(f) for f in cal.files])


def make_model(path, seed=0, hw=(224, 224)):
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    init = [numpy_helper.from_array(rng.normal(0, 0.2, (8, 3, 7, 7)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b1"),
            numpy_helper.from_array(rng.normal(0, 0.2, (16, 8, 3, 3)).astype(np.float32), "w2"),
            numpy_helper.from_array(rng.normal(0, 0.1, (16,)).astype(np.float32), "b2"),
            numpy_helper.from_array(rng.normal(0, 0.3, (10, 16)).astype(np.float32), "fw"),
            numpy_helper.from_array(rng.normal(0, 0.1, (10,)).astype(np.float32), "fb")]
    nodes = [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], strides=[8, 8], pads=[3, 3, 3, 3]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "tiny224", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                 ["N", 3, *hw])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], init)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not IMAGES.is_dir():
        pytest.skip(f"{IMAGES} not found (set OCTET_SHARED)")
    return make_model(tmp_path_factory.mktemp("model") / "tiny224.onnx")


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory, model):
    """The first 12 photos (sorted), for the tests that need only some."""
    d = tmp_path_factory.mktemp("imgs")
    for f in sorted(os.listdir(IMAGES))[:12]:
        (d / f).write_bytes((IMAGES / f).read_bytes())
    return d


# ---------------------------------------------------------------- the TensorRT 10 class, line for line

class MyEntropyCalibrator(trt.IInt8EntropyCalibrator2):
    def __init__(self, data_dir, cache_file, batch_size=32, image_size=(224, 224)):
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.cache_file = cache_file
        self.batch_size = batch_size
        self.image_size = image_size
        self.files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir)
                            if f.lower().endswith((".jpg", ".jpeg", ".png")))
        self.index = 0
        h, w = image_size
        self.nbytes = trt.volume([batch_size, 3, h, w]) * trt.float32.itemsize
        # TensorRT: self.device_input = cuda.mem_alloc(self.nbytes) — octet without CUDA reads host memory
        self.device_input = np.empty(self.nbytes // trt.float32.itemsize, dtype=trt.nptype(trt.float32))
        self.mean = np.array(MEAN, np.float32).reshape(3, 1, 1)
        self.std = np.array(STD, np.float32).reshape(3, 1, 1)

    def get_batch_size(self):
        return self.batch_size

    def load(self, path):
        import cv2
        img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        img = cv2.resize(img, self.image_size[::-1], interpolation=cv2.INTER_LINEAR)
        x = img.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)
        return (x - self.mean) / self.std

    def get_batch(self, names):
        if self.index >= len(self.files):
            return None
        files = self.files[self.index:self.index + self.batch_size]
        batch = np.stack([self.load(f) for f in files]).ravel()
        self.device_input[:batch.size] = batch  # cuda.memcpy_htod(self.device_input, batch)
        self.index += len(files)
        return [self.device_input[:batch.size]]  # [int(self.device_input)]

    def read_calibration_cache(self):
        if os.path.exists(self.cache_file):
            with open(self.cache_file, "rb") as f:
                return f.read()
        return None

    def write_calibration_cache(self, cache):
        with open(self.cache_file, "wb") as f:
            f.write(cache)


def test_class_preprocessing_is_octets(model):
    """Image by image, the class's cv2 pipeline gives what octet's loader gives (the same float32 bits)."""
    pytest.importorskip("cv2")
    cal = MyEntropyCalibrator(str(IMAGES), "unused.cache")
    assert len(cal.files) == 105
    x, _ = trt.load_samples(str(model), str(IMAGES), mean=MEAN, std=STD)
    assert x.shape == (105, 3, 224, 224)
    for i, f in enumerate(cal.files):
        assert np.array_equal(cal.load(f), x[i]), f


@pytest.mark.parametrize("refine", [False, True])
def test_trt_class_on_imagenet_samples_matches_cli(model, tmp_path, refine):
    pytest.importorskip("cv2")
    flags = [] if refine else ["--no-refine", "--calibrate-inputs"]
    want = cli_cache(model, IMAGES, tmp_path / "cli.cache", *flags)
    cal = MyEntropyCalibrator(str(IMAGES), str(tmp_path / "trt.cache"))
    r = trt.calibrate(str(model), cal, cache=tmp_path / "py.cache", refine=refine, calibrate_inputs=not refine)
    assert (tmp_path / "trt.cache").read_bytes() == want  # through write_calibration_cache, as in TensorRT
    assert (tmp_path / "py.cache").read_bytes() == want   # cache=PATH, with its sidecar
    assert (tmp_path / "py.cache.json").exists()
    assert r.cache == want and r.images == 105 and r.refined == refine and not r.from_cache
    # TensorRT's second run: read_calibration_cache gives the cache, so no image is read
    cal2 = MyEntropyCalibrator(str(IMAGES), str(tmp_path / "trt.cache"))
    r2 = trt.calibrate(str(model), cal2, refine=refine, calibrate_inputs=not refine)
    assert r2.from_cache and cal2.index == 0 and r2.cache == want


def libcudart_with_a_device():
    """libcudart through ctypes when it finds a CUDA device (pycuda's calls, without pycuda), else None."""
    import ctypes
    import ctypes.util
    for name in (ctypes.util.find_library("cudart"), "libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        try:
            rt = ctypes.CDLL(name) if name else None
        except OSError:
            continue
        n = ctypes.c_int(0)
        if rt is not None and rt.cudaGetDeviceCount(ctypes.byref(n)) == 0 and n.value > 0:
            rt.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
            rt.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            rt.cudaFree.argtypes = [ctypes.c_void_p]
            return rt
    return None


def test_trt_class_with_a_device_pointer_matches_cli(model, tmp_path):
    """On a GPU machine: the class as TensorRT users write it — one device buffer (cuda.mem_alloc), the batch
    copied in (cuda.memcpy_htod), [int(self.device_input)] returned. An integer pointer carries no sample count,
    so octet reads a full batch (as TensorRT does): 105 images in batches of 35."""
    import ctypes
    pytest.importorskip("cv2")
    rt = libcudart_with_a_device()
    if rt is None:
        pytest.skip("no CUDA device (libcudart's cudaGetDeviceCount finds none)")
    if not trt.CUDA:
        pytest.skip("octet was built without CUDA (test_package_device.py checks the error)")

    class MyDeviceCalibrator(MyEntropyCalibrator):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            p = ctypes.c_void_p()
            assert rt.cudaMalloc(ctypes.byref(p), self.nbytes) == 0
            self.device_input = p.value

        def get_batch(self, names):
            if self.index >= len(self.files):
                return None
            files = self.files[self.index:self.index + self.batch_size]
            batch = np.ascontiguousarray(np.stack([self.load(f) for f in files]).ravel())
            assert rt.cudaMemcpy(self.device_input, batch.ctypes.data, batch.nbytes, 1) == 0  # memcpy_htod
            self.index += len(files)
            return [int(self.device_input)]

    want = cli_cache(model, IMAGES, tmp_path / "cli.cache", "--no-refine", "--calibrate-inputs")
    cal = MyDeviceCalibrator(str(IMAGES), str(tmp_path / "trt.cache"), batch_size=35)
    try:
        r = trt.calibrate(str(model), cal, refine=False, calibrate_inputs=True)
    finally:
        rt.cudaFree(cal.device_input)
    assert r.cache == want == (tmp_path / "trt.cache").read_bytes()


# ---------------------------------------------------------------- what get_batch may return

class ArrayCalibrator(trt.IInt8EntropyCalibrator2):
    """Batches of an N x 3 x 224 x 224 array, each passed through wrap(array) (None: as numpy)."""

    def __init__(self, data, wrap=None, batch_size=5):
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.data, self.wrap, self.batch_size, self.pos, self.written = data, wrap, batch_size, 0, []

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        if self.pos >= len(self.data):
            return None
        b = self.data[self.pos:self.pos + self.batch_size]
        self.pos += len(b)
        return [b if self.wrap is None else self.wrap(b)]

    def write_calibration_cache(self, cache):
        self.written.append(bytes(cache))


@pytest.fixture(scope="module")
def small_data(model, small_dir):
    try:
        x, _ = trt.load_samples(str(model), str(small_dir), mean=MEAN, std=STD)
    except trt.Error as e:  # the GPU bundle's package: the same floats from cv2 (cli_cache)
        if NO_DECODE not in str(e):
            raise
        pytest.importorskip("cv2")
        x = cv2_samples(small_dir)
    return x


class ArrayInterface:
    def __init__(self, a):
        self.__array_interface__, self._keep = a.__array_interface__, a


class DLPackOnly:  # numpy >= 1.22 arrays' own __dlpack__, nothing else
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_batch_kinds_give_the_cli_cache(model, small_dir, small_data, tmp_path):
    want = cli_cache(model, small_dir, tmp_path / "cli.cache", "--no-refine")
    assert np.ndarray.__dlpack__  # numpy >= 1.22
    for wrap in (None, ArrayInterface, DLPackOnly, lambda a: a.astype(np.float64), lambda a: a.reshape(-1)):
        cal = ArrayCalibrator(small_data, wrap)
        assert trt.calibrate(model, cal, refine=False).cache == want, wrap
        assert cal.written == [want]


def test_torch_tensors(model, small_dir, small_data, tmp_path):
    """PyTorch CPU tensors (DLPack), and CUDA tensors (__cuda_array_interface__, read through the CUDA runtime)
    where torch has a GPU: the CLI's cache. Device memory in general: test_package_device.py."""
    torch = pytest.importorskip("torch")
    want = cli_cache(model, small_dir, tmp_path / "cli.cache")
    assert trt.calibrate(model, ArrayCalibrator(small_data, torch.from_numpy)).cache == want
    if not torch.cuda.is_available():
        return
    on_gpu = ArrayCalibrator(small_data, lambda a: torch.from_numpy(a).cuda())  # a partial last batch too
    if trt.CUDA:
        assert trt.calibrate(model, on_gpu).cache == want
    else:
        with pytest.raises(trt.Error, match="without CUDA"):
            trt.calibrate(model, on_gpu)


# ---------------------------------------------------------------- ImageFolder(letterbox=...)

@pytest.mark.parametrize("opts,flags", [
    (dict(letterbox=224), ["--letterbox", "224"]),
    (dict(letterbox=True, pad_value=0, pad_placement="topleft"),
     ["--letterbox", "224", "--pad-value", "0", "--pad-placement", "topleft"]),
])
def test_image_folder_letterbox_matches_cli(model, small_dir, tmp_path, opts, flags):
    ds = trt.ImageFolder(small_dir, mean=MEAN, std=STD, **opts)
    x, _ = ds.load(model)
    plain, _ = trt.ImageFolder(small_dir, mean=MEAN, std=STD).load(model)
    assert x.shape == plain.shape and not np.array_equal(x, plain)  # the letterbox is not ignored
    # padding: rows or columns of pad_value (a pixel value, normalized like the image)
    pad = (opts.get("pad_value", 114) / 255 - np.array(MEAN)) / np.array(STD)
    for img in x:
        edge = img[:, -1, :] if np.allclose(img[:, -1, :], img[:, -1, :1]) else img[:, :, -1]
        assert np.allclose(edge, pad[:, None], atol=1e-5)
    cli("calibrate", model, "--data", small_dir, "--cache", tmp_path / "cli.cache", "--quiet", *NORM, *flags)
    r = trt.calibrate(model, ds, cache=tmp_path / "py.cache")
    assert r.cache == (tmp_path / "cli.cache").read_bytes() == (tmp_path / "py.cache").read_bytes()


def test_image_folder_limit_side_matches_cli(small_dir, tmp_path):
    dyn = make_model(tmp_path / "dyn.onnx", hw=("H", "W"))
    cli("calibrate", dyn, "--data", small_dir, "--cache", tmp_path / "cli.cache", "--quiet", "--limit-side", "96",
        "--multiple", "32", "--no-refine")
    r = trt.calibrate(dyn, trt.ImageFolder(small_dir, limit_side=96, multiple=32), refine=False)
    assert r.cache == (tmp_path / "cli.cache").read_bytes()


def test_image_folder_letterbox_errors(small_dir):
    for kw, msg in [(dict(pad_value=0), "apply to letterbox"), (dict(letterbox=224, size=224), "leave out size"),
                    (dict(letterbox=True, resize=256), "exclude"), (dict(letterbox=(0, 3)), "positive integers"),
                    (dict(letterbox="big"), "positive integers")]:
        with pytest.raises(trt.Error, match=msg):
            trt.ImageFolder(small_dir, **kw)


# ---------------------------------------------------------------- Ctrl-C

@pytest.fixture
def sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), also where the runner was started with SIGINT ignored
    (a background job of a non-interactive shell)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def interrupt_at(label):
    """A progress callback that sends this process SIGINT (as Ctrl-C does) at the first event of `label`."""
    seen = []

    def progress(lab, done, total, unit, finished):
        seen.append(lab)
        if lab.startswith(label) and not finished and seen.count(lab) == 1:
            signal.raise_signal(signal.SIGINT)
    return progress, seen


@pytest.mark.parametrize("label", ["calibrate 2/2", "refine"])
def test_ctrl_c_with_a_calibrator(model, small_data, tmp_path, label, sigint):
    cal = ArrayCalibrator(small_data)
    progress, seen = interrupt_at(label)
    with pytest.raises(KeyboardInterrupt):
        trt.calibrate(model, cal, cache=tmp_path / "c.cache", progress=progress)
    assert label in seen and seen[-1] == label  # stopped there, nothing after
    assert cal.written == [] and sorted(os.listdir(tmp_path)) == []  # no cache, no sidecar, no temporary file
    r = trt.calibrate(model, ArrayCalibrator(small_data), cache=tmp_path / "c.cache")  # and it works afterwards
    assert r.refined and (tmp_path / "c.cache").exists()


@pytest.mark.parametrize("label", ["calibrate 1/2", "refine"])
def test_ctrl_c_with_a_data_set(model, small_dir, tmp_path, label, sigint):
    progress, seen = interrupt_at(label)
    with pytest.raises(KeyboardInterrupt):
        trt.calibrate(model, str(small_dir), cache=tmp_path / "d.cache", progress=progress, mean=MEAN, std=STD)
    assert seen[-1] == label and sorted(os.listdir(tmp_path)) == []


def test_ctrl_c_in_get_batch_streaming(model, small_data, tmp_path):
    class Interrupted(ArrayCalibrator):
        def get_batch(self, names):
            if self.pos >= 5:
                raise KeyboardInterrupt
            return super().get_batch(names)

    for one_pass in (False, True):
        cal = Interrupted(small_data)
        with pytest.raises(KeyboardInterrupt):
            trt.calibrate(model, cal, cache=tmp_path / "k.cache", one_pass=one_pass)
        assert cal.written == [] and sorted(os.listdir(tmp_path)) == []


# ---------------------------------------------------------------- cache=PATH as `octet calibrate --cache`

def cli_again(model, data, cache, *flags):
    return cli("calibrate", model, "--data", data, "--cache", cache, *NORM, "--no-refine", *flags).stdout


@pytest.mark.parametrize("how", ["data set", "calibrator"])
def test_stale_and_invalid_caches_as_the_cli(model, small_dir, small_data, tmp_path, how):
    def py(cache, **kw):
        if how == "data set":
            return trt.calibrate(model, trt.ImageFolder(small_dir, mean=MEAN, std=STD), cache=cache, refine=False, **kw)
        return trt.calibrate(model, ArrayCalibrator(small_data), cache=cache, refine=False, **kw)

    cli_dir, py_dir = tmp_path / "cli", tmp_path / "py"
    cli_dir.mkdir()
    py_dir.mkdir()
    good = cli_dir / "good.cache"
    cli_again(model, small_dir, good)
    want = good.read_bytes()

    # 1. an entropy2 cache of this model: reused, nothing read, no warning
    import warnings
    (py_dir / "a.cache").write_bytes(want)
    (py_dir / "a.cache.json").write_bytes((cli_dir / "good.cache.json").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = py(py_dir / "a.cache")
    assert r.from_cache and r.cache == want and not (py_dir / "a.cache.old").exists()

    # 2. stale: a MinMax cache (another algorithm); 3. invalid: not a cache; 4. a sidecar for another model
    cases = {"minmax": ("Entropy|MinMax|header", ["--algo", "minmax"]), "garbage": ("does not start with .TRT-", None),
             "other-model": ("another model", "other")}
    for name, (why, make) in cases.items():
        for d in (cli_dir, py_dir):
            c = d / f"{name}.cache"
            if make is None:
                c.write_bytes(b"this is not a calibration cache\n")
            elif make == "other":
                other = make_model(d / "other.onnx", seed=1)
                cli_again(other, small_dir, c)
            else:
                cli_again(model, small_dir, c, *make)
        before = (py_dir / f"{name}.cache").read_bytes()
        out = cli_again(model, small_dir, cli_dir / f"{name}.cache")
        assert "existing cache ignored" in out and ".old" in out, out
        with pytest.warns(trt.CacheWarning, match=f"(?s)existing cache ignored.*({why}).*kept as .*{name}.cache.old"):
            r = py(py_dir / f"{name}.cache")
        assert not r.from_cache and r.cache == want
        for suffix in (".cache", ".cache.old"):
            assert (py_dir / f"{name}{suffix}").read_bytes() == (cli_dir / f"{name}{suffix}").read_bytes(), suffix
        assert (py_dir / f"{name}.cache.old").read_bytes() == before
        assert (py_dir / f"{name}.cache.json").exists()
        with warnings.catch_warnings():  # the new cache and its sidecar: reused the next time
            warnings.simplefilter("error")
            assert py(py_dir / f"{name}.cache").from_cache

    # only a regular file may be at PATH (as the CLI: no write through a link, no directory replaced)
    (py_dir / "dir.cache").mkdir()
    with pytest.raises(trt.Error, match="dir.cache"):
        py(py_dir / "dir.cache")


def test_quiet_work_reports_nothing_to_the_handler(model, small_data):
    """The Ctrl-C check rides on progress events; a handler installed with set_progress_handler still hears
    nothing from work asked to be quiet (calibrate's default), and everything with quiet=False."""
    events = []
    trt.set_progress_handler(lambda *e: events.append(e))
    try:
        trt.calibrate(model, ArrayCalibrator(small_data), refine=False)
        assert events == []
        trt.calibrate(model, ArrayCalibrator(small_data), refine=False, quiet=False)
        assert [e[0] for e in events if e[4]] == ["calibrate 1/2", "calibrate 2/2"]
    finally:
        trt.set_progress_handler(None)
