#!/usr/bin/env bash
# Installs the Python package octet (pip install .) against the octet library built in BUILD_DIR (default build/,
# configured with -DCMAKE_POSITION_INDEPENDENT_CODE=ON as scripts/setup.sh does): the build is installed to
# BUILD_DIR/prefix and the extension links it through OCTET_PREFIX, so only python/src/ is compiled. No build
# isolation (nanobind and scikit-build-core come from scripts/setup.sh): nothing is downloaded. The extension's
# build folder (BUILD_DIR/python) is kept, so a reinstall recompiles only what changed.
#   scripts/install_python.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
cmake --install "$B" --prefix "$B/prefix" >/dev/null
if ! out=$(OCTET_PREFIX="$PWD/$B/prefix" python3 -m pip install -q --disable-pip-version-check --no-build-isolation \
             --no-deps --config-settings=build-dir="$B/python" ./ 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$out" | grep -v "Running pip as the 'root'" || true
python3 -c "import octet; print('python package: octet', octet.__version__, octet.__file__)"
