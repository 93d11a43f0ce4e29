#!/usr/bin/env python3
"""Mixed precision to an accuracy budget (issue 16), checked on the CIFAR-10 models and in ONNX Runtime.

For each model (../shared/models/cifar10, or --models):
  octet calibrate MODEL --data calib/ <CIFAR preprocessing> --cache C          (the default: entropy2, refined)
  octet tune MODEL --cache C --data calib/ --samples 1000 --budget B -o T --exclusions X.json --json R.json
      -> FP32 layers, INT8 share of MACs, budget on the calibration images (labelled by class folder)
  octet eval MODEL --data test/ --cache T --precision fp32,int8          -> octet FP32 / INT8 top-1 on the test set
  ONNX Runtime quantize_static, calibrated (MinMax) on the first --ort-calib calibration images; with
      --ort-scales kwargs (the default) called with X.json's "onnxruntime" -> "quantize_static" arguments
      (python/octet/ort.py: the nodes, op types, extra_options and octet's scales with which ORT rounds the
      tensors octet's tuned plan rounds); with octet / ort: QDQ, QInt8 symmetric activations and per-channel
      weights, nodes_to_exclude = X.json's "onnxruntime" list and every activation scale of T forced on ORT
      (TensorQuantOverrides, zero point 0; MinMax for the rest: octet), or ORT's own MinMax scales (ort).
      ORT's CPU provider runs it on the test set -> ORT top-1
Goals: INT8 top-1 within B of FP32 on the test set; >= 90% of MACs in INT8; |ORT - octet INT8| <= 0.1.
The test tensor is octet's own preprocessing (octet run identity.onnx --save-input), labels the class indices.

    python3 bench/tune_vs_ort.py [--shared ../shared] [--octet build/octet] [--out out/tune_vs_ort]
                                 [--models resnet20,...] [--budget 0.1] [--samples 1000] [--limit N] [--reuse]
Writes OUT/tune_vs_ort.SCALES[.MODELS].json and .md (SCALES: --ort-scales; MODELS when --models is not all five).
--tune-args "..." passes more options to octet tune (e.g. "--min-int8-macs 90 --rank-samples 250").

--held-out: tune on labelled images the model was not trained on (calib/ is training images, on which FP32 is
right 96% of the time and a top-1 drop is overstated): the test set is split in two halves with `--shuffle --seed 1`
(`--limit 5000` / `--skip 5000`); each half's tuned cache is evaluated on the other half, so every test image is
scored by a plan that was not tuned on it. The drop reported is over all 10,000 (both halves), ORT is not run.
Writes OUT/tune_heldout[.MODELS].json and .md.
"""
import argparse
import importlib.util
import json
import pathlib
import struct
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

CIFAR_PRE = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"]
MODELS = ["resnet20", "densenet40", "mobilenetv2", "effnet_se", "vit_tiny"]


def identity_model(path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 32, 32])
    g = helper.make_graph([helper.make_node("Identity", ["input"], ["output"], name="identity")], "identity", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def labels_of(root):
    root = pathlib.Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    out = []
    for k, c in enumerate(classes):
        out += [k] * sum(1 for f in (root / c).iterdir() if f.is_file() and not f.name.startswith("."))
    return out


def cache_scales(path):
    """{tensor: float32 scale} of a TensorRT cache (header line skipped; '0' entries left out)."""
    out = {}
    for line in pathlib.Path(path).read_text().splitlines()[1:]:
        name, _, hexs = line.rpartition(":")
        hexs = hexs.strip()
        if hexs and hexs != "0":
            out[name] = struct.unpack(">f", bytes.fromhex(hexs.rjust(8, "0")))[0]
    return out


def ort_quantize(model, out_model, calib, scales, exclude):
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    g = onnx.load(str(model)).graph
    names = {v for n in g.node for v in n.output} | {i.name for i in g.input}
    overrides = {t: [{"scale": np.array(s, dtype=np.float32), "zero_point": np.array(0, dtype=np.int8)}] for t, s in scales.items() if t in names}
    quantize_static(str(model), str(out_model), bl.ort_reader(calib, 32, g.input[0].name), quant_format=QuantFormat.QDQ,
                    calibrate_method=CalibrationMethod.MinMax, per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                   "TensorQuantOverrides": overrides})


