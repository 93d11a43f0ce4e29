#!/usr/bin/env bash
# Builds and runs octet's tests: the C++ suites (ctest: core, ops incl. the backend harness, io, calibration,
# models incl. ONNX's node tests), the Python checks against ONNX Runtime (tests/python) and the installed CMake
# package (scripts/test_package.sh: examples/ built out of tree against it).
#   scripts/test.sh             # Release build in build/
#   OCTET_SANITIZE=1 scripts/test.sh   # AddressSanitizer + UBSan build in build-asan/
# Run scripts/setup.sh once first (dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${OCTET_SANITIZE:-0}" = 1 ]; then
  B=build-asan
  cmake -S . -B $B -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCTET_SANITIZE=ON >/dev/null
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  B=build
  cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
fi
cmake --build $B -j"$(nproc)"
(cd $B && ctest --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-})
if [ "${OCTET_SANITIZE:-0}" != 1 ] && python3 -c "import pytest" 2>/dev/null; then
  # The Python package from this build, for tests/python/test_package_python.py (with nanobind and
  # scikit-build-core installed, as scripts/setup.sh does; a failing build fails the tests).
  if python3 -c "import nanobind, scikit_build_core" 2>/dev/null; then scripts/install_python.sh $B; scripts/test_wheel.sh $B; fi
  OCTET_BIN=$PWD/$B/octet python3 -m pytest -q tests/python
fi
# The installed CMake package: examples/ built out of tree with find_package(octet) and run.
if [ "${OCTET_SANITIZE:-0}" != 1 ]; then
  scripts/test_package.sh $B
fi
