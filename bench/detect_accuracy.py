#!/usr/bin/env python3
"""What INT8 costs on the two detectors of ../shared/models/detect (issue 15), measured with task metrics.

For each model: octet preprocesses the test scenes (`octet run --save-input`), runs them in FP32 and in INT8
(calibrated by `octet calibrate` on the first --calib scenes of data/text-scenes/calib), and ONNX Runtime runs the
same preprocessed inputs in FP32 (the check that octet's FP32 equals ORT's). Then, in numpy only:

  ppocr_det (DBNet, dynamic H x W, run at the scenes' own 480 x 640): mask IoU of the > 0.3 maps INT8 vs FP32
    (over all pixels of all scenes, as models/README.md), mean abs diff of the probability map, and the DBNet
    post-process -- threshold 0.3, 8-connected components, box = the component's bounding box unclipped by
    area * 1.5 / perimeter, kept when its mean probability >= 0.6 and its short side >= 3 -- with precision /
    recall / F1 at IoU 0.5 against boxes.json, for FP32 and INT8.
  yolox_det (1 x 3 x 416 x 416, letterbox top-left with 114, BGR, raw 0-255): decode xy = (xy + grid) * stride,
    wh = exp(wh) * stride, score = obj * cls, NMS at IoU 0.45; box F1 at IoU 0.5 of detections with score > 0.3
    INT8 vs FP32 (models/README.md's metric), mAP@0.5 of INT8 against the FP32 detections (score > 0.3), and
    AP@0.5 against boxes.json (detections with score > 0.01) for FP32 and INT8.

    python3 bench/detect_accuracy.py [--calib 64] [--test 100] [--refine-samples N | --no-refine]

Prints a markdown table and writes OUT/detect_accuracy.json. Needs numpy and onnxruntime."""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]

MODELS = {
    "ppocr_det": {"pre": ["--bgr", "--mean", "0.5", "--std", "0.5", "--limit-side", "960", "--multiple", "32"],
                  "input": "x"},
    "yolox_det": {"pre": ["--letterbox", "416", "--pad-placement", "topleft", "--pad-value", "114", "--bgr",
                          "--scale", "1"], "input": "images"},
}


def sh(cmd, env=None):
    t = time.time()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r, time.time() - t


# --- geometry -------------------------------------------------------------------------------------------------

def iou_matrix(a, b):
    """IoU of every box of a (N x 4, x0 y0 x1 y1) with every box of b (M x 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def match(pred, scores, gt, thr=0.5):
    """Greedy one-to-one matching by descending score: per prediction (in score order) True when it matches."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    iou = iou_matrix(np.asarray(pred)[order] if len(pred) else pred, gt)
    used = np.zeros(len(gt), bool)
    tp = np.zeros(len(order), bool)
    for i in range(len(order)):
        if len(gt) == 0:
            break
        cand = np.where(~used, iou[i], -1)
        j = int(np.argmax(cand))
        if cand[j] >= thr:
            used[j] = True
            tp[i] = True
    return order, tp


def prf(preds, gts, thr=0.5):
    """Precision, recall, F1 over scenes; preds: list of (boxes, scores)."""
    tp = n_pred = n_gt = 0
    for (boxes, scores), gt in zip(preds, gts):
        _, t = match(boxes, scores, gt, thr)
        tp += int(t.sum())
        n_pred += len(boxes)
        n_gt += len(gt)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def average_precision(preds, gts, thr=0.5):
    """VOC-style AP (all-point interpolation) of one class over scenes."""
    all_scores, all_tp, n_gt = [], [], 0
    for (boxes, scores), gt in zip(preds, gts):
        order, t = match(boxes, scores, gt, thr)
        all_scores += list(np.asarray(scores)[order])
        all_tp += list(t)
        n_gt += len(gt)
    if n_gt == 0:
        return 0.0
    o = np.argsort(-np.asarray(all_scores), kind="stable")
    tp = np.asarray(all_tp, np.float64)[o]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


# --- DBNet post-process ---------------------------------------------------------------------------------------

def components(mask):
    """8-connected components of a 2-D bool mask as lists of runs (row, start, end), by union-find over row runs."""
    parent = []

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs, prev = [], []
    for y in range(mask.shape[0]):
        row = mask[y]
        if not row.any():
            prev = []
            continue
        d = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        cur = []
        for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            rid = len(parent)
            parent.append(rid)
            runs.append((y, int(s), int(e)))
            for ps, pe, pid in prev:
                if ps <= e and pe >= s:  # overlapping or diagonal neighbours
                    a, b = find(rid), find(pid)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            cur.append((int(s), int(e), rid))
        prev = cur
    comps = {}
    for i, r in enumerate(runs):
        comps.setdefault(find(i), []).append(r)
    return list(comps.values())


