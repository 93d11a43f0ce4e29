#!/usr/bin/env bash
# Installs what octet needs on a fresh Debian 12 machine and builds it (Release) into build/.
#   scripts/setup.sh            # as root, or with sudo available
# Debian packages: compiler, CMake, protobuf + ONNX (libonnx-dev), OpenCV, oneDNN (libdnnl-dev), GoogleTest,
# nlohmann-json, Chromium (the report test's browser); the Fashion-MNIST data set and ONNX's node test data used by the example and the tests.
# Python packages: numpy, onnx, onnxruntime, pytest (tests and benchmarks); nanobind and scikit-build-core to build
# the Python package octet, which is installed last (scripts/install_python.sh: against the library built here).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS="build-essential cmake ccache pkg-config libprotobuf-dev protobuf-compiler libonnx-dev libopencv-dev libdnnl-dev
      libgtest-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist libonnx-testdata python3 python3-pip
      chromium"  # chromium: tests/python/test_report.py renders octet report's page headless
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ "${OCTET_SKIP_PIP:-0}" != 1 ]; then
  python3 -m pip install -q --disable-pip-version-check numpy onnx onnxruntime pytest nanobind scikit-build-core opencv-python-headless 2>&1 | grep -v "Running pip as the 'root'" || true
fi
# Position-independent code: the Python extension (a shared module) links these static libraries.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
cmake --build build -j"$(nproc)"
echo "built: build/octet"
if [ "${OCTET_SKIP_PIP:-0}" != 1 ]; then
  scripts/install_python.sh build
fi
