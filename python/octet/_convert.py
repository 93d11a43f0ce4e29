"""What get_batch may return, as float32 host arrays (called from the C++ calibrator adapter).

Host memory (numpy, __array_interface__, CPU DLPack, lists) is taken as it is. Device memory — an integer
pointer (pycuda's int(mem_alloc(...)), cudaMalloc), an object with __cuda_array_interface__ (CuPy, Numba,
PyTorch) or a DLPack tensor on a CUDA device (CuPy, PyTorch) — is copied to the host through the CUDA runtime of
a CUDA build of octet (octet.CUDA); without one, or without a driver or device, octet.Error says so, naming the
batch, the input and what get_batch returned."""
import numpy as np

from . import _octet

_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_HOW = "return host arrays instead (numpy, or tensor.cpu().numpy() / cupy.asnumpy(x))"


def _from_device(copy, what):
    """Runs copy() (a read of device memory); octet's reason for failing is prefixed with what was returned."""
    try:
        return copy()
    except _octet.Error as e:
        why = str(e)
        if "without CUDA" in why:
            why += "; " + _HOW
        raise _octet.Error(f"{what}: {why}") from None


def _cuda_array(obj, where):
    """An object with __cuda_array_interface__ (version 0-3) -> host array of its dtype and shape."""
    cai = obj.__cuda_array_interface__
    try:
        shape = tuple(int(d) for d in cai["shape"])
        dtype = np.dtype(cai["typestr"])
        ptr = int(cai["data"][0] or 0)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise _octet.Error(f"{where}: __cuda_array_interface__ is malformed ({e!r})") from None
    what = f"{where}: device array (__cuda_array_interface__, device pointer {ptr:#x})"
    if dtype.kind not in "fiub":
        raise _octet.Error(f"{what}: typestr '{cai['typestr']}' is not a number type")
    if cai.get("mask") is not None:
        raise _octet.Error(f"{what} has a mask; octet reads plain arrays")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    strides = cai.get("strides")
    if strides is None or nbytes == 0:
        raw = _from_device(lambda: _octet.copy_from_device(ptr, nbytes), what)
        return raw.view(dtype).reshape(shape)
    # A strided view (a permuted tensor: channels-last memory, a transposed HWC image, every other sample):
    # the bytes it spans are copied and gathered here, as .contiguous() would on the device.
    strides = tuple(int(x) for x in strides)
    if len(strides) != len(shape) or any(x < 0 for x in strides):
        raise _octet.Error(f"{what}: strides {strides} (for shape {shape}) are not supported; make it contiguous first")
    span = sum((d - 1) * x for d, x in zip(shape, strides)) + dtype.itemsize
    if span > max(8 * nbytes, 1 << 20):
        raise _octet.Error(f"{what}: a strided view spanning {span} bytes for {nbytes} bytes of values; "
                           "make it contiguous first")
    raw = _from_device(lambda: _octet.copy_from_device(ptr, span), what)
    view = np.ndarray(shape, dtype=dtype, buffer=raw, strides=strides)
    return np.ascontiguousarray(view)


def _host_array(obj, where, full_batch_floats):
    if isinstance(obj, (bool, np.bool_)):
        raise _octet.Error(f"{where}: get_batch returned {obj!r}")
    if isinstance(obj, (int, np.integer)):
        # TensorRT's contract: a device buffer holding a full batch of float32 values
        ptr, nbytes = int(obj), full_batch_floats * 4
        if ptr <= 0 or ptr >= 1 << 64:
            raise _octet.Error(f"{where}: get_batch returned the integer {ptr}, which is no device pointer")
        raw = _from_device(lambda: _octet.copy_from_device(ptr, nbytes), f"{where}: device pointer {ptr:#x}")
        return raw.view(np.float32)
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return _cuda_array(obj, where)
    if hasattr(obj, "__dlpack_device__"):
        dev_type, dev_id = obj.__dlpack_device__()
        dev_type = int(dev_type)
        if dev_type == _DL_CPU:
            return np.from_dlpack(obj)
        what = f"{where}: DLPack tensor on device type {dev_type} (id {dev_id})"
        if dev_type not in (_DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED):
            raise _octet.Error(f"{what}: octet reads host memory and CUDA devices only; {_HOW}")
        return _from_device(lambda: _octet.dlpack_to_host(obj), what)
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__array__"):
        return np.asarray(obj)
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj, dtype=np.float32)
    raise _octet.Error(f"{where}: get_batch returned a {type(obj).__name__}: expected a numpy array, an object with "
                       "__array_interface__, __cuda_array_interface__ or DLPack, or a device pointer")


def batch_arrays(result, names, batch_size, sample_numels=None, batch_no=0):
    """get_batch's result -> one float32 C-contiguous array per input name (in `names` order).
    `sample_numels`: values per sample of each input (the size of an integer pointer's batch); `batch_no`: the
    1-based number of this get_batch call, for messages."""
    if isinstance(result, dict):
        missing = [n for n in names if n not in result]
        if missing:
            raise _octet.Error(f"get_batch (batch {batch_no}) returned no binding for input(s) {missing}")
        items = [result[n] for n in names]
    elif isinstance(result, (list, tuple)):
        items = list(result)
        if len(items) == 0:
            return []
    else:  # one array for a one-input model
        items = [result]
    out = []
    for i, item in enumerate(items):
        name = names[i] if i < len(names) else f"#{i}"
        per = sample_numels[i] if sample_numels is not None and i < len(sample_numels) else 0
        a = _host_array(item, f"get_batch (batch {batch_no}), input '{name}'", batch_size * per)
        out.append(np.ascontiguousarray(a, dtype=np.float32).reshape(-1))
    return out
