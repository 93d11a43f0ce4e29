#!/usr/bin/env python3
"""Does a top-1 budget checked on calib/ hold on test/, and what would make it hold? (issue 16, effnet_se)

Two measurements on a CIFAR-10 model (default effnet_se), both against FP32 on the same preprocessed tensors:

1. Signals: for several FP32 layer sets (--sets: a JSON {name: [ONNX node, ...]}, plus "none"; the file
   bench/budget_noise_sets.effnet_se.json holds session 10's: tuned lists, ranking prefixes, random sets), run the INT8
   plan of the default cache (`octet run --precision int8 --fp32-layers ...`) on the 1,000 labelled calib/
   images and the 10,000 test/ images, and compare what calib/ says with what test/ says: top-1 drop (with its
   paired counts: lost = FP32 right and INT8 wrong, gained = the other way), agreement, output SQNR, and the
   drop of the mean softmax probability of the true label (points, T = 1 and 2). Prints each set's INT8 share
   of MACs (Conv and Gemm MACs from ONNX shape inference, as octet tune counts them) and the correlation over
   the sets of each calib/ signal with test/'s top-1 drop and with the same signal on test/.
2. Asymmetric SiLU (--asym): `octet quantize --format trt` of the default cache (the tensors octet's INT8 plan
   rounds, with its scales), then the Q/DQ pairs of SiLU outputs (x * Sigmoid(x), >= -0.2785) changed to uint8
   with a zero point over [-0.2785, amax] (same amax: twice the resolution), for all of them, those read by
   depthwise convs, and the rest with the squeeze-excitation products; ONNX Runtime runs each model with graph
   optimizations off (float arithmetic on the Q/DQ values, so every variant is computed the same way).

    python3 bench/budget_noise.py --octet build/octet --out OUT [--shared DIR (default $OCTET_SHARED or ../shared)] [--model effnet_se]
        [--sets S.json] [--asym] [--reuse]
Writes OUT/budget_noise.json and prints markdown tables. Test/ is only measured, never used to choose anything.
"""
import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402
from tune_vs_ort import CIFAR_PRE, identity_model, labels_of  # noqa: E402

SILU_MIN = -0.2785  # min over x of x * sigmoid(x), at x = -1.2785


def run(cmd):
    subprocess.run([str(c) for c in cmd], check=True)


def log_softmax(z, t=1.0):
    z = z / t
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def signals(f, q, lab):
    """Signals of INT8 logits q against FP32 logits f on labels lab (points where a percentage)."""
    n, i = len(lab), np.arange(len(lab))
    fr, qr = f.argmax(1) == lab, q.argmax(1) == lab
    lost, gained = int((fr & ~qr).sum()), int((~fr & qr).sum())
    out = {"drop": 100 * (lost - gained) / n, "lost": lost, "gained": gained,
           "ci95": 100 * 1.96 * np.sqrt(max((lost + gained) - (lost - gained) ** 2 / n, 0)) / n,
           "agreement": 100 * float((f.argmax(1) == q.argmax(1)).mean()),
           "sqnr_db": float(10 * np.log10((f.astype(np.float64) ** 2).sum() / ((f - q).astype(np.float64) ** 2).sum()))}
    for t in (1, 2):
        out[f"p_true_drop_t{t}"] = float(100 * (np.exp(log_softmax(f, t)[i, lab]) - np.exp(log_softmax(q, t)[i, lab])).mean())
    return out


