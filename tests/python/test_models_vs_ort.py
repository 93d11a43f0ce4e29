"""Whole models against ONNX Runtime's FP32 output (the oracle outside octet).

Every model in models/ and ../shared/models/cifar10 on random inputs (both octet backends), and the
ImageNet-size ResNet-50 / MobileNetV2 from ../shared/tools/make_bench_models.py on real photos of
../shared/data/imagenet-samples preprocessed by octet itself (--resize 256 --size 224, ImageNet mean/std).
Tolerance: relative L2 error below 1e-4.
"""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
from conftest import REPO  # noqa: E402

TOL = 1e-4


def ort_run(model, x):
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def small_models(shared):
    models = [REPO / "models" / "fmnist_cnn.onnx"]
    if shared is not None:
        models += sorted((shared / "models" / "cifar10").glob("*.onnx"))
    return models


@pytest.mark.parametrize("backend", ["ref", "cpu"])
def test_small_models_match_ort(octet, tmp_path, backend):
    from conftest import shared_dir
    for model in small_models(shared_dir()):
        s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        shape = [d if isinstance(d, int) else 5 for d in s.get_inputs()[0].shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.save(tmp_path / "x.npy", x)
        octet("run", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy", "--force",
              "--backend", backend)
        err = rel_l2(np.load(tmp_path / "y.npy"), ort_run(model, x))
        assert err < TOL, f"{model.name} on {backend}: relative L2 error {err:.2e}"


@pytest.fixture(scope="module")
def bench_models(shared, tmp_path_factory):
    pytest.importorskip("onnx")
    out = tmp_path_factory.mktemp("bench_models")
    subprocess.run([sys.executable, str(shared / "tools" / "make_bench_models.py"), str(out)], check=True,
                   capture_output=True)
    return out


@pytest.mark.parametrize("name", ["resnet50", "mobilenetv2"])
def test_imagenet_models_on_photos_match_ort(octet, shared, bench_models, tmp_path, name):
    photos = shared / "data" / "imagenet-samples"
    if not photos.is_dir():
        pytest.skip("no imagenet-samples")
    model = bench_models / f"{name}.onnx"
    octet("run", model, "--data", photos, "--resize", 256, "--size", 224, "--mean", ".485,.456,.406",
          "--std", ".229,.224,.225", "--save-input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (105, 3, 224, 224)
    err = rel_l2(np.load(tmp_path / "y.npy"), ort_run(model, x))
    assert err < TOL, f"{name}: relative L2 error {err:.2e} on {x.shape[0]} photos"
