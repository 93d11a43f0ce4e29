"""Files octet must not read, follow or replace (issue 17), through the CLI.

Inputs are regular files only: a FIFO given as --input, --data, --cache (or found as a sidecar, an IDX labels
file, an image in a folder) is an error naming it, or skipped, never a hang; the FIFO tests run with a timeout
so that a regression fails instead of hanging the suite. Image folders with link loops finish and count every
image once. Outputs: only regular files are replaced, checked before the work, an existing one only with
--force, never through a link; a failed write (a full disk, simulated with RLIMIT_FSIZE) leaves the old file
and no temporary file.
"""
import json
import os
import pathlib
import resource
import signal
import stat
import struct
import subprocess
import zlib

import numpy as np
import pytest

from conftest import REPO, octet_bin

MODEL = REPO / "models" / "fmnist_cnn.onnx"  # input 1x1x28x28 float32, output logits Nx10
TIMEOUT = 30


@pytest.fixture(scope="module")
def exe(octet):  # the `octet` fixture skips when the binary is missing
    return octet_bin()


def run(exe, *args, timeout=TIMEOUT, preexec_fn=None, cwd=None):
    """Runs octet; a hang (a FIFO waited on) fails the test through TimeoutExpired."""
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec_fn, cwd=cwd)


def refused(r, *parts):
    assert r.returncode != 0, f"expected an error:\n{r.stdout}\n{r.stderr}"
    err = r.stderr.strip()
    assert "error:" in err and len(err.splitlines()) == 1, err
    for p in parts:
        assert str(p) in err, f"{p!r} not in: {err}"
    return err


def fifo(path):
    os.mkfifo(path)
    return path


def png(path, value, size=28):
    """A gray PNG (no imaging library needed)."""
    rows = b"".join(b"\x00" + bytes([value % 256]) * size for _ in range(size))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)) +
                     chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def npy(path, n=1):
    np.save(path, np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32))
    return path


def temps(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module")
def cache(exe, tmp_path_factory):
    """A valid calibration cache (and sidecar) of the model."""
    d = tmp_path_factory.mktemp("cache")
    r = run(exe, "calibrate", MODEL, "--data", npy(d / "calib.npy", 8), "--cache", d / "c.cache", "--no-refine",
            "--quiet", timeout=120)
    assert r.returncode == 0, r.stderr
    return d / "c.cache"


# --- inputs: FIFOs are refused naming them, never waited on -----------------------------------------------

@pytest.mark.parametrize("name", ["x.npy", "x.npz"])
def test_fifo_as_run_input(exe, tmp_path, name):
    f = fifo(tmp_path / name)
    refused(run(exe, "run", MODEL, "--input", f), f, "FIFO")


@pytest.mark.parametrize("name", ["x.npy", "x.npz", "x.raw", "t10k-images-idx3-ubyte", "one.png", "data"])
def test_fifo_as_data(exe, tmp_path, name):
    f = fifo(tmp_path / name)
    refused(run(exe, "calibrate", MODEL, "--data", f, "--cache", tmp_path / "c.cache", "--no-refine"), f, "FIFO")
    if name not in ("x.npz", "x.raw"):  # run --data takes image data and .npy
        refused(run(exe, "run", MODEL, "--data", f), f, "FIFO")


def test_fifo_idx_labels(exe, tmp_path):
    header = struct.pack(">IIII", 0x803, 2, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + bytes(2 * 28 * 28))
    f = fifo(tmp_path / "t10k-labels-idx1-ubyte")
    refused(run(exe, "eval", MODEL, "--data", tmp_path / "t10k"), f, "FIFO")


def test_fifo_as_cache(exe, tmp_path):
    f = fifo(tmp_path / "c.cache")
    x = npy(tmp_path / "x.npy")
    # calibrate reads a cache at --cache (and writes one): a FIFO there is refused before the work.
    refused(run(exe, "calibrate", MODEL, "--data", x, "--cache", f), f, "FIFO")
    for args in (["run", MODEL, "--input", x, "--precision", "int8", "--cache", f],
                 ["build", MODEL, "--cache", f, "-o", tmp_path / "m.plan"],
                 ["quantize", MODEL, "--cache", f, "-o", tmp_path / "q.onnx"],
                 ["cache", "show", f],
                 ["cache", "convert", f, "-o", tmp_path / "c2.cache"],
                 ["convert", f, "-o", tmp_path / "c.json"]):
        refused(run(exe, *args), f, "FIFO")
    assert stat.S_ISFIFO(os.lstat(f).st_mode)


def test_fifo_as_sidecar_is_ignored_with_a_warning(exe, cache, tmp_path):
    c = tmp_path / "c.cache"
    c.write_bytes(cache.read_bytes())
    side = fifo(tmp_path / "c.cache.json")
    r = run(exe, "run", MODEL, "--input", npy(tmp_path / "x.npy"), "--precision", "int8", "--cache", c)
    assert r.returncode == 0, r.stderr
    assert "FIFO" in r.stderr and str(side) in r.stderr, r.stderr
    r = run(exe, "cache", "show", c)
    assert r.returncode == 0 and "FIFO" in r.stderr, r.stderr


def test_fifo_inside_image_folder_is_skipped(exe, tmp_path):
    d = tmp_path / "imgs"
    png(d / "0.png", 10)
    png(d / "1.png", 20)
    fifo(d / "pipe.png")
    r = run(exe, "run", MODEL, "--data", d, "--gray", "--save-input", tmp_path / "s.npy")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "s.npy").shape == (2, 1, 28, 28)
    assert "not regular files" in r.stderr and "pipe.png" in r.stderr, r.stderr


