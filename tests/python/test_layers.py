"""octet eval --layers: the per-tensor error of the INT8 plan against FP32. A damaged scale must show up at
its tensor (clipping, SQNR drop) and not before it; the last row is the output SQNR eval reports."""
import json
import pathlib
import struct

import pytest

from conftest import REPO

MODEL = REPO / "models" / "fmnist_cnn.onnx"
FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
PRE = ["--mean", "0.2860", "--std", "0.3530"]
DAMAGED = "/b2/b2.2/Relu_output_0"


def scaled_cache(src, dst, name, factor):
    lines = src.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        key, h = line.rsplit(":", 1)
        if key == name:
            v = struct.unpack("!f", bytes.fromhex(h.strip().zfill(8)))[0] * factor
            h = " %x" % struct.unpack("!I", struct.pack("!f", v))[0]
        out.append(f"{key}:{h}")
    dst.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def work(tmp_path_factory, octet):
    if not (FMNIST / "t10k-images-idx3-ubyte").exists() and not (FMNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    d = tmp_path_factory.mktemp("layers")
    octet("calibrate", MODEL, "--data", FMNIST / "train", "--limit", "300", *PRE, "--cache", d / "c.cache", "--quiet")
    scaled_cache(d / "c.cache", d / "bad.cache", DAMAGED, 0.1)
    return d


def layers(octet, d, cache, tag):
    r = octet("eval", MODEL, "--data", FMNIST / "t10k", "--limit", "200", *PRE, "--precision", "fp32,int8",
              "--cache", cache, "--layers", "--quiet", "--json", d / f"{tag}.json")
    assert "per-tensor error of INT8 vs FP32 over 200 images" in r.stdout
    j = json.loads((d / f"{tag}.json").read_text())
    return j, {row["tensor"]: row for row in j["layers"]}


def test_rows_and_output(work, octet):
    j, rows = layers(octet, work, work / "c.cache", "clean")
    names = [row["tensor"] for row in j["layers"]]
    assert names[0] == "input" and names[-1] == "logits"
    assert DAMAGED in rows and rows[DAMAGED]["int8"] and rows[DAMAGED]["op"] == "Conv"
    for row in j["layers"]:
        assert row["sqnr_db"] == "inf" or row["sqnr_db"] > 12, row
        assert 0.95 < row["cosine"] <= 1.0 + 1e-9, row
    assert abs(rows["logits"]["sqnr_db"] - j["sqnr_db"]) < 0.05


def test_damaged_scale_shows_at_its_tensor(work, octet):
    _, clean = layers(octet, work, work / "c.cache", "clean2")
    j, bad = layers(octet, work, work / "bad.cache", "bad")
    assert bad[DAMAGED]["saturated"] > 0.05 > clean[DAMAGED]["saturated"]
    assert bad[DAMAGED]["sqnr_db"] < clean[DAMAGED]["sqnr_db"] - 6
    order = [row["tensor"] for row in j["layers"]]
    for name in order[:order.index(DAMAGED)]:  # upstream of the damage: the same numbers
        assert bad[name]["sqnr_db"] == clean[name]["sqnr_db"], name


def test_needs_both_precisions(work, octet):
    r = octet("eval", MODEL, "--data", FMNIST / "t10k", "--limit", "10", *PRE, "--precision", "int8",
              "--cache", work / "c.cache", "--layers", check=False)
    assert r.returncode != 0 and "--precision fp32,int8" in r.stderr


def test_transformer_shape_tensors_are_skipped(tmp_path, octet, shared):
    """ViT computes shapes at run time (Shape/Gather/Concat of int64): those tensors get no row, every row is
    a real comparison."""
    model = shared / "models" / "cifar10" / "vit_tiny.onnx"
    data = shared / "data" / "cifar10"
    if not model.exists() or not (data / "test").is_dir():
        pytest.skip("vit_tiny or the CIFAR-10 images are not in ../shared")
    pre = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"]
    octet("calibrate", model, "--data", data / "calib", "--limit", "32", *pre, "--cache", tmp_path / "v.cache", "--quiet",
          "--no-refine")
    octet("eval", model, "--data", data / "test", "--limit", "16", *pre, "--precision", "fp32,int8", "--cache",
          tmp_path / "v.cache", "--layers", "--quiet", "--batch", "8", "--json", tmp_path / "v.json")
    rows = json.loads((tmp_path / "v.json").read_text())["layers"]
    assert len(rows) > 100 and all(row["values"] > 0 for row in rows)
    assert not any(row["op"] in ("Shape", "Gather") and row["sqnr_db"] == "inf" for row in rows)
    assert sum(row["int8"] for row in rows) > 20


def test_eval_points_to_tune_when_int8_loses(work, octet):
    """Without --layers, eval says what to do when INT8 costs more than 0.3 points (the damaged scale does), and
    stays quiet when it does not (the clean cache)."""
    def note(cache):
        r = octet("eval", MODEL, "--data", FMNIST / "t10k", "--limit", "500", *PRE, "--precision", "fp32,int8",
                  "--cache", cache)  # not --quiet: that silences notes too (issue 16)
        return r.stderr
    bad = work / "worse.cache"
    scaled_cache(work / "c.cache", bad, DAMAGED, 0.02)
    msg = note(bad)
    assert "octet tune" in msg and "points of top-1" in msg, msg
    assert "octet tune" not in note(work / "c.cache")
