#!/usr/bin/env python3
"""Calibration speed and peak memory: `octet calibrate` vs ONNX Runtime's quantize_static calibrators.

Jobs (issue 3): mobilenetv2 and effnet_se from ../shared/models/cifar10 on the 1,000 images of
../shared/data/cifar10/calib (x/255, mean 0.4914,0.4822,0.4465, std 0.2470,0.2435,0.2616), and ResNet-50
from make_bench_models.py on ../shared/data/imagenet-samples (resize 256, crop 224, ImageNet mean/std).

  octet-entropy2 / octet-percentile / octet-minmax
      octet calibrate MODEL --data IMAGE_DIR <preprocessing> --algo A --threads T --batch B --cache C --no-refine
      (end to end: JPEG decoding and preprocessing included; the cache is deleted before each run)
  octet-default (only with --octet-algos ...,default)
      the default pipeline: the same command without --algo and --no-refine (entropy2, then the refinement)
  ort-entropy / ort-percentile / ort-minmax
      exactly the calibration block of onnxruntime.quantization.quantize_static: create_calibrator() over the
      op types quantize_static calibrates, collect_data() over one CalibrationDataReader, compute_data().
      ORT 1.32's quantize_static forwards only CalibTensorRangeSymmetric / CalibMovingAverage(Constant) /
      CalibMaxIntermediateOutputs / CalibPercentile to the calibrator -- no bin count, so its Entropy would
      run with 128 bins. To get Entropy with 2048 bins (TensorRT's), the calibrator is created directly with
      extra_options {"symmetric": True, "num_bins": 2048, "num_quantized_bins": 128}; Percentile gets
      {"symmetric": True, "num_bins": 2048, "percentile": 99.99} (octet's default percentile); MinMax
      {"symmetric": True}. ORT is fed octet's own preprocessed tensor (`octet run --save-input`) from a .npy
      already decoded, so ORT's time excludes JPEG decoding (in ORT's favour).
Each run is its own process under /usr/bin/time (peak RSS = ru_maxrss of that process; Python included for ORT).
The six sides run interleaved (round-robin) for --rounds rounds; reported: best and median wall time and peak
RSS per side, and octet-entropy2 vs ORT Entropy ratios (goal: 5x faster, 10x less memory).
Also: peak RSS of octet calibrate (entropy2) on 1,000 vs 100 CIFAR-10 images, interleaved (goal: within 10%).

    python3 bench/calib_vs_ort.py [--rounds 2] [--jobs mobilenetv2,effnet_se,resnet50] [--out out/bench/calib]
                                  [--quick]
"""
import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

CIFAR_PRE = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"]
IMAGENET_PRE = ["--resize", "256", "--size", "224", "--mean", ".485,.456,.406", "--std", ".229,.224,.225"]
OCTET_ALGOS = ["entropy2", "percentile", "minmax"]
ORT_METHODS = ["entropy", "percentile", "minmax"]


