"""examples/python/ runs with the installed package: the engine on numpy (Fashion-MNIST), the TensorRT-style
class on ../shared/data/imagenet-samples (the cache of `octet calibrate`, byte for byte), and the device-buffer
variant (CuPy / PyTorch on a GPU; elsewhere it says what is missing and exits 0)."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("octet")
from test_package_trt_class import IMAGES, NORM, cli, make_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "python"


def example(name, *args, cwd=None):
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=300)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_engine_numpy():
    if not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST (Debian's dataset-fashion-mnist) not installed")
    out = example("engine_numpy.py", REPO / "models" / "fmnist_cnn.onnx", 300)
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("fp32", "int8")))
    fp32, int8 = eval(lines["fp32"]), eval(lines["int8"])  # the dicts octet.evaluate returns
    assert fp32["top1"] > 0.8 and int8["top1"] > 0.8 and int8["agreement"] > 0.9, out


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("cv2")
    if not IMAGES.is_dir():
        pytest.skip(f"{IMAGES} not found (set OCTET_SHARED)")
    return make_model(tmp_path_factory.mktemp("model") / "tiny224.onnx")


def test_trt_style_calibrator(model, tmp_path):
    cli("calibrate", model, "--data", IMAGES, "--cache", tmp_path / "cli.cache", "--quiet", *NORM)
    out = example("trt_style_calibrator.py", model, IMAGES, tmp_path / "py.cache")
    assert "105 images" in out, out
    assert (tmp_path / "py.cache").read_bytes() == (tmp_path / "cli.cache").read_bytes()


def test_device_buffers(model, tmp_path):
    out = example("device_buffers.py", model, IMAGES, tmp_path / "dev.cache")
    assert out.startswith("skipped: ") or "same cache as host arrays: True" in out, out
