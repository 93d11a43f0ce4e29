#!/usr/bin/env bash
# Packs what a GPU machine that has only the NVIDIA driver, the CUDA runtime and PyTorch (no Debian dev
# libraries, no ../shared) needs to run scripts/gpu_check.sh: into gpu_bundle/ (git-ignored) goes one
# octet-gpu.tar.xz with
#   bin/   octet and the test binaries octet_cuda_gpu_tests, octet_ops_tests (HarnessCuda), octet_cuda_body_tests,
#          built with -DOCTET_IMAGE_DECODE=OFF (no OpenCV imgcodecs: it pulls in GDAL & co., ~150 MB), stripped
#   lib/   every shared library they load except glibc's own (ldd: oneDNN, protobuf, onnx_proto, OpenCV core and
#          imgproc with BLAS/LAPACK/gfortran/X11, libgomp, libstdc++, libgcc_s, ...), stripped
#   shared/models/cifar10/*.onnx    the CIFAR-10 models (OCTET_SHARED for the tests)
#   data/  1,000 CIFAR-10 test images (100 per class) preprocessed by octet itself as .npy + their labels;
#          calibration caches made here (cpu backend) for the CIFAR-10 models and the ImageNet-size bench models
#   tools/make_bench_models.py      to regenerate ResNet-50 / MobileNetV2 (seeded, so the caches fit) there
#   python/ (only with PYTHON_FOR_DEVICE=/path/to/python3.X, the device's Python version: KINDS.md says 3.12)
#          the Python package octet built for that Python against this CUDA build, and
#          shared/data/imagenet-samples (the TensorRT-style class's photos) for gpu_check.sh's Python step
# and MANIFEST (commit, sizes). The folder must stay under the device tool's 64 MiB with the working tree;
# the script prints the sizes and fails above BUNDLE_LIMIT_MB (default 52).
#
#   scripts/gpu_bundle.sh            # SHARED=../shared (or $OCTET_SHARED), BUILD=build-gpu
#
# Then, on the GPU machine, from the repository root: bash scripts/gpu_check.sh (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-${OCTET_SHARED:-../shared}}
BUILD=${BUILD:-build-gpu}
DEST=${DEST:-gpu_bundle}
LIMIT_MB=${BUNDLE_LIMIT_MB:-60}
PY=${PYTHON_FOR_DEVICE:-}
CALIB_LIMIT=${CALIB_LIMIT:-500}
[ -d "$SHARED/models/cifar10" ] || { echo "gpu_bundle: no $SHARED/models/cifar10 (set SHARED or OCTET_SHARED)" >&2; exit 1; }
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "gpu_bundle: nvcc not found: the bundle needs the cuda backend" >&2; exit 1; }

echo "== build ($BUILD, -DOCTET_IMAGE_DECODE=OFF)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DOCTET_IMAGE_DECODE=OFF >/dev/null
grep -q '^OCTET_CUDA:BOOL=ON' "$BUILD/CMakeCache.txt" || { echo "gpu_bundle: $BUILD was configured without OCTET_CUDA" >&2; exit 1; }
cmake --build "$BUILD" -j"${JOBS:-2}" --target octet octet_cuda_gpu_tests octet_ops_tests octet_cuda_body_tests >/dev/null

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,lib,shared/models/cifar10,data,tools}
BINS="$BUILD/octet $BUILD/tests/octet_cuda_gpu_tests $BUILD/tests/octet_ops_tests $BUILD/tests/octet_cuda_body_tests"
for b in $BINS; do cp "$b" "$STAGE/bin/"; done
# Every library the loader resolves for them, except glibc's (the target has its own, newer; ld-linux, libc,
# libm, libpthread, libdl, librt, libresolv, libutil must match it) and the driver's libcuda (not linked: the
# static CUDA runtime opens it at run time).
ldd $BINS | awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|libutil|ld-linux-x86-64)\.so' |
  while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
