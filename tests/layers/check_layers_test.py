#!/usr/bin/env python3
"""ctest layers.check_layers: scripts/check_layers.py passes on the tree and catches planted backward includes
(on a temporary copy): passes -> runtime, a backend -> passes, ir -> onnx, the public headers -> src/."""
import pathlib
import shutil
import subprocess
import sys
import tempfile

src = pathlib.Path(sys.argv[1])
checker = src / "scripts" / "check_layers.py"


def run(root):
    return subprocess.run([sys.executable, str(checker), str(root)], capture_output=True, text=True)


r = run(src)
assert r.returncode == 0, "the tree itself breaks the layering:\n" + r.stderr

PLANTS = [  # file, include, the layer the message must name
    ("src/passes/fold_batchnorm.cpp", "runtime/plan.h", "runtime"),
    ("src/backends/ref/conv.cpp", "passes/quantize.h", "passes"),
    ("src/ir/graph.cpp", "onnx/import.h", "onnx"),
    ("src/runtime/plan.cpp", "backends/cpu/cpu_backend.h", "cpu"),
    ("src/io/npy.cpp", "calib/cache.h", "calib"),
    ("include/octet/engine.h", "core/tensor.h", "core"),
]
for file, include, layer in PLANTS:
    with tempfile.TemporaryDirectory() as t:
        t = pathlib.Path(t)
        for d in ("src", "include", "tools"):
            shutil.copytree(src / d, t / d)
        f = t / file
        lines = f.read_text().splitlines(keepends=True)
        at = next(i for i, l in enumerate(lines) if l.startswith("#include")) + 1
        lines.insert(at, f'#include "{include}"\n')
        f.write_text("".join(lines))
        r = run(t)
        want = f'{file}:{at + 1}: layer '
        assert r.returncode != 0, f"planted {include} in {file}: the checker passed"
        assert want in r.stderr and f"(layer {layer})" in r.stderr, f"planted {include} in {file}:\n{r.stderr}"
        print(f"caught: {r.stderr.splitlines()[0]}")
print("ok")