def dbnet_boxes(prob, thresh=0.3, box_thresh=0.6, unclip=1.5, min_size=3):
    h, w = prob.shape
    boxes, scores = [], []
    for runs in components(prob > thresh):
        ys = [r[0] for r in runs]
        y0, y1 = min(ys), max(ys) + 1
        x0, x1 = min(r[1] for r in runs), max(r[2] for r in runs)
        bw, bh = x1 - x0, y1 - y0
        if min(bw, bh) < min_size:
            continue
        score = float(prob[y0:y1, x0:x1].mean())  # box_score_fast of an axis-aligned box
        if score < box_thresh:
            continue
        dist = bw * bh * unclip / (2 * (bw + bh))
        boxes.append([max(0, x0 - dist), max(0, y0 - dist), min(w, x1 + dist), min(h, y1 + dist)])
        scores.append(score)
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores)


# --- YOLOX decode ---------------------------------------------------------------------------------------------

def yolox_decode(out, size=416, strides=(8, 16, 32)):
    grids, st = [], []
    for s in strides:
        n = size // s
        yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        st.append(np.full((n * n, 1), s))
    grid, stride = np.concatenate(grids), np.concatenate(st)
    o = out.astype(np.float64).copy()
    o[:, :2] = (o[:, :2] + grid) * stride
    o[:, 2:4] = np.exp(np.minimum(o[:, 2:4], 30)) * stride
    return o


def nms(boxes, scores, thr=0.45):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        iou = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][iou <= thr]
    return np.asarray(keep, int)