strip --strip-unneeded "$STAGE"/bin/* "$STAGE"/lib/* 2>/dev/null || true
# Check: with LD_LIBRARY_PATH on lib/, every non-glibc library resolves inside the bundle.
bad=$(for b in "$STAGE"/bin/*; do LD_LIBRARY_PATH="$STAGE/lib" ldd "$b"; done | awk '/=>/' |
      grep -v -E "$STAGE/lib/|/(libc|libm|libpthread|libdl|librt|libresolv|libutil)\.so|linux-vdso" || true)
[ -z "$bad" ] || { echo "gpu_bundle: libraries resolved outside the bundle:" >&2; echo "$bad" >&2; exit 1; }
# And a run with an empty environment but LD_LIBRARY_PATH works.
env -i LD_LIBRARY_PATH="$STAGE/lib" "$STAGE/bin/octet" --version >/dev/null

if [ -n "$PY" ]; then
  echo "== python package for $("$PY" -c 'import sys; print(sys.version.split()[0])')"
  # No build isolation: nanobind and scikit-build-core must be installed for that Python (a venv of it).
  "$PY" -c "import nanobind, scikit_build_core" || { echo "gpu_bundle: $PY lacks nanobind or scikit-build-core" >&2; exit 1; }
  cmake --install "$BUILD" --prefix "$ROOT/$BUILD/prefix" >/dev/null
  WHEELS=$(mktemp -d)
  OCTET_PREFIX="$ROOT/$BUILD/prefix" "$PY" -m pip wheel -q --no-build-isolation --no-deps \
    --config-settings=build-dir="$BUILD/python-device" . -w "$WHEELS" >/dev/null
  mkdir -p "$STAGE/python" && (cd "$STAGE/python" && unzip -q "$WHEELS"/octet-*.whl) && rm -rf "$WHEELS"
  rm -rf "$STAGE"/python/*.dist-info
  strip --strip-unneeded "$STAGE"/python/octet/*.so
  bad=$(LD_LIBRARY_PATH="$STAGE/lib" ldd "$STAGE"/python/octet/*.so | awk '/=>/' |
        grep -v -E "$STAGE/lib/|/(libc|libm|libpthread|libdl|librt|libresolv|libutil)\.so|linux-vdso" || true)
  [ -z "$bad" ] || { echo "gpu_bundle: the extension needs libraries outside the bundle:" >&2; echo "$bad" >&2; exit 1; }
  mkdir -p "$STAGE/shared/data" && cp -r "$SHARED/data/imagenet-samples" "$STAGE/shared/data/"
fi

echo "== data"
cp "$SHARED"/models/cifar10/*.onnx "$STAGE/shared/models/cifar10/"
# The data and caches below take minutes (calibrating ResNet-50 on a small CPU): made once into
# $BUILD/bundle-data and reused (delete that folder to make them again).
DATA_CACHE="$BUILD/bundle-data"
if [ -f "$DATA_CACHE/done" ]; then
  cp "$DATA_CACHE"/*.npy "$DATA_CACHE"/*.cache* "$STAGE/data/"
  cp "$SHARED/tools/make_bench_models.py" "$STAGE/tools/"
else
cp "$SHARED/tools/make_bench_models.py" "$STAGE/tools/"
OCTET=$ROOT/build/octet  # the full build (image decoding) reads the JPEGs here
[ -x "$OCTET" ] || { echo "gpu_bundle: $OCTET missing: build the normal tree first (it decodes the JPEGs)" >&2; exit 1; }
PRE="--mean 0.4914,0.4822,0.4465 --std 0.2470,0.2435,0.2616"
CLASSES="airplane automobile bird cat deer dog frog horse ship truck"
W=$(mktemp -d)
for c in $CLASSES; do
  "$OCTET" run "$SHARED/models/cifar10/resnet20.onnx" --data "$SHARED/data/cifar10/test/$c" --limit 100 $PRE \
    --save-input "$W/t_$c.npy" --output "$W/o_$c.npy" --quiet >/dev/null
  "$OCTET" run "$SHARED/models/cifar10/resnet20.onnx" --data "$SHARED/data/cifar10/calib/$c" --limit $((CALIB_LIMIT / 10)) $PRE \
    --save-input "$W/c_$c.npy" --output "$W/oc_$c.npy" --quiet >/dev/null
done
python3 - "$W" "$STAGE/data" $CLASSES <<'EOF'
import sys, numpy as np
w, out, classes = sys.argv[1], sys.argv[2], sys.argv[3:]
xs = [np.load(f"{w}/t_{c}.npy") for c in classes]
np.save(f"{out}/cifar10_test.npy", np.concatenate(xs))
np.save(f"{out}/cifar10_test_labels.npy", np.concatenate([np.full(len(x), i, np.int64) for i, x in enumerate(xs)]))
np.save(f"{out}/cifar10_calib.npy", np.concatenate([np.load(f"{w}/c_{c}.npy") for c in classes]))
EOF
# Calibration caches (cpu backend, here): the same cache drives the cpu and the cuda INT8 plan there.
for m in resnet20 mobilenetv2 densenet40 effnet_se vit_tiny; do
  "$OCTET" calibrate "$STAGE/shared/models/cifar10/$m.onnx" --data "$STAGE/data/cifar10_calib.npy" --no-refine \
    --cache "$STAGE/data/$m.cache" --quiet >/dev/null
done
python3 "$STAGE/tools/make_bench_models.py" "$W" resnet50 mobilenetv2 >/dev/null
for m in resnet50 mobilenetv2; do
  # Random-weight models: calibrated on 16 random inputs (speed runs, not accuracy).
  python3 -c "import numpy as np; np.save('$W/rand.npy', np.random.default_rng(0).standard_normal((16,3,224,224)).astype(np.float32))"
  "$OCTET" calibrate "$W/$m.onnx" --data "$W/rand.npy" --no-refine --cache "$STAGE/data/${m}_224.cache" \
    --quiet >/dev/null
done
rm -rf "$W"
mkdir -p "$DATA_CACHE" && cp "$STAGE"/data/* "$DATA_CACHE/" && touch "$DATA_CACHE/done"
fi

echo "== pack"
rm -rf "$DEST"
mkdir -p "$DEST"
tar -C "$STAGE" -cf - . | xz -T"${JOBS:-2}" -6 > "$DEST/octet-gpu.tar.xz"
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!gpu_bundle' || echo ' (+ uncommitted changes)')"
  echo "built $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), $(nvcc --version 2>/dev/null | tail -1 || /usr/local/cuda/bin/nvcc --version | tail -1)"
  echo "unpacked MiB $(du -sm "$STAGE" | cut -f1): bin $(du -sm "$STAGE/bin" | cut -f1), lib $(du -sm "$STAGE/lib" | cut -f1), models $(du -sm "$STAGE/shared" | cut -f1), data $(du -sm "$STAGE/data" | cut -f1)"
  echo "packed bytes $(stat -c %s "$DEST/octet-gpu.tar.xz")"
  echo "libraries: $(ls "$STAGE/lib" | tr '\n' ' ')"
} > "$DEST/MANIFEST"
cat "$DEST/MANIFEST"
tree_bytes=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$(( tree_bytes + $(du -sb "$DEST" | cut -f1) ))
echo "travels: working tree $((tree_bytes / 1048576)) MiB + $DEST $(( $(du -sb "$DEST" | cut -f1) / 1048576 )) MiB = $((total / 1048576)) MiB (limit 64 MiB)"
[ $((total / 1048576)) -lt "$LIMIT_MB" ] || { echo "gpu_bundle: over BUNDLE_LIMIT_MB=$LIMIT_MB" >&2; exit 1; }
echo "ok: carry '$DEST' and run 'bash scripts/gpu_check.sh' (docs/gpu.md)"
