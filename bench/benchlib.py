"""Helpers shared by bench/speed_vs_ort.py and bench/calib_vs_ort.py (no third-party imports here).

Every measured command runs in its own process under /usr/bin/time, so its peak RSS (ru_maxrss of exactly
that process, reported by `time -f %M`) and wall time are read the same way for octet and ONNX Runtime.
The orchestrating script stays small (no numpy/onnxruntime imported in it).
"""
import datetime
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
TIME_BIN = "/usr/bin/time"


def default_shared():
    return os.environ.get("OCTET_SHARED", str(REPO.parent / "shared"))


def default_octet():
    return os.environ.get("OCTET_BIN", str(REPO / "build" / "octet"))


def snapshot_octet(octet, workdir):
    """Copy the octet binary into workdir so a concurrent rebuild of build/ cannot swap it mid-run."""
    src = pathlib.Path(octet)
    if not src.exists():
        sys.exit(f"octet binary not found at {src} (build it or set OCTET_BIN / --octet)")
    dst = pathlib.Path(workdir) / "octet"
    shutil.copy2(src, dst)
    return str(dst), {"path": str(src), "mtime": datetime.datetime.fromtimestamp(src.stat().st_mtime).isoformat(
        timespec="seconds"), "size": src.stat().st_size}


def spin_env(no_spin):
    """Environment for octet children: with no_spin, OpenMP workers sleep at barriers instead of spinning."""
    if not no_spin:
        return None
    return dict(os.environ, OMP_WAIT_POLICY="passive")


def loadavg():
    try:
        return pathlib.Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def machine():
    info = {"cpu": platform.processor() or "unknown", "cores": os.cpu_count(), "date": datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "python": platform.python_version()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                info["cpu"] = v.strip()
            elif k.strip() == "CPU(s)":
                info["cores"] = int(v.strip())
        flags = pathlib.Path("/proc/cpuinfo").read_text()
        info["avx512_vnni"] = "avx512_vnni" in flags
    except (OSError, ValueError):
        pass
    try:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        info["git_head"] = r.stdout.strip()
    except OSError:
        pass
    try:
        import importlib.metadata as md
        info["onnxruntime"] = md.version("onnxruntime")
    except Exception:  # noqa: BLE001 - version is informational only
        pass
    return info


class Failed(Exception):
    pass


def measured(cmd, env=None, check=True):
    """Run cmd in its own process; return dict(wall_s, peak_rss_mib, stdout, stderr, rc)."""
    cmd = [str(c) for c in cmd]
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        tpath = tf.name
    try:
        if os.path.exists(TIME_BIN):
            full = [TIME_BIN, "-f", "%M %e", "-o", tpath, *cmd]
            t0 = time.perf_counter()
            r = subprocess.run(full, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            rss_kib = None
            txt = pathlib.Path(tpath).read_text().strip().splitlines()
            for line in reversed(txt):  # last line is "%M %e"; earlier lines may say "Command exited ..."
                parts = line.split()
                if len(parts) == 2 and parts[0].isdigit():
                    rss_kib, wall = int(parts[0]), float(parts[1])
                    break
        else:  # fallback: wait4 gives this one child's rusage
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            out, err = p.communicate()
            wall = time.perf_counter() - t0
            r = subprocess.CompletedProcess(cmd, p.returncode, out, err)
            rss_kib = None
    finally:
        os.unlink(tpath)
    res = {"wall_s": wall, "peak_rss_mib": (rss_kib / 1024.0) if rss_kib else None, "stdout": r.stdout,
           "stderr": r.stderr, "rc": r.returncode}
    if check and r.returncode != 0:
        raise Failed(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return res


def run(cmd, **kw):
    cmd = [str(c) for c in cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failed(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return r


def summary(values):
    v = [x for x in values if x is not None]
    if not v:
        return {"min": None, "median": None, "max": None, "n": 0, "all": []}
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v), "all": v}


def ratio(a, b):
    return (a / b) if (a is not None and b) else None


def fmt(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_outputs(path_json, path_md, data, md):
    pathlib.Path(path_json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path_json).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if path_md:
        pathlib.Path(path_md).write_text(md + "\n")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def image_subset(src, dst, n):
    """A folder with the first n images of src (sorted, recursing into class folders) as symlinks, flat."""
    dst = pathlib.Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    exts = {".jpg", ".jpeg", ".png", ".bmp"}
    files = sorted(p for p in pathlib.Path(src).rglob("*") if p.suffix.lower() in exts)
    for i, p in enumerate(files[:n]):
        (dst / f"{i:05d}{p.suffix.lower()}").symlink_to(p.resolve())
    return dst


def ort_reader(data, batch, input_name):
    """An onnxruntime CalibrationDataReader over `data` (N x ...) in chunks of `batch`, feeding `input_name`."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(data):
                return None
            b = data[self.i:self.i + batch]
            self.i += batch
            return {input_name: np.ascontiguousarray(b)}

        def __len__(self):
            return (len(data) + batch - 1) // batch

    return Reader()


def calibrate_or_reuse(octet, model, cache, args, reuse, label, env=None):
    """`octet calibrate MODEL ARGS --cache CACHE --quiet`, or keep CACHE as it is when `reuse` and it exists.
    A stale cache and its sidecar are removed first, so octet does not skip calibration because of them."""
    cache = pathlib.Path(cache)
    if reuse and cache.exists():
        log(f"reusing {cache}")
        return
    for p in (cache, pathlib.Path(str(cache) + ".json")):
        if p.exists():
            p.unlink()
    log(f"octet calibrate {label}")
    run([octet, "calibrate", model, *args, "--cache", cache, "--quiet"], env=env)
