"""The Python package (pip install .): TensorRT-style calibrators with `import octet as trt`, calibration
byte-identical to `octet calibrate`, the engine vs `octet run`, errors from Python.

Skips when the module `octet` is not importable (pip install . first) or the octet binary is missing
($OCTET_BIN, default build/octet). Data: Fashion-MNIST (Debian's dataset-fashion-mnist) written here as PNGs
and .npy; random samples without it.
"""
import gzip
import os
import signal
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
trt = pytest.importorskip("octet")  # the package: `import octet as trt` is the only change from TensorRT code

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "fmnist_cnn.onnx"
OCTET = Path(os.environ.get("OCTET_BIN", REPO / "build" / "octet"))
FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
N = 200  # samples: 6 batches of 32 and a partial one of 8


def cli(*args):
    if not OCTET.exists():
        pytest.skip(f"octet binary not found at {OCTET} (set OCTET_BIN)")
    r = subprocess.run([str(OCTET), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"octet {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    return r


# ---------------------------------------------------------------- data: PNGs without cv2 / PIL

def write_png(path, img):
    """8-bit grayscale PNG, filter 0 on every row."""
    h, w = img.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def read_png(path):
    """Reads what write_png writes (grayscale, 8 bits, filter 0): stands in for cv2.imread(path, 0)."""
    b = Path(path).read_bytes()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(b):
        n, kind = struct.unpack(">I4s", b[pos:pos + 8])
        data = b[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
    assert not rows[:, 0].any(), "only filter 0"
    return rows[:, 1:].copy()


@pytest.fixture(scope="module")
def images():
    if FMNIST.exists():
        with gzip.open(FMNIST) as f:
            return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:N].copy()
    return np.random.default_rng(0).integers(0, 256, (N, 28, 28), dtype=np.uint8)


@pytest.fixture(scope="module")
def png_dir(images, tmp_path_factory):
    d = tmp_path_factory.mktemp("pngs")
    for i, img in enumerate(images):
        write_png(d / f"{i:04d}.png", img)
    return d


def preprocess(img):
    # the CLI's default for a 1x28x28 input: pixel * (1/255), mean 0, std 1, in float32
    return (img.astype(np.float32) * (np.float32(1) / np.float32(255)))[None]


@pytest.fixture(scope="module")
def samples_npy(images, tmp_path_factory):
    p = tmp_path_factory.mktemp("npy") / "samples.npy"
    np.save(p, np.stack([preprocess(i) for i in images]))
    return p


# ---------------------------------------------------------------- the TensorRT-style class, line for line

class MyEntropyCalibrator(trt.IInt8EntropyCalibrator2):
    def __init__(self, data_dir, cache_file, batch_size=32, image_size=(28, 28)):
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.cache_file = cache_file
        self.batch_size = batch_size
        self.image_size = image_size
        self.files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.endswith(".png"))
        self.index = 0
        h, w = image_size
        self.nbytes = trt.volume([batch_size, 1, h, w]) * trt.float32.itemsize
        # With CUDA: self.device_input = cuda.mem_alloc(self.nbytes); here a host buffer of the same size.
        self.host_input = np.empty(self.nbytes // trt.float32.itemsize, dtype=trt.nptype(trt.float32))

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        if self.index >= len(self.files):
            return None
        files = self.files[self.index:self.index + self.batch_size]
        batch = np.stack([preprocess(read_png(f)) for f in files]).ravel()
        self.host_input[:batch.size] = batch  # cuda.memcpy_htod(self.device_input, batch)
        self.index += len(files)
        return [self.host_input[:batch.size]]  # [int(self.device_input)]

    def read_calibration_cache(self):
        if os.path.exists(self.cache_file):
            with open(self.cache_file, "rb") as f:
                return f.read()
        return None

    def write_calibration_cache(self, cache):
        with open(self.cache_file, "wb") as f:
            f.write(cache)


class NpyCalibrator(trt.IInt8EntropyCalibrator2):
    def __init__(self, data, batch_size=32):
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.data, self.batch_size, self.pos, self.written, self.calls = data, batch_size, 0, [], 0

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        self.calls += 1
        if self.pos >= len(self.data):
            return None
        b = self.data[self.pos:self.pos + self.batch_size]
        self.pos += len(b)
        return [b]

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache):
        self.written.append(bytes(cache))


# ---------------------------------------------------------------- byte identity with the CLI

@pytest.mark.parametrize("refine", [False, True])
def test_trt_class_on_png_folder_matches_cli(png_dir, tmp_path, refine):
    flags = [] if refine else ["--no-refine", "--calibrate-inputs"]
    cli("calibrate", MODEL, "--data", png_dir, "--cache", tmp_path / "cli.cache", "--quiet", *flags)
    cal = MyEntropyCalibrator(str(png_dir), str(tmp_path / "trt.cache"))
    r = trt.calibrate(str(MODEL), cal, cache=tmp_path / "py.cache", refine=refine, calibrate_inputs=not refine)
    want = (tmp_path / "cli.cache").read_bytes()
    assert (tmp_path / "trt.cache").read_bytes() == want  # through write_calibration_cache, as in TensorRT
    assert (tmp_path / "py.cache").read_bytes() == want   # cache=PATH
    assert (tmp_path / "py.cache.json").exists()
    assert r.cache == want and not r.from_cache and r.two_pass and r.images == N and r.refined == refine
    # a second run: read_calibration_cache gives a valid cache, so no batch is read
    cal2 = MyEntropyCalibrator(str(png_dir), str(tmp_path / "trt.cache"))
    r2 = trt.calibrate(str(MODEL), cal2, refine=refine, calibrate_inputs=not refine)
    assert r2.from_cache and cal2.index == 0 and r2.cache == want


@pytest.mark.parametrize("refine", [False, True])
def test_numpy_calibrator_and_dataset_match_cli(samples_npy, tmp_path, refine):
    flags = [] if refine else ["--no-refine"]
    cli("calibrate", MODEL, "--data", samples_npy, "--cache", tmp_path / "cli.cache", "--quiet", *flags)
    want = (tmp_path / "cli.cache").read_bytes()
    cal = NpyCalibrator(np.load(samples_npy), batch_size=48)  # batch size does not change the result
    r = trt.calibrate(trt.Model(MODEL), cal, cache=str(tmp_path / "py.cache"), refine=refine)
    assert cal.written == [want] and (tmp_path / "py.cache").read_bytes() == want and r.cache == want
    r = trt.calibrate(MODEL, str(samples_npy), cache=tmp_path / "ds.cache", refine=refine)  # octet's own data set
    assert (tmp_path / "ds.cache").read_bytes() == want and (tmp_path / "ds.cache.json").exists()


def test_dataset_skip_and_limit_split_a_set(png_dir, tmp_path):
    # The same shuffle, limit=k and skip=k: two disjoint parts that together are the whole set, as the CLI's
    # --limit / --skip; a skip past the end is a clear error naming the folder.
    whole, _ = trt.load_samples(MODEL, trt.ImageFolder(png_dir, shuffle=True, seed=3))
    k = len(whole) // 3
    a, _ = trt.load_samples(MODEL, trt.ImageFolder(png_dir, shuffle=True, seed=3, limit=k))
    b, _ = trt.load_samples(MODEL, trt.ImageFolder(png_dir, shuffle=True, seed=3, skip=k))
    assert len(a) == k and len(b) == len(whole) - k
    assert np.array_equal(np.concatenate([a, b]), whole)
    cli("run", MODEL, "--data", png_dir, "--shuffle", "--seed", "3", "--skip", str(k), "--save-input",
        tmp_path / "b_in.npy", "--output", tmp_path / "b.npy")
    assert np.array_equal(np.load(tmp_path / "b_in.npy"), b)
    with pytest.raises(trt.Error, match="leaves none"):
        trt.load_samples(MODEL, trt.ImageFolder(png_dir, skip=len(whole)))
    with pytest.raises(trt.Error, match="limit and skip must be 0 or positive"):
        trt.ImageFolder(png_dir, skip=-1)


def test_letterboxed_dataset_leaves_the_padding_out(tmp_path):
    # Dark images (0..40) of two aspects, letterboxed into 28 x 28 with pad value 255: an octet data set knows each
    # sample's box, so by default the input's amax (MinMax) is the images' (40/255), not the padding's (1.0).
    rng = np.random.default_rng(5)
    d = tmp_path / "boxed"
    d.mkdir()
    for i in range(6):
        write_png(d / f"{i}.png", rng.integers(0, 41, (14, 28) if i % 2 else (28, 20), dtype=np.uint8))
    ds = trt.ImageFolder(d, letterbox=True, pad_value=255)
    ex = trt.calibrate(MODEL, ds, refine=False, cache=tmp_path / "ex.cache")
    inc = trt.calibrate(MODEL, ds, refine=False, calib_padding="include")
    amax = lambda cache: 127 * struct.unpack(">f", bytes.fromhex(dict(
        l.split(": ") for l in cache.decode().splitlines()[1:])["input"]))[0]
    assert amax(ex.cache) == pytest.approx(40 / 255, rel=1e-5)
    assert amax(inc.cache) == pytest.approx(1.0, rel=1e-5)
    import json
    assert json.loads((tmp_path / "ex.cache.json").read_text())["calib_padding"]["mode"] == "exclude"
    # A calibrator's raw arrays carry no box: the same samples give the include result, as before.
    x, _ = trt.load_samples(MODEL, ds)
    assert NpyCalibrator(x).data.shape == (6, 1, 28, 28)
    assert trt.calibrate(MODEL, NpyCalibrator(x), refine=False).cache == inc.cache
    # The exclude cache is not reused for include (its sidecar says how it was made), as octet calibrate does.
    with pytest.warns(trt.CacheWarning, match="calibrated with --calib-padding exclude, not include"):
        again = trt.calibrate(MODEL, ds, refine=False, cache=tmp_path / "ex.cache", calib_padding="include")
    assert not again.from_cache and again.cache == inc.cache
    assert trt.calibrate(MODEL, ds, refine=False, cache=tmp_path / "ex.cache", calib_padding="include").from_cache


def test_algorithms_and_one_pass(samples_npy):
    data = np.load(samples_npy)

    class MinMax(trt.IInt8MinMaxCalibrator, NpyCalibrator):
        pass

    class Legacy(trt.IInt8LegacyCalibrator, NpyCalibrator):
        def get_quantile(self):
            return 0.999

    r = trt.calibrate(MODEL, MinMax(data), refine=False)
    assert r.header.endswith("-MinMaxCalibration")
    r = trt.calibrate(MODEL, Legacy(data), refine=False)
    assert r.header.endswith("-LegacyCalibration")
    r = trt.calibrate(MODEL, NpyCalibrator(data), refine=False, one_pass=True)
    assert not r.two_pass and r.images == N
    assert trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2 == 2 and trt.float32.itemsize == 4
    from octet import trt as trt2
    assert trt2.IInt8EntropyCalibrator2 is trt.IInt8EntropyCalibrator2


# ---------------------------------------------------------------- errors

def test_errors(samples_npy, tmp_path):
    with pytest.raises(trt.Error, match="nonexistent.onnx"):
        trt.Model(tmp_path / "nonexistent.onnx")
    data = np.load(samples_npy)

    class Raising(NpyCalibrator):
        def get_batch(self, names):
            if self.pos >= 64:
                raise ValueError("no more images here")
            return super().get_batch(names)

    for one_pass in (False, True):
        with pytest.raises(ValueError, match="no more images here") as e:
            trt.calibrate(MODEL, Raising(data), cache=tmp_path / "x.cache", one_pass=one_pass)
        assert "get_batch" in "".join(str(t.name) for t in e.traceback)  # the traceback reaches into get_batch
        assert os.listdir(tmp_path) == []  # no cache, no sidecar, no temporary file

    class RaisingWrite(NpyCalibrator):
        def write_calibration_cache(self, cache):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full") as e:
        trt.calibrate(MODEL, RaisingWrite(data), cache=tmp_path / "w.cache", refine=False)
    assert "write_calibration_cache" in "".join(str(t.name) for t in e.traceback)
    assert os.listdir(tmp_path) == []

    class DevicePointer(NpyCalibrator):
        def get_batch(self, names):
            return [0x7F0012345600]

    with pytest.raises(trt.Error, match=r"batch 1.*device pointer 0x7f0012345600: (octet was built without CUDA|"
                                        r"cannot read device memory|it is not CUDA memory)"):
        trt.calibrate(MODEL, DevicePointer(data))

    class WrongSize(NpyCalibrator):
        def get_batch(self, names):
            return [np.zeros((2, 3), np.float32)]

    with pytest.raises(trt.Error, match="per sample"):
        trt.calibrate(MODEL, WrongSize(data))
    with pytest.raises(trt.Error, match="precision"):
        trt.Engine(MODEL, precision="int4")


# ---------------------------------------------------------------- engine vs `octet run`

def test_engine_matches_octet_run(samples_npy, tmp_path):
    x = np.load(samples_npy)[:16]
    np.save(tmp_path / "x.npy", x)
    cli("calibrate", MODEL, "--data", samples_npy, "--cache", tmp_path / "m.cache", "--quiet")
    for precision in ("fp32", "int8"):
        extra = ["--cache", tmp_path / "m.cache"] if precision == "int8" else []
        cli("run", MODEL, "--input", tmp_path / "x.npy", "--output", tmp_path / f"{precision}.npy", "--precision",
            precision, *extra)
        want = np.load(tmp_path / f"{precision}.npy")
        e = trt.Engine(MODEL, precision=precision, cache=tmp_path / "m.cache" if precision == "int8" else None)
        assert e.precision == precision
        outs = e.run({e.input_names[0]: x})
        assert list(outs) == e.output_names
        got = outs[e.output_names[0]]
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()  # bit for bit
    q = trt.quantize(MODEL, tmp_path / "m.cache", tmp_path / "m.qdq.onnx")
    assert q.activation_pairs > 0 and (tmp_path / "m.qdq.onnx").stat().st_size > 0
    header, scales = trt.read_cache(tmp_path / "m.cache")
    assert header.startswith("TRT-") and all(s > 0 for s in scales.values())


def test_engine_releases_the_gil():
    e = trt.Engine(MODEL)
    x = np.random.default_rng(1).random((256, 1, 28, 28), dtype=np.float32)
    e.run({e.input_names[0]: x})
    ticks, done = [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0.0005)

    t = threading.Thread(target=count)
    t.start()
    t0 = time.perf_counter()
    runs = 0
    while time.perf_counter() - t0 < 0.5:
        e.run({e.input_names[0]: x})
        runs += 1
    done.set()
    t.join()
    assert ticks[0] > 20, f"the other thread ran {ticks[0]} times during {runs} runs"


def test_batch_kinds_give_the_same_cache(samples_npy):
    """get_batch may return numpy arrays, a dict by name, objects with __array_interface__ or CPU DLPack."""
    data = np.load(samples_npy)

    class ArrayInterface:
        def __init__(self, a):
            self.__array_interface__ = a.__array_interface__
            self._keep = a

    class DLPackOnly:
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, **kw):
            return self._a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    def calibrator(wrap):
        class C(NpyCalibrator):
            def get_batch(self, names):
                b = super().get_batch(names)
                return None if b is None else wrap(names, b[0])
        return C(data, batch_size=40)

    want = trt.calibrate(MODEL, NpyCalibrator(data), refine=False).cache
    for wrap in (lambda n, a: [a], lambda n, a: {n[0]: a}, lambda n, a: [ArrayInterface(a)],
                 lambda n, a: [DLPackOnly(a)], lambda n, a: [a.astype(np.float64)]):
        assert trt.calibrate(MODEL, calibrator(wrap), refine=False).cache == want


