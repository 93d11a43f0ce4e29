"""Hostile inputs to octet calibrate and to the cache readers (issue 17, calibration part).

Every test builds its own small inputs (numpy arrays, IDX files, cache texts) and runs the CLI; each one
fails on the code before the fix (111efd7)."""
import gzip
import json
import os
import pathlib
import shutil
import struct

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "fmnist_cnn.onnx"
FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PRE = ["--mean", "0.2860", "--std", "0.3530"]
HEADER = "TRT-101300-EntropyCalibration2"


def fmnist_images(n):
    if not FMNIST.exists():
        pytest.skip(f"{FMNIST} not found")
    with gzip.open(FMNIST, "rb") as f:
        data = f.read(16 + n * 784)
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 28, 28)


def write_idx(path, imgs):
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(imgs), 28, 28))
        f.write(imgs.astype(np.uint8).tobytes())


def samples(n):
    x = fmnist_images(n).astype(np.float32) / 255.0
    return ((x - 0.2860) / 0.3530).reshape(n, 1, 28, 28).astype(np.float32)


@pytest.fixture(scope="module")
def good_cache(octet, tmp_path_factory):
    """A valid cache of fmnist (no refinement: fast) and its lines."""
    d = tmp_path_factory.mktemp("good")
    np.save(d / "x.npy", samples(64))
    cache = d / "fmnist.cache"
    octet("calibrate", MODEL, "--data", d / "x.npy", "--cache", cache, "--no-refine", "--quiet")
    return cache.read_text()


def cache_with(text, tensor, hexscale):
    lines = text.splitlines()
    out = []
    for ln in lines:
        if ln.rsplit(":", 1)[0] == tensor:
            ln = f"{tensor}: {hexscale}"
        out.append(ln)
    return "\n".join(out) + "\n"


def line_of(text, tensor):
    for i, ln in enumerate(text.splitlines(), 1):
        if ln.rsplit(":", 1)[0] == tensor:
            return i
    raise KeyError(tensor)


# --- 1. sample shape of .npy / .npz calibration data -------------------------------------------------------

@pytest.mark.parametrize("shape,extra", [
    ((100000, 1), ["--batch", "65536"]),  # segfaulted
    ((100000, 1), []),                    # exited 0 with a cache computed from garbage
    ((784,), []),                         # 1-D
    ((5, 28, 29), []),                    # 3-D, wrong W
    ((2, 1, 1, 28, 28), []),              # 5-D
    ((4, 3, 28, 28), []),                 # wrong C
    ((4, 1, 32, 32), []),                 # wrong H, W
])
def test_npy_wrong_sample_shape(octet, tmp_path, shape, extra):
    x = tmp_path / "bad.npy"
    np.save(x, np.ones(shape, np.float32))
    cache = tmp_path / "c.cache"
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--quiet", *extra, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr)
    err = r.stderr
    assert "bad.npy" in err and "x".join(map(str, shape)) in err and "1x28x28" in err, err
    assert not cache.exists()


def test_npy_gray_nhw_still_accepted(octet, tmp_path):
    x = tmp_path / "nhw.npy"
    np.save(x, samples(16).reshape(16, 28, 28))
    octet("calibrate", MODEL, "--data", x, "--cache", tmp_path / "c.cache", "--no-refine", "--quiet")


def test_npz_wrong_sample_shape(octet, tmp_path):
    x = tmp_path / "bad.npz"
    np.savez(x, input=np.ones((6, 1, 14, 28), np.float32))
    r = octet("calibrate", MODEL, "--data", x, "--cache", tmp_path / "c.cache", "--quiet", check=False)
    assert r.returncode == 1, r.stderr
    assert "bad.npz" in r.stderr and "'input'" in r.stderr and "6x1x14x28" in r.stderr and "1x28x28" in r.stderr


def test_run_and_eval_npy_wrong_shape(octet, tmp_path):
    x = tmp_path / "bad.npy"
    np.save(x, np.ones((100000, 1), np.float32))
    r = octet("run", MODEL, "--input", x, check=False)
    assert r.returncode == 1 and "1x28x28" in r.stderr, r.stderr
    r = octet("run", MODEL, "--data", x, check=False)
    assert r.returncode == 1 and "bad.npy" in r.stderr, r.stderr


# --- 2. scales that must not reach a kernel ----------------------------------------------------------------

BAD_SCALES = {"nan": "7fc00000", "inf": "7f800000", "negative": "bf800000", "flt_max": "7f7fffff",
              "denormal": "1", "neg_zero": "80000000"}


