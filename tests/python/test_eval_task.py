"""`octet eval --task detect|segment` (issue 15) on the real detectors and a few text scenes: its numbers must equal
bench/detect_accuracy.py's numpy post-processing (decode, NMS, greedy matching, AP, mask IoU) on the very outputs
`octet run` gives for the same images. The arithmetic itself is unit-tested on hand-made tensors
(tests/api/detect_test.cpp)."""
import importlib.util
import json

import numpy as np
import pytest

from conftest import REPO

YOLOX_PRE = ["--letterbox", "416", "--pad-placement", "topleft", "--pad-value", "114", "--bgr", "--scale", "1"]
PPOCR_PRE = ["--bgr", "--mean", "0.5", "--std", "0.5", "--limit-side", "320", "--multiple", "32"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("detect_accuracy", REPO / "bench" / "detect_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scenes(shared):
    d = shared / "data" / "text-scenes"
    m = shared / "models" / "detect"
    if not (d / "test" / "boxes.json").exists() or not (m / "yolox_det.onnx").exists():
        pytest.skip("models/detect or data/text-scenes not in ../shared")
    return d, m


@pytest.fixture(scope="module")
def yolox(octet, scenes, tmp_path_factory):
    d, m = scenes
    t = tmp_path_factory.mktemp("yolox")
    octet("calibrate", m / "yolox_det.onnx", "--data", d / "calib", "--limit", "4", *YOLOX_PRE, "--cache",
          t / "c.cache", "--no-refine", "--quiet")
    for p in ("fp32", "int8"):
        octet("run", m / "yolox_det.onnx", "--data", d / "test", "--limit", "4", *YOLOX_PRE, "--precision", p,
              "--cache", t / "c.cache", "--output", t / f"{p}.npy")
    return t


def test_detect_int8_vs_fp32_equals_the_numpy_bench(octet, scenes, yolox, bench):
    d, m = scenes
    octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolox", "--data", d / "test", "--limit", "4",
          *YOLOX_PRE, "--cache", yolox / "c.cache", "--json", yolox / "e.json", "--quiet")
    j = json.loads((yolox / "e.json").read_text())
    f32, i8 = np.load(yolox / "fp32.npy"), np.load(yolox / "int8.npy")
    d32 = [bench.yolox_boxes(o, 1.0, 0.3) for o in f32]
    d8 = [bench.yolox_boxes(o, 1.0, 0.3) for o in i8]
    assert j["images"] == 4
    assert j["fp32"]["detections"] == sum(len(b) for b, _ in d32) > 10  # the scenes have text
    assert j["int8"]["detections"] == sum(len(b) for b, _ in d8)
    want = bench.prf(d8, [b for b, _ in d32])
    for k in ("f1", "precision", "recall"):
        assert j["int8_vs_fp32"][k] == pytest.approx(want[k], abs=1e-12), k
    want_map = bench.average_precision([bench.yolox_boxes(o, 1.0, 0.01) for o in i8], [b for b, _ in d32])
    assert j["int8_vs_fp32"]["map_vs_fp32"] == pytest.approx(want_map, abs=1e-9)
    # Score drift of the matched pairs, recomputed from the same greedy matching.
    drift = []
    for (b8, s8), (b32, s32) in zip(d8, d32):
        order, tp = bench.match(b8, s8, b32)
        iou = bench.iou_matrix(b8[order], b32)
        used = np.zeros(len(b32), bool)
        for k, i in enumerate(order):
            if not tp[k]:
                continue
            cand = np.where(~used, iou[k], -1)
            t = int(np.argmax(cand))
            used[t] = True
            drift.append(s8[i] - s32[t])
    assert j["int8_vs_fp32"]["matched"] == len(drift)
    assert j["int8_vs_fp32"]["mean_abs_score_drift"] == pytest.approx(np.abs(drift).mean(), abs=1e-9)


def test_detect_map_against_labels_equals_the_numpy_bench(octet, scenes, yolox, bench):
    d, m = scenes
    r = octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolox", "--data", d / "test", "--limit",
              "4", *YOLOX_PRE, "--precision", "fp32", "--labels", d / "test" / "boxes.json", "--score-threshold",
              "0.01", "--json", "-", "--quiet")
    j = json.loads(r.stdout[r.stdout.index("{"):])
    labels = json.loads((d / "test" / "boxes.json").read_text())
    names = sorted(p.name for p in (d / "test").glob("scene_*.jpg"))[:4]
    ratio = min(416 / 480, 416 / 640)  # labels are in the scene's pixels, boxes in the letterboxed input's
    gts = [np.asarray(labels[n], np.float64).reshape(-1, 4) for n in names]
    preds = [bench.yolox_boxes(o, ratio, 0.01) for o in np.load(yolox / "fp32.npy")]
    assert j["fp32"]["map50"] == pytest.approx(bench.average_precision(preds, gts, 0.5), abs=1e-9)
    want = np.mean([bench.average_precision(preds, gts, 0.5 + 0.05 * k) for k in range(10)])
    assert j["fp32"]["map50_95"] == pytest.approx(want, abs=1e-9)


