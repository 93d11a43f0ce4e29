"""Detector workflows through the CLI (issue 15): letterbox placement against a numpy reference, raw 0-255 input,
a fixed-batch model (yolox_det, batch 1) run on any number of samples, and a model of dynamic H x W (ppocr_det)
calibrated and run at the data's own sizes or at --shapes. FP32 outputs are compared with ONNX Runtime."""
import json
import struct

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")


def write_bmp(path, rgb):
    """A 24-bit BMP of an H x W x 3 uint8 RGB array (numpy only; no image library needed)."""
    h, w, _ = rgb.shape
    row = (w * 3 + 3) & ~3
    data = bytearray()
    for y in range(h - 1, -1, -1):
        line = rgb[y, :, ::-1].tobytes()  # BGR
        data += line + b"\0" * (row - len(line))
    header = b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    path.write_bytes(header + info + bytes(data))


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


@pytest.fixture(scope="module")
def models(shared):
    d = shared / "models" / "detect"
    if not (d / "yolox_det.onnx").exists():
        pytest.skip("models/detect not in ../shared")
    return d


@pytest.mark.parametrize("placement,top", [("topleft", 0), ("center", 8)])
def test_letterbox_places_and_pads_like_numpy(octet, models, tmp_path, placement, top):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)  # 16 x 32 into 32 x 32: r = 1, no resampling
    write_bmp(tmp_path / "a.bmp", img)
    # A tiny stand-in for a YOLO input: any model of 3 x 32 x 32 would do; --shapes fixes ppocr_det's H x W.
    octet("run", models / "ppocr_det.onnx", "--shapes", "x:1x3x32x32", "--data", tmp_path / "a.bmp", "--letterbox", "32",
          "--pad-placement", placement, "--pad-value", "7", "--bgr", "--scale", "1", "--save-input", tmp_path / "x.npy")
    x = np.load(tmp_path / "x.npy")
    want = np.full((1, 3, 32, 32), 7, np.float32)
    want[0, :, top:top + 16, :] = img[:, :, ::-1].transpose(2, 0, 1)  # BGR planes, raw 0-255 (--scale 1)
    np.testing.assert_array_equal(x, want)


def test_fixed_batch_model_runs_any_number_of_samples(octet, models, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (3, 3, 416, 416)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    octet("run", models / "yolox_det.onnx", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (3, 3549, 6)
    sess = ort.InferenceSession(str(models / "yolox_det.onnx"), providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"images": x[i:i + 1]})[0] for i in range(3)])
    assert rel_l2(y, ref) < 1e-4


