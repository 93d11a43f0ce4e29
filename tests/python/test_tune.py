"""octet tune from the command line: writes a tuned cache + sidecar, never overwrites unasked, and the sidecar's
fp32_layers reach octet build (overridable with --fp32-layers none)."""
import json

import numpy as np
import pytest

from conftest import REPO

MODEL = REPO / "models" / "fmnist_cnn.onnx"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, octet):
    d = tmp_path_factory.mktemp("tune")
    x = np.random.default_rng(3).uniform(-0.8, 2.0, size=(48, 1, 28, 28)).astype(np.float32)
    np.save(d / "x.npy", x)
    octet("calibrate", MODEL, "--data", d / "x.npy", "--cache", d / "c.cache", "--quiet")
    return d


def layer_precision(stdout, node):
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == node:
            return parts[2]
    raise AssertionError(f"{node} not in:\n{stdout}")


def test_tune_writes_cache_and_report(calibrated, octet):
    d = calibrated
    r = octet("tune", MODEL, "--cache", d / "c.cache", "--data", d / "x.npy", "--samples", "32",
              "-o", d / "t.cache", "--json", d / "r.json", "--quiet")
    assert "output SQNR vs FP32 on 32 samples" in r.stdout
    rep = json.loads((d / "r.json").read_text())
    assert rep["sqnr_final_db"] >= rep["sqnr_scales_db"] >= rep["sqnr_start_db"]
    assert rep["samples"] == 32 and rep["trials"] > rep["int8_layers"] > 0
    assert len(rep["layer_sensitivity"]) == rep["int8_layers"]
    assert (d / "t.cache").read_text().splitlines()[0] == (d / "c.cache").read_text().splitlines()[0]
    side = json.loads((d / "t.cache.json").read_text())
    assert side["fp32_layers"] == rep["fp32_layers"]
    assert all("candidates" in t for t in side["tensors"] if t.get("count"))


def test_tune_never_overwrites(calibrated, octet):
    d = calibrated
    (d / "keep.cache").write_text("mine\n")
    r = octet("tune", MODEL, "--cache", d / "c.cache", "--data", d / "x.npy", "-o", d / "keep.cache", check=False)
    assert r.returncode != 0 and "--force" in r.stderr
    assert (d / "keep.cache").read_text() == "mine\n"
    r = octet("tune", MODEL, "--cache", d / "c.cache", "--data", d / "x.npy", "-o", d / "c.cache", "--force",
              check=False)
    assert r.returncode != 0 and "input cache" in r.stderr


def test_sidecar_fp32_layers_reach_build(calibrated, octet):
    d = calibrated
    side = json.loads((d / "c.cache.json").read_text())
    side["fp32_layers"] = ["/b2/b2.0/Conv"]
    (d / "s.cache").write_bytes((d / "c.cache").read_bytes())
    (d / "s.cache.json").write_text(json.dumps(side))
    r = octet("build", MODEL, "--cache", d / "s.cache", "-o", d / "s.plan", "--verbose", "--force")
    assert "octet tune" in r.stderr
    assert layer_precision(r.stdout, "/b2/b2.0/Conv") == "fp32"
    assert layer_precision(r.stdout, "/b1/b1.0/Conv") == "int8"
    r = octet("build", MODEL, "--cache", d / "s.cache", "-o", d / "s.plan", "--verbose", "--force",
              "--fp32-layers", "none")
    assert layer_precision(r.stdout, "/b2/b2.0/Conv") == "int8"