def test_progress_callback(samples_npy):
    events = []
    trt.calibrate(MODEL, str(samples_npy), refine=False, progress=lambda *e: events.append(e))
    assert events and any(e[0].startswith("calibrate") for e in events) and events[-1][4]
    assert max(e[1] for e in events) == N


def test_progress_bars_tqdm_style(samples_npy, tmp_path):
    """octet.ProgressBars drives one tqdm(-like) bar per stage: created with desc/total/unit, advanced with
    update(), its count ending at the stage's total, closed when the stage ends."""
    made = []

    class Bar:  # the part of tqdm's interface ProgressBars uses
        def __init__(self, desc, total, unit):
            self.desc, self.total, self.unit, self.n, self.seen, self.closed = desc, total, unit, 0, [], False
            made.append(self)

        def update(self, k):
            assert not self.closed
            self.n += k
            self.seen.append(self.n)

        def close(self):
            self.closed = True

    trt.calibrate(MODEL, str(samples_npy), refine=32, progress=trt.ProgressBars(Bar))
    assert [b.desc for b in made] == ["calibrate 1/2", "calibrate 2/2", "refine"]
    for b in made:
        assert b.closed and b.seen == sorted(b.seen) and b.seen, b.desc
    assert [(b.n, b.total, b.unit) for b in made[:2]] == [(N, N, "img")] * 2
    assert 0 < made[2].n <= made[2].total  # trials: the total is a plan (the search may stop early)
    made.clear()
    cli("calibrate", MODEL, "--data", samples_npy, "--cache", tmp_path / "c.cache", "--no-refine", "--quiet")
    trt.tune(MODEL, tmp_path / "c.cache", np.load(samples_npy)[:32], max_fp32_layers=1,
             progress=trt.ProgressBars(Bar))
    assert [b.desc for b in made] == ["tune"] and made[0].closed and 0 < made[0].n <= made[0].total
    try:
        import tqdm  # noqa: F401
        trt.calibrate(MODEL, str(samples_npy), refine=False, progress=trt.ProgressBars())  # the real thing draws
    except ImportError:
        with pytest.raises(trt.Error, match="tqdm"):
            trt.ProgressBars()


