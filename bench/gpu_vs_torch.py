#!/usr/bin/env python3
"""Issue 14's speed criterion on one GPU, in one script: ResNet-50 v1.5 (make_bench_models.py, seeded random
weights), octet INT8 on the cuda backend (`octet bench --backend cuda`: CUDA events, CUDA graphs) against
PyTorch FP16 channels_last replayed from a CUDA graph (torchvision's resnet50, random weights: the speed of
the same architecture), at batch 1 and 256; optionally torch.compile(mode="max-autotune-no-cudagraphs").

    python3 bench/gpu_vs_torch.py --octet build/octet --cache resnet50_224.cache \
        [--make-models ../shared/tools/make_bench_models.py] [--model resnet50.onnx] [--batches 1,256] \
        [--compile] [--json out.json]

Without a CUDA GPU (or without torch) it says why and exits 0 having measured nothing, so it can sit in a
script that also runs on machines without one. scripts/gpu_check.sh runs it on the GPU machine.
Targets (issue 14): batch 256 >= 50k img/s, batch 1 <= 0.4 ms; PyTorch's own numbers on the H200 there:
1,094 img/s at batch 1 (0.91 ms), 17.2k at 256, torch.compile 27.7k at 256.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def gpu_or_reason():
    try:
        import torch
    except ImportError as e:
        return None, f"no torch ({e})"
    if not torch.cuda.is_available():
        return None, "torch sees no CUDA GPU"
    return torch, ""


def torch_fp16(torch, batch, iters, warmup, compile_mode=None, arch="resnet50"):
    import torchvision
    make = {"resnet50": torchvision.models.resnet50, "mobilenetv2": torchvision.models.mobilenet_v2}[arch]
    m = make(weights=None).cuda().half().eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        if compile_mode:
            m = torch.compile(m, mode=compile_mode)
            for _ in range(3):
                m(x)
            run = lambda: m(x)
        else:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    m(x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                y = m(x)
            run = g.replay
        for _ in range(warmup):
            run()
        torch.cuda.synchronize()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for a, b in ev:
            a.record()
            run()
            b.record()
        torch.cuda.synchronize()
    ms = sorted(a.elapsed_time(b) for a, b in ev)
    total = ev[0][0].elapsed_time(ev[-1][1]) / 1000
    pct = lambda p: ms[min(len(ms) - 1, int(p / 100 * len(ms)))]
    return {"throughput": batch * iters / total, "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "min": ms[0]}}


def octet_bench(octet, model, cache, batch, iters, warmup, work):
    out = os.path.join(work, f"octet_{os.path.basename(model)}_b{batch}.json")
    if os.path.exists(out):
        os.remove(out)
    cmd = [octet, "bench", model, "--backend", "cuda", "--precision", "int8", "--cache", cache, "--batch", str(batch),
           "--iterations", str(iters), "--warmup", str(warmup), "--json", out, "--quiet"]
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(r.stdout + r.stderr, flush=True)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip()[-500:]}
    return json.load(open(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--octet", default="build/octet")
    ap.add_argument("--model", help="resnet50.onnx (else made with --make-models into --work)")
    ap.add_argument("--make-models", default=os.path.join(os.environ.get("OCTET_SHARED", "../shared"), "tools/make_bench_models.py"))
    ap.add_argument("--arch", default="resnet50", choices=["resnet50", "mobilenetv2"],
                    help="the make_bench_models.py model and its torchvision twin")
    ap.add_argument("--cache", required=True, help="calibration cache of that model (TensorRT format)")
    ap.add_argument("--batches", default="1,256")
    ap.add_argument("--compile", action="store_true", help='also torch.compile(mode="max-autotune-no-cudagraphs") (minutes of compiling)')
    ap.add_argument("--work", default=None)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch, why = gpu_or_reason()
    if torch is None:
        print(f"gpu_vs_torch: skipped: {why}; nothing measured (run it on the GPU machine: docs/gpu.md)")
        return 0
    work = a.work or tempfile.mkdtemp()
    model = a.model
    if not model:
        model = os.path.join(work, f"{a.arch}.onnx")
        if not os.path.exists(model):
            subprocess.run([sys.executable, a.make_models, work, a.arch], check=True)
    title = {"resnet50": "ResNet-50 v1.5", "mobilenetv2": "MobileNetV2"}[a.arch]
    res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "model": f"{title} 224x224", "rows": []}
    print(f"{res['gpu']}, torch {torch.__version__}")
    for b in [int(s) for s in a.batches.split(",")]:
        iters = 200 if b <= 8 else 30
        rows = [("octet INT8 cuda", octet_bench(a.octet, model, a.cache, b, iters, 10, work)),
                ("torch FP16 channels_last + CUDA graph", torch_fp16(torch, b, iters, 10, arch=a.arch))]
        if a.compile:
            rows.append(("torch FP16 compile max-autotune-no-cudagraphs", torch_fp16(torch, b, iters, 10, "max-autotune-no-cudagraphs", a.arch)))
        for name, r in rows:
            res["rows"].append({"what": name, "batch": b, **r})
            if "error" in r:
                print(f"batch {b:4d}  {name:48s}  error: {r['error']}")
            else:
                print(f"batch {b:4d}  {name:48s}  {r['throughput']:10.1f} img/s  p50 {r['latency_ms']['p50']:.3f} ms  p99 {r['latency_ms']['p99']:.3f} ms")
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
