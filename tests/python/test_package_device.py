"""Device memory from get_batch (issue 13): integer pointers (pycuda, cudaMalloc), __cuda_array_interface__ and
CUDA DLPack tensors (CuPy, PyTorch) are read through the CUDA runtime of a CUDA build of octet.

- Everywhere: what each kind of return is routed to (host arrays never reach the device reader; device memory
  always does, read as its dtype and shape, an integer pointer as a full batch of float32), with the reader
  replaced by a fake one over host bytes: the cache equals the numpy one.
- Without a CUDA build, or without a driver or device: octet.Error naming the batch, the input, what get_batch
  returned and why (built without CUDA / no NVIDIA driver), and no cache.
- With a device (skips cleanly without one): real device memory from libcudart through ctypes (cudaMalloc +
  cudaMemcpy, as pycuda's mem_alloc + memcpy_htod), as an integer, a __cuda_array_interface__ object and a DLPack
  capsule, and CuPy / PyTorch CUDA tensors where those are installed: the numpy cache, byte for byte.
"""
import ctypes
import ctypes.util
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
trt = pytest.importorskip("octet")
from octet import _convert  # noqa: E402

MODEL = Path(__file__).resolve().parents[2] / "models" / "fmnist_cnn.onnx"  # N x 1 x 28 x 28
BATCH = 16


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(3).random((4 * BATCH, 1, 28, 28), dtype=np.float32)


@pytest.fixture(scope="module")
def want(data):
    return trt.calibrate(MODEL, Batches(data, lambda a: a), refine=False).cache


class Batches(trt.IInt8EntropyCalibrator2):
    """The data in batches of BATCH, each returned as wrap(batch array)."""

    def __init__(self, data, wrap):
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.data, self.wrap, self.pos, self.written = data, wrap, 0, []

    def get_batch_size(self):
        return BATCH

    def get_batch(self, names):
        if self.pos >= len(self.data):
            return None
        b = np.ascontiguousarray(self.data[self.pos:self.pos + BATCH])
        self.pos += len(b)
        return [self.wrap(b)]

    def write_calibration_cache(self, cache):
        self.written.append(cache)


# ---------------------------------------------------------------- device memory as Python sees it

class CudaArray:
    """__cuda_array_interface__ (v3) over a device address (what CuPy, Numba and PyTorch CUDA tensors expose)."""

    def __init__(self, ptr, shape, typestr="<f4", strides=None, keep=None):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": typestr, "data": (ptr, False),
                                         "strides": strides, "version": 3}
        self._keep = keep


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class CudaDLPack:
    """A float32 DLPack tensor on CUDA device 0 at a device address (a real DLPack capsule, as CuPy's)."""

    def __init__(self, ptr, shape, keep=None):
        self._shape = (ctypes.c_int64 * len(shape))(*shape)
        self._m = DLManagedTensor()
        t = self._m.dl_tensor
        t.data, t.device, t.ndim, t.dtype = ptr, DLDevice(2, 0), len(shape), DLDataType(2, 32, 1)
        t.shape = ctypes.cast(self._shape, ctypes.POINTER(ctypes.c_int64))
        self._keep = keep

    def __dlpack__(self, stream=None, **kw):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self._m), b"dltensor", None)

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0


# ---------------------------------------------------------------- the routing, with a fake device

