"""A TensorRT-style INT8 calibrator running on octet: `import octet as trt` is the only change.

    python3 examples/python/trt_style_calibrator.py MODEL.onnx IMAGE_DIR [CACHE]

TensorRT code allocates device memory (pycuda) and returns [int(self.device_input)] from get_batch; octet without
CUDA reads host memory, so this class returns the numpy batch itself (the lines TensorRT would use are in comments).
Images are read with OpenCV (cv2, pip install opencv-python-headless); the preprocessing (resize with INTER_LINEAR,
x * (1/255), ImageNet mean/std, NCHW, in float32) is octet's own, so this class writes the cache byte for byte that

    octet calibrate MODEL.onnx --data IMAGE_DIR --cache CACHE --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225

writes (tests/python/test_package_trt_class.py checks it). Note `x * (1/255)`: `x / 255.0` rounds half of the 256
pixel values differently in float32, and the cache then differs in a few low bits.
"""
import os
import sys

import numpy as np

import octet as trt  # was: import tensorrt as trt


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
        # self.device_input = cuda.mem_alloc(self.nbytes)

    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names):
        import cv2
        if self.index >= len(self.files):
            return None
        files = self.files[self.index:self.index + self.batch_size]
        mean = np.array([0.485, 0.456, 0.406], np.float32)
        std = np.array([0.229, 0.224, 0.225], np.float32)
        batch = []
        for f in files:
            img = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
            img = cv2.resize(img, self.image_size[::-1], interpolation=cv2.INTER_LINEAR)
            batch.append(((img.astype(np.float32) * np.float32(1 / 255) - mean) / std).transpose(2, 0, 1))
        batch = np.ascontiguousarray(np.stack(batch), dtype=np.float32)
        self.index += len(files)
        # cuda.memcpy_htod(self.device_input, batch); return [int(self.device_input)]
        return [batch]

    def read_calibration_cache(self):
        if os.path.exists(self.cache_file):
            with open(self.cache_file, "rb") as f:
                return f.read()
        return None

    def write_calibration_cache(self, cache):
        with open(self.cache_file, "wb") as f:
            f.write(cache)


if __name__ == "__main__":
    model, images = sys.argv[1], sys.argv[2]
    cache = sys.argv[3] if len(sys.argv) > 3 else "model.cache"
    m = trt.Model(model)
    h, w = m.inputs[0].shape[2:4]
    r = trt.calibrate(m, MyEntropyCalibrator(images, cache, image_size=(h, w)))
    print(f"{r.header}: {r.tensors} tensors, {r.images} images, refined {r.refined} "
          f"(SQNR {r.sqnr_before_db:.2f} -> {r.sqnr_after_db:.2f} dB); wrote {cache}")