def octet_ort_module():
    """python/octet/ort.py, loaded by path (it needs numpy and onnxruntime only, not octet's extension)."""
    path = pathlib.Path(__file__).resolve().parent.parent / "python/octet/ort.py"
    spec = importlib.util.spec_from_file_location("octet_ort", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ort_quantize_kwargs(model, out_model, calib, excl):
    """quantize_static with octet tune's arguments (X.json "onnxruntime" -> "quantize_static")."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, quantize_static
    name = onnx.load(str(model)).graph.input[0].name
    quantize_static(str(model), str(out_model), bl.ort_reader(calib, 32, name), calibrate_method=CalibrationMethod.MinMax,
                    **octet_ort_module().quantize_static_kwargs(excl))


def ort_top1(model, x, labels, threads):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    correct = 0
    for i in range(0, len(x), 500):
        y = s.run(None, {name: np.ascontiguousarray(x[i:i + 500])})[0]
        correct += int((y.argmax(1) == labels[i:i + 500]).sum())
    return 100.0 * correct / len(x)


def default_cache(a, octet, model, calib, c):
    """The default `octet calibrate` cache of `model` on calib/ at `c` (kept with --reuse when it exists)."""
    if not (a.reuse and c.exists()):
        bl.run([octet, "calibrate", model, "--data", calib, *CIFAR_PRE, "--cache", c, "--quiet"])
    return c


def held_out(a):
    shared, octet, out = pathlib.Path(a.shared), a.octet, pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    calib, test = shared / "data/cifar10/calib", shared / "data/cifar10/test"
    n = len(labels_of(test))
    halves = {"A": ["--limit", str(n // 2)], "B": ["--skip", str(n // 2)]}
    split = ["--shuffle", "--seed", "1"]
    rows, results = [], {}
    for m in a.models.split(","):
        model = shared / "models/cifar10" / f"{m}.onnx"
        c = default_cache(a, octet, model, calib, out / f"{m}.cache")
        res = {"halves": {}}
        for tune_on, eval_on in (("A", "B"), ("B", "A")):
            t, r = out / f"{m}.tuned{tune_on}.cache", out / f"{m}.tune{tune_on}.json"
            t0 = time.time()
            if not (a.reuse and t.exists() and r.exists()):
                bl.run([octet, "tune", model, "--cache", c, "--data", test, *split, *halves[tune_on], *CIFAR_PRE,
                        "--samples", str(n), "--batch", "100", "--budget", a.budget, "-o", t, "--json", r, "--force",
                        "--quiet", "--threads", str(a.threads), *a.tune_args.split()])
            tune_s = time.time() - t0
            rep = json.loads(r.read_text())
            ev = out / f"{m}.eval{tune_on}on{eval_on}.json"
            bl.run([octet, "eval", model, "--data", test, *split, *halves[eval_on], *CIFAR_PRE, "--cache", t,
                    "--precision", "fp32,int8", "--batch", "100", "--json", ev, "--force", "--quiet",
                    "--threads", str(a.threads)])
            e = json.loads(ev.read_text())
            res["halves"][tune_on] = dict(eval_on=eval_on, fp32_layers=rep["fp32_layers"],
                                          int8_mac_share=rep["int8_mac_share"], budget_met_tuned_half=rep["budget_met"],
                                          metrics_tuned_half=rep["metrics_final"], trials=rep["trials"],
                                          tune_seconds=round(tune_s, 1), fp32=100.0 * e["fp32"]["top1"],
                                          int8=100.0 * e["int8"]["top1"], images=e["int8"]["images"])
        h = res["halves"]
        imgs = sum(v["images"] for v in h.values())
        res["fp32"] = sum(v["fp32"] * v["images"] for v in h.values()) / imgs
        res["int8"] = sum(v["int8"] * v["images"] for v in h.values()) / imgs
        res["min_int8_mac_share"] = min(v["int8_mac_share"] for v in h.values())
        results[m] = res
        drop = res["fp32"] - res["int8"]
        ok = drop <= float(a.goal or a.budget) + 1e-9 and res["min_int8_mac_share"] >= 0.9
        rows.append([m, f"{res['fp32']:.2f}", f"{res['int8']:.2f} ({-drop:+.2f})",
                     " / ".join(f"{h[k]['int8'] - h[k]['fp32']:+.2f}" for k in "AB"),
                     " / ".join(str(len(h[k]["fp32_layers"])) for k in "AB"),
                     " / ".join(f"{100 * h[k]['int8_mac_share']:.1f}%" for k in "AB"),
                     " / ".join(f"{h[k]['tune_seconds']:.0f} s" for k in "AB"), "✅" if ok else "❌"])
        bl.log(f"{m}: {rows[-1]}")
    md = bl.md_table(["model", "FP32", "octet INT8 on held-out images (Δ FP32)", "Δ FP32 on B (tuned on A) / on A (tuned on B)",
                      "FP32 layers (tuned on A / B)", "INT8 MACs", "tune time", "goals"], rows)
    print(md)
    stem = "tune_heldout" + ("" if a.models == ",".join(MODELS) else "." + "+".join(a.models.split(",")))
    bl.write_outputs(out / f"{stem}.json", out / f"{stem}.md", {"machine": bl.machine(), "args": vars(a), "results": results}, md)


def main():
    import numpy as np
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=str(bl.default_shared()))
    p.add_argument("--octet", default=str(bl.default_octet()))
    p.add_argument("--out", default="out/tune_vs_ort")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--budget", default="0.1")
    p.add_argument("--samples", default="1000")
    p.add_argument("--goal", default=None, help="the top-1 drop the test set must meet (default: --budget; e.g. "
                                                "--budget 0.05 --goal 0.1 tunes with a margin)")
    p.add_argument("--ort-calib", type=int, default=64, help="images ORT's calibration runs on")
    p.add_argument("--ort-scales", choices=["kwargs", "octet", "ort"], default="kwargs",
                   help="kwargs: tune's quantize_static arguments; octet: T's scales forced on ORT with "
                        "nodes_to_exclude only; ort: ORT's own MinMax scales")
    p.add_argument("--regen-args", action="store_true",
                   help="with --reuse: write the quantize_static arguments again for the tuned cache and its FP32 layers "
                        "(octet tune --max-fp32 0 --fp32-layers ...), e.g. after changing how octet derives them")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse", action="store_true", help="reuse tensors, caches and tune results already in OUT")
    p.add_argument("--tune-args", default="", help="more options for octet tune, one string")
    p.add_argument("--held-out", action="store_true", help="tune on one half of test/, evaluate on the other (both ways)")
    a = p.parse_args()
    if a.held_out:
        return held_out(a)
    shared, octet, out = pathlib.Path(a.shared), a.octet, pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    calib, test = shared / "data/cifar10/calib", shared / "data/cifar10/test"
    identity = out / "identity.onnx"
    identity_model(identity)
    tensors = {}
    for tag, d in (("calib", calib), ("test", test)):
        npy = out / f"{tag}.npy"
        if not (a.reuse and npy.exists()):
            bl.run([octet, "run", identity, "--data", d, *CIFAR_PRE, "--save-input", npy, "--force", "--threads", "1"])
        tensors[tag] = np.load(npy, mmap_mode="r")
    labels = np.array(labels_of(test), dtype=np.int64)
    assert len(labels) == len(tensors["test"])
    rows, results = [], {}
    for m in a.models.split(","):
        model = shared / "models/cifar10" / f"{m}.onnx"
        t, x, r = out / f"{m}.tuned.cache", out / f"{m}.excl.json", out / f"{m}.tune.json"
        c = default_cache(a, octet, model, calib, out / f"{m}.cache")
        t0 = time.time()
        if not (a.reuse and t.exists() and x.exists() and r.exists()):
            bl.run([octet, "tune", model, "--cache", c, "--data", calib, *CIFAR_PRE, "--samples", a.samples,
                    "--batch", "100", "--budget", a.budget, "-o", t, "--exclusions", x, "--json", r, "--force",
                    "--quiet", *a.tune_args.split()])
        tune_s = time.time() - t0
        rep, excl = json.loads(r.read_text()), json.loads(x.read_text())
        if a.ort_scales == "kwargs" and (a.regen_args or "quantize_static" not in excl["onnxruntime"]):
            # a tune result of an older octet (--reuse): the arguments for its tuned cache and FP32 layers
            x = out / f"{m}.excl.kwargs.json"
            bl.run([octet, "tune", model, "--cache", t, "--data", calib, *CIFAR_PRE, "--samples", "1", "--no-scale-search",
                    "--max-fp32", "0", *(["--fp32-layers", ",".join(rep["fp32_layers"])] if rep["fp32_layers"] else []),
                    "-o", out / f"{m}.retuned.cache",
                    "--exclusions", x, "--force", "--quiet"])
            excl = json.loads(x.read_text())
        ev = out / f"{m}.eval.json"
        bl.run([octet, "eval", model, "--data", test, *CIFAR_PRE, "--cache", t, "--precision", "fp32,int8", "--batch",
                "100", "--json", ev, "--force", "--quiet"])
        e = json.loads(ev.read_text())
        runs = {k: 100.0 * e[k]["top1"] for k in ("fp32", "int8")}
        qdq = out / f"{m}.ort-{a.ort_scales}.qdq.onnx"
        if a.ort_scales == "kwargs":
            ort_quantize_kwargs(model, qdq, tensors["calib"][:a.ort_calib], excl)
        else:
            ort_quantize(model, qdq, tensors["calib"][:a.ort_calib], cache_scales(t) if a.ort_scales == "octet" else {},
                         excl["onnxruntime"]["nodes_to_exclude"])
        ort = ort_top1(qdq, tensors["test"], labels, a.threads)
        res = dict(fp32=runs.get("fp32"), octet_int8=runs.get("int8"), ort_int8=ort,
                   fp32_layers=rep["fp32_layers"], excluded_nodes=excl["nodes"], int8_mac_share=rep["int8_mac_share"],
                   ort_scales=a.ort_scales, budget_met_calib=rep["budget_met"], metrics_calib=rep["metrics_final"], trials=rep["trials"],
                   tune_seconds=round(tune_s, 1),
                   ort_args={k: v for k, v in excl["onnxruntime"].get("quantize_static", {}).items() if k != "kwargs"})
        results[m] = res
        drop = res["fp32"] - res["octet_int8"]
        ok = drop <= float(a.goal or a.budget) + 1e-9 and res["int8_mac_share"] >= 0.9 and abs(ort - res["octet_int8"]) <= 0.1 + 1e-9
        rows.append([m, f"{res['fp32']:.2f}", f"{res['octet_int8']:.2f} ({-drop:+.2f})", f"{ort:.2f} ({ort - res['octet_int8']:+.2f})",
                     str(len(rep["fp32_layers"])), f"{100 * res['int8_mac_share']:.1f}%", str(rep["trials"]),
                     f"{tune_s:.0f} s", "✅" if ok else "❌"])
        bl.log(f"{m}: {rows[-1]}")
    md = bl.md_table(["model", "FP32", "octet INT8 (Δ FP32)", f"ORT INT8, --ort-scales {a.ort_scales} (Δ octet)",
                      "FP32 layers", "INT8 MACs", "tune trials", "tune time", "goals"], rows)
    print(md)
    stem = f"tune_vs_ort.{a.ort_scales}" + ("" if a.models == ",".join(MODELS) else "." + "+".join(a.models.split(",")))
    bl.write_outputs(out / f"{stem}.json", out / f"{stem}.md", {"machine": bl.machine(), "args": vars(a), "results": results}, md)


if __name__ == "__main__":
    main()