# --- image folders: links are followed once, loops end --------------------------------------------------

def test_folder_with_two_loop_links_finishes(exe, tmp_path):
    d = tmp_path / "imgs"
    png(d / "0.png", 10)
    png(d / "sub" / "1.png", 20)
    os.symlink(".", d / "a")
    os.symlink(".", d / "b")
    r = run(exe, "run", MODEL, "--data", d, "--gray", "--save-input", tmp_path / "s.npy", timeout=60)
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "s.npy").shape == (2, 1, 28, 28)
    notes = [l for l in r.stderr.splitlines() if l.startswith("note: data folder")]
    assert len(notes) == 1 and "skipped 2 link(s)" in notes[0], r.stderr  # one summary line


def test_folder_self_link_counts_each_image_once(exe, tmp_path):
    d = tmp_path / "imgs"
    for i in range(3):
        png(d / f"{i}.png", 30 * i)
    os.symlink(".", d / "sub")
    os.symlink("0.png", d / "zz.png")
    r = run(exe, "run", MODEL, "--data", d, "--gray", "--save-input", tmp_path / "s.npy", timeout=60)
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (3, 1, 28, 28)
    assert np.allclose(x[:, 0, 0, 0] * 255, [0, 30, 60], atol=0.5)  # sorted: 0.png 1.png 2.png


def test_labelled_folder_link_between_classes(exe, tmp_path):
    d = tmp_path / "val"
    png(d / "a" / "1.png", 10)
    png(d / "b" / "2.png", 20)
    os.symlink("../b", d / "a" / "to_b")
    os.symlink("..", d / "b" / "top")
    r = run(exe, "eval", MODEL, "--data", d, "--gray", "--json", tmp_path / "e.json", timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "e.json").read_text())["fp32"]["images"] == 2


# --- outputs: only regular files are replaced, checked before the work ----------------------------------

@pytest.fixture
def devices(tmp_path):
    """Character devices like /dev/null and /dev/full. As root they are private nodes made in tmp_path: were the
    refusal ever to regress, octet would replace those, not the machine's /dev/null (an old octet did rename its
    --json output over /dev/null). Without the right to make nodes, the real ones, which such a user cannot
    replace anyway."""
    try:
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(tmp_path / "full", stat.S_IFCHR | 0o666, os.makedev(1, 7))
        return tmp_path / "null", tmp_path / "full"
    except PermissionError:
        return pathlib.Path("/dev/null"), pathlib.Path("/dev/full")


def test_device_outputs_refused_and_left_devices(exe, tmp_path, devices):
    null, full = devices
    x = npy(tmp_path / "x.npy")
    refused(run(exe, "info", MODEL, "--json", null), null, "character device")
    refused(run(exe, "run", MODEL, "--input", x, "--output", null), null, "character device")
    refused(run(exe, "run", MODEL, "--input", x, "--output", full, "--force"), full, "character device")
    refused(run(exe, "build", MODEL, "-o", full, "--force"), full, "character device")
    # Before the work: the cache is refused before the (missing) data is even looked at.
    refused(run(exe, "calibrate", MODEL, "--data", tmp_path / "missing", "--cache", null), null, "character device")
    refused(run(exe, "eval", MODEL, "--data", tmp_path / "missing", "--json", null), null)
    for dev in (null, full):
        assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert temps(tmp_path) == []


def test_build_to_a_directory_says_so(exe, tmp_path):
    err = refused(run(exe, "build", MODEL, "-o", tmp_path, "--force"), tmp_path, "a directory")
    assert "Success" not in err
    assert tmp_path.is_dir()