def test_segment_mask_iou_equals_numpy(octet, scenes, tmp_path):
    d, m = scenes
    octet("calibrate", m / "ppocr_det.onnx", "--data", d / "calib", "--limit", "2", *PPOCR_PRE, "--cache",
          tmp_path / "c.cache", "--no-refine", "--quiet")
    maps = {}
    for p in ("fp32", "int8"):
        octet("run", m / "ppocr_det.onnx", "--data", d / "test", "--limit", "2", *PPOCR_PRE, "--precision", p,
              "--cache", tmp_path / "c.cache", "--output", tmp_path / f"{p}.npy")
        maps[p] = np.load(tmp_path / f"{p}.npy")
    octet("eval", m / "ppocr_det.onnx", "--task", "segment", "--data", d / "test", "--limit", "2", *PPOCR_PRE,
          "--cache", tmp_path / "c.cache", "--json", tmp_path / "e.json", "--quiet")
    j = json.loads((tmp_path / "e.json").read_text())["int8_vs_fp32"]
    a, b = maps["fp32"] > np.float32(0.3), maps["int8"] > np.float32(0.3)
    assert (a | b).sum() > 1000
    assert j["intersection"] == int((a & b).sum()) and j["union"] == int((a | b).sum())
    assert j["mean_abs_diff"] == pytest.approx(float(np.abs(maps["fp32"].astype(np.float64) - maps["int8"]).mean()),
                                               rel=1e-9)


def test_bad_task_options_are_named(octet, scenes, tmp_path):
    d, m = scenes
    r = octet("eval", m / "yolox_det.onnx", "--task", "detect", "--data", d / "test", "--limit", "1", *YOLOX_PRE,
              check=False)
    assert r.returncode != 0 and "--decode" in r.stderr, r.stderr
    r = octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolov8", "--data", d / "test", "--limit",
              "1", *YOLOX_PRE, "--precision", "fp32", "--labels", d / "test" / "boxes.json", check=False)
    assert r.returncode != 0 and "anchors" in r.stderr and "3549" in r.stderr, r.stderr
    r = octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolox", "--strides", "8,16", "--data",
              d / "test", "--limit", "1", *YOLOX_PRE, "--precision", "fp32", "--labels", d / "test" / "boxes.json",
              check=False)
    assert r.returncode != 0 and "3549 rows" in r.stderr, r.stderr
    r = octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolox", "--data", d / "test", "--limit",
              "1", *YOLOX_PRE, "--precision", "fp32", check=False)
    assert r.returncode != 0 and "nothing to measure" in r.stderr, r.stderr


def test_segment_refuses_an_output_that_is_no_map(octet, tmp_path):
    # A classifier's N x classes output is no probability map: its "mask IoU" would mean nothing.
    cv2 = pytest.importorskip("cv2")
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), np.full((28, 28), 40 * i, np.uint8))
    m = REPO / "models" / "fmnist_cnn.onnx"
    octet("calibrate", m, "--data", tmp_path / "imgs", "--cache", tmp_path / "c.cache", "--no-refine", "--quiet")
    r = octet("eval", m, "--task", "segment", "--data", tmp_path / "imgs", "--cache", tmp_path / "c.cache",
              check=False)
    assert r.returncode != 0 and "expected a probability map" in r.stderr and "x10" in r.stderr, r.stderr


def test_hostile_labels_are_named_not_hung(octet, scenes, tmp_path):
    # --labels is a user file: a FIFO (json or a YOLO txt) is refused, not waited on; a coordinate of the wrong
    # type, a box with negative width or a negative class is an error naming the file, never a silent mAP.
    import os
    d, m = scenes
    one = tmp_path / "one"
    one.mkdir()
    first = sorted(p for p in (d / "test").iterdir() if p.suffix == ".jpg")[0]
    os.symlink(first, one / first.name)
    run = lambda labels: octet("eval", m / "yolox_det.onnx", "--task", "detect", "--decode", "yolox", "--data", one,
                               *YOLOX_PRE, "--precision", "fp32", "--labels", labels, check=False, timeout=60)
    os.mkfifo(tmp_path / "l.json")
    r = run(tmp_path / "l.json")
    assert r.returncode == 1 and "FIFO" in r.stderr and "l.json" in r.stderr, r.stderr
    (tmp_path / "yolo").mkdir()
    os.mkfifo(tmp_path / "yolo" / (first.stem + ".txt"))
    r = run(tmp_path / "yolo")
    assert r.returncode == 1 and "FIFO" in r.stderr and first.stem + ".txt" in r.stderr, r.stderr
    cases = {
        "str.json": {first.name: [[1, 2, "x", 4]]},
        "neg.json": {"images": [{"id": 1, "file_name": first.name}],
                     "annotations": [{"image_id": 1, "bbox": [1, 2, -5, 4], "category_id": 0}]},
        "cls.json": {first.name: [[1, 2, 3, 4, -2]]},
        "id.json": {"images": [{"id": "x", "file_name": first.name}], "annotations": []},
    }
    for name, doc in cases.items():
        (tmp_path / name).write_text(json.dumps(doc))
        r = run(tmp_path / name)
        assert r.returncode == 1 and name in r.stderr and "internal error" not in r.stderr, (name, r.stderr)
