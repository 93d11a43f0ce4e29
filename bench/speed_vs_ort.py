#!/usr/bin/env python3
"""Speed and peak memory: octet FP32 / INT8 vs ONNX Runtime FP32 / INT8 (CPU provider), same machine, same run.

For each model (ResNet-50, MobileNetV2 from ../shared/tools/make_bench_models.py) and batch size:
  octet-fp32   octet bench --threads T --json
  ort-fp32     onnxruntime InferenceSession (intra_op_num_threads=T, inter_op 1, ORT_SEQUENTIAL)
  octet-int8   octet calibrate --no-refine (entropy2) on the photos, then octet bench --precision int8 --cache C
  ort-int8     onnxruntime.quantization.quantize_static QDQ model (per_channel, QInt8 weights and activations,
               ActivationSymmetric + WeightSymmetric, MinMax calibration on octet's own preprocessed tensor of
               the same photos), run like ort-fp32
The four sides run interleaved (A B C D A B C D ...) for --rounds rounds, each in its own process under
/usr/bin/time (peak RSS = that process's ru_maxrss, Python interpreter included for ORT). Both sides time
only inference on a random N(0,1) input after --warmup untimed runs. Reported per side: best (min) and
median over rounds of throughput and p50 latency, and peak RSS; ratios use the medians (best in brackets).

    python3 bench/speed_vs_ort.py [--rounds 3] [--models resnet50,mobilenetv2] [--batches 1,16]
                                  [--out out/bench/speed] [--quick]
"""
import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

IMAGENET_PRE = ["--resize", "256", "--size", "224", "--mean", ".485,.456,.406", "--std", ".229,.224,.225"]
SIDES = ["octet-fp32", "ort-fp32", "octet-int8", "ort-int8"]


# ---------------------------------------------------------------------------------------------- children
def child_ort_bench(a):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if a.no_spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [a.batch if not isinstance(d, int) else d for d in inp.shape]
    shape[0] = a.batch
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    feed = {inp.name: x}
    for _ in range(a.warmup):
        sess.run(None, feed)
    lat = []
    t_all = time.perf_counter()
    for _ in range(a.iterations):
        t = time.perf_counter()
        sess.run(None, feed)
        lat.append((time.perf_counter() - t) * 1e3)
    total = time.perf_counter() - t_all
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]
    res = {"throughput": a.batch * a.iterations / total, "latency_ms": {"p50": pct(50), "p90": pct(90),
           "p99": pct(99), "min": lat[0]}, "batch": a.batch, "iterations": a.iterations}
    pathlib.Path(a.json).write_text(json.dumps(res))


def child_ort_quantize(a):
    import numpy as np
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    data = np.load(a.npy)


    # Bound ORT's calibration memory (it keeps every intermediate output otherwise). MinMax ranges do not
    # depend on the chunking. ORT raises "No data is collected" when the batch count is a multiple of the
    # chunk, so pick a chunk that does not divide it.
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True}
    nb = (len(data) + a.batch - 1) // a.batch
    k = next((k for k in range(3, 9) if nb % k), None)
    if k and nb > k:
        extra["CalibMaxIntermediateOutputs"] = k
    quantize_static(a.model, a.out_model, bl.ort_reader(data, a.batch, a.input_name), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options=extra)


# ------------------------------------------------------------------------------------------- orchestration
def prepare(a, work, octet):
    models = {}
    mdir = pathlib.Path(a.model_dir) if a.model_dir else work / "models"
    mdir.mkdir(parents=True, exist_ok=True)
    shared = pathlib.Path(a.shared)
    photos = pathlib.Path(a.images) if a.images else shared / "data" / "imagenet-samples"
    if a.limit:
        photos = bl.image_subset(photos, work / f"photos{a.limit}", a.limit)
    for name in a.models.split(","):
        m = mdir / f"{name}.onnx"
        if not m.exists():
            bl.log(f"generating {m}")
            bl.run([sys.executable, shared / "tools" / "make_bench_models.py", mdir, name])
        cache = work / f"{name}.entropy2.cache"
        npy = work / f"{name}.input.npy"
        qdq = work / f"{name}.ort_qdq.onnx"
        bl.calibrate_or_reuse(octet, m, cache, ["--data", photos, *IMAGENET_PRE, "--threads", a.threads, "--no-refine"],
                              a.reuse, name)  # speed does not depend on the thresholds: skip the refinement
        if a.reuse and npy.exists():
            bl.log(f"reusing {npy}")
        else:
            bl.log(f"octet run --save-input {name}")
            bl.run([octet, "run", m, "--data", photos, *IMAGENET_PRE, "--save-input", npy, "--output",
                    work / f"{name}.out.npy", "--force", "--threads", a.threads])
        if a.reuse and qdq.exists():
            bl.log(f"reusing {qdq}")
        else:
            bl.log(f"ORT quantize_static {name}")
            bl.run([sys.executable, __file__, "--child", "ort-quantize", "--model", m, "--npy", npy, "--out-model",
                    qdq, "--batch", "8", "--input-name", "input"])
        models[name] = {"fp32": str(m), "cache": str(cache), "ort_qdq": str(qdq)}
    return models, str(photos)