@pytest.mark.parametrize("kind", sorted(BAD_SCALES))
@pytest.mark.parametrize("tensor", ["input", "/b2/b2.2/Relu_output_0"])
def test_bad_scale_refused(octet, tmp_path, good_cache, kind, tensor):
    text = cache_with(good_cache, tensor, BAD_SCALES[kind])
    cache = tmp_path / "bad.cache"
    cache.write_text(text)
    x = tmp_path / "x.npy"
    np.save(x, samples(2))
    r = octet("run", MODEL, "--precision", "int8", "--cache", cache, "--input", x, check=False)
    assert r.returncode == 1, (kind, r.stdout, r.stderr)
    assert tensor in r.stderr and f"line {line_of(text, tensor)}" in r.stderr, r.stderr
    r = octet("build", MODEL, "--cache", cache, "-o", tmp_path / "p.plan", check=False)
    assert r.returncode == 1 and tensor in r.stderr, r.stderr
    r = octet("quantize", MODEL, "--cache", cache, "-o", tmp_path / "q.onnx", check=False)
    assert r.returncode == 1 and tensor in r.stderr, r.stderr


def test_zero_scale_refused_only_where_used(octet, tmp_path, good_cache):
    x = tmp_path / "x.npy"
    np.save(x, samples(2))
    used = "/b2/b2.2/Relu_output_0"
    text = cache_with(good_cache, used, "0")
    (tmp_path / "z.cache").write_text(text)
    r = octet("run", MODEL, "--precision", "int8", "--cache", tmp_path / "z.cache", "--input", x, check=False)
    assert r.returncode == 1 and used in r.stderr and f"line {line_of(text, used)}" in r.stderr, r.stderr
    # A zero for a tensor the plan does not quantize (TensorRT writes 0 for e.g. shape tensors) is fine.
    (tmp_path / "ok.cache").write_text(good_cache + "ONNXTRT_Broadcast_1855_output: 0\n")
    octet("run", MODEL, "--precision", "int8", "--cache", tmp_path / "ok.cache", "--input", x)


# --- 3. calibrate over an existing cache that can't be reused ----------------------------------------------

def _recalibrates(octet, tmp_path, text, expect):
    x = tmp_path / "x.npy"
    np.save(x, samples(32))
    cache = tmp_path / "c.cache"
    cache.write_text(text)
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet", check=False)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "calibration skipped" not in out, out
    assert "calibrated" in r.stdout and expect in out, out
    assert (tmp_path / "c.cache.old").read_text() == text
    new = cache.read_text()
    assert new != text and new.startswith(HEADER)
    assert "7fc00000" not in new
    return out


def test_existing_cache_nan_scale_recalibrates(octet, tmp_path, good_cache):
    out = _recalibrates(octet, tmp_path, cache_with(good_cache, "/b1/b1.2/Relu_output_0", "7fc00000"),
                        "/b1/b1.2/Relu_output_0")
    assert "recalibrat" in out


def test_existing_cache_without_entries_recalibrates(octet, tmp_path):
    _recalibrates(octet, tmp_path, HEADER + "\n", "no tensor")


def test_existing_cache_of_another_model_recalibrates(octet, tmp_path):
    text = HEADER + "\n" + "".join(f"resnet/layer{i}/out: 3c010a14\n" for i in range(12))
    out = _recalibrates(octet, tmp_path, text, "12 of")
    assert "resnet/layer0/out" in out


def test_existing_cache_malformed_header_recalibrates(octet, tmp_path, good_cache):
    _recalibrates(octet, tmp_path, "garbage header\n" + good_cache.split("\n", 1)[1], "garbage header")


# --- 4. the result does not depend on order or batch size --------------------------------------------------

def test_shuffle_and_batch_do_not_change_the_cache(octet, tmp_path):
    idx = tmp_path / "small-images-idx3-ubyte"
    write_idx(idx, fmnist_images(300))
    caches = {}
    for name, extra in {"plain": [], "shuffled": ["--shuffle", "--seed", "5"], "batch7": ["--batch", "7"],
                        "shuffled7": ["--shuffle", "--seed", "3", "--batch", "7"]}.items():
        c = tmp_path / f"{name}.cache"
        octet("calibrate", MODEL, "--data", idx, "--cache", c, "--refine-samples", "24", "--quiet", *PRE, *extra)
        caches[name] = c.read_bytes()
    assert caches["shuffled"] == caches["plain"]
    assert caches["batch7"] == caches["plain"]
    assert caches["shuffled7"] == caches["plain"]


# --- 5. flags that silently meant something else, truncated JPEG -------------------------------------------

