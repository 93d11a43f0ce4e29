#!/usr/bin/env python3
"""Q/DQ export and import, checked against ONNX Runtime on real data (issue 5).

Export (every model in ../shared/models/cifar10, or --models):
  octet calibrate MODEL --data calib/ <CIFAR preprocessing> --cache C         (entropy2, refined: the default)
  octet eval MODEL --data test/ <CIFAR preprocessing> --precision fp32,int8 --cache C  -> octet FP32 / INT8 top-1
  octet quantize MODEL --cache C -o M.FMT.qdq.onnx --format FMT                       (FMT in --formats: trt, ort)
  ONNX Runtime (CPU provider, 1 thread) runs M.FMT.qdq.onnx on octet's own preprocessed test tensor -> top-1
  ONNX Runtime with graph optimizations off runs it too -> top-1 (the Q/DQ model as ONNX defines it, not fused
  into ORT's QLinearConv/QGemm kernels, whose int32-bias requantization is ORT's own arithmetic)
  octet eval M.FMT.qdq.onnx --precision int8 -> top-1 (the export's arithmetic without ORT's float kernels)
Import (--ort-models, default resnet20 and mobilenetv2):
  onnxruntime.quantization.quantize_static, QDQ format, MinMax on octet's preprocessed calib/ tensor, in two
  configs: "trt-like" (QInt8 activations and weights, per_channel, ActivationSymmetric + WeightSymmetric) and
  "default" (ORT's defaults: activations with zero points (asymmetric), per-tensor weights);
  ONNX Runtime runs it -> top-1;  octet eval M.ort_CONFIG.qdq.onnx --precision int8 -> top-1 (for "default" also
  with --asymmetric symmetric: octet's int8 kernels on a symmetric mapping, instead of the exact simulation).
Goal: every ORT-vs-octet difference within 0.1 points.

The preprocessed tensors come from octet itself (`octet run identity.onnx --data DIR --save-input X.npy`, with a
one-node Identity model so that no real network runs on 10,000 images at once); labels are the class folder
indices in alphabetical order, the order octet reads them. --limit N evaluates a subset of N test images spread
evenly over the classes (symlinked into OUT/test_subset) so octet and ORT see the same images.

    python3 bench/qdq_vs_ort.py [--shared ../shared] [--octet build/octet] [--out out/qdq]
                                [--models resnet20,...] [--ort-models resnet20,mobilenetv2] [--formats trt,ort]
                                [--limit N] [--calib-limit N] [--reuse] [--no-spin] [--quick] [--noise EPS]
Writes OUT/qdq.json and OUT/qdq.md.
"""
import argparse
import json
import os
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

CIFAR_PRE = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"]
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
ORT_CONFIGS = ["trt-like", "default"]
GOAL = 0.1  # points of top-1


# ---------------------------------------------------------------------------------------------- children
def ort_session(model, threads, no_spin, unoptimized=False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if unoptimized:  # the Q/DQ model exactly as ONNX defines it: no fusion into ORT's QLinear* kernels
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if no_spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def child_ort_eval(a):
    """Top-1 of a model over X.npy / labels.npy in batches; writes {top1, images, correct} and the predictions."""
    import numpy as np
    x = np.load(a.npy, mmap_mode="r")
    labels = np.load(a.labels)
    model = a.model
    if a.perturb:  # every activation scale (QuantizeLinear's) times 1 + perturb: the top-1's sensitivity to ties
        import onnx
        from onnx import numpy_helper
        m = onnx.load(a.model)
        act = {n.input[1] for n in m.graph.node if n.op_type == "QuantizeLinear"}
        for i in m.graph.initializer:
            if i.name in act:
                v = numpy_helper.to_array(i).astype(np.float32) * np.float32(1 + a.perturb)
                i.CopyFrom(numpy_helper.from_array(v.astype(np.float32), i.name))
        model = m.SerializeToString()
    sess = ort_session(model, a.threads, a.no_spin, a.unoptimized)
    name = sess.get_inputs()[0].name
    pred = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), a.batch):
        y = sess.run(None, {name: np.ascontiguousarray(x[i:i + a.batch])})[0]
        pred[i:i + a.batch] = y.argmax(axis=1)
    correct = int((pred == labels).sum())
    if a.pred:
        np.save(a.pred, pred)
    pathlib.Path(a.json).write_text(json.dumps({"top1": correct / len(x), "images": int(len(x)), "correct": correct}))


