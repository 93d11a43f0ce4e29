#!/usr/bin/env bash
# The one command of a GPU session (docs/gpu.md): on a machine with an NVIDIA driver, the CUDA runtime and
# PyTorch but none of octet's Debian libraries, from the repository root, with gpu_bundle/ (made by
# scripts/gpu_bundle.sh on the build machine) beside it:
#
#   bash scripts/gpu_check.sh            # results under $OUT (default out/gpu_check): at most 8 files
#
# Steps, each under its own timeout so that one hang leaves the rest (all within BUDGET_S, below):
#   1. unpack the bundle to $WORK, check that every library resolves from it, print the GPU
#   2. the CUDA tests: kernel bodies on the CPU, CudaGpu (real kernels vs their bodies, CIFAR-10 INT8 plans
#      on cuda vs ref bit for bit and cpu's top-1), HarnessCuda (op harness on cuda vs ref)    -> tests.txt
#   3. octet run --backend cuda vs --backend cpu, INT8, the five CIFAR-10 models on 1,000 test images with
#      the bundle's caches: outputs byte-identical?, top-1 of each                           -> models.json
#   4. octet bench --backend cuda (CUDA events; graphs on and off) vs cpu on resnet20, batch 1 and 256
#                                                                                           -> bench.json
#   5. bench/gpu_vs_torch.py: ResNet-50 octet INT8 (cuda) vs PyTorch FP16 channels_last + CUDA graph, batch 1
#      and 256                                                                              -> torch.json
#   6. the Python package (only if the bundle has python/, PYTHON_FOR_DEVICE in gpu_bundle.sh): get_batch
#      returning device pointers, __cuda_array_interface__, DLPack, CuPy and PyTorch CUDA tensors; the
#      TensorRT-style class with a device buffer; Engine(backend="cuda") vs "cpu"              -> python.txt
# STEPS="2 6" runs only those steps (1, the unpacking, always runs).
# Everything printed also goes to log.txt. A failed step is reported and the next one runs; the exit status
# is the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/out/gpu_check}
BUNDLE=${BUNDLE:-$ROOT/gpu_bundle}
WORK=${WORK:-/tmp/octet-gpu}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
failed=0
# The device tool kills a command at 600 s: every step's timeout is cut to what is left of BUDGET_S (default
# 560 s from the start), so the last steps shrink rather than the log being lost.
DEADLINE=$((SECONDS + ${BUDGET_S:-560}))
t() { local left=$((DEADLINE - SECONDS)); [ $left -lt 5 ] && left=5; echo $(($1 < left ? $1 : left)); }
step() { echo; echo "== $* ($(date -u +%T))"; }
want() { [ -z "${STEPS:-}" ] || [[ " $STEPS " == *" $1 "* ]]; }
bad() { echo "!! FAILED: $*"; failed=$((failed + 1)); }