@pytest.mark.parametrize("cmd", ["info", "bench", "eval", "save-input"])
def test_existing_output_needs_force(exe, tmp_path, cmd):
    out = tmp_path / "out.json"
    out.write_bytes(b"precious")
    imgs = tmp_path / "imgs"
    png(imgs / "c0" / "0.png", 10)
    args = {"info": ["info", MODEL, "--json", out],
            "bench": ["bench", MODEL, "--iterations", 1, "--warmup", 0, "--json", out],
            "eval": ["eval", MODEL, "--data", imgs, "--gray", "--json", out],
            "save-input": ["run", MODEL, "--data", imgs, "--gray", "--save-input", out]}[cmd]
    refused(run(exe, *args), out, "--force")
    assert out.read_bytes() == b"precious"
    r = run(exe, *args, "--force", timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() != b"precious"
    assert temps(tmp_path) == []


def test_symlink_output_refused_and_not_followed(exe, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out.json")
    refused(run(exe, "info", MODEL, "--json", tmp_path / "out.json", "--force"), "symbolic link")
    os.symlink(victim, tmp_path / "y.npy")
    refused(run(exe, "run", MODEL, "--input", npy(tmp_path / "x.npy"), "--output", tmp_path / "y.npy", "--force"),
            "symbolic link")
    assert victim.read_text() == "precious"


def test_link_at_the_old_fixed_temp_name_is_not_followed(exe, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out.json.tmp")  # the old writer's fixed temporary name
    r = run(exe, "info", MODEL, "--json", tmp_path / "out.json")
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out.json").is_symlink()
    assert json.loads((tmp_path / "out.json").read_text())["model"] == str(MODEL)


def test_link_at_the_old_cache_copy_is_not_followed(exe, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    c = tmp_path / "c.cache"
    c.write_text("TRT-8000-MinMaxCalibration\ninput: 3c010204\n")  # another header: would be kept as c.cache.old
    os.symlink(victim, tmp_path / "c.cache.old")
    r = run(exe, "calibrate", MODEL, "--data", npy(tmp_path / "x.npy"), "--cache", c, "--no-refine")
    refused(r, "c.cache.old", "symbolic link")
    assert victim.read_text() == "precious"
    assert c.read_text().startswith("TRT-8000-MinMaxCalibration")


# --- full disk: no partial file, no temporary file ------------------------------------------------------

def small_fsize_limit(n):
    def f():
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    return f


@pytest.mark.parametrize("out_name", ["y.npy", "y.npz"])
def test_run_output_on_a_full_disk(exe, tmp_path, out_name):
    x = npy(tmp_path / "x.npy", 64)  # 64 x 10 float logits: 2.5 KB, over the 1 KB limit
    out = tmp_path / out_name
    out.write_bytes(b"old")
    r = run(exe, "run", MODEL, "--input", x, "--output", out, "--force", preexec_fn=small_fsize_limit(1000))
    refused(r, out_name, "File too large")
    assert out.read_bytes() == b"old"
    assert temps(tmp_path) == []
    fresh = tmp_path / ("new_" + out_name)
    refused(run(exe, "run", MODEL, "--input", x, "--output", fresh, preexec_fn=small_fsize_limit(1000)))
    assert not fresh.exists() and temps(tmp_path) == []


def test_save_input_on_a_full_disk(exe, tmp_path):
    imgs = tmp_path / "imgs"
    for i in range(4):
        png(imgs / f"{i}.png", i)  # 4 x 28 x 28 float32: 12.5 KB
    s = tmp_path / "s.npy"
    s.write_bytes(b"old")
    r = run(exe, "run", MODEL, "--data", imgs, "--gray", "--save-input", s, "--force", "--output", tmp_path / "y.npy",
            preexec_fn=small_fsize_limit(4096))
    refused(r, "s.npy", "File too large")
    assert s.read_bytes() == b"old"
    assert not (tmp_path / "y.npy").exists()
    assert temps(tmp_path) == []


def test_stale_temp_of_a_dead_writer_is_removed(exe, tmp_path):
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: its pid runs nothing now
    stale = tmp_path / f"y.npy.tmp.{p.pid}.0123abcd"
    stale.write_bytes(b"left by kill -9")
    keep = tmp_path / f"y.npy.tmp.{p.pid}.notours"
    keep.write_bytes(b"a user's file")
    r = run(exe, "run", MODEL, "--input", npy(tmp_path / "x.npy"), "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and keep.exists()
    assert np.load(tmp_path / "y.npy").shape == (1, 10)


def test_image_bomb_header_is_refused_without_gigabytes(octet, tmp_path):
    """A 100-byte PNG whose header declares 30000x30000 pixels (fuzz/regressions/fuzz_image) asked OpenCV for
    2.7 GB before failing; octet caps decoding at 2^27 pixels, so the error comes at once and memory stays small."""
    import resource
    import shutil
    import subprocess
    repo = pathlib.Path(__file__).resolve().parents[2]
    (tmp_path / "data").mkdir()
    shutil.copy(repo / "fuzz/regressions/fuzz_image/png_30000x30000_header.png", tmp_path / "data" / "x.png")

    def limit():  # 1.5 GiB of address space: OpenCV's own 2^30-pixel limit would need more
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    from conftest import octet_bin
    r = subprocess.run([octet_bin(), "calibrate", str(repo / "models/fmnist_cnn.onnx"), "--data", str(tmp_path / "data"),
                        "--cache", str(tmp_path / "c.cache"), "--no-refine", "--quiet"],
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert r.returncode == 1, r.stderr
    assert "x.png" in r.stderr and "pixels" in r.stderr, r.stderr
    assert not (tmp_path / "c.cache").exists()