def test_fixed_size_model_names_both_shapes(octet, models, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 320, 320), np.float32))
    r = octet("run", models / "yolox_det.onnx", "--input", tmp_path / "x.npy", check=False)
    assert r.returncode != 0 and "1x3x416x416" in r.stderr and "320" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def mixed_images(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(64, 96), (64, 96), (96, 64), (50, 70)]):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[h // 3:h // 2, w // 5:4 * w // 5] = 20  # a dark "text line"
        write_bmp(d / f"img{i}.bmp", img)
    return d


def test_dynamic_model_runs_at_the_data_size_like_ort(octet, models, shared, mixed_images, tmp_path):
    scene = shared / "data" / "text-scenes" / "test" / "scene_00000.jpg"
    if not scene.exists():
        pytest.skip("data/text-scenes not in ../shared")
    pre = ["--bgr", "--mean", "0.5", "--std", "0.5", "--limit-side", "320", "--multiple", "32"]
    octet("run", models / "ppocr_det.onnx", "--data", scene, *pre, "--save-input", tmp_path / "x.npy",
          "--output", tmp_path / "y.npy")
    x, y = np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy")
    assert x.shape == (1, 3, 256, 320)  # 480 x 640 -> 240 x 320 -> round(7.5) = 8 multiples of 32, as PP-OCR does
    sess = ort.InferenceSession(str(models / "ppocr_det.onnx"), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0]
    assert (ref > 0.3).sum() > 1000  # the scene has text
    assert rel_l2(y, ref) < 1e-4
    r = octet("run", models / "ppocr_det.onnx", "--data", mixed_images, "--multiple", "32", check=False)
    assert r.returncode != 0 and "different sizes" in r.stderr, r.stderr


def test_dynamic_model_calibrates_on_images_of_several_sizes(octet, models, mixed_images, tmp_path):
    pre = ["--bgr", "--mean", "0.5", "--std", "0.5", "--multiple", "32"]
    r = octet("calibrate", models / "ppocr_det.onnx", "--data", mixed_images, *pre, "--cache", tmp_path / "a.cache",
              "--no-refine", "--batch", "3", "--quiet")
    assert "on 4 images" in r.stdout
    # Two-pass histograms do not depend on how the sizes fall into batches.
    octet("calibrate", models / "ppocr_det.onnx", "--data", mixed_images, *pre, "--cache", tmp_path / "b.cache",
          "--no-refine", "--batch", "1", "--quiet")
    assert (tmp_path / "a.cache").read_text() == (tmp_path / "b.cache").read_text()
    # The INT8 plan of the dynamic model runs at the data's size.
    octet("run", models / "ppocr_det.onnx", "--data", mixed_images / "img0.bmp", *pre, "--precision", "int8", "--cache",
          tmp_path / "a.cache", "--output", tmp_path / "y8.npy")
    assert np.load(tmp_path / "y8.npy").shape == (1, 1, 64, 96)
    # --shapes fixes H x W instead: the images are resized to it.
    r = octet("calibrate", models / "ppocr_det.onnx", "--data", mixed_images, "--bgr", "--mean", "0.5", "--std", "0.5",
              "--shapes", "x:1x3x64x64", "--cache", tmp_path / "c.cache", "--no-refine", "--quiet")
    assert "on 4 images" in r.stdout
    r = octet("calibrate", models / "ppocr_det.onnx", "--data", mixed_images, "--shapes", "x:1x4x64x64", "--cache",
              tmp_path / "d.cache", "--no-refine", "--quiet", check=False)
    assert r.returncode != 0 and "disagrees" in r.stderr, r.stderr


def test_calibration_leaves_letterbox_padding_out(octet, models, tmp_path):
    # Images of small values (0..30, raw: --scale 1) letterboxed with pad value 255, of two aspects (padding below, and
    # at the right): by default the network input (MinMax) and every mapped activation see only the image; with
    # --calib-padding include the padding's 255 sets the input's amax, as before.
    rng = np.random.default_rng(3)
    data = tmp_path / "scenes"
    data.mkdir()
    write_bmp(data / "a.bmp", rng.integers(0, 31, (24, 48, 3), dtype=np.uint8))
    write_bmp(data / "b.bmp", rng.integers(0, 31, (40, 20, 3), dtype=np.uint8))
    pre = ["--shapes", "x:1x3x32x32", "--letterbox", "32", "--pad-value", "255", "--scale", "1", "--no-refine", "--quiet"]
    amax = {}
    for mode in ("exclude", "include"):  # exclude: the default
        flag = ["--calib-padding", mode] if mode == "include" else []
        r = octet("calibrate", models / "ppocr_det.onnx", "--data", data, *[a for a in pre if a != "--quiet"], *flag,
                  "--cache", tmp_path / "c.cache")
        assert ("left out of the histograms" in r.stdout) == (mode == "exclude"), r.stdout
        # The same cache path: the exclude cache is not reused for include (same header, other thresholds).
        assert ("calibrated with --calib-padding exclude, not include" in r.stdout) == (mode == "include"), r.stdout
        side = json.loads((tmp_path / "c.cache.json").read_text())
        assert side["calib_padding"]["mode"] == mode
        assert side["calib_padding"]["padded_samples"] == 2
        assert (side["calib_padding"]["masked_tensors"] > 10) == (mode == "exclude")
        amax[mode] = {t["name"]: t["amax"] for t in side["tensors"]}
    assert amax["exclude"]["x"] == 30 and amax["include"]["x"] == 255
    assert sum(amax["exclude"][k] != amax["include"][k] for k in amax["exclude"]) > 10
    # Without --letterbox there is no padding and no record.
    stretched = [a for a in pre if a not in ("--letterbox", "32", "--pad-value", "255")] + ["--size", "32"]
    octet("calibrate", models / "ppocr_det.onnx", "--data", data, *stretched, "--cache", tmp_path / "s.cache")
    assert "calib_padding" not in json.loads((tmp_path / "s.cache.json").read_text())
    r = octet("calibrate", models / "ppocr_det.onnx", "--data", data, *pre, "--calib-padding", "drop", "--cache",
              tmp_path / "x.cache", check=False)
    assert r.returncode != 0 and "--calib-padding expects exclude or include, got 'drop'" in r.stderr, r.stderr