def yolox_boxes(out, ratio, score_thr):
    d = yolox_decode(out)
    score = d[:, 4] * d[:, 5]
    m = score > score_thr
    d, score = d[m], score[m]
    xyxy = np.stack([d[:, 0] - d[:, 2] / 2, d[:, 1] - d[:, 3] / 2, d[:, 0] + d[:, 2] / 2, d[:, 1] + d[:, 3] / 2], 1)
    xyxy /= ratio  # letterbox top-left: back to the scene's pixels
    k = nms(xyxy, score) if len(score) else np.zeros(0, int)
    return xyxy[k], score[k]


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octet", default=os.environ.get("OCTET_BIN", str(REPO / "build" / "octet")))
    ap.add_argument("--shared", default=os.environ.get("OCTET_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--out", default="/tmp/octet-detect")
    ap.add_argument("--models", default="ppocr_det,yolox_det")
    ap.add_argument("--calib", type=int, default=64, help="calibration scenes (the first N of calib/)")
    ap.add_argument("--test", type=int, default=100, help="test scenes (the first N of test/)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-refine", action="store_true", help="octet calibrate --no-refine")
    ap.add_argument("--refine-samples", type=int, default=0, help="octet calibrate --refine-samples N (0: its default)")
    ap.add_argument("--calib-args", default="", help="more octet calibrate flags, space separated")
    ap.add_argument("--quick", action="store_true", help="8 calibration and 8 test scenes, no refinement")
    ap.add_argument("--no-spin", action="store_true", help="OMP_WAIT_POLICY=passive for octet")
    a = ap.parse_args()
    if a.quick:
        a.calib, a.test, a.no_refine = 8, 8, True
    import onnxruntime as ort

    shared = pathlib.Path(a.shared)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if a.no_spin:
        env["OMP_WAIT_POLICY"] = "passive"
    calib_dir, test_dir = shared / "data" / "text-scenes" / "calib", shared / "data" / "text-scenes" / "test"
    labels = json.loads((test_dir / "boxes.json").read_text())
    names = sorted(p.name for p in test_dir.glob("scene_*.jpg"))[:a.test]
    gts = [np.asarray(labels[n], np.float64).reshape(-1, 4) for n in names]
    thr = ["--threads", str(a.threads)] if a.threads else []
    refine = ["--no-refine"] if a.no_refine else (["--refine-samples", str(a.refine_samples)] if a.refine_samples else [])
    refine += a.calib_args.split()
    results = {"calib_scenes": a.calib, "test_scenes": len(names), "calibrate_flags": refine}
    rows = []
    for model in a.models.split(","):
        cfg = MODELS[model]
        onnx = shared / "models" / "detect" / f"{model}.onnx"
        d = out / model
        d.mkdir(exist_ok=True)
        x, y32, y8 = d / "x.npy", d / "fp32.npy", d / "int8.npy"
        cache = d / "int8.cache"
        for f in (cache, pathlib.Path(str(cache) + ".json")):
            if f.exists():
                f.unlink()
        cal_cmd = [a.octet, "calibrate", onnx, "--data", calib_dir, "--limit", a.calib, *cfg["pre"], "--cache", cache,
                   "--quiet", *refine, *thr]
        r, t_cal = sh(cal_cmd, env)
        cal_log = r.stdout
        _, t32 = sh([a.octet, "run", onnx, "--data", test_dir, "--limit", len(names), *cfg["pre"], "--save-input", x,
                     "--output", y32, "--force", "--batch", "8", *thr], env)
        _, t8 = sh([a.octet, "run", onnx, "--input", x, "--output", y8, "--force", "--batch", "8", "--precision",
                    "int8", "--cache", cache, *thr], env)
        xs, f32, i8 = np.load(x), np.load(y32), np.load(y8)
        sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        ref = np.concatenate([sess.run(None, {cfg["input"]: xs[i:i + 1]})[0] for i in range(len(xs))])
        ort_rel = float(np.linalg.norm(f32.astype(np.float64) - ref) / np.linalg.norm(ref.astype(np.float64)))
        res = {"fp32_vs_ort_rel_l2": ort_rel, "calibrate_s": t_cal, "run_fp32_s": t32, "run_int8_s": t8,
               "calibrate_cmd": " ".join(map(str, cal_cmd)).replace(str(shared), "$SHARED"),
               "calibrate_log": [line for line in cal_log.splitlines() if not line.startswith("warning: tensor")]}
        if model == "ppocr_det":
            m32, m8 = f32[:, 0] > 0.3, i8[:, 0] > 0.3
            res["mask_iou_vs_fp32"] = float((m32 & m8).sum() / max((m32 | m8).sum(), 1))
            res["prob_mean_abs_diff"] = float(np.abs(f32 - i8).mean())
            p32 = [dbnet_boxes(m[0]) for m in f32]
            p8 = [dbnet_boxes(m[0]) for m in i8]
            res["fp32_vs_labels"] = prf(p32, gts)
            res["int8_vs_labels"] = prf(p8, gts)
            res["int8_vs_fp32_boxes"] = prf(p8, [b for b, _ in p32])
            rows.append((model, "mask IoU (> 0.3) INT8 vs FP32", res["mask_iou_vs_fp32"]))
            rows.append((model, "prob map mean abs diff INT8 vs FP32", res["prob_mean_abs_diff"]))
            rows.append((model, "box F1 @0.5 INT8 vs FP32 boxes", res["int8_vs_fp32_boxes"]["f1"]))
            rows.append((model, "box F1 @0.5 vs boxes.json, FP32", res["fp32_vs_labels"]["f1"]))
            rows.append((model, "box F1 @0.5 vs boxes.json, INT8", res["int8_vs_labels"]["f1"]))
        else:
            ratio = min(416 / 480, 416 / 640)  # the scenes are 640 x 480
            d32 = [yolox_boxes(o, ratio, 0.3) for o in f32]
            d8 = [yolox_boxes(o, ratio, 0.3) for o in i8]
            res["box_f1_vs_fp32"] = prf(d8, [b for b, _ in d32])["f1"]
            res["map50_vs_fp32"] = average_precision([yolox_boxes(o, ratio, 0.01) for o in i8], [b for b, _ in d32])
            res["fp32_map50_vs_labels"] = average_precision([yolox_boxes(o, ratio, 0.01) for o in f32], gts)
            res["int8_map50_vs_labels"] = average_precision([yolox_boxes(o, ratio, 0.01) for o in i8], gts)
            s32 = np.concatenate([s for _, s in d32]) if d32 else np.zeros(0)
            s8 = np.concatenate([s for _, s in d8]) if d8 else np.zeros(0)
            res["detections_fp32"], res["detections_int8"] = int(len(s32)), int(len(s8))
            res["max_obj_fp32"], res["max_obj_int8"] = float(f32[..., 4].max()), float(i8[..., 4].max())
            rows.append((model, "box F1 @0.5 INT8 vs FP32 (score > 0.3)", res["box_f1_vs_fp32"]))
            rows.append((model, "mAP@0.5 INT8 vs FP32 detections", res["map50_vs_fp32"]))
            rows.append((model, "mAP@0.5 vs boxes.json, FP32", res["fp32_map50_vs_labels"]))
            rows.append((model, "mAP@0.5 vs boxes.json, INT8", res["int8_map50_vs_labels"]))
            rows.append((model, "detections (score > 0.3) FP32 / INT8",
                         f"{res['detections_fp32']} / {res['detections_int8']}"))
        rows.append((model, "FP32 vs ONNX Runtime, relative L2", ort_rel))
        rows.append((model, "octet calibrate time (s)", t_cal))
        results[model] = res
    print(f"{len(names)} test scenes, calibration on {a.calib} scenes, octet calibrate {' '.join(refine) or '(defaults)'}\n")
    print("| model | metric | value |\n|---|---|---|")
    for m, k, v in rows:
        print(f"| {m} | {k} | {v:.4g} |" if isinstance(v, float) else f"| {m} | {k} | {v} |")
    (out / "detect_accuracy.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