def test_device_returns_are_read_through_the_device_reader(data, want, monkeypatch):
    """A fake device (addresses -> host bytes) stands in for the CUDA runtime: every device kind is read
    through it, as its dtype and shape (an integer as a full float32 batch), and gives the numpy cache; host
    kinds never touch it."""
    memory, reads = {}, []

    def copy_from_device(ptr, nbytes):
        reads.append(("ptr", ptr, nbytes))
        return np.frombuffer(memory[ptr], np.uint8)[:nbytes].copy()

    def dlpack_to_host(obj):
        t = obj._m.dl_tensor
        shape = tuple(t.shape[i] for i in range(t.ndim))
        reads.append(("dlpack", t.data, shape))
        return np.frombuffer(memory[t.data], np.float32)[:int(np.prod(shape))].reshape(shape).copy()

    monkeypatch.setattr(_convert._octet, "copy_from_device", copy_from_device)
    monkeypatch.setattr(_convert._octet, "dlpack_to_host", dlpack_to_host)

    def on_device(a, dtype=np.float32):
        ptr = 0x7F0000000000 + 0x100000 * (len(memory) + 1)
        memory[ptr] = np.ascontiguousarray(a, dtype=dtype).tobytes()
        return ptr

    kinds = {
        "int": lambda a: on_device(a),
        "np.uint64": lambda a: np.uint64(on_device(a)),
        "cai": lambda a: CudaArray(on_device(a), a.shape),
        "cai float64": lambda a: CudaArray(on_device(a, np.float64), a.shape, "<f8"),
        "cai flat": lambda a: CudaArray(on_device(a), (a.size,)),
        "dlpack": lambda a: CudaDLPack(on_device(a), a.shape),
        # a strided view: the values in H/W-swapped memory (as a transposed or channels-last tensor)
        "cai strided": lambda a: CudaArray(on_device(a.transpose(0, 1, 3, 2)), a.shape,
                                           strides=(a[0].nbytes, a[0, 0].nbytes, 4, a.shape[2] * 4)),
    }
    batch = data[:BATCH]
    for kind, wrap in kinds.items():  # each kind, one batch: the batch's values, one read
        reads.clear()
        got = _convert.batch_arrays([wrap(batch)], ["input"], BATCH, [28 * 28], 1)
        assert len(got) == 1 and got[0].dtype == np.float32 and np.array_equal(got[0], batch.ravel()), kind
        assert len(reads) == 1, kind
        if kind in ("int", "np.uint64"):
            assert reads[0][2] == BATCH * 28 * 28 * 4  # TensorRT's contract: a full batch of float32
    for kind in ("int", "cai", "dlpack"):  # whole calibrations: the numpy cache
        reads.clear()
        cal = Batches(data, kinds[kind])
        assert trt.calibrate(MODEL, cal, refine=False).cache == want, kind
        assert len(reads) == len(data) // BATCH and cal.written == [want], kind

    class ArrayInterface:
        def __init__(self, a):
            self.__array_interface__, self._keep = a.__array_interface__, a

    reads.clear()
    for wrap in (lambda a: a, ArrayInterface, DLPackOnly, lambda a: a.tolist()):
        got = _convert.batch_arrays([wrap(batch)], ["input"], BATCH, [28 * 28], 1)
        assert np.array_equal(got[0], batch.ravel())
    assert reads == []  # host memory never reaches the device reader


def test_malformed_device_returns_are_errors(data):
    class NoData:
        __cuda_array_interface__ = {"shape": (BATCH, 784), "typestr": "<f4", "version": 3}

    cases = [(CudaArray(0x7F0000001000, (BATCH, 1, 28, 28), strides=(-3136, 3136, 112, 4)),
              r"strides \(-3136, 3136, 112, 4\) \(for shape \(16, 1, 28, 28\)\) are not supported"),
             (CudaArray(0x7F0000001000, (BATCH, 1, 28, 28), strides=(1 << 20, 3136, 112, 4)),
              r"a strided view spanning \d+ bytes for 50176 bytes of values; make it contiguous first"),
             (CudaArray(0x7F0000001000, (BATCH, 784), typestr="|V3"), r"typestr '\|V3' is not a number type"),
             (NoData(), r"__cuda_array_interface__ is malformed"),
             (-5, r"the integer -5, which is no device pointer"), (True, r"get_batch returned True")]
    for obj, msg in cases:
        cal = Batches(data, lambda a, o=obj: o)
        with pytest.raises(trt.Error, match=r"^get_batch \(batch 1\), input 'input[^']*': .*" + msg):
            trt.calibrate(MODEL, cal, refine=False)
        assert cal.written == []


# ---------------------------------------------------------------- no CUDA build, or no driver / device

