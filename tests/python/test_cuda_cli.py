"""`--backend cuda` in the CLI where it cannot run (no GPU, or an octet built without CUDA): a clear error that
names the backend and the cause, exit status 1, no traceback or crash, no output file written. On a machine
with a usable sm_90 GPU the test is skipped (the GPU tests in tests/cuda_gpu/ cover it there)."""
import numpy as np
import pytest


def test_backend_cuda_without_a_gpu_is_a_clear_error(octet, shared, tmp_path):
    model = shared / "models" / "cifar10" / "resnet20.onnx"
    if not model.exists():
        pytest.skip(f"{model} not found")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 32, 32), np.float32))
    out = tmp_path / "y.npy"
    for args in (["run", model, "--input", x, "--output", out], ["bench", model, "--iterations", "1"],
                 ["eval", model, "--data", shared / "data" / "cifar10" / "test", "--limit", "2"]):
        r = octet(*args, "--backend", "cuda", check=False)
        if r.returncode == 0:
            pytest.skip("a usable GPU is present")
        msg = r.stderr
        assert r.returncode == 1, (args[0], r.returncode, msg)
        assert "backend 'cuda'" in msg, msg
        assert ("no usable NVIDIA GPU" in msg) or ("built without CUDA" in msg), msg
        assert "Traceback" not in msg and "terminate called" not in msg, msg
        assert not out.exists()