@pytest.mark.parametrize("flag,value,msg", [("--size", "0", "--size must be positive integers"),
                                            ("--size", "0.5", "--size must be positive integers"),
                                            ("--size", "28,0", "--size must be positive integers"),
                                            ("--limit", "0", "--limit must be >= 1")])
def test_flags_refused(octet, tmp_path, flag, value, msg):
    idx = tmp_path / "s-images-idx3-ubyte"
    write_idx(idx, fmnist_images(8))
    r = octet("calibrate", MODEL, "--data", idx, "--cache", tmp_path / "c.cache", "--quiet", flag, value, check=False)
    assert r.returncode == 1 and msg in r.stderr, r.stderr


def _jpeg(shared_or_none):
    d = pathlib.Path("/work/shared/data/imagenet-samples")
    if not d.is_dir():
        pytest.skip("no JPEG samples")
    j = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
    if not j:
        pytest.skip("no JPEG samples")
    return j[0].read_bytes()


def test_truncated_jpeg(octet, tmp_path):
    data = _jpeg(None)
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a_good.jpg").write_bytes(data)
    (folder / "b_trunc.jpg").write_bytes(data[: len(data) // 2])
    (folder / "c_padded.jpg").write_bytes(data + b"\0\0\n ")  # complete, with trailing padding: fine
    args = ["calibrate", MODEL, "--data", folder, "--cache", tmp_path / "c.cache", "--quiet", "--gray", "--size",
            "28", "--no-refine"]
    r = octet(*args, check=False)
    assert r.returncode == 1 and "b_trunc.jpg" in r.stderr, r.stderr
    loud = [x for x in args if x != "--quiet"]
    r = octet(*loud, "--skip-bad-images", check=False)
    assert r.returncode == 0, r.stderr
    assert "b_trunc.jpg" in r.stderr and "on 2 images" in r.stdout, (r.stdout, r.stderr)
    assert "Premature end" not in r.stderr, r.stderr
    quiet = [tmp_path / "q.cache" if x == tmp_path / "c.cache" else x for x in args]
    r = octet(*quiet, "--skip-bad-images", check=False)  # --quiet: no warnings (issue 16), the count still shows
    assert r.returncode == 0 and "warning" not in r.stderr and "on 2 images" in r.stdout, (r.stdout, r.stderr)


# --- 6. cache and sidecar stay consistent ------------------------------------------------------------------

def test_sidecar_written_before_cache(octet, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, samples(16))
    cache = tmp_path / "c.cache"
    (tmp_path / "c.cache.json").mkdir()  # the sidecar cannot be written
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet", check=False)
    assert r.returncode == 1, r.stderr
    assert not cache.exists(), "a cache without its sidecar was committed"


def _calibrated(octet, tmp_path, extra=()):
    x = tmp_path / "x.npy"
    np.save(x, samples(16))
    cache = tmp_path / "c.cache"
    octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet", *extra)
    return x, cache


def test_sidecar_header_disagrees_recalibrates(octet, tmp_path):
    x, cache = _calibrated(octet, tmp_path)
    side = tmp_path / "c.cache.json"
    j = json.loads(side.read_text())
    j["cache_header"] = "TRT-100300-EntropyCalibration2"  # as a concurrent --trt-version 10.3 run leaves it
    side.write_text(json.dumps(j))
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet")
    out = r.stdout + r.stderr
    assert "calibration skipped" not in out and "TRT-100300-EntropyCalibration2" in out, out
    assert json.loads(side.read_text())["cache_header"] == HEADER


def test_sidecar_of_another_model_recalibrates(octet, tmp_path):
    x, cache = _calibrated(octet, tmp_path)
    side = tmp_path / "c.cache.json"
    j = json.loads(side.read_text())
    j["model_hash"] = "fnv1a64:0000000000000000"
    side.write_text(json.dumps(j))
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet")
    out = r.stdout + r.stderr
    assert "calibration skipped" not in out and "model" in out, out
    assert json.loads(side.read_text())["model_hash"] != "fnv1a64:0000000000000000"


def test_sidecar_missing_reuses_cache_with_note(octet, tmp_path):
    x, cache = _calibrated(octet, tmp_path)
    before = cache.read_bytes()
    (tmp_path / "c.cache.json").unlink()  # e.g. a cache made by TensorRT
    r = octet("calibrate", MODEL, "--data", x, "--cache", cache, "--no-refine", "--quiet")
    assert "calibration skipped" in r.stdout, r.stdout
    assert "statistics" in r.stdout + r.stderr and "c.cache.json" in r.stdout + r.stderr
    assert cache.read_bytes() == before
