#!/usr/bin/env python3
"""INT8 accuracy of every model in ../shared/models (CIFAR-10 and Fashion-MNIST) for every calibration algorithm.

For each model: `octet calibrate` on the calibration images, then `octet eval --precision fp32,int8` on the
test images. Algorithm columns (entropy2, minmax, ...) use `--no-refine`: each algorithm's thresholds as computed.
Column `default` is `octet calibrate` as it runs by default (entropy2, then threshold refinement); `--tune` adds
`default+tune` (octet tune on that cache: mixed precision). Prints a markdown table (top-1 FP32, INT8 per algorithm, delta) and writes it with the raw numbers
to OUT/accuracy.md and OUT/accuracy.json. Slow (minutes per model on 2 cores): not part of the default tests.

    python3 bench/accuracy.py [--shared ../shared] [--out out/accuracy] [--algos entropy2,minmax,...]
                              [--models resnet20,...] [--test-limit N] [--tune] [--noise EPS]

--noise EPS also evaluates each cache with every scale multiplied by 1 + EPS and by 1 - EPS (e.g. 1e-5: only
rounding ties change) and reports the range of the three INT8 top-1s: how much of a difference between two
columns, or between octet and another tool, a model's top-1 can show from arithmetic noise alone.
"""
import argparse
import json
import shutil
import struct
import os
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
CIFAR_PRE = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"]
FMNIST_PRE = ["--mean", "0.2860", "--std", "0.3530"]


def run(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def perturbed_cache(src, dst, factor):
    """A copy of the TensorRT cache src with every scale times factor (float32), and of its JSON sidecar."""
    lines = src.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        if not line.strip():
            continue
        name, h = line.rsplit(":", 1)
        v = struct.unpack("!f", bytes.fromhex(h.strip().zfill(8)))[0]
        v = struct.unpack("!f", struct.pack("!f", v * factor))[0]
        out.append(f"{name}: {struct.unpack('!I', struct.pack('!f', v))[0]:x}")
    dst.write_text("\n".join(out) + "\n")
    side = pathlib.Path(str(src) + ".json")
    if side.exists():
        shutil.copy(side, str(dst) + ".json")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("OCTET_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--octet", default=os.environ.get("OCTET_BIN", str(REPO / "build" / "octet")))
    ap.add_argument("--out", default=str(REPO / "out" / "accuracy"))
    ap.add_argument("--algos", default="entropy2,entropy,minmax,percentile,mse,legacy,default")
    ap.add_argument("--models", default="")
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--extra", default="", help="extra flags for eval, e.g. '--fp32-layers a,b'")
    ap.add_argument("--noise", type=float, default=0.0,
                    help="also evaluate every cache with its scales times 1 +- NOISE and report the top-1 range")
    ap.add_argument("--tune", action="store_true",
                    help="also run octet tune on the default cache (column 'default+tune') and evaluate the tuned cache")
    a = ap.parse_args()
    shared = pathlib.Path(a.shared)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for m in sorted((shared / "models" / "cifar10").glob("*.onnx")):
        jobs.append((m.stem, m, shared / "data" / "cifar10" / "calib", shared / "data" / "cifar10" / "test", CIFAR_PRE))
    fm = "/usr/share/datasets/fashion-mnist"
    jobs.append(("fmnist_cnn", REPO / "models" / "fmnist_cnn.onnx", f"{fm}/train", f"{fm}/t10k", FMNIST_PRE))
    if a.models:
        keep = set(a.models.split(","))
        jobs = [j for j in jobs if j[0] in keep]
    algos = a.algos.split(",")
    if a.tune:
        algos.append("default+tune")
    results = {}
    limit = ["--limit", str(a.test_limit)] if a.test_limit else []
    for name, model, calib, test, pre in jobs:
        results[name] = {}
        for algo in algos:
            cache = out / f"{name}.{algo}.cache"
            calib_limit = ["--limit", "1000"] if "fashion" in str(calib) else []
            if algo == "default+tune":
                base = out / f"{name}.default.cache"
                if not base.exists():
                    run([a.octet, "calibrate", model, "--data", calib, *pre, "--cache", base, "--quiet", *calib_limit])
                t0 = time.time()
                tune_out = run([a.octet, "tune", model, "--cache", base, "--data", calib, *pre, "-o", cache, "--force",
                                "--quiet", "--json", out / f"{name}.tune.json"])
                print(tune_out.splitlines()[0], f"({time.time() - t0:.0f} s)", flush=True)
            elif algo == "default":
                for f in (cache, pathlib.Path(f"{cache}.json")):
                    f.unlink(missing_ok=True)  # an existing cache would be reused, not recalibrated
                t0 = time.time()
                out_lines = run([a.octet, "calibrate", model, "--data", calib, *pre, "--cache", cache, *calib_limit])
                print(next((l for l in out_lines.splitlines() if l.startswith("refined")), ""),
                      f"({time.time() - t0:.0f} s with calibration)", flush=True)
            else:
                for f in (cache, pathlib.Path(f"{cache}.json")):
                    f.unlink(missing_ok=True)
                run([a.octet, "calibrate", model, "--data", calib, *pre, "--algo", algo, "--cache", cache, "--quiet",
                     "--no-refine", *calib_limit])
            acc = out / f"{name}.{algo}.json"
            run([a.octet, "eval", model, "--data", test, *pre, "--precision", "fp32,int8", "--cache", cache,
                 "--batch", "100", "--quiet", "--json", acc, "--force", *limit, *a.extra.split()])
            j = json.loads(acc.read_text())
            results[name][algo] = j
            print(f"{name:12s} {algo:10s} fp32 {100*j['fp32']['top1']:.2f}  int8 {100*j['int8']['top1']:.2f}  "
                  f"agreement {100*j['agreement']:.2f}", flush=True)
            if a.noise:
                tops = [j["int8"]["top1"]]
                for tag, f in (("plus", 1 + a.noise), ("minus", 1 - a.noise)):
                    pc = out / f"{name}.{algo}.noise_{tag}.cache"
                    perturbed_cache(cache, pc, f)
                    pj = out / f"{name}.{algo}.noise_{tag}.json"
                    run([a.octet, "eval", model, "--data", test, *pre, "--precision", "int8", "--cache", pc,
                         "--batch", "100", "--quiet", "--json", pj, "--force", *limit, *a.extra.split()])
                    tops.append(json.loads(pj.read_text())["int8"]["top1"])
                j["noise"] = {"relative_scale_change": a.noise, "int8_top1": tops}
                print(f"{name:12s} {algo:10s} int8 with scales x (1 +- {a.noise:g}): "
                      f"{', '.join(f'{100*t:.2f}' for t in tops)}", flush=True)
    lines = ["| model | FP32 | " + " | ".join(f"INT8 {x}" for x in algos) + " |",
             "|---|---|" + "---|" * len(algos)]
    for name, r in results.items():
        fp32 = next(iter(r.values()))["fp32"]["top1"]
        cells = []
        for x in algos:
            c = f"{100*r[x]['int8']['top1']:.2f} ({100*(r[x]['int8']['top1']-fp32):+.2f})"
            if "noise" in r[x]:
                t = r[x]["noise"]["int8_top1"]
                c += f" [{100*min(t):.2f}–{100*max(t):.2f}]"
            cells.append(c)
        lines.append(f"| {name} | {100*fp32:.2f} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    (out / "accuracy.md").write_text(table + "\n")
    (out / "accuracy.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