step "1. bundle"
[ -f "$BUNDLE/octet-gpu.tar.xz" ] || { echo "no $BUNDLE/octet-gpu.tar.xz: run scripts/gpu_bundle.sh on the build machine and carry gpu_bundle"; exit 99; }
cat "$BUNDLE/MANIFEST"
rm -rf "$WORK" && mkdir -p "$WORK" && xz -dc "$BUNDLE/octet-gpu.tar.xz" | tar -C "$WORK" -xf - || { echo "cannot unpack"; exit 99; }
export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OCTET_SHARED="$WORK/shared"
# cuBLASLt (the cuda backend's int8 GEMM path, loaded with dlopen) from PyTorch's pip package nvidia-cublas
CUBLAS_LIB=$(python3 -c "import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], 'lib'))" 2>/dev/null) &&
  [ -d "$CUBLAS_LIB" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$CUBLAS_LIB" && ls "$CUBLAS_LIB" | grep -i cublasLt ||
  echo "no pip nvidia-cublas lib folder: octet uses the libcublasLt.so.13 the loader finds, if any (bench's clock line says which)"
O="$WORK/bin/octet"
missing=$(for b in "$WORK"/bin/*; do ldd "$b"; done | grep "not found" | sort -u)
[ -z "$missing" ] || { echo "libraries not found:"; echo "$missing"; exit 99; }
"$O" --version
nvidia-smi --query-gpu=name,driver_version,compute_cap,clocks.sm,clocks.mem --format=csv 2>&1 | head -3
uname -r; nproc

if want 2; then
step "2. CUDA tests"
{
  timeout $(t 60) "$WORK/bin/octet_cuda_body_tests" || bad "octet_cuda_body_tests"
  timeout $(t 240) "$WORK/bin/octet_cuda_gpu_tests" || bad "octet_cuda_gpu_tests (CudaGpu)"
  timeout $(t 120) "$WORK/bin/octet_ops_tests" --gtest_filter='*Cuda*' || bad "octet_ops_tests --gtest_filter=*Cuda* (HarnessCuda)"
} 2>&1 | tee "$OUT/tests.txt"
failed=$((failed + $(grep -c '^!! FAILED' "$OUT/tests.txt")))
fi

if want 2; then
step "2b. without cuBLASLt: said once, simple kernels, same outputs"
OCTET_CUBLASLT=/nonexistent/libcublasLt.so.13 timeout 60 "$O" bench "$WORK/shared/models/cifar10/resnet20.onnx" \
  --precision int8 --cache "$WORK/data/resnet20.cache" --backend cuda --batch 1 --iterations 20 2>&1 | tee "$WORK/nolt.txt"
grep -q "cuBLASLt not found" "$WORK/nolt.txt" || bad "OCTET_CUBLASLT missing: no 'cuBLASLt not found' in bench's output"
fi

if want 3; then
step "3. CIFAR-10 INT8: cuda vs cpu"
D="$WORK/data"
for m in resnet20 mobilenetv2 densenet40 effnet_se vit_tiny; do
  for b in cpu cuda; do
    echo "-- $m $b"
    TIMEFORMAT="$m $b: %R s wall, %U+%S s CPU"
    time timeout $(t 120) "$O" run "$WORK/shared/models/cifar10/$m.onnx" \
      --data "$D/cifar10_test.npy" --precision int8 --cache "$D/$m.cache" --backend $b --batch 250 \
      --output "$WORK/out_${m}_$b.npy" --quiet || bad "octet run $m --backend $b"
  done
done
python3 - "$WORK" "$OUT/models.json" <<'EOF' || bad "comparing the model outputs"
import json, os, sys
import numpy as np
work, out = sys.argv[1], sys.argv[2]
labels = np.load(f"{work}/data/cifar10_test_labels.npy")
res = {}
for m in ["resnet20", "mobilenetv2", "densenet40", "effnet_se", "vit_tiny"]:
    f = {b: f"{work}/out_{m}_{b}.npy" for b in ("cpu", "cuda")}
    if not all(os.path.exists(p) for p in f.values()):
        res[m] = {"error": "an output is missing"}
        continue
    cpu, cuda = np.load(f["cpu"]), np.load(f["cuda"])
    r = {"byte_identical": bool(cpu.tobytes() == cuda.tobytes()),
         "max_abs_diff": float(np.abs(cpu.astype(np.float64) - cuda).max()),
         "top1_cpu": float((cpu.argmax(1) == labels).mean() * 100), "top1_cuda": float((cuda.argmax(1) == labels).mean() * 100),
         "argmax_agree": float((cpu.argmax(1) == cuda.argmax(1)).mean() * 100), "images": int(len(labels))}
    res[m] = r
    print(m, r)
json.dump(res, open(out, "w"), indent=1)
bad = [m for m, r in res.items() if "error" in r or r["top1_cpu"] != r["top1_cuda"]]
sys.exit(1 if bad else 0)
EOF
fi

if want 4; then
step "4. octet bench: cuda (CUDA events) vs cpu"
R="$WORK/shared/models/cifar10/resnet20.onnx"
benches=()
run_bench() {  # name, then octet bench arguments
  local name=$1; shift
  timeout $(t 120) "$O" bench "$@" --json "$WORK/bench_$name.json" --quiet && benches+=("$WORK/bench_$name.json") || bad "octet bench $name"
}
run_bench r20_cuda_b1 "$R" --precision int8 --cache "$D/resnet20.cache" --backend cuda --batch 1 --iterations 500 --warmup 20
OCTET_CUDA_GRAPHS=0 run_bench r20_cuda_b1_nographs "$R" --precision int8 --cache "$D/resnet20.cache" --backend cuda --batch 1 --iterations 500 --warmup 20
run_bench r20_cuda_b256 "$R" --precision int8 --cache "$D/resnet20.cache" --backend cuda --batch 256 --iterations 50
run_bench r20_cpu_b1 "$R" --precision int8 --cache "$D/resnet20.cache" --backend cpu --batch 1 --iterations 500 --warmup 20
run_bench r20_cpu_b256 "$R" --precision int8 --cache "$D/resnet20.cache" --backend cpu --batch 256 --iterations 20
run_bench r20_cuda_fp32_b1 "$R" --precision fp32 --backend cuda --batch 1 --iterations 100
# A saved cuda plan records the GPU architecture (plan format 4) and loads back on the same GPU.
timeout $(t 60) "$O" build "$R" --precision int8 --cache "$D/resnet20.cache" --backend cuda -o "$WORK/r20_cuda.plan" &&
  run_bench r20_cuda_plan_b1 "$WORK/r20_cuda.plan" --batch 1 --iterations 100 || bad "octet build/bench of a cuda plan"
python3 -c "import json,sys; json.dump({f.rsplit('bench_',1)[1][:-5]: json.load(open(f)) for f in sys.argv[2:]}, open(sys.argv[1],'w'), indent=1)" \
  "$OUT/bench.json" "${benches[@]}" || bad "collecting bench json"
fi

if want 5; then
step "5. ResNet-50 and MobileNetV2: octet INT8 (cuda) vs PyTorch FP16"
timeout $(t 200) python3 bench/gpu_vs_torch.py --octet "$O" --make-models "$WORK/tools/make_bench_models.py" \
  --cache "$D/resnet50_224.cache" --work "$WORK" --json "$WORK/torch_resnet50.json" || bad "bench/gpu_vs_torch.py resnet50"
timeout $(t 150) python3 bench/gpu_vs_torch.py --arch mobilenetv2 --octet "$O" --make-models "$WORK/tools/make_bench_models.py" \
  --cache "$D/mobilenetv2_224.cache" --work "$WORK" --json "$WORK/torch_mobilenetv2.json" || bad "bench/gpu_vs_torch.py mobilenetv2"
python3 -c "import json,sys,os; json.dump({os.path.basename(f)[6:-5]: json.load(open(f)) for f in sys.argv[2:] if os.path.exists(f)}, open(sys.argv[1],'w'), indent=1)" \
  "$OUT/torch.json" "$WORK/torch_resnet50.json" "$WORK/torch_mobilenetv2.json" || bad "collecting torch json"
fi

if want 6 && [ -d "$WORK/python/octet" ]; then
step "6. Python package: device memory from get_batch, torch / CuPy tensors, Engine on cuda"
ext=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
if ls "$WORK"/python/octet/_octet*"$ext" >/dev/null 2>&1; then
  # -rA names every test with its outcome (skips with their reason: a skipped GPU test here is a finding).
  PYTHONPATH="$WORK/python" OCTET_BIN="$O" PYTHONUNBUFFERED=1 timeout $(t 300) python3 -m pytest -q -rA \
    -p no:cacheprovider tests/python/test_package_device.py tests/python/test_package_trt_class.py \
    -k "not trt_class or imagenet_samples or device_pointer or batch_kinds or torch_tensors" 2>&1 |
    tee "$OUT/python.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || bad "pytest of the Python package"
  # The README's device-buffer example as a user runs it (CuPy or PyTorch buffer; exits 1 if its cache differs
  # from the host-array class's)
  PYTHONPATH="$WORK/python" timeout $(t 120) python3 examples/python/device_buffers.py \
    "$WORK/shared/models/cifar10/resnet20.onnx" "$WORK/shared/data/imagenet-samples" "$WORK/example.cache" 2>&1 |
    tee -a "$OUT/python.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || bad "examples/python/device_buffers.py"
else
  bad "the bundle's extension ($(ls "$WORK"/python/octet/ | grep _octet)) is not for this python3 ($ext)"
fi
fi

step "done: $failed failed step(s); results in $OUT"
exit $failed
