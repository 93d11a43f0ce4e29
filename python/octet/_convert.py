"""What get_batch may return, as float32 host arrays (called from the C++ calibrator adapter)."""
import numpy as np

from . import _octet


def _no_cuda(what):
    return _octet.Error(
        f"{what} from get_batch: octet was built without CUDA, so it cannot read device memory; "
        "return host arrays instead (numpy, or tensor.cpu().numpy() / cupy.asnumpy(x))")


def _host_array(obj, name):
    if isinstance(obj, (bool, np.bool_)):
        raise _octet.Error(f"get_batch returned {obj!r} for input '{name}'")
    if isinstance(obj, (int, np.integer)):
        raise _no_cuda(f"device pointer {int(obj):#x} for input '{name}'")
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        ptr = obj.__cuda_array_interface__.get("data", (0,))[0]
        raise _no_cuda(f"device array (__cuda_array_interface__, device pointer {int(ptr or 0):#x}) for input '{name}'")
    if hasattr(obj, "__dlpack_device__"):
        dev_type, dev_id = obj.__dlpack_device__()
        if int(dev_type) not in (1, 3):  # kDLCPU, kDLCUDAHost
            raise _no_cuda(f"DLPack tensor on device type {int(dev_type)} (id {dev_id}) for input '{name}'")
        return np.from_dlpack(obj)
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__array__"):
        return np.asarray(obj)
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj, dtype=np.float32)
    raise _octet.Error(f"get_batch returned a {type(obj).__name__} for input '{name}': expected a numpy array, an "
                       "object with __array_interface__ or DLPack, or a device pointer")


def batch_arrays(result, names, batch_size):
    """get_batch's result -> one float32 C-contiguous array per input name (in `names` order)."""
    if isinstance(result, dict):
        missing = [n for n in names if n not in result]
        if missing:
            raise _octet.Error(f"get_batch returned no binding for input(s) {missing}")
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
        a = _host_array(item, name)
        out.append(np.ascontiguousarray(a, dtype=np.float32).reshape(-1))
    return out