def conv_gemm_macs(model_path):
    """{node name: MACs per sample} of the Conv and Gemm nodes (batch fixed to 1 for shape inference)."""
    import onnx
    from onnx import numpy_helper, shape_inference
    m = onnx.load(str(model_path))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(m.graph.value_info) + list(m.graph.output)}
    inits = {t.name: numpy_helper.to_array(t).shape for t in m.graph.initializer}
    macs = {}
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits[n.input[1]]  # K x C/group x kh x kw
            macs[n.name] = int(np.prod(shapes[n.output[0]])) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            w = inits[n.input[1]]
            macs[n.name] = int(np.prod(w))
    return macs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=str(bl.default_shared()))
    p.add_argument("--octet", default="build/octet")
    p.add_argument("--out", default="out/budget_noise")
    p.add_argument("--model", default="effnet_se")
    p.add_argument("--sets", help="JSON {name: [ONNX node names kept in FP32]}")
    p.add_argument("--asym", action="store_true", help="also the asymmetric-SiLU Q/DQ simulation (needs onnxruntime)")
    p.add_argument("--reuse", action="store_true", help="reuse tensors, the cache and logits already in OUT")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    shared, octet, out = pathlib.Path(a.shared), a.octet, pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = shared / "models/cifar10" / f"{a.model}.onnx"
    th = ["--threads", str(a.threads)]
    data, labels = {}, {}
    for d in ("calib", "test"):
        npy = out / f"{d}.npy"
        if not (a.reuse and npy.exists()):
            identity_model(out / "identity.onnx")
            run([octet, "run", out / "identity.onnx", "--data", shared / "data/cifar10" / d, *CIFAR_PRE,
                 "--save-input", npy, "--force", "--quiet", *th])
        data[d], labels[d] = npy, np.array(labels_of(shared / "data/cifar10" / d))
    cache = out / f"{a.model}.cache"
    if not (a.reuse and cache.exists()):
        run([octet, "calibrate", model, "--data", shared / "data/cifar10/calib", *CIFAR_PRE, "--cache", cache,
             "--quiet", *th])

    sets = {"none": []}
    if a.sets:
        sets.update(json.loads(pathlib.Path(a.sets).read_text()))
    (out / "sets.json").write_text(json.dumps(sets, indent=1))
    macs = conv_gemm_macs(model)
    total = sum(macs.values())

    def logits(tag, d, extra):
        y = out / f"{tag}.{d}.npy"
        if not (a.reuse and y.exists()):
            run([octet, "run", model, "--data", data[d], "--batch", "250", "--output", y, "--force", "--quiet", *th, *extra])
        return np.load(y)

    ref = {d: logits("fp32", d, []) for d in ("calib", "test")}
    rows = []
    for name, layers in sets.items():
        extra = ["--precision", "int8", "--cache", cache, "--fp32-layers", ",".join(layers) if layers else "none"]
        s = {d: signals(ref[d], logits(name, d, extra), labels[d]) for d in ("calib", "test")}
        share = 100 * (1 - sum(macs.get(l, 0) for l in layers) / total)
        rows.append({"set": name, "fp32_layers": len(layers), "int8_mac_pct": share, **{f"{d}": s[d] for d in s}})

    print("| FP32 layer set | layers | INT8 MACs | calib/ drop (lost/gained, ±95%) | calib/ agreement | calib/ SQNR | calib/ p(true) drop | "
          "**test/ drop** (lost/gained, ±95%) | test/ agreement | test/ SQNR | test/ p(true) drop |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, t = r["calib"], r["test"]
        print(f"| {r['set']} | {r['fp32_layers']} | {r['int8_mac_pct']:.1f}% | {c['drop']:+.2f} ({c['lost']}/{c['gained']}, ±{c['ci95']:.2f}) | "
              f"{c['agreement']:.2f}% | {c['sqnr_db']:.2f} | {c['p_true_drop_t1']:+.3f} | **{t['drop']:+.2f}** "
              f"({t['lost']}/{t['gained']}, ±{t['ci95']:.2f}) | {t['agreement']:.2f}% | {t['sqnr_db']:.2f} | {t['p_true_drop_t1']:+.3f} |")
    td = np.array([r["test"]["drop"] for r in rows])
    corr = {}
    print("\n| calib/ signal | corr. with test/ top-1 drop | corr. with the same signal on test/ |\n|---|---|---|")
    for k in ("drop", "agreement", "sqnr_db", "p_true_drop_t1", "p_true_drop_t2"):
        x = np.array([r["calib"][k] for r in rows])
        y = np.array([r["test"][k] for r in rows])
        corr[k] = (float(np.corrcoef(x, td)[0, 1]), float(np.corrcoef(x, y)[0, 1]))
        print(f"| {k} | {corr[k][0]:+.2f} | {corr[k][1]:+.2f} |")
    print(f"\ntest/ top-1 drop over the {len(rows)} sets: mean {td.mean():.3f}, sd {td.std(ddof=1):.3f} points")
    result = {"sets": rows, "correlations": corr}

    if a.asym:
        result["asym"] = asym(a, octet, model, cache, data, labels, ref, out)
    (out / "budget_noise.json").write_text(json.dumps(result, indent=1))


def asym(a, octet, model, cache, data, labels, ref, out):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    q = out / f"{a.model}.trt.qdq.onnx"
    if not (a.reuse and q.exists()):
        run([octet, "quantize", model, "--cache", cache, "--format", "trt", "--fp32-layers", "none", "-o", q, "--force", "--quiet"])
    base, orig = onnx.load(str(q)), onnx.load(str(model))
    prod = {o: n for n in orig.graph.node for o in n.output}
    readers = {}
    for n in orig.graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    silu, se = set(), set()
    for n in orig.graph.node:
        if n.op_type == "Mul":
            x, g = n.input
            src = prod.get(g)
            (silu if src is not None and src.op_type == "Sigmoid" and src.input[0] == x else se).add(n.output[0])
    depthwise = {t for t in silu if any(r.op_type == "Conv" and any(at.name == "group" and at.i > 1 for at in r.attribute)
                                        for r in readers.get(t, []))}

    def variant(tensors):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        inits = {i.name: i for i in m.graph.initializer}
        changed = 0
        for t in tensors:
            sn, zn = t + "_scale", t + "_zero_point"
            if sn not in inits:
                continue
            amax = 127 * float(numpy_helper.to_array(inits[sn]))
            s = (amax - SILU_MIN) / 255
            inits[sn].CopyFrom(numpy_helper.from_array(np.array(s, np.float32), sn))
            inits[zn].CopyFrom(numpy_helper.from_array(np.array(round(-SILU_MIN / s), np.uint8), zn))
            changed += 1
        return m, changed

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    rows = []
    print("\n| Q/DQ model (ORT, optimizations off) | pairs changed | calib/ drop | calib/ agreement | **test/ drop** (lost/gained, ±95%) | "
          "test/ agreement | test/ SQNR | test/ p(true) drop |\n|---|---|---|---|---|---|---|---|")
    for name, tensors in (("symmetric int8 (octet's plan)", set()), ("SiLU outputs uint8 + zero point", silu),
                          ("  of them, those read by depthwise convs", depthwise),
                          ("  the other SiLU outputs + SE products", (silu - depthwise) | se),
                          ("SiLU outputs + SE products", silu | se)):
        m, changed = variant(tensors)
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        s = {}
        for d in ("calib", "test"):
            x = np.load(data[d], mmap_mode="r")
            y = np.concatenate([sess.run(None, {"input": np.ascontiguousarray(x[i:i + 500])})[0] for i in range(0, len(x), 500)])
            s[d] = signals(ref[d], y, labels[d])
        c, t = s["calib"], s["test"]
        print(f"| {name} | {changed} | {c['drop']:+.2f} | {c['agreement']:.2f}% | **{t['drop']:+.2f}** ({t['lost']}/{t['gained']}, "
              f"±{t['ci95']:.2f}) | {t['agreement']:.2f}% | {t['sqnr_db']:.2f} | {t['p_true_drop_t1']:+.3f} |", flush=True)
        rows.append({"variant": name.strip(), "pairs": changed, **s})
    return rows


if __name__ == "__main__":
    main()