# ---------------------------------------------------------------------------------------------- child
def child_ort_calib(a):
    import resource
    if a.mem_limit_gb:
        lim = int(a.mem_limit_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    t0 = time.perf_counter()
    import numpy as np
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    import tempfile
    data = np.load(a.npy)
    # ORT's histogram collector stacks every batch into one array and fails on a smaller last batch
    # ("inhomogeneous shape"), so use the largest batch <= --batch that divides the number of samples.
    a.batch = max(d for d in range(1, min(a.batch, len(data)) + 1) if len(data) % d == 0)


    method, opts = {"entropy": (CalibrationMethod.Entropy, {"symmetric": True, "num_bins": a.bins,
                                                              "num_quantized_bins": 128}),
                    "percentile": (CalibrationMethod.Percentile, {"symmetric": True, "num_bins": a.bins,
                                                                  "percentile": 99.99}),
                    "minmax": (CalibrationMethod.MinMax, {"symmetric": True})}[a.method]
    op_types = list(set(list(QLinearOpsRegistry.keys()) + list(QDQRegistry.keys())))
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ort.quant.") as tmp:
        cal = create_calibrator(pathlib.Path(a.model), op_types, augmented_model_path=os.path.join(
            tmp, "augmented_model.onnx"), calibrate_method=method, extra_options=opts)
        if a.no_spin:  # the calibrator's own session, re-created with spinning off
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            cal.infer_session = ort.InferenceSession(cal.augmented_model_path, sess_options=so,
                                                     providers=cal.execution_providers)
        cal.collect_data(bl.ort_reader(data, a.batch, a.input_name))
        ranges = cal.compute_data()
        n = len(ranges.data) if hasattr(ranges, "data") else len(ranges)
    t2 = time.perf_counter()
    pathlib.Path(a.json).write_text(json.dumps({"tensors": n, "calib_s": t2 - t1, "import_s": t1 - t0,
                                                "samples": int(len(data)), "batch": a.batch}))


# ------------------------------------------------------------------------------------------- orchestration
def jobs(a, work, octet):
    shared = pathlib.Path(a.shared)
    cifar_calib = shared / "data" / "cifar10" / "calib"
    photos = shared / "data" / "imagenet-samples"
    mdir = pathlib.Path(a.model_dir) if a.model_dir else work / "models"
    out = []
    for name in a.jobs.split(","):
        if name == "resnet50":
            m = mdir / "resnet50.onnx"
            if not m.exists():
                mdir.mkdir(parents=True, exist_ok=True)
                bl.log(f"generating {m}")
                bl.run([sys.executable, shared / "tools" / "make_bench_models.py", mdir, "resnet50"])
            data, pre = photos, IMAGENET_PRE
        else:
            m, data, pre = shared / "models" / "cifar10" / f"{name}.onnx", cifar_calib, CIFAR_PRE
        if a.limit:
            data = bl.image_subset(data, work / f"{name}.images{a.limit}", a.limit)
        npy = work / f"{name}.calib_input.npy"
        bl.log(f"octet run --save-input {name} ({data})")
        bl.run([octet, "run", m, "--data", data, *pre, "--save-input", npy, "--output", work / f"{name}.out.npy",
                "--force", "--threads", a.threads])
        out.append({"name": name, "model": str(m), "data": str(data), "pre": pre, "npy": str(npy)})
    return out


def octet_side(a, octet, work, job, algo, extra=()):
    cache = work / f"{job['name']}.{algo}.cache"
    for p in (cache, pathlib.Path(str(cache) + ".json")):
        if p.exists():
            p.unlink()
    cmd = [octet, "calibrate", job["model"], "--data", job["data"], *job["pre"], "--threads",
           a.threads, "--batch", a.batch, "--cache", cache, "--quiet", *extra]
    if algo != "default":  # "default": the default pipeline (entropy2 and the refinement)
        cmd += ["--algo", algo, "--no-refine"]
    if algo == "percentile":
        cmd += ["--percentile", "99.99"]
    r = bl.measured(cmd, env=bl.spin_env(a.no_spin))
    if not cache.exists():
        raise bl.Failed(f"octet calibrate wrote no cache: {' '.join(map(str, cmd))}\n{r['stdout']}\n{r['stderr']}")
    return {"wall_s": r["wall_s"], "peak_rss_mib": r["peak_rss_mib"], "ok": True}


def ort_side(a, work, job, method):
    j = work / "last_ort.json"
    if j.exists():
        j.unlink()
    cmd = [sys.executable, __file__, "--child", "ort-calib", "--model", job["model"], "--npy", job["npy"], "--method",
           method, "--batch", a.batch, "--json", j, "--mem-limit-gb", a.ort_mem_limit_gb, "--bins", a.ort_bins]
    if a.no_spin:
        cmd.append("--no-spin")
    r = bl.measured(cmd, check=False)
    if r["rc"] != 0 or not j.exists():
        tail = (r["stderr"] or "").strip().splitlines()[-1:] or ["?"]
        bl.log(f"ORT {method} on {job['name']} failed (rc {r['rc']}): {tail[0][:300]}")
        return {"wall_s": r["wall_s"], "peak_rss_mib": r["peak_rss_mib"], "ok": False, "error": tail[0][:300]}
    inner = json.loads(j.read_text())
    return {"wall_s": r["wall_s"], "peak_rss_mib": r["peak_rss_mib"], "ok": True, **inner}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octet", default=bl.default_octet())
    ap.add_argument("--shared", default=bl.default_shared())
    ap.add_argument("--out", default=str(bl.REPO / "out" / "bench" / "calib"))
    ap.add_argument("--model-dir", default="", help="where resnet50.onnx is (generated if missing)")
    ap.add_argument("--jobs", default="mobilenetv2,effnet_se,resnet50")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images of each data set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="calibration batch, both sides")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ort-mem-limit-gb", type=float, default=16.0,
                    help="address-space limit for the ORT child so it fails cleanly instead of exhausting the "
                         "machine (0 = none)")
    ap.add_argument("--ort-bins", type=int, default=2048, help="histogram bins of ORT Entropy/Percentile")
    ap.add_argument("--skip-ort", default="", help="comma list of ORT methods not to run (e.g. entropy)")
    ap.add_argument("--scaling", default="mobilenetv2,effnet_se",
                    help="CIFAR models for the 1,000-vs-100-image memory check ('' = skip)")
    ap.add_argument("--no-spin", action="store_true", help="idle worker threads sleep instead of spinning: "
                    "OMP_WAIT_POLICY=passive for octet, session.intra_op.allow_spinning=0 for ORT's calibrator")
    ap.add_argument("--octet-algos", default=",".join(OCTET_ALGOS))
    ap.add_argument("--ort-methods", default=",".join(ORT_METHODS))
    ap.add_argument("--quick", action="store_true", help="smoke test: mobilenetv2, 20 images, 1 round, ORT with "
                    "256 bins")
    # child mode
    ap.add_argument("--child", choices=["ort-calib"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--npy", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--input-name", default="input", help=argparse.SUPPRESS)
    ap.add_argument("--mem-limit-gb", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--bins", type=int, default=2048, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "ort-calib":
        return child_ort_calib(a)
    if a.quick:
        a.jobs, a.rounds, a.limit = "mobilenetv2", 1, a.limit or 20
        a.ort_bins = 256  # ORT's 2048-bin entropy search alone takes minutes; the smoke test checks the plumbing
        a.scaling = "mobilenetv2"

    work = pathlib.Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    octet, octet_info = bl.snapshot_octet(a.octet, work)
    meta = bl.machine()
    meta.update({"load_start": bl.loadavg(), "octet": octet_info, "threads": a.threads, "rounds": a.rounds,
                 "batch": a.batch, "ort_bins": a.ort_bins, "no_spin": a.no_spin,
                 "command": " ".join([os.path.relpath(sys.argv[0], bl.REPO), *sys.argv[1:]])})
    bl.log(f"load {meta['load_start']}")
    job_list = jobs(a, work, octet)
    skip = set(filter(None, a.skip_ort.split(",")))
    sides = [f"octet-{x}" for x in a.octet_algos.split(",")] + [f"ort-{x}" for x in a.ort_methods.split(",")
                                                                 if x not in skip]
    raw = {}
    for job in job_list:
        raw[job["name"]] = {s: [] for s in sides}
        for r in range(a.rounds):
            for s in sides:
                tool, _, algo = s.partition("-")
                res = octet_side(a, octet, work, job, algo) if tool == "octet" else ort_side(a, work, job, algo)
                raw[job["name"]][s].append(res)
                bl.log(f"{job['name']} round {r + 1} {s}: {res['wall_s']:.1f} s, "
                       f"{bl.fmt(res['peak_rss_mib'], 0)} MiB{'' if res['ok'] else ' FAILED'}")

    # 1,000 vs 100 images: octet peak RSS must not grow with the number of images
    scaling = {}
    small = 10 if a.quick else 100
    for job in [j for j in job_list if j["name"] in set(filter(None, a.scaling.split(",")))]:
        runs = {"all": [], "small": []}
        for r in range(max(a.rounds, 2)):
            for which in ("all", "small"):
                extra = () if which == "all" else ("--limit", small, "--shuffle", "--seed", "0")
                res = octet_side(a, octet, work, job, "entropy2", extra)
                runs[which].append(res)
                bl.log(f"scaling {job['name']} {which}: {res['wall_s']:.1f} s, {res['peak_rss_mib']:.0f} MiB")
        n_all = len([p for p in pathlib.Path(job["data"]).rglob("*") if p.is_file()])
        s_all = bl.summary([x["peak_rss_mib"] for x in runs["all"]])
        s_small = bl.summary([x["peak_rss_mib"] for x in runs["small"]])
        scaling[job["name"]] = {"images_all": n_all, "images_small": small, "peak_rss_mib_all": s_all,
                                "peak_rss_mib_small": s_small,
                                "ratio_median": bl.ratio(s_all["median"], s_small["median"]),
                                "wall_s_all": bl.summary([x["wall_s"] for x in runs["all"]]),
                                "wall_s_small": bl.summary([x["wall_s"] for x in runs["small"]])}
    meta["load_end"] = bl.loadavg()

    results, rows, rows_goal = {}, [], []
    for name, per in raw.items():
        cell = {}
        for s, runs in per.items():
            ok = [x for x in runs if x["ok"]]
            cell[s] = {"wall_s": bl.summary([x["wall_s"] for x in ok]),
                       "peak_rss_mib": bl.summary([x["peak_rss_mib"] for x in runs]),
                       "failed": len(runs) - len(ok), "runs": runs}
            w, m = cell[s]["wall_s"], cell[s]["peak_rss_mib"]
            if cell[s]["failed"]:
                err = runs[-1].get("error", "")
                why = "out of memory at the limit" if ("Alloc" in err or "MemoryError" in err or "bfc_arena" in err) \
                    else err[:80]
                f = [x for x in runs if not x["ok"]]
                note = f" — {len(f)} of {len(runs)} failed: {why}, after {bl.fmt(min(x['wall_s'] for x in f), 1)} s"
                cell[s]["failure"] = why
            else:
                note = ""
            rows.append([name, s + note, w["median"], w["min"], m["median"], m["max"]])
        for o_side in ("octet-entropy2", "octet-default"):
            e, o = cell.get("ort-entropy"), cell.get(o_side)
            if e and o:
                sp = {"median": bl.ratio(e["wall_s"]["median"], o["wall_s"]["median"]),
                      "best": bl.ratio(e["wall_s"]["min"], o["wall_s"]["min"])}
                mem = {"median": bl.ratio(e["peak_rss_mib"]["median"], o["peak_rss_mib"]["median"]),
                       "best": bl.ratio(e["peak_rss_mib"]["min"], o["peak_rss_mib"]["max"])}
                if e["failed"]:  # ORT failed at the limit: its time/memory are lower bounds
                    sp["lower_bound"] = mem["lower_bound"] = True
                cell["vs_ort_entropy" + ("" if o_side == "octet-entropy2" else "_default")] = {"speedup": sp, "memory_ratio": mem}
                lb = "≥ " if e["failed"] else ""

                def g(x, goal):
                    if x["median"] is None:
                        return "n/a (ORT did not finish)"
                    return f"{lb}{bl.fmt(x['median'], 1)}× ({bl.fmt(x['best'], 1)}×) " + (
                        "✅" if x["median"] >= goal else "❌")
                rows_goal.append([name if o_side == "octet-entropy2" else name + " (default pipeline)", g(sp, 5.0), g(mem, 10.0)])
        results[name] = cell

    md = (f"**Calibration wall time (s) and peak RSS (MiB)** — {a.rounds} interleaved rounds, {a.threads} threads, "
          f"batch {a.batch}{', no spinning (OMP_WAIT_POLICY=passive / allow_spinning=0)' if a.no_spin else ''}"
          "; median and best\n\n")
    md += bl.md_table(["model", "side", "wall s median", "wall s best", "peak RSS MiB median", "peak RSS MiB max"],
                      rows)
    if rows_goal:
        md += (f"\n\n**octet entropy2 vs ORT Entropy ({a.ort_bins} bins)** — median (best); "
               "goals: 5× faster, 10× less memory\n\n")
        md += bl.md_table(["model", "speed-up (ORT time / octet time)", "memory (ORT RSS / octet RSS)"], rows_goal)
    if scaling:
        md += ("\n\n**octet calibrate (entropy2) peak RSS vs number of images** — interleaved; goal: within 10%\n\n")
        srows = []
        for name, s in scaling.items():
            rr = s["ratio_median"]
            srows.append([name, f"{s['images_all']}", s["peak_rss_mib_all"]["median"], f"{s['images_small']}",
                          s["peak_rss_mib_small"]["median"],
                          f"{bl.fmt(rr, 3)} " + ("✅" if rr is not None and abs(rr - 1) <= 0.10 else "❌")])
        md += bl.md_table(["model", "images", "peak RSS MiB (median)", "images", "peak RSS MiB (median)",
                           "ratio"], srows)
    md += (f"\n\nmachine: {meta['cpu']}, {meta['cores']} cores; onnxruntime {meta.get('onnxruntime')}; "
           f"{meta['date']}; load at start {meta['load_start']}, at end {meta['load_end']}\n")
    print(md)
    bl.write_outputs(work / "calib.json", work / "calib.md", {"meta": meta, "results": results,
                                                               "scaling": scaling}, md)
    bl.log(f"wrote {work / 'calib.json'} and {work / 'calib.md'}")


if __name__ == "__main__":
    main()