def one(a, octet, work, side, paths, batch):
    iters = a.iterations if a.iterations else (a.iters_b1 if batch == 1 else a.iters_bn)
    warm = a.warmup if a.warmup is not None else (5 if batch == 1 else 2)
    j = work / "last.json"
    if j.exists():
        j.unlink()
    if side.startswith("octet"):
        cmd = [octet, "bench", paths["fp32"], "--batch", batch, "--threads", a.threads, "--iterations", iters,
               "--warmup", warm, "--json", j, "--quiet"]
        if side == "octet-int8":
            cmd += ["--precision", "int8", "--cache", paths["cache"]]
    else:
        model = paths["fp32"] if side == "ort-fp32" else paths["ort_qdq"]
        cmd = [sys.executable, __file__, "--child", "ort-bench", "--model", model, "--batch", batch, "--threads",
               a.threads, "--iterations", iters, "--warmup", warm, "--json", j]
        if a.no_spin:
            cmd.append("--no-spin")
    r = bl.measured(cmd, env=bl.spin_env(a.no_spin) if side.startswith("octet") else None)
    res = json.loads(j.read_text())
    return {"throughput": res["throughput"], "p50_ms": res["latency_ms"]["p50"], "peak_rss_mib": r["peak_rss_mib"],
            "self_reported_rss_mib": res.get("peak_rss_mib"), "wall_s": r["wall_s"], "iterations": iters}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octet", default=bl.default_octet())
    ap.add_argument("--shared", default=bl.default_shared())
    ap.add_argument("--out", default=str(bl.REPO / "out" / "bench" / "speed"))
    ap.add_argument("--model-dir", default="", help="where resnet50.onnx/mobilenetv2.onnx are (generated if missing)")
    ap.add_argument("--images", default="", help="calibration photos (default ../shared/data/imagenet-samples)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    ap.add_argument("--models", default="resnet50,mobilenetv2")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters-b1", type=int, default=50)
    ap.add_argument("--iters-bn", type=int, default=8, help="iterations for batch > 1")
    ap.add_argument("--iterations", type=int, default=0, help="override both iteration counts")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--reuse", action="store_true", help="reuse the calibration cache, input .npy and ORT QDQ model "
                    "of an earlier run in --out when all three exist")
    ap.add_argument("--no-spin", action="store_true", help="idle worker threads sleep instead of spinning: "
                    "OMP_WAIT_POLICY=passive for octet, session.intra_op.allow_spinning=0 for ORT")
    ap.add_argument("--quick", action="store_true", help="smoke test: mobilenetv2, batch 1, 1 round, 2 iterations, "
                    "20 photos")
    # child modes
    ap.add_argument("--child", choices=["ort-bench", "ort-quantize"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--npy", help=argparse.SUPPRESS)
    ap.add_argument("--out-model", help=argparse.SUPPRESS)
    ap.add_argument("--input-name", default="input", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "ort-bench":
        a.iterations = a.iterations or 10
        a.warmup = 0 if a.warmup is None else a.warmup
        return child_ort_bench(a)
    if a.child == "ort-quantize":
        return child_ort_quantize(a)
    if a.quick:
        a.models, a.batches, a.rounds, a.iterations, a.warmup = "mobilenetv2", "1", 1, 2, 0
        a.limit = a.limit or 20

    work = pathlib.Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    octet, octet_info = bl.snapshot_octet(a.octet, work)
    meta = bl.machine()
    meta.update({"load_start": bl.loadavg(), "octet": octet_info, "threads": a.threads, "rounds": a.rounds,
                 "no_spin": a.no_spin,
                 "command": " ".join([os.path.relpath(sys.argv[0], bl.REPO) if sys.argv[0] else "", *sys.argv[1:]])})
    bl.log(f"load {meta['load_start']}")
    models, photos = prepare(a, work, octet)
    meta["calibration_images"] = photos
    batches = [int(b) for b in a.batches.split(",")]
    raw = {}
    for name, paths in models.items():
        for b in batches:
            key = f"{name}/b{b}"
            raw[key] = {s: [] for s in SIDES}
            for r in range(a.rounds):
                for s in SIDES:
                    res = one(a, octet, work, s, paths, b)
                    raw[key][s].append(res)
                    bl.log(f"{key} round {r + 1} {s}: {res['throughput']:.1f} img/s p50 {res['p50_ms']:.2f} ms "
                           f"rss {res['peak_rss_mib']:.0f} MiB")
    meta["load_end"] = bl.loadavg()

    results, rows_abs, rows_ratio = {}, [], []
    for key, sides in raw.items():
        name, b = key.split("/")
        cell = {}
        for s, runs in sides.items():
            cell[s] = {"throughput": bl.summary([x["throughput"] for x in runs]),
                       "p50_ms": bl.summary([x["p50_ms"] for x in runs]),
                       "peak_rss_mib": bl.summary([x["peak_rss_mib"] for x in runs]), "runs": runs}
        thr = {s: cell[s]["throughput"] for s in SIDES}

        def rr(x, y):
            return {"median": bl.ratio(thr[x]["median"], thr[y]["median"]), "best": bl.ratio(thr[x]["max"],
                    thr[y]["max"])}
        cell["ratios"] = {"octet_fp32/ort_fp32": rr("octet-fp32", "ort-fp32"),
                          "octet_int8/octet_fp32": rr("octet-int8", "octet-fp32"),
                          "octet_int8/ort_int8": rr("octet-int8", "ort-int8")}
        results[key] = cell
        for s in SIDES:
            c = cell[s]
            rows_abs.append([name, b[1:], s, c["throughput"]["median"], c["throughput"]["max"], c["p50_ms"]["median"],
                             c["p50_ms"]["min"], c["peak_rss_mib"]["median"]])
        q = cell["ratios"]

        def show(k, goal):
            m, best = q[k]["median"], q[k]["best"]
            ok = "" if goal is None else (" ✅" if m is not None and m >= goal else " ❌")
            return f"{bl.fmt(m, 2)}× ({bl.fmt(best, 2)}×){ok}"
        rows_ratio.append([name, b[1:], show("octet_fp32/ort_fp32", 1.0),
                           show("octet_int8/octet_fp32", 2.5 if name == "resnet50" else None),
                           show("octet_int8/ort_int8", 1.2)])

    md = ("**Throughput (images/s), p50 latency (ms), peak RSS (MiB)** — median and best over "
          f"{a.rounds} interleaved rounds, {a.threads} threads"
          f"{', no spinning (OMP_WAIT_POLICY=passive / allow_spinning=0)' if a.no_spin else ''}\n\n")
    md += bl.md_table(["model", "batch", "side", "img/s median", "img/s best", "p50 ms median", "p50 ms best",
                       "peak RSS MiB"], rows_abs)
    md += ("\n\n**Ratios of throughput** — median (best-vs-best); goals: octet FP32 ≥ 1.0× ORT FP32, "
           "octet INT8 ≥ 2.5× octet FP32 (ResNet-50), octet INT8 ≥ 1.2× ORT INT8\n\n")
    md += bl.md_table(["model", "batch", "octet FP32 / ORT FP32", "octet INT8 / octet FP32", "octet INT8 / ORT INT8"],
                      rows_ratio)
    md += (f"\n\nmachine: {meta['cpu']}, {meta['cores']} cores; onnxruntime {meta.get('onnxruntime')}; "
           f"{meta['date']}; load at start {meta['load_start']}, at end {meta['load_end']}\n")
    print(md)
    bl.write_outputs(work / "speed.json", work / "speed.md", {"meta": meta, "results": results}, md)
    bl.log(f"wrote {work / 'speed.json'} and {work / 'speed.md'}")


if __name__ == "__main__":
    main()