def test_streaming_1000_batches_keeps_rss_flat():
    """one_pass=True streams get_batch's arrays (nothing kept): 1,000 batches leave RSS flat."""
    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    class Stream(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.i, self.rss, self.rng = 0, {}, np.random.default_rng(0)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            self.i += 1
            if self.i in (200, 1000):
                self.rss[self.i] = rss_mb()
            if self.i > 1000:
                return None
            return [self.rng.random((1, 1, 28, 28), dtype=np.float32)]

    s = Stream()
    r = trt.calibrate(MODEL, s, refine=False, one_pass=True)
    assert r.images == 1000 and not r.two_pass
    assert s.rss[1000] - s.rss[200] < 4, s.rss


def test_keyboard_interrupt_in_get_batch(samples_npy, tmp_path):
    class Interrupted(NpyCalibrator):
        def get_batch(self, names):
            if self.pos >= 64:
                raise KeyboardInterrupt
            return super().get_batch(names)

    with pytest.raises(KeyboardInterrupt):
        trt.calibrate(MODEL, Interrupted(np.load(samples_npy)), cache=tmp_path / "k.cache")
    assert not (tmp_path / "k.cache").exists()


def test_tune_to_a_budget(samples_npy, tmp_path):
    # octet.tune(budget=/min_agreement=/min_sqnr=) as `octet tune --budget/--min-agreement/--min-sqnr`: with
    # TensorRT's thresholds (no refinement, no MSE bound) asked for more SQNR than they give, it keeps layers in
    # FP32 until the target holds, and reports what that costs in MACs and which ONNX nodes run FP32.
    data = np.load(samples_npy)[:64]
    cli("calibrate", MODEL, "--data", samples_npy, "--cache", tmp_path / "c.cache", "--no-refine",
        "--kl-error-limit", "0", "--quiet")
    plain = trt.tune(MODEL, tmp_path / "c.cache", data, max_fp32_layers=0, scale_search=False)
    target = plain.sqnr_final_db + 3
    r = trt.tune(MODEL, tmp_path / "c.cache", data, scale_search=False, min_sqnr=target,
                 out=tmp_path / "t.cache")
    assert r.budget_met and r.sqnr_final_db >= target, (r.sqnr_final_db, target)
    assert r.fp32_layers and r.fp32_nodes and set(r.fp32_layers) <= set(r.fp32_nodes)
    assert 0 < r.macs_int8 < r.macs_total
    assert (tmp_path / "t.cache").read_bytes() == r.cache
    # min_int8_macs= as --min-int8-macs: at 100 % nothing may go to FP32, so the target is not met
    floor = trt.tune(MODEL, tmp_path / "c.cache", data, scale_search=False, min_sqnr=target, min_int8_macs=100,
                     rank_samples=16)
    assert not floor.budget_met and not floor.fp32_layers and floor.macs_int8 == floor.macs_total
    for bad in (120, float("nan")):
        with pytest.raises(trt.Error, match="min_int8_macs"):
            trt.tune(MODEL, tmp_path / "c.cache", data, min_sqnr=target, min_int8_macs=bad)
    labels = np.zeros(len(data), np.int32)
    r = trt.tune(MODEL, tmp_path / "c.cache", data, scale_search=False, budget=100.0, labels=labels)
    assert r.budget_met and not r.fp32_layers and r.macs_int8 == r.macs_total
    with pytest.raises(trt.Error, match="labels"):
        trt.tune(MODEL, tmp_path / "c.cache", data, budget=0.1)


# ---------------------------------------------------------------- Ctrl-C in tune and in the engine

@pytest.fixture
def sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), also where the runner was started with SIGINT ignored."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_ctrl_c_in_tune(samples_npy, tmp_path, sigint):
    """SIGINT (as Ctrl-C sends it) during the trials: KeyboardInterrupt at the next trial, no tuned cache."""
    data = np.load(samples_npy)[:64]
    cli("calibrate", MODEL, "--data", samples_npy, "--cache", tmp_path / "c.cache", "--no-refine", "--quiet")
    before = sorted(os.listdir(tmp_path))
    events = []

    def progress(label, done, total, unit, finished):
        events.append((label, done, finished))
        if label == "tune" and done == 2 and not finished:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        trt.tune(MODEL, tmp_path / "c.cache", data, out=tmp_path / "t.cache", progress=progress)
    trials = [d for lab, d, fin in events if lab == "tune" and not fin]
    assert trials[-1] == 2 and max(trials) == 2, events  # stopped at the trial it was sent in
    assert sorted(os.listdir(tmp_path)) == before  # no t.cache, no sidecar, no temporary file
    events.clear()
    r = trt.tune(MODEL, tmp_path / "c.cache", data, out=tmp_path / "t.cache")
    assert r.trials > 2 and (tmp_path / "t.cache").read_bytes() == r.cache  # and it works afterwards


def test_ctrl_c_during_engine_runs(sigint):
    """A SIGINT that arrives while Engine.run works (the GIL released) is not lost: KeyboardInterrupt is raised
    when the run returns, so a loop over batches (octet.evaluate, user code) stops there."""
    e = trt.Engine(MODEL)
    x = np.random.default_rng(2).random((64, 1, 28, 28), dtype=np.float32)
    for work in (lambda: e.run({"input": x}), lambda: trt.evaluate(e, x, batch=16)):
        t = threading.Timer(0.05, signal.raise_signal, args=(signal.SIGINT,))
        t0 = time.perf_counter()
        t.start()
        with pytest.raises(KeyboardInterrupt):
            while time.perf_counter() - t0 < 60:
                work()
        t.join()
        assert time.perf_counter() - t0 < 60
