#!/usr/bin/env bash
# The CMake package as a user gets it: installs the build in BUILD_DIR (default build/) to a temporary prefix,
# checks that only include/octet/ headers were installed, configures and builds examples/ out of tree with
# find_package(octet), and runs examples/quantize_and_run (calibrate in two merged shards, INT8 engine, run,
# top-1 / agreement vs FP32) on Fashion-MNIST (Debian's dataset-fashion-mnist; random .npy samples without it).
#   scripts/test_package.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$B" --prefix "$T/prefix" >/dev/null
test -f "$T/prefix/include/octet/octet.h" && test -x "$T/prefix/bin/octet"
test -f "$T/prefix/lib/cmake/octet/octetConfig.cmake" && test -f "$T/prefix/lib/cmake/octet/octetConfigVersion.cmake"
if find "$T/prefix/include" -type f ! -path "$T/prefix/include/octet/*" | grep .; then
  echo "test_package: headers installed outside include/octet/" >&2
  exit 1
fi
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S examples -B "$T/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$T/prefix" "${LAUNCHER[@]}" >/dev/null
cmake --build "$T/build" -j"$(nproc)" >/dev/null
DATA=/usr/share/datasets/fashion-mnist/t10k
if [ ! -e "$DATA-images-idx3-ubyte.gz" ] && [ ! -e "$DATA-images-idx3-ubyte" ]; then
  DATA="$T/samples.npy"
  python3 -c "import numpy as np; np.save('$DATA', np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32))"
fi
MODEL=$PWD/models/fmnist_cnn.onnx
(cd "$T" && "$T/build/quantize_and_run" "$MODEL" "$DATA" 256 0.2860 0.3530)
"$T/prefix/bin/octet" --version
echo "test_package: OK"