def cuda_runtime():
    """libcudart through ctypes, or None."""
    for name in (ctypes.util.find_library("cudart"), "libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                pass
    return None


def device_count():
    rt = cuda_runtime()
    if rt is None:
        return 0
    n = ctypes.c_int(0)
    return n.value if rt.cudaGetDeviceCount(ctypes.byref(n)) == 0 else 0


def driver_present():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def test_device_memory_without_cuda_is_a_clear_error(data, tmp_path):
    if trt.CUDA and device_count() > 0:
        pytest.skip("a CUDA build with a device: test_device_memory_on_the_gpu reads it")
    if not trt.CUDA:
        why = r"octet was built without CUDA, so it cannot read device memory.*return host arrays"
    elif not driver_present():
        why = r"cannot read device memory: no NVIDIA driver found \(libcuda.so.1\)"
    else:
        why = r"cannot read device memory: "
    cases = [(lambda a: 0x7F0012345600, r"device pointer 0x7f0012345600"),
             (lambda a: CudaArray(0x7F00DEAD0000, a.shape), r"device array \(__cuda_array_interface__, device "
                                                            r"pointer 0x7f00dead0000\)"),
             (lambda a: CudaDLPack(0x7F00BEEF0000, a.shape), r"DLPack tensor on device type 2 \(id 0\)")]
    for wrap, what in cases:
        cal = Batches(data, wrap)
        with pytest.raises(trt.Error, match=r"^get_batch \(batch 1\), input 'input[^']*': " + what + ": " + why):
            trt.calibrate(MODEL, cal, cache=tmp_path / "d.cache")
        assert cal.written == [] and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- a real device (a GPU machine)

@pytest.fixture
def gpu():
    if device_count() == 0:
        pytest.skip("no CUDA device (libcudart's cudaGetDeviceCount finds none)")
    return cuda_runtime()


def test_device_memory_on_the_gpu(gpu, data, want):
    """pycuda's pattern through libcudart: one device buffer for a batch, memcpy_htod, [int(ptr)]."""
    if not trt.CUDA:
        with pytest.raises(trt.Error, match="without CUDA"):
            trt.calibrate(MODEL, Batches(data, lambda a: 0x7F0012345600), refine=False)
        pytest.skip("octet was built without CUDA")
    gpu.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
    gpu.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    gpu.cudaFree.argtypes = [ctypes.c_void_p]
    buffers = []

    def to_device(a):  # a new buffer each batch, kept until the end (the wrappers hold raw addresses)
        p = ctypes.c_void_p()
        assert gpu.cudaMalloc(ctypes.byref(p), a.nbytes) == 0
        assert gpu.cudaMemcpy(p, a.ctypes.data, a.nbytes, 1) == 0  # cudaMemcpyHostToDevice
        buffers.append(p.value)
        return p.value

    try:
        for wrap in (to_device, lambda a: CudaArray(to_device(a), a.shape), lambda a: CudaDLPack(to_device(a), a.shape)):
            cal = Batches(data, wrap)
            assert trt.calibrate(MODEL, cal, refine=False).cache == want
            assert cal.written == [want]
        host = np.zeros(BATCH * 784, np.float32)  # host memory unknown to CUDA, passed as a pointer
        with pytest.raises(trt.Error, match=r"device pointer 0x[0-9a-f]+: it is not CUDA memory"):
            trt.calibrate(MODEL, Batches(data, lambda a: host.ctypes.data), refine=False)
    finally:
        for p in buffers:
            gpu.cudaFree(p)


def test_cupy_and_torch_cuda_tensors(gpu, data, want):
    if not trt.CUDA:
        pytest.skip("octet was built without CUDA")
    wraps = []
    try:
        import cupy
        wraps += [cupy.asarray, lambda a: DLPackOnly(cupy.asarray(a)),
                  lambda a: cupy.asfortranarray(cupy.asarray(a)),  # strided views too (asfortranarray takes
                  lambda a: DLPackOnly(cupy.asfortranarray(cupy.asarray(a)))]  # CuPy arrays only)
    except ImportError:
        pass
    try:
        import torch
        if torch.cuda.is_available():
            def swapped(a):  # the same values in H/W-swapped memory: a strided view
                return torch.from_numpy(a).cuda().transpose(2, 3).contiguous().transpose(2, 3)
            wraps += [lambda a: torch.from_numpy(a).cuda(), lambda a: DLPackOnly(torch.from_numpy(a).cuda()),
                      swapped, lambda a: DLPackOnly(swapped(a))]
    except ImportError:
        pass
    if not wraps:
        pytest.skip("neither CuPy nor PyTorch with CUDA is installed")
    for wrap in wraps:
        assert trt.calibrate(MODEL, Batches(data, wrap), refine=False).cache == want


class DLPackOnly:
    """Only the DLPack protocol of a device tensor (no __cuda_array_interface__)."""

    def __init__(self, t):
        self._t = t

    def __dlpack__(self, **kw):
        return self._t.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._t.__dlpack_device__()


def test_engine_on_the_gpu(gpu, data, want, tmp_path):
    """Engine(backend="cuda") from Python: INT8 equals the cpu backend's bit for bit (one INT8 arithmetic,
    src/quant/quant.h), FP32 within 1e-4 relative L2 (the GPU's FP32 sums round differently from oneDNN's)."""
    if not trt.CUDA:
        with pytest.raises(trt.Error, match="cuda"):
            trt.Engine(MODEL, backend="cuda")
        pytest.skip("octet was built without CUDA")
    cache = tmp_path / "f.cache"
    cache.write_bytes(want)
    x = data[:BATCH]
    for precision in ("int8", "fp32"):
        kw = dict(precision=precision, cache=cache if precision == "int8" else None)
        cpu = trt.Engine(MODEL, backend="cpu", **kw).run(x)
        gpu_out = trt.Engine(MODEL, backend="cuda", **kw).run(x)
        assert cpu.keys() == gpu_out.keys()
        for k in cpu:
            a, b = cpu[k], gpu_out[k]
            assert a.shape == b.shape and a.dtype == b.dtype, k
            if precision == "int8":
                assert np.array_equal(a, b), k
            else:
                assert np.linalg.norm(a - b) <= 1e-4 * np.linalg.norm(a), k