def child_ort_quantize(a):
    import numpy as np
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    data = np.load(a.npy)


    if a.config == "trt-like":
        kw = dict(per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                  extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    else:  # ORT's defaults: asymmetric activations (zero points), QInt8 weights per tensor
        kw = dict(extra_options={})
    # Bound calibration memory (ORT keeps every intermediate output otherwise); MinMax does not depend on the
    # chunking. ORT raises "No data is collected" when the batch count is a multiple of the chunk.
    nb = (len(data) + a.batch - 1) // a.batch
    k = next((k for k in range(3, 9) if nb % k), None)
    if k and nb > k:
        kw["extra_options"]["CalibMaxIntermediateOutputs"] = k
    quantize_static(a.model, a.out_model, bl.ort_reader(data, a.batch, a.input_name), quant_format=QuantFormat.QDQ,
                    calibrate_method=CalibrationMethod.MinMax, **kw)


def child_identity(a):
    """A one-node model input -> Identity -> output with CIFAR's input shape (N x 3 x 32 x 32, N symbolic)."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 32, 32])
    g = helper.make_graph([helper.make_node("Identity", ["input"], ["output"], name="identity")], "identity", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), a.out_model)


# ------------------------------------------------------------------------------------------- orchestration
def class_images(root):
    """[(path, label)] in octet's order: class folders sorted (label = index), files sorted inside."""
    root = pathlib.Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    out = []
    for k, c in enumerate(classes):
        files = sorted(p for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_EXT and not p.name.startswith("."))
        out += [(p, k) for p in files]
    return classes, out


def subset(src, dst, n):
    """dst/CLASS/ with about n images of src spread evenly over the classes and over each class (symlinks)."""
    import shutil
    classes, items = class_images(src)
    dst = pathlib.Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    per = max(1, n // len(classes))
    for k, c in enumerate(classes):
        files = [p for p, lab in items if lab == k]
        step = max(1, len(files) // per)
        (dst / c).mkdir(parents=True)
        for p in files[::step][:per]:
            (dst / c / p.name).symlink_to(p.resolve())
    return dst


def tensor_of(octet, identity, data, npy, labels_npy, a):
    """octet's preprocessed tensor of every image of `data` (and the labels, when `labels_npy`)."""
    import numpy as np
    if a.reuse and npy.exists() and (labels_npy is None or labels_npy.exists()):
        bl.log(f"reusing {npy}")
        return
    for p in (npy, labels_npy):
        if p is not None and p.exists():
            p.unlink()
    bl.run([octet, "run", identity, "--data", data, *CIFAR_PRE, "--save-input", npy, "--threads", "1"],
           env=bl.spin_env(a.no_spin))
    n = np.load(npy, mmap_mode="r").shape[0]
    if labels_npy is not None:
        _, items = class_images(data)
        if len(items) != n:
            raise bl.Failed(f"{data}: octet read {n} images, the folder listing has {len(items)}")
        np.save(labels_npy, np.array([lab for _, lab in items], dtype=np.int64))


def octet_eval(a, octet, model, data, extra, json_path):
    if json_path.exists():
        json_path.unlink()
    r = bl.run([octet, "eval", model, "--data", data, *CIFAR_PRE, "--batch", "100", "--threads", a.threads,
                "--json", json_path, *extra], env=bl.spin_env(a.no_spin))  # no --quiet: its notes are read
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    if "INT8 is simulated" in r.stderr:
        warnings.append("simulated")
    return json.loads(json_path.read_text()), warnings


def ort_eval(a, model, npy, labels, tag, work, perturb=0.0, unoptimized=False):
    j = work / f"{tag}.ort.json"
    cmd = [sys.executable, __file__, "--child", "ort-eval", "--model", model, "--npy", npy, "--labels", labels,
           "--json", j, "--pred", work / f"{tag}.ort_pred.npy", "--threads", a.threads, "--batch", "100",
           f"--perturb={perturb}"]
    if unoptimized:
        cmd.append("--unoptimized")
    if a.no_spin:
        cmd.append("--no-spin")
    r = bl.measured(cmd)
    res = json.loads(j.read_text())
    res["wall_s"] = r["wall_s"]
    return res


def pts(x):
    return None if x is None else round(100.0 * x, 2)


def diff(x, y):
    return None if x is None or y is None else round(100.0 * (x - y), 2)


def verdict(d):
    return "—" if d is None else (f"{d:+.2f} ✅" if abs(d) <= GOAL + 1e-9 else f"{d:+.2f} ❌")


def export_part(a, octet, work, test, calib, test_npy, labels_npy):
    shared = pathlib.Path(a.shared)
    results = {}
    for name in [m for m in a.models.split(",") if m]:
        model = shared / "models" / "cifar10" / f"{name}.onnx"
        cache = work / f"{name}.entropy2.cache"
        cell = {"model": str(model), "cache": str(cache)}
        bl.calibrate_or_reuse(octet, model, cache, ["--data", calib, *CIFAR_PRE, "--threads", a.threads], a.reuse,
                              name, env=bl.spin_env(a.no_spin))
        bl.log(f"octet eval {name} fp32,int8")
        ev, _ = octet_eval(a, octet, model, test, ["--precision", "fp32,int8", "--cache", cache],
                           work / f"{name}.octet_eval.json")
        cell["octet"] = ev
        for fmt in a.formats.split(","):
            qdq = work / f"{name}.{fmt}.qdq.onnx"
            bl.log(f"octet quantize {name} --format {fmt}")
            r = bl.run([octet, "quantize", model, "--cache", cache, "-o", qdq, "--format", fmt, "--force"])
            bl.log(f"ORT eval {qdq.name}")
            res = ort_eval(a, qdq, test_npy, labels_npy, f"{name}.{fmt}", work)
            res["quantize_log"] = (r.stdout + r.stderr).strip().splitlines()[-20:]
            res["delta_vs_octet_int8"] = diff(res["top1"], ev["int8"]["top1"])
            # ORT without graph optimizations: the Q/DQ model as ONNX defines it (DequantizeLinear -> float op ->
            # QuantizeLinear), not fused into ORT's QLinearConv / QGemm with their own requantization arithmetic.
            bl.log(f"ORT eval {qdq.name}, graph optimizations off")
            un = ort_eval(a, qdq, test_npy, labels_npy, f"{name}.{fmt}.unoptimized", work, unoptimized=True)
            res["ort_unoptimized"] = un
            res["ort_unoptimized_delta"] = diff(un["top1"], ev["int8"]["top1"])
            # octet itself on the export: the Q/DQ model's arithmetic without ONNX Runtime's float kernels.
            bl.log(f"octet eval {qdq.name} --precision int8")
            ev_q, _ = octet_eval(a, octet, qdq, test, ["--precision", "int8"], work / f"{name}.{fmt}.octet_eval.json")
            res["octet_on_export"] = ev_q["int8"]
            res["octet_on_export_delta"] = diff(ev_q["int8"]["top1"], ev["int8"]["top1"])
            cell[f"ort_on_{fmt}"] = res
            bl.log(f"{name}: octet int8 {pts(ev['int8']['top1'])}  ORT on {fmt} Q/DQ {pts(res['top1'])}  "
                   f"({res['delta_vs_octet_int8']:+.2f})")
            if a.noise and fmt == "trt":
                # The same model with every activation scale nudged by +-noise (relative): only rounding ties
                # change, so the spread of ORT's top-1 is the noise floor of any comparison on this model.
                runs = [res["top1"]]
                for sign, tagsign in ((1, "plus"), (-1, "minus")):
                    bl.log(f"ORT eval {qdq.name}, activation scales x (1 {'+' if sign > 0 else '-'} {a.noise:g})")
                    runs.append(ort_eval(a, qdq, test_npy, labels_npy, f"{name}.{fmt}.noise_{tagsign}", work,
                                         sign * a.noise)["top1"])
                res["noise"] = {"relative_scale_change": a.noise, "top1": runs,
                                 "spread_points": round(100.0 * (max(runs) - min(runs)), 2)}
                bl.log(f"{name}: ORT top-1 under scale x (1 +- {a.noise:g}): {[pts(r) for r in runs]}")
        results[name] = cell
    return results


def import_part(a, octet, work, test, calib_npy, test_npy, labels_npy):
    shared = pathlib.Path(a.shared)
    results = {}
    for name in [m for m in a.ort_models.split(",") if m]:
        model = shared / "models" / "cifar10" / f"{name}.onnx"
        results[name] = {}
        for config in ORT_CONFIGS:
            qdq = work / f"{name}.ort_{config}.qdq.onnx"
            tag = f"{name}.ort_{config}"
            if a.reuse and qdq.exists():
                bl.log(f"reusing {qdq}")
            else:
                bl.log(f"ORT quantize_static {name} {config}")
                bl.run([sys.executable, __file__, "--child", "ort-quantize", "--model", model, "--npy", calib_npy,
                        "--out-model", qdq, "--batch", "50", "--config", config, "--input-name", "input"])
            bl.log(f"ORT eval {qdq.name}")
            ort_res = ort_eval(a, qdq, test_npy, labels_npy, tag, work)
            cell = {"qdq_model": str(qdq), "ort": ort_res}
            variants = [("", [])]
            if config == "default":
                variants.append((" --asymmetric symmetric", ["--asymmetric", "symmetric"]))
            for label, extra in variants:
                cell = {"qdq_model": str(qdq), "ort": ort_res, "octet_flags": extra}
                bl.log(f"octet eval {qdq.name} --precision int8{label}")
                try:
                    ev, warns = octet_eval(a, octet, qdq, test, ["--precision", "int8", *extra],
                                           work / f"{tag}{label.replace(' ', '_')}.octet_eval.json")
                    cell["octet"] = ev
                    cell["octet_simulated"] = "simulated" in warns
                    warns = [w for w in warns if w != "simulated"]
                    cell["octet_warnings"] = len(warns)
                    cell["octet_warning_examples"] = warns[:3]
                    cell["delta_octet_minus_ort"] = diff(ev["int8"]["top1"], ort_res["top1"])
                except bl.Failed as e:  # refusing the model is a result too: report the message
                    msg = str(e)
                    m = re.search(r"^(error:.*)$", msg, re.M)
                    cell["octet_error"] = m.group(1) if m else msg[-600:]
                    cell["delta_octet_minus_ort"] = None
                results[name][config + label] = cell
                bl.log(f"{name} {config}{label}: ORT {pts(ort_res['top1'])}  octet "
                       f"{pts(cell['octet']['int8']['top1']) if 'octet' in cell else 'refused'}")
    return results


def markdown(meta, exp, imp, formats):
    n = meta.get("test_images")
    md = (f"**Export: octet's INT8 vs ONNX Runtime running octet's Q/DQ model** — top-1 (%) on {n} CIFAR-10 test "
          f"images, entropy2 calibration on {meta.get('calib_images')} images; Δ = ORT − octet INT8, goal |Δ| ≤ {GOAL}\n\n")
    head = ["model", "octet FP32", "octet INT8"]
    for f in formats:
        head += [f"ORT on `--format {f}`", "Δ", f"ORT, no graph optimizations, on `{f}`", f"octet on `--format {f}`"]
    noise = any("noise" in c.get("ort_on_trt", {}) for c in exp.values())
    if noise:
        head.append("ORT on `trt`, scales × (1 ± ε): spread")
    rows = []
    for name, c in exp.items():
        row = [name, f"{pts(c['octet']['fp32']['top1']):.2f}", f"{pts(c['octet']['int8']['top1']):.2f}"]
        for f in formats:
            r = c.get(f"ort_on_{f}")
            row += [f"{pts(r['top1']):.2f}" if r else "—", verdict(r["delta_vs_octet_int8"]) if r else "—"]
            un = r.get("ort_unoptimized") if r else None
            row.append(f"{pts(un['top1']):.2f} ({verdict(r['ort_unoptimized_delta'])})" if un else "—")
            oe = r.get("octet_on_export") if r else None
            row.append(f"{pts(oe['top1']):.2f} ({r['octet_on_export_delta']:+.2f})" if oe else "—")
        if noise:
            nz = c.get("ort_on_trt", {}).get("noise")
            row.append(f"{nz['spread_points']:.2f} ({', '.join(f'{pts(t):.2f}' for t in nz['top1'])})" if nz else "—")
        rows.append(row)
    md += bl.md_table(head, rows)
    if imp:
        md += ("\n\n**Import: octet running ONNX Runtime's `quantize_static` Q/DQ model** — top-1 (%) on the same "
               "images; MinMax calibration on the calib images; Δ = octet − ORT, goal |Δ| ≤ "
               f"{GOAL}\n\n")
        rows = []
        for name, cfgs in imp.items():
            for config, c in cfgs.items():
                oc = f"{pts(c['octet']['int8']['top1']):.2f}" if "octet" in c else f"refused: {c.get('octet_error')}"
                note = "simulated INT8 (exact Q/DQ, FP32 kernels)" if c.get("octet_simulated") else ""
                if c.get("octet_warnings"):
                    note = f"{c['octet_warnings']} asymmetric activations mapped to symmetric int8"
                rows.append([name, config, f"{pts(c['ort']['top1']):.2f}", oc, verdict(c["delta_octet_minus_ort"]), note])
        md += bl.md_table(["model", "ORT config", "ORT top-1", "octet INT8 top-1", "Δ", "note"], rows)
    md += (f"\n\nmachine: {meta['cpu']}, {meta['cores']} cores; onnxruntime {meta.get('onnxruntime')}; "
           f"octet {meta.get('git_head')}; {meta['date']}; {meta['threads']} thread(s); load at start "
           f"{meta['load_start']}, at end {meta.get('load_end')}\n")
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octet", default=bl.default_octet())
    ap.add_argument("--shared", default=bl.default_shared())
    ap.add_argument("--out", default=str(bl.REPO / "out" / "qdq"))
    ap.add_argument("--models", default="resnet20,densenet40,mobilenetv2,effnet_se,vit_tiny",
                    help="models of SHARED/models/cifar10 for the export check (empty: none)")
    ap.add_argument("--ort-models", default="resnet20,mobilenetv2",
                    help="models quantized by ORT's quantize_static for the import check (empty: none)")
    ap.add_argument("--formats", default="trt,ort", help="octet quantize --format values to check")
    ap.add_argument("--limit", type=int, default=0, help="only N test images, spread over the classes")
    ap.add_argument("--calib-limit", type=int, default=0, help="only N calibration images, spread over the classes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="reuse caches, tensors and ORT Q/DQ models found in --out")
    ap.add_argument("--no-spin", action="store_true", help="OMP_WAIT_POLICY=passive for octet, "
                    "session.intra_op.allow_spinning=0 for ORT")
    ap.add_argument("--noise", type=float, default=0.0, help="also run ORT on each trt export with every activation "
                    "scale times 1 +- NOISE (e.g. 1e-5) and report the top-1 spread: the comparison's noise floor")
    ap.add_argument("--perturb", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--unoptimized", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="smoke test: resnet20 only, 100 test images, "
                    "100 calibration images")
    # child modes
    ap.add_argument("--child", choices=["ort-eval", "ort-quantize", "identity"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--npy", help=argparse.SUPPRESS)
    ap.add_argument("--labels", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--pred", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument("--config", default="trt-like", help=argparse.SUPPRESS)
    ap.add_argument("--out-model", help=argparse.SUPPRESS)
    ap.add_argument("--input-name", default="input", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "ort-eval":
        return child_ort_eval(a)
    if a.child == "ort-quantize":
        return child_ort_quantize(a)
    if a.child == "identity":
        return child_identity(a)
    if a.quick:
        a.models, a.ort_models = "resnet20", "resnet20"
        a.limit = a.limit or 100
        a.calib_limit = a.calib_limit or 100

    shared = pathlib.Path(a.shared)
    test, calib = shared / "data" / "cifar10" / "test", shared / "data" / "cifar10" / "calib"
    for p in (test, calib):
        if not p.is_dir():
            sys.exit(f"{p} not found (set --shared / OCTET_SHARED)")
    work = pathlib.Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    octet, octet_info = bl.snapshot_octet(a.octet, work)
    meta = bl.machine()
    meta.update({"load_start": bl.loadavg(), "octet": octet_info, "threads": a.threads, "no_spin": a.no_spin,
                 "command": " ".join([os.path.relpath(sys.argv[0], bl.REPO) if sys.argv[0] else "", *sys.argv[1:]])})
    bl.log(f"load {meta['load_start']}")
    if a.limit:
        test = subset(test, work / "test_subset", a.limit)
    if a.calib_limit:
        calib = subset(calib, work / "calib_subset", a.calib_limit)
    meta["test_data"], meta["calib_data"] = str(test), str(calib)
    identity = work / "identity.onnx"
    bl.run([sys.executable, __file__, "--child", "identity", "--out-model", identity])
    test_npy, labels_npy, calib_npy = work / "test.input.npy", work / "test.labels.npy", work / "calib.input.npy"
    bl.log(f"octet's preprocessed tensors of {test} and {calib}")
    tensor_of(octet, identity, test, test_npy, labels_npy, a)
    tensor_of(octet, identity, calib, calib_npy, None, a)
    import numpy as np
    meta["test_images"] = int(np.load(labels_npy).shape[0])
    meta["calib_images"] = int(np.load(calib_npy, mmap_mode="r").shape[0])

    exp = export_part(a, octet, work, test, calib, test_npy, labels_npy)
    imp = import_part(a, octet, work, test, calib_npy, test_npy, labels_npy)
    meta["load_end"] = bl.loadavg()
    formats = a.formats.split(",")
    md = markdown(meta, exp, imp, formats)
    print(md)
    bl.write_outputs(work / "qdq.json", work / "qdq.md", {"meta": meta, "export": exp, "import": imp}, md)
    bl.log(f"wrote {work / 'qdq.json'} and {work / 'qdq.md'}")


if __name__ == "__main__":
    main()
