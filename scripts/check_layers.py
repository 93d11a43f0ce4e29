#!/usr/bin/env python3
"""The layering rule of docs/architecture.md, checked on every build (CMake target octet_check_layers, which
every library target depends on): each layer's files may include (with "dir/...") only the layers it sits on.

  scripts/check_layers.py ROOT [STAMP]

ROOT is a source tree (src/, include/octet/, tools/). Prints one line per forbidden include
(file:line: layer X may not include "Y" (layer Z); allowed: ...) and exits 1; else touches STAMP (if given).
"""
import pathlib
import re
import sys

# Layer -> the directories it owns (relative to ROOT), and the layers it may include besides itself, lowest
# first. `public` is include/octet/ (the installed API headers), which core implements and any layer may use.
LAYERS = {
    "public": (["include/octet"], []),
    "core": (["src/core"], ["public"]),
    "ir": (["src/ir", "src/quant"], ["core", "public"]),
    "onnx": (["src/onnx"], ["ir", "core", "public"]),
    "ref": (["src/backends/ref"], ["ir", "core", "public"]),
    "passes": (["src/passes"], ["ref", "ir", "core", "public"]),
    "runtime": (["src/runtime"], ["passes", "ref", "ir", "core", "public"]),
    "cpu": (["src/backends/cpu"], ["runtime", "passes", "ref", "ir", "core", "public"]),
    "cuda": (["src/backends/cuda"], ["runtime", "passes", "ref", "ir", "core", "public"]),
    "io": (["src/io"], ["core", "public"]),
    "calib": (["src/calib"], ["cpu", "runtime", "passes", "ref", "ir", "onnx", "io", "core", "public"]),
    "api": (["src/api"], ["calib", "cpu", "runtime", "passes", "ref", "ir", "onnx", "io", "core", "public"]),
    "cli": (["tools"], ["api", "calib", "cpu", "runtime", "passes", "ref", "ir", "onnx", "io", "core", "public"]),
}
# Include prefix ("x/" of #include "x/...") -> layer. Longest prefix first.
PREFIXES = [("backends/ref/", "ref"), ("backends/cpu/", "cpu"), ("backends/cuda/", "cuda"), ("octet/", "public"),
            ("core/", "core"),
            ("ir/", "ir"), ("quant/", "ir"), ("onnx/", "onnx"), ("passes/", "passes"), ("runtime/", "runtime"),
            ("io/", "io"), ("calib/", "calib"), ("api/", "api")]
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of_include(path):
    for prefix, layer in PREFIXES:
        if path.startswith(prefix):
            return layer
    return None  # a file of the same directory ("args.h") or a system header


def check(root):
    root = pathlib.Path(root)
    errors = []
    for layer, (dirs, allowed) in LAYERS.items():
        for d in dirs:
            for f in sorted((root / d).rglob("*")):
                if f.suffix not in (".h", ".cpp", ".inc", ".cu") or not f.is_file():
                    continue
                for lineno, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = layer_of_include(m.group(1))
                    if target is None or target == layer or target in allowed:
                        continue
                    errors.append(f"{f.relative_to(root)}:{lineno}: layer {layer} may not include \"{m.group(1)}\" "
                                  f"(layer {target}); {layer} may include: {', '.join(allowed) or 'nothing'} "
                                  f"(docs/architecture.md)")
    return errors


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    errors = check(sys.argv[1])
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(f"check_layers: {len(errors)} include(s) against the layering", file=sys.stderr)
        return 1
    if len(sys.argv) == 3:
        pathlib.Path(sys.argv[2]).touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
