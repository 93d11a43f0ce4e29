"""The TensorRT-style calibrator with its batch in GPU memory, as TensorRT code keeps it: one device buffer for a
batch (TensorRT code: pycuda's cuda.mem_alloc), each batch copied in (cuda.memcpy_htod) and handed over from
get_batch. Here the buffer is a CuPy array or a PyTorch CUDA tensor, whichever is installed; octet, built with
CUDA, reads it through the CUDA runtime (an integer pointer, int(self.device_input), works too — read as a
full batch, as TensorRT reads it).

    python3 examples/python/device_buffers.py MODEL.onnx IMAGE_DIR [CACHE]

Checks that the cache equals the one trt_style_calibrator.py's host-array class writes. Where octet has no CUDA,
or there is no GPU, CuPy or PyTorch, it says which and exits 0 (nothing to show).
"""
import os
import sys

import numpy as np

import octet as trt  # was: import tensorrt as trt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trt_style_calibrator import MyEntropyCalibrator  # noqa: E402


def device_array_module():
    """(name, empty(n) on the GPU, copy(device_slice, host_array)) of CuPy or PyTorch, or (None, why)."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "cupy", lambda n: cupy.empty(n, cupy.float32), lambda d, h: d.set(h)
    except Exception:  # not installed, or no driver / device
        pass
    try:
        import torch
        if torch.cuda.is_available():
            return ("torch", lambda n: torch.empty(n, dtype=torch.float32, device="cuda"),
                    lambda d, h: d.copy_(torch.from_numpy(h)))
    except ImportError:
        pass
    return None, "neither CuPy nor PyTorch with a CUDA device is available"


class MyDeviceCalibrator(MyEntropyCalibrator):
    def __init__(self, data_dir, cache_file, empty, copy, **kw):
        super().__init__(data_dir, cache_file, **kw)
        self.copy = copy
        self.device_input = empty(self.nbytes // trt.float32.itemsize)  # was: cuda.mem_alloc(self.nbytes)

    def get_batch(self, names):
        host = super().get_batch(names)  # the batch as a numpy array, read and preprocessed with cv2
        if host is None:
            return None
        batch = host[0].ravel()
        part = self.device_input[:batch.size]
        self.copy(part, batch)  # was: cuda.memcpy_htod(self.device_input, batch)
        return [part]  # or [int(self.device_input.data.ptr)] / [self.device_input.data_ptr()]: a full batch


def main():
    model, images = sys.argv[1], sys.argv[2]
    cache = sys.argv[3] if len(sys.argv) > 3 else "model.cache"
    if not trt.CUDA:
        print("skipped: this octet was built without CUDA (octet.CUDA is False)")
        return
    found = device_array_module()
    if found[0] is None:
        print(f"skipped: {found[1]}")
        return
    name, empty, copy = found
    m = trt.Model(model)
    h, w = m.inputs[0].shape[2:4]
    r = trt.calibrate(m, MyDeviceCalibrator(images, cache, empty, copy, image_size=(h, w)))
    host = trt.calibrate(m, MyEntropyCalibrator(images, cache + ".host", image_size=(h, w)))
    print(f"{name}: {r.header}: {r.tensors} tensors, {r.images} images{' (the cache there reused)' * r.from_cache}; "
          f"wrote {cache}; "
          f"same cache as host arrays: {r.cache == host.cache}")
    os.remove(cache + ".host")
    sys.exit(0 if r.cache == host.cache else 1)


if __name__ == "__main__":
    main()
