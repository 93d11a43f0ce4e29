#!/usr/bin/env bash
# `pip wheel .` as a user runs it, then the wheel installed into a fresh virtual environment and imported from
# elsewhere (issue 13's done-when). The extension is compiled against the octet built in BUILD_DIR (default
# build/) through OCTET_PREFIX, in the build folder scripts/install_python.sh keeps (BUILD_DIR/python), so after
# install_python.sh nothing is compiled again; without OCTET_PREFIX, pip wheel . compiles octet too (README).
#   scripts/test_wheel.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
REPO=$PWD
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$B" --prefix "$B/prefix" >/dev/null
if ! out=$(OCTET_PREFIX="$PWD/$B/prefix" python3 -m pip wheel -q --disable-pip-version-check --no-build-isolation \
             --no-deps --config-settings=build-dir="$B/python" -w "$T/dist" ./ 2>&1); then
  echo "$out" >&2
  exit 1
fi
wheel=$(ls "$T"/dist/octet-*.whl)
# numpy and the rest from the system; the wheel's octet in front of any other installed one
python3 -m venv --system-site-packages "$T/venv"
"$T/venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-index --ignore-installed "$wheel" 2>&1 |
  grep -v "Running pip as the 'root'" || true
(cd "$T" && "$T/venv/bin/python" - "$T/venv" "$REPO/models/fmnist_cnn.onnx" <<'PY'
import sys
import numpy as np
import octet
assert octet.__file__.startswith(sys.argv[1]), f"imported {octet.__file__}, not the wheel's"
e = octet.Engine(sys.argv[2])  # the extension loads and runs
out = e.run({e.input_names[0]: np.zeros((2, 1, 28, 28), np.float32)})
assert list(out) == e.output_names and out[e.output_names[0]].shape[0] == 2
print(f"test_wheel: OK ({octet.__version__}, CUDA build: {octet.CUDA}, {octet.__file__})")
PY
)
echo "test_wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
