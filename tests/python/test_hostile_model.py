"""Hostile models at the CLI (issue 17): every case ends with a one-line error naming the file and what is wrong,
never a crash, hang, huge allocation or a silently wrong result.

Models are built with the `onnx` package in tmp_path. FIFO cases run with a timeout so that a regression fails
instead of hanging the suite.
"""
import os
import pathlib
import resource
import signal
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from conftest import REPO, octet_bin  # noqa: E402

FMNIST = REPO / "models" / "fmnist_cnn.onnx"


def run(*args, timeout=60, mem_gib=None):
    """octet with a timeout (and optionally an address-space limit); returns the CompletedProcess."""
    def limit():
        if mem_gib:
            b = mem_gib << 30
            resource.setrlimit(resource.RLIMIT_AS, (b, b))
    return subprocess.run([octet_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit)


def assert_clean_error(r, *needles):
    """Exit 1 (not a signal), one error message containing every needle, no internal error."""
    assert r.returncode == 1, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "internal error" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, f"{n!r} not in: {r.stderr}"


def add_model(w, in_dims=(1, 4)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="add0")], "g", [x], [y], initializer=[w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def external_w(kv, dims=(4,)):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in kv.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


@pytest.fixture
def model_dir(tmp_path):
    """A model folder with a 64-byte weights.bin, and a secret file beside (outside) the folder."""
    d = tmp_path / "model"
    d.mkdir()
    (d / "weights.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    (tmp_path / "secret.bin").write_bytes(np.full(1024, 7.0, np.float32).tobytes())
    return d


def save_ext(model_dir, kv, name="m.onnx"):
    p = model_dir / name
    onnx.save(add_model(external_w(kv)), str(p))
    return p


# ---- 1. the model path --------------------------------------------------------------------------------------

def test_model_path_directory(tmp_path):
    d = tmp_path / "model.onnx"
    d.mkdir()
    for cmd in ("info", "bench"):
        r = run(cmd, d)
        assert_clean_error(r, str(d), "directory")
        assert "9223372036854775807" not in r.stderr


def test_model_path_fifo_does_not_hang(tmp_path):
    f = tmp_path / "model.onnx"
    os.mkfifo(f)
    for cmd in ("info", "build"):
        args = [cmd, f] + (["-o", tmp_path / "x.plan"] if cmd == "build" else [])
        try:
            r = run(*args, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"octet {cmd} on a FIFO hangs")
        assert_clean_error(r, str(f), "FIFO")


def test_missing_model(tmp_path):
    r = run("info", tmp_path / "nope.onnx")
    assert_clean_error(r, "nope.onnx")


# ---- 2. huge declared dims ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["float_data", "raw_data", "int64", "constant"])
def test_huge_initializer_dims_refused_before_allocating(tmp_path, kind):
    # A 12-16 GB tensor declared by a tiny file. With 3 GiB of address space, allocating first (the old
    # behaviour) fails with "out of memory"; checking the data present first names the initializer.
    if kind == "int64":
        w = helper.make_tensor("w", TensorProto.INT64, [2], [1, 2])
        dims = [1 << 31]
    elif kind == "raw_data":
        w = helper.make_tensor("w", TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), raw=True)
        dims = [1 << 20, 1 << 12]
    else:
        w = helper.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4])
        dims = [3, 1 << 30]
    del w.dims[:]
    w.dims.extend(dims)
    if kind == "constant":
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        nodes = [helper.make_node("Constant", [], ["c"], name="c0", value=w),
                 helper.make_node("Mul", ["x", "c"], ["y"], name="m")]
        m = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    else:
        m = add_model(w)
    p = tmp_path / "huge.onnx"
    onnx.save(m, str(p))
    assert p.stat().st_size < 2000
    r = run("info", p, mem_gib=3)
    assert_clean_error(r, str(p), "Constant node 'c0'" if kind == "constant" else "initializer 'w'", "need")
    assert "out of memory" not in r.stderr


def test_overflowing_initializer_dims(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4])
    del w.dims[:]
    w.dims.extend([1 << 62, 1 << 62, 4])
    p = tmp_path / "ovf.onnx"
    onnx.save(add_model(w), str(p))
    assert_clean_error(run("info", p, mem_gib=3), "initializer 'w'", "absurd dimensions")


# ---- 3. external data ---------------------------------------------------------------------------------------

def test_external_data_ok(model_dir, tmp_path):
    p = save_ext(model_dir, {"location": "weights.bin", "offset": "16", "length": "16"})
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    r = run("run", p, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), [[4, 5, 6, 7]])


@pytest.mark.parametrize("how", ["file_link", "dir_link"])
def test_external_data_symlink_out_of_folder_refused(model_dir, tmp_path, how):
    if how == "file_link":
        os.symlink(tmp_path / "secret.bin", model_dir / "data.bin")
        loc = "data.bin"
    else:
        os.symlink(tmp_path, model_dir / "up")
        loc = "up/secret.bin"
    p = save_ext(model_dir, {"location": loc})
    plan = tmp_path / "m.plan"
    r = run("build", p, "-o", plan)
    assert_clean_error(r, str(p), "initializer 'w'", loc, "outside the model's folder")
    assert not plan.exists()


