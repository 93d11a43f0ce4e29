"""octet's engine on numpy: FP32 vs INT8 on Fashion-MNIST (Debian's dataset-fashion-mnist).

    python3 examples/python/engine_numpy.py [models/fmnist_cnn.onnx [N]]    # N test images (default 2000)
"""
import sys
import tempfile

import octet

model = sys.argv[1] if len(sys.argv) > 1 else "models/fmnist_cnn.onnx"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
data = "/usr/share/datasets/fashion-mnist/t10k"
norm = dict(mean=[0.2860], std=[0.3530])  # the model's normalization (as scripts/example.sh passes to the CLI)
x, labels = octet.load_samples(model, data, labels=True, limit=n, **norm)
with tempfile.TemporaryDirectory() as d:
    cache = f"{d}/model.cache"
    octet.calibrate(model, octet.Dataset(data, limit=min(n, 500), **norm), cache=cache)   # as `octet calibrate` (refined)
    fp32 = octet.Engine(model)
    int8 = octet.Engine(model, precision="int8", cache=cache)
    out = int8.run({int8.input_names[0]: x[:8]})                          # {name: numpy array}
    print({k: v.shape for k, v in out.items()})
    print("fp32", octet.evaluate(fp32, x, labels))
    print("int8", octet.evaluate(int8, x, labels, reference=fp32))
