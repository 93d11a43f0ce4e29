"""Q/DQ export/import end to end: `octet quantize` output passes onnx.checker, runs in ONNX Runtime close to
the FP32 model, and its scales come back bit for bit through `octet convert`.

Needs onnx, onnxruntime and numpy (skips otherwise) and the octet binary: $OCTET_BIN, default build/octet.
Models: models/fmnist_cnn.onnx and every $OCTET_SHARED/models/cifar10/*.onnx (default ../shared).
Caches are MinMax over random inputs computed here with ONNX Runtime, so the test needs no data set.
"""
import os
import struct
import subprocess
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OCTET_SHARED", REPO.parent / "shared"))
OCTET = Path(os.environ.get("OCTET_BIN", REPO / "build" / "octet"))


def models():
    out = [REPO / "models" / "fmnist_cnn.onnx"]
    cifar = SHARED / "models" / "cifar10"
    if cifar.is_dir():
        out += sorted(cifar.glob("*.onnx"))
    return out


def octet(*args, check=True):
    if not OCTET.exists():
        pytest.skip(f"octet binary not found at {OCTET} (set OCTET_BIN)")
    r = subprocess.run([str(OCTET), *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"octet {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def input_of(model_path, n, seed):
    m = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    inp = [i for i in m.graph.input if i.name not in inits][0]
    dims = [d.dim_value if d.dim_value > 0 else n for d in inp.type.tensor_type.shape.dim]
    dims[0] = n
    return inp.name, np.random.RandomState(seed).standard_normal(dims).astype(np.float32)


def hexbits(f):
    return "%x" % struct.unpack("!I", struct.pack("!f", f))[0]


def unhex(h):
    return struct.unpack("!f", bytes.fromhex(h.zfill(8)))[0]


def minmax_cache(model_path, x_name, x, path):
    """TensorRT cache (MinMax) of every float tensor: scale = max|x| / 127 as float32."""
    m = onnx.load(str(model_path))
    names = [x_name] + [o for n in m.graph.node for o in n.output if n.op_type != "Constant" and o]
    del m.graph.output[:]
    for n in names:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {x_name: x})
    lines = ["TRT-101300-MinMaxCalibration"]
    for n, o in zip(names, outs):
        if o.dtype == np.float32 and o.size and np.abs(o).max() > 0:
            lines.append(f"{n}: {hexbits(np.float32(np.abs(o).max()) / np.float32(127))}")
    Path(path).write_text("\n".join(lines) + "\n")


def read_cache(path):
    out = {}
    for line in Path(path).read_text().splitlines()[1:]:
        if line:
            name, h = line.rsplit(":", 1)
            out[name] = h.strip()
    return out


def ort_reader(q, x_name, calib):
    """An onnxruntime.quantization CalibrationDataReader over the rows of calib, one sample per batch."""
    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{x_name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)
    return Reader()


def run(path, x_name, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {x_name: x})[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("qdq")


@pytest.mark.parametrize("fmt", ["trt", "ort"])
@pytest.mark.parametrize("model", models(), ids=lambda p: p.stem)
def test_export_checks_and_runs(model, fmt, workdir):
    x_name, calib = input_of(model, 32, 0)
    _, x = input_of(model, 64, 1)
    cache = workdir / f"{model.stem}.cache"
    minmax_cache(model, x_name, calib, cache)
    out = workdir / f"{model.stem}.{fmt}.qdq.onnx"
    octet("quantize", model, "--cache", cache, "-o", out, "--format", fmt, "--force", "--quiet")
    q = onnx.load(str(out))
    onnx.checker.check_model(q, full_check=True)
    ops = [n.op_type for n in q.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # Every original node and name is still there.
    orig = onnx.load(str(model))
    assert {n.name for n in orig.graph.node} <= {n.name for n in q.graph.node}
    assert [o.name for o in orig.graph.output] == [o.name for o in q.graph.output]
    ref, got = run(model, x_name, x), run(out, x_name, x)
    rel = np.abs(got - ref).max() / (np.abs(ref).max() + 1e-6)
    agree = (got.argmax(1) == ref.argmax(1)).mean()
    print(f"{model.stem} {fmt}: rel {rel:.4f} agree {agree:.2f}")
    assert rel < 0.25 and agree >= 0.7, f"{model.stem} {fmt}: rel err {rel:.3f}, top-1 agreement {agree:.2f}"


@pytest.mark.parametrize("model", models(), ids=lambda p: p.stem)
def test_scales_round_trip_bit_exact(model, workdir):
    x_name, calib = input_of(model, 8, 2)
    cache = workdir / f"{model.stem}.rt.cache"
    minmax_cache(model, x_name, calib, cache)
    qdq = workdir / f"{model.stem}.rt.qdq.onnx"
    octet("quantize", model, "--cache", cache, "-o", qdq, "--force", "--quiet")
    back = workdir / f"{model.stem}.back.cache"
    octet("convert", qdq, "-o", back, "--force")
    a, b = read_cache(cache), read_cache(back)
    assert b, "no scales came back"
    for name, h in b.items():
        assert a[name] == h, f"{name}: {a[name]} -> {h}"
    # The scales in the model are the cache's, bit for bit.
    m = onnx.load(str(qdq))
    inits = {i.name: i for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear":
            s = onnx.numpy_helper.to_array(inits[n.input[1]]).item()
            assert hexbits(s) == a[n.input[0]]


def test_ort_tables_round_trip(workdir):
    model = REPO / "models" / "fmnist_cnn.onnx"
    x_name, calib = input_of(model, 8, 3)
    cache = workdir / "fm.tables.cache"
    minmax_cache(model, x_name, calib, cache)
    js, txt = workdir / "calibration.json", workdir / "calibration.txt"
    octet("convert", cache, "-o", js, "--force")
    octet("convert", cache, "-o", txt, "--to", "ort-text", "--force")
    from onnxruntime.quantization.calibrate import load_tensors_data  # ORT's own reader

    data = load_tensors_data(js)
    a = read_cache(cache)
    for name, h in a.items():
        lo, hi = data.data[name].range_value
        # ORT reads amax as float32: the scale again, or one ulp off for the ~1% no float32 amax reaches.
        assert abs(int(hexbits(np.float32(hi) / np.float32(127)), 16) - int(h, 16)) <= 1, name
        assert lo == -hi
    for src in (js, txt):
        back = workdir / (src.name + ".back.cache")
        octet("convert", src, "-o", back, "--to", "trt", "--force")
        assert read_cache(back) == a


def test_refuses_dynamic_weight(workdir):
    h = onnx.helper
    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 4, 4])
    w = h.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [3, 2, 1, 1])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    g = h.make_graph([h.make_node("Relu", ["w"], ["wr"], name="relu_w"),
                      h.make_node("Conv", ["x", "wr"], ["y"], name="conv_dyn")], "g", [x, w], [y])
    p = workdir / "dyn.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(p))
    cache = workdir / "dyn.cache"
    cache.write_text(f"TRT-101300-EntropyCalibration2\nx: {hexbits(0.01)}\nwr: {hexbits(0.01)}\n")
    out = workdir / "dyn.qdq.onnx"
    r = octet("quantize", p, "--cache", cache, "-o", out, check=False)
    assert r.returncode == 1
    assert "conv_dyn" in r.stderr and "Conv" in r.stderr
    assert not out.exists()
    # With the node kept in FP32 it goes through.
    octet("quantize", p, "--cache", cache, "-o", out, "--fp32-layers", "conv_dyn", "--quiet")
    onnx.checker.check_model(onnx.load(str(out)))


def test_never_overwrites_without_force(workdir):
    model = REPO / "models" / "fmnist_cnn.onnx"
    x_name, calib = input_of(model, 4, 4)
    cache = workdir / "fm.force.cache"
    minmax_cache(model, x_name, calib, cache)
    out = workdir / "exists.onnx"
    out.write_bytes(b"keep me")
    r = octet("quantize", model, "--cache", cache, "-o", out, check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    assert out.read_bytes() == b"keep me"


def test_reads_ort_quantize_static(workdir):
    """ONNX Runtime's own QDQ output (symmetric int8, per-channel): octet reads back its activation scales."""
    q = pytest.importorskip("onnxruntime.quantization")
    model = REPO / "models" / "fmnist_cnn.onnx"
    x_name, calib = input_of(model, 8, 5)

    out = workdir / "fm.ortq.onnx"
    q.quantize_static(str(model), str(out), ort_reader(q, x_name, calib), quant_format=q.QuantFormat.QDQ, per_channel=True,
                      activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                      extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    back = workdir / "fm.ortq.cache"
    r = octet("convert", out, "-o", back, "--force")
    got = read_cache(back)
    m = onnx.load(str(out))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    want = {n.input[0]: hexbits(inits[n.input[1]].item()) for n in m.graph.node if n.op_type == "QuantizeLinear"}
    assert got == want
    assert "warning" not in r.stderr


def test_runs_ort_default_asymmetric(workdir):
    """ONNX Runtime's default QDQ (activations with zero points, per-tensor weights): octet simulates its INT8
    exactly (FP32 kernels between the model's own Q/DQ), so its outputs are ORT's up to float summation order;
    --asymmetric symmetric maps the tensors to symmetric int8 (warned, less exact); build refuses by name."""
    q = pytest.importorskip("onnxruntime.quantization")
    model = REPO / "models" / "fmnist_cnn.onnx"
    x_name, calib = input_of(model, 16, 7)
    _, x = input_of(model, 32, 8)

    out = workdir / "fm.ortdefault.onnx"
    q.quantize_static(str(model), str(out), ort_reader(q, x_name, calib), quant_format=q.QuantFormat.QDQ)
    want = run(out, x_name, x)
    np.save(workdir / "asym_x.npy", x)

    r = octet("run", out, "--input", workdir / "asym_x.npy", "--precision", "int8", "--output",
              workdir / "asym_sim.npy", "--force")
    assert "simulated" in r.stderr and "warning" not in r.stderr
    got = np.load(workdir / "asym_sim.npy")
    # The logits pass a final uint8 Q/DQ pair: outputs are multiples of its scale; a float-order difference
    # may flip a rounding by one step in a few places, never more.
    m = onnx.load(str(out))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    last = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name][0]
    assert last.op_type == "DequantizeLinear"
    step = float(inits[last.input[1]].reshape(-1)[0])
    diff = np.abs(got - want)
    assert diff.max() <= step * 1.01, diff.max()
    assert (diff > 1e-6).mean() < 0.02
    assert (got.argmax(1) == want.argmax(1)).all()

    r = octet("run", out, "--input", workdir / "asym_x.npy", "--precision", "int8", "--asymmetric", "symmetric",
              "--output", workdir / "asym_sym.npy", "--force")
    assert "is asymmetric (" in r.stderr
    sym = np.load(workdir / "asym_sym.npy")
    assert np.abs(sym - want).max() > diff.max()  # the mapping is an approximation; the simulation is not

    r = octet("info", out)
    assert "asymmetric activation(s) (e.g. 'input')" in r.stdout and "simulates" in r.stdout
    r = octet("bench", out, "--precision", "int8", "--iterations", "2", "--warmup", "0")
    assert "int8-simulated" in r.stdout

    r = octet("build", out, "-o", workdir / "asym.plan", check=False)
    assert r.returncode != 0 and "asymmetric" in r.stderr and "'input'" in r.stderr
    assert not (workdir / "asym.plan").exists()


def test_fp32_layer_reads_what_octet_rounds(workdir):
    """--fp32-layers: the layer keeps float weights and no Q/DQ of its own, but where octet's plan feeds it a
    tensor that an INT8 op produced (a Dequantize of the int8 value), the export rounds its input too, so ONNX
    Runtime computes what octet computes. Model: r = Relu(convA(x)) is read by convB (int8, so r is int8) and by
    convC, kept in FP32; y = convB(r) + convC(r)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(3)
    def w(name, shape):
        return numpy_helper.from_array(rng.uniform(-0.5, 0.5, shape).astype(np.float32), name)
    nodes = [helper.make_node("Conv", ["x", "wA"], ["a"], name="convA", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "wB"], ["b"], name="convB", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["r", "wC"], ["c"], name="convC", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "c"], ["y"], name="add")]
    g = helper.make_graph(nodes, "branch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])],
                          [w("wA", (6, 3, 3, 3)), w("wB", (4, 6, 3, 3)), w("wC", (4, 6, 3, 3))])
    model, cache = save_with_minmax_cache(workdir, "branch", g, rng.standard_normal((16, 3, 8, 8)).astype(np.float32))
    out = workdir / "branch.qdq.onnx"
    octet("quantize", model, "--cache", cache, "-o", out, "--fp32-layers", "convC", "--force", "--quiet")
    q = onnx.load(str(out))
    producer = {o: n for n in q.graph.node for o in n.output}
    by = {n.name: n for n in q.graph.node}
    inits = {i.name for i in q.graph.initializer}
    assert producer[by["convC"].input[0]].op_type == "DequantizeLinear", "the FP32 layer must read the rounded input"
    assert by["convC"].input[1] in inits, "the FP32 layer keeps its float weights"
    assert producer[by["convB"].input[0]].op_type == "DequantizeLinear"
    assert producer[by["convB"].input[1]].op_type == "DequantizeLinear"


@pytest.mark.parametrize("fmt", ["trt", "ort"])
def test_silu_residual_after_activation(workdir, fmt):
    """x + SiLU(conv(x)) (YOLOX's bottleneck) runs in octet's plan as one QConv whose epilogue adds the int8
    residual after the SiLU and rounds once, at the Add's scale: the export puts no Q/DQ on the SiLU output (the
    Mul's), one on the residual x where the Add reads it and one on the sum where the next conv reads it."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(5)
    def w(name, shape):
        return numpy_helper.from_array(rng.uniform(-0.5, 0.5, shape).astype(np.float32), name)
    nodes = [helper.make_node("Conv", ["x", "wA"], ["a"], name="convA", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["s"], name="sig"),
             helper.make_node("Mul", ["a", "s"], ["m"], name="mul"),
             helper.make_node("Add", ["x", "m"], ["y"], name="add"),
             helper.make_node("Conv", ["y", "wB"], ["z"], name="convB", pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "bottleneck", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [w("wA", (5, 5, 3, 3)), w("wB", (3, 5, 3, 3))])
    model, cache = save_with_minmax_cache(workdir, "bottleneck", g, rng.standard_normal((16, 5, 8, 8)).astype(np.float32))
    out = workdir / f"bottleneck.{fmt}.qdq.onnx"
    octet("quantize", model, "--cache", cache, "-o", out, "--format", fmt, "--force", "--quiet")
    q = onnx.load(str(out))
    producer = {o: n for n in q.graph.node for o in n.output}
    readers = {}
    for n in q.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    by = {n.name: n for n in q.graph.node}
    assert [r.op_type for r in readers["m"]] == ["Add"], "the SiLU output octet never rounds has no Q/DQ"
    x_in = by["add"].input[0]
    assert producer[x_in].op_type == "DequantizeLinear", "the residual is rounded where the Add reads it"
    assert producer[by["convB"].input[0]].op_type == "DequantizeLinear", "the sum is rounded"
    x = rng.standard_normal((2, 5, 8, 8)).astype(np.float32)
    assert np.isfinite(run(out, "x", x)).all()


def save_with_minmax_cache(workdir, name, graph, calib):
    """Saves `graph` (opset 17) as workdir/name.onnx and its MinMax cache on `calib` (input "x") as name.cache."""
    from onnx import helper
    model, cache = workdir / f"{name}.onnx", workdir / f"{name}.cache"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    minmax_cache(model, "x", calib, cache)
    return model, cache


def expect_ort_computes_octet(workdir, model, cache, qdq, x):
    """octet's INT8 plan (model + cache) and ONNX Runtime on the Q/DQ export `qdq`, graph optimizations off (float
    arithmetic on the Q/DQ values), agree on x within two output steps."""
    np.save(workdir / "ort_x.npy", x)
    octet("run", model, "--input", workdir / "ort_x.npy", "--cache", cache, "--precision", "int8",
          "--output", workdir / "ort_y.npy", "--force")
    y_octet = np.load(workdir / "ort_y.npy")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    y_ort = ort.InferenceSession(str(qdq), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    step = float(np.abs(y_octet).max()) / 127
    assert np.abs(y_ort - y_octet).max() <= 2 * step, np.abs(y_ort - y_octet).max() / step


@pytest.mark.parametrize("fmt", ["trt", "ort"])
def test_silu_read_by_convs_has_a_zero_point(workdir, fmt):
    """A SiLU output read only by a (depthwise) conv is held by octet's plan with a zero point over
    [-0.2785, amax]: the ort export gives its pair that scale and int8 zero point (the bias of the reading conv at
    that scale), and ONNX Runtime then computes what octet does; trt keeps the cache's symmetric pair and says so."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(7)
    def w(name, shape):
        return numpy_helper.from_array(rng.uniform(-0.5, 0.5, shape).astype(np.float32), name)
    nodes = [helper.make_node("Conv", ["x", "wA", "bA"], ["a"], name="convA", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["s"], name="sig"),
             helper.make_node("Mul", ["a", "s"], ["m"], name="mul"),
             helper.make_node("Conv", ["m", "wB", "bB"], ["z"], name="dw", pads=[1, 1, 1, 1], group=6, strides=[2, 2])]
    g = helper.make_graph(nodes, "silu_dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 9, 9])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 6, 5, 5])],
                          [w("wA", (6, 5, 3, 3)), w("bA", (6,)), w("wB", (6, 1, 3, 3)), w("bB", (6,))])
    model, cache = save_with_minmax_cache(workdir, "silu_dw", g, rng.standard_normal((16, 5, 9, 9)).astype(np.float32))
    out = workdir / f"silu_dw.{fmt}.qdq.onnx"
    r = octet("quantize", model, "--cache", cache, "-o", out, "--format", fmt, "--force")
    q = onnx.load(str(out))
    init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    qm = [n for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "m"]
    assert len(qm) == 1, "one pair on the SiLU output"
    zp, scale = int(init[qm[0].input[2]]), float(init[qm[0].input[1]])
    if fmt == "trt":
        assert zp == 0
        assert "zero point" in r.stdout + r.stderr and "symmetric" in r.stdout + r.stderr
        return
    assert -128 < zp < -90, zp  # [-0.2785, amax] leaves most codes above the zero point
    assert (zp + 128) * scale == pytest.approx(0.2784645, abs=scale)
    expect_ort_computes_octet(workdir, model, cache, out, rng.standard_normal((4, 5, 9, 9)).astype(np.float32))


def test_squeeze_excitation_zero_points(workdir):
    """A SiLU output read by a GlobalAveragePool and a squeeze-excitation Mul, and the Mul's product (gate in
    [0, 1]) read by a conv, are held with zero points: the ort export gives both pairs their zero points, the pool's
    output stays symmetric, and ONNX Runtime computes what octet's QAvgPool / QMulGate do."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(11)
    def w(name, shape, r=0.5):
        return numpy_helper.from_array(rng.uniform(-r, r, shape).astype(np.float32), name)
    nodes = [helper.make_node("Conv", ["x", "wA", "bA"], ["a"], name="convA", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["s"], name="sig"),
             helper.make_node("Mul", ["a", "s"], ["m"], name="silu"),
             helper.make_node("GlobalAveragePool", ["m"], ["gap"], name="gap"),
             helper.make_node("Conv", ["gap", "wS", "bS"], ["se"], name="se_conv"),
             helper.make_node("Sigmoid", ["se"], ["gate"], name="gate"),
             helper.make_node("Mul", ["m", "gate"], ["p"], name="se_mul"),
             helper.make_node("Conv", ["p", "wB", "bB"], ["z"], name="proj")]
    g = helper.make_graph(nodes, "se_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 9, 9])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4, 9, 9])],
                          [w("wA", (6, 5, 3, 3)), w("bA", (6,)), w("wS", (6, 6, 1, 1), 2.0), w("bS", (6,)),
                           w("wB", (4, 6, 1, 1)), w("bB", (4,))])
    model, cache = save_with_minmax_cache(workdir, "se_block", g, rng.standard_normal((16, 5, 9, 9)).astype(np.float32))
    out = workdir / "se_block.ort.qdq.onnx"
    octet("quantize", model, "--cache", cache, "-o", out, "--format", "ort", "--force")
    q = onnx.load(str(out))
    init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    def pair(t):
        qs = [n for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == t]
        assert len(qs) == 1, f"one pair on {t}"
        return int(init[qs[0].input[2]]), float(init[qs[0].input[1]])
    for t in ("m", "p"):
        zp, scale = pair(t)
        assert -128 < zp < -90, (t, zp)
        assert (zp + 128) * scale == pytest.approx(0.2784645, abs=scale), t
    assert pair("gap")[0] == 0
    expect_ort_computes_octet(workdir, model, cache, out, rng.standard_normal((4, 5, 9, 9)).astype(np.float32))