def test_external_data_symlink_inside_folder_ok(model_dir, tmp_path):
    (model_dir / "sub").mkdir()
    os.symlink(model_dir / "weights.bin", model_dir / "sub" / "link.bin")
    p = save_ext(model_dir, {"location": "sub/link.bin"})
    assert run("info", p).returncode == 0


@pytest.mark.parametrize("loc", ["../secret.bin", "sub/../../secret.bin", "/etc/passwd"])
def test_external_data_dotdot_and_absolute_refused(model_dir, loc):
    p = save_ext(model_dir, {"location": loc})
    assert_clean_error(run("info", p), str(p), "initializer 'w'", loc, "inside the model's folder")


def test_external_data_fifo_does_not_hang(model_dir):
    os.mkfifo(model_dir / "fifo.bin")
    p = save_ext(model_dir, {"location": "fifo.bin"})
    try:
        r = run("info", p, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("external data in a FIFO hangs")
    assert_clean_error(r, str(p), "initializer 'w'", "fifo.bin", "FIFO")


def test_external_data_directory(model_dir):
    (model_dir / "d.bin").mkdir()
    p = save_ext(model_dir, {"location": "d.bin"})
    assert_clean_error(run("info", p), str(p), "initializer 'w'", "d.bin", "directory")


@pytest.mark.parametrize("offset", [str((1 << 63) - 8), str((1 << 63) - 1), "60", str(1 << 64)])
def test_external_data_offset_out_of_range(model_dir, offset):
    # the file has 64 bytes; 4 floats at offset 60 run past its end; near 2^63 loaded all-zero weights before
    p = save_ext(model_dir, {"location": "weights.bin", "offset": offset})
    assert_clean_error(run("info", p), str(p), "initializer 'w'", "weights.bin")


@pytest.mark.parametrize("key,value", [("offset", "abc"), ("offset", "-16"), ("offset", " 16"), ("offset", "0x10"),
                                       ("length", "16abc"), ("length", "")])
def test_external_data_offset_length_not_decimal(model_dir, key, value):
    kv = {"location": "weights.bin", key: value}
    p = save_ext(model_dir, kv)
    assert_clean_error(run("info", p), str(p), "initializer 'w'", f"'{key}'", "decimal")


def test_external_data_length_mismatch(model_dir):
    p = save_ext(model_dir, {"location": "weights.bin", "length": "32"})
    assert_clean_error(run("info", p), str(p), "initializer 'w'", "length 32")


def test_quantize_external_data_escape_refused(model_dir, tmp_path):
    # octet quantize reads the weights itself (onnx/qdq_export.cpp): the same rules apply there
    os.symlink(tmp_path / "secret.bin", model_dir / "data.bin")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = external_w({"location": "data.bin"}, dims=(1, 1, 1, 1))
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g", [x], [y], initializer=[w])
    p = model_dir / "conv.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    cache = tmp_path / "c.cache"
    cache.write_text("TRT-8600-EntropyCalibration2\nx: 3c010a14\ny: 3c010a14\n")
    r = run("quantize", p, "--cache", cache, "-o", model_dir / "q.onnx")
    assert r.returncode == 1 and "outside the model's folder" in r.stderr, r.stderr


# ---- 4. shapes at run time ----------------------------------------------------------------------------------

def test_zero_samples(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((0, 1, 28, 28), np.float32))
    r = run("run", FMNIST, "--input", x)
    assert r.returncode != -signal.SIGFPE
    assert_clean_error(r, "0 samples")


def huge_batch_model(path, op="Relu"):
    dims = [4611686018427387904, 3]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="r")], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("cmd", ["bench", "build"])
def test_fixed_batch_2_pow_62(tmp_path, cmd):
    p = tmp_path / "huge.onnx"
    huge_batch_model(p)
    args = ["bench", p, "--iterations", "1", "--warmup", "0"] if cmd == "bench" else ["build", p, "-o", tmp_path / "h.plan"]
    r = run(*args)
    if cmd == "build" and r.returncode == 0:
        # building needs no shapes; running the plan must refuse
        r = run("bench", tmp_path / "h.plan", "--iterations", "1", "--warmup", "0")
    assert_clean_error(r, "'x'", "4611686018427387904x3")


# ---- 5. --threads -------------------------------------------------------------------------------------------

def test_threads_clamped_to_cpus():
    r = run("bench", FMNIST, "--threads", "100000", "--iterations", "2", "--warmup", "0")
    assert r.returncode == 0, r.stderr
    assert "--threads 100000" in r.stderr and "CPUs" in r.stderr


@pytest.mark.parametrize("t", ["-1", "99999999999", "abc"])
def test_threads_absurd_is_an_error(t):
    assert_clean_error(run("bench", FMNIST, "--threads", t, "--iterations", "1"), "--threads")
