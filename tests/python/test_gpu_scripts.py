"""The GPU session's scripts where there is no GPU: bench/gpu_vs_torch.py says why it measured nothing and exits 0;
scripts/gpu_check.sh without a bundle stops at once naming scripts/gpu_bundle.sh (exit 99), writing its log to $OUT."""
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import REPO


def test_gpu_vs_torch_explains_a_skip(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is present: the script would measure")
    r = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_vs_torch.py"), "--cache", str(tmp_path / "none.cache"),
                        "--json", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gpu_vs_torch: skipped:" in r.stdout and "nothing measured" in r.stdout, r.stdout
    assert not (tmp_path / "out.json").exists()


def test_gpu_check_without_a_bundle_says_how_to_make_one(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), BUNDLE=str(tmp_path / "no_bundle"), WORK=str(tmp_path / "work"))
    r = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 99, r.stdout + r.stderr
    assert "scripts/gpu_bundle.sh" in r.stdout, r.stdout
    assert "scripts/gpu_bundle.sh" in (tmp_path / "out" / "log.txt").read_text()
