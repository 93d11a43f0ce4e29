#!/usr/bin/env bash
# GPU calibration check (issue 14): ResNet-50 FP32 forward + histograms on N (default 1,000) random 224x224
# images, cuda (batch 32 and 8: caches must be byte-identical) vs cpu with 2 threads (the issue: GPU >= 10x the
# 2-core CPU; thresholds within one bin). From the repository root with gpu_bundle/ (scripts/gpu_bundle.sh)
# beside it:  [N=256] bash scripts/gpu_calib_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
W=/tmp/octet-gpu; rm -rf $W; mkdir -p $W
xz -dc ${BUNDLE:-gpu_bundle}/octet-gpu.tar.xz | tar -C $W -xf - || exit 99
export LD_LIBRARY_PATH="$W/lib"
O=$W/bin/octet
python3 $W/tools/make_bench_models.py $W resnet50 >/dev/null || exit 98
python3 -c "
import numpy as np
r=np.random.default_rng(0)
np.save('$W/x.npy', r.standard_normal((${N:-1000},3,224,224), dtype=np.float32))" || exit 97
nvidia-smi --query-gpu=name --format=csv,noheader
TIMEFORMAT="%R s wall, %U+%S s CPU"
echo "== cuda, batch 32"; time timeout 250 $O calibrate $W/resnet50.onnx --data $W/x.npy --backend cuda --no-refine --cache $W/g32.cache --quiet --batch 32
echo "== cuda, batch 8"; time timeout 150 $O calibrate $W/resnet50.onnx --data $W/x.npy --backend cuda --no-refine --cache $W/g8.cache --quiet --batch 8
echo "== cpu, 2 threads"; time timeout 250 $O calibrate $W/resnet50.onnx --data $W/x.npy --backend cpu --threads 2 --no-refine --cache $W/c.cache --quiet
cmp $W/g32.cache $W/g8.cache && echo "cuda caches batch 32 vs 8: byte-identical"
cmp $W/g32.cache $W/c.cache && echo "cuda vs cpu caches: byte-identical" || python3 - $W/g32.cache $W/c.cache <<'PY'
import sys, struct
def read(p):
    d={}
    for line in open(p).read().splitlines()[1:]:
        k,v=line.rsplit(': ',1); d[k]=struct.unpack('>f', bytes.fromhex(v))[0]
    return d
a,b=read(sys.argv[1]),read(sys.argv[2])
rel=sorted(abs(a[k]-b[k])/max(abs(b[k]),1e-30) for k in a if k in b)
print(f"cuda vs cpu: {len(rel)} scales, identical {sum(r==0 for r in rel)}, max rel diff {rel[-1]:.3g}, median {rel[len(rel)//2]:.3g}")
PY
cp $W/*.cache "${OUT:-.}"/ 2>/dev/null; true
