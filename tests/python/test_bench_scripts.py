"""Smoke tests for the benchmark scripts in bench/: each runs in --quick mode (1 round, 1-2 iterations, 20 images)
and must write JSON with the expected keys and positive numbers. Timings are never asserted, only that they exist."""
import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO, octet_bin

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")


def _positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _run_script(name, out, shared, *extra):
    if not os.path.exists(octet_bin()):
        pytest.skip(f"octet binary not found at {octet_bin()}")
    # --no-spin: OpenMP spin-waiting makes octet 10-100x slower when the CI machine is busy
    cmd = [sys.executable, str(REPO / "bench" / name), "--quick", "--no-spin", "--octet", octet_bin(), "--shared",
           str(shared), "--out", str(out), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "|---" in r.stdout, "no markdown table printed"
    return r


def _check_meta(meta):
    for k in ("cpu", "cores", "date", "load_start", "load_end", "command", "octet"):
        assert k in meta, f"meta lacks {k}"


def test_speed_vs_ort_quick(tmp_path, shared):
    _run_script("speed_vs_ort.py", tmp_path, shared, "--model-dir", tmp_path / "models")
    data = json.loads((tmp_path / "speed.json").read_text())
    assert (tmp_path / "speed.md").read_text().count("|") > 10
    _check_meta(data["meta"])
    cell = data["results"]["mobilenetv2/b1"]
    for side in ("octet-fp32", "ort-fp32", "octet-int8", "ort-int8"):
        s = cell[side]
        for k in ("throughput", "p50_ms", "peak_rss_mib"):
            assert _positive(s[k]["median"]) and _positive(s[k]["min"]), (side, k, s[k])
        assert s["throughput"]["n"] == 1
    for k in ("octet_fp32/ort_fp32", "octet_int8/octet_fp32", "octet_int8/ort_int8"):
        assert _positive(cell["ratios"][k]["median"]), (k, cell["ratios"][k])


def test_calib_vs_ort_quick(tmp_path, shared):
    _run_script("calib_vs_ort.py", tmp_path, shared)
    data = json.loads((tmp_path / "calib.json").read_text())
    _check_meta(data["meta"])
    cell = data["results"]["mobilenetv2"]
    for side in ("octet-entropy2", "octet-percentile", "octet-minmax", "ort-entropy", "ort-percentile",
                 "ort-minmax"):
        assert cell[side]["failed"] == 0, (side, cell[side]["runs"])
        assert _positive(cell[side]["wall_s"]["median"]), side
        assert _positive(cell[side]["peak_rss_mib"]["median"]), side
    for side in ("ort-entropy", "ort-percentile", "ort-minmax"):
        assert cell[side]["runs"][0]["tensors"] > 10, (side, cell[side]["runs"][0])
        assert cell[side]["runs"][0]["samples"] == 20
    v = cell["vs_ort_entropy"]
    assert _positive(v["speedup"]["median"]) and _positive(v["memory_ratio"]["median"])
    sc = data["scaling"]["mobilenetv2"]
    assert sc["images_all"] == 20 and sc["images_small"] == 10
    assert _positive(sc["peak_rss_mib_all"]["median"]) and _positive(sc["ratio_median"])


def test_qdq_vs_ort_quick(tmp_path, shared):
    if not (shared / "models" / "cifar10" / "resnet20.onnx").exists() or not (shared / "data" / "cifar10" / "test").is_dir():
        pytest.skip("CIFAR-10 model or data not in ../shared")
    pytest.importorskip("onnx")
    _run_script("qdq_vs_ort.py", tmp_path, shared, "--limit", "50", "--calib-limit", "50")
    data = json.loads((tmp_path / "qdq.json").read_text())
    assert (tmp_path / "qdq.md").read_text().count("|") > 10
    _check_meta(data["meta"])
    assert data["meta"]["test_images"] == 50 and data["meta"]["calib_images"] == 50
    cell = data["export"]["resnet20"]
    for prec in ("fp32", "int8"):
        assert 0 <= cell["octet"][prec]["top1"] <= 1 and cell["octet"][prec]["images"] == 50
    for fmt in ("trt", "ort"):
        r = cell[f"ort_on_{fmt}"]
        assert 0 <= r["top1"] <= 1 and r["images"] == 50, r
        assert isinstance(r["delta_vs_octet_int8"], float)
    for config in ("trt-like", "default"):
        c = data["import"]["resnet20"][config]
        assert 0 <= c["ort"]["top1"] <= 1 and c["ort"]["images"] == 50
        # octet either runs the model (top-1 and a delta) or refuses it with a message
        assert ("octet" in c and c["octet"]["int8"]["images"] == 50) or c.get("octet_error"), c


def test_detect_accuracy_quick(tmp_path, shared):
    if not (shared / "models" / "detect" / "yolox_det.onnx").exists() or not (shared / "data" / "text-scenes").is_dir():
        pytest.skip("models/detect or data/text-scenes not in ../shared")
    _run_script("detect_accuracy.py", tmp_path, shared)
    data = json.loads((tmp_path / "detect_accuracy.json").read_text())
    assert data["test_scenes"] == 8
    for model in ("ppocr_det", "yolox_det"):
        assert data[model]["fp32_vs_ort_rel_l2"] < 1e-4, data[model]
    assert 0 <= data["ppocr_det"]["mask_iou_vs_fp32"] <= 1
    assert data["ppocr_det"]["fp32_vs_labels"]["f1"] > 0.5  # the DBNet post-process finds the text lines
    assert 0 <= data["yolox_det"]["box_f1_vs_fp32"] <= 1
    assert data["yolox_det"]["detections_fp32"] > 0
