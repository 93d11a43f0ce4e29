"""octet tune to an accuracy budget (issue 16): --budget (top-1 drop in points, labelled data), --min-agreement and
--min-sqnr choose FP32 layers that meet the target, checked independently; the INT8 share of MACs is right; the
exclusion lists are in the forms ONNX Runtime, trtexec and ModelOpt take, and ONNX Runtime's quantize_static with
that list (and octet's scales) runs the chosen layers in float and agrees with octet's INT8."""
import json
import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import octet_bin
from shuffle_model import make_shuffle_model


def one_batch_reader(ort_q, batch):
    """An ONNX Runtime CalibrationDataReader giving {"input": batch} once."""
    class Reader(ort_q.CalibrationDataReader):
        def __init__(self):
            self.done = False

        def get_next(self):
            if self.done:
                return None
            self.done = True
            return {"input": batch}

    return Reader()


def write_idx(d, x, labels):
    """An IDX image set (uint8 N x 28 x 28) with its labels file, as Fashion-MNIST ships."""
    n = len(x)
    (d / "set-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + x.astype(np.uint8).tobytes())
    (d / "set-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())
    return d / "set-images-idx3-ubyte"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, octet):
    d = tmp_path_factory.mktemp("budget")
    make_shuffle_model(d / "m.onnx", blocks=4, in_ch=1, hw=28)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, size=(64, 28, 28))
    data = write_idx(d, x, rng.integers(0, 10, size=64))
    octet("calibrate", d / "m.onnx", "--data", data, "--cache", d / "c.cache", "--no-refine", "--quiet")
    return d, data


def tune(octet, d, data, name, *extra):
    octet("tune", d / "m.onnx", "--cache", d / "c.cache", "--data", data, "--samples", "64", "--batch", "16",
          "--no-scale-search", "-o", d / f"{name}.cache", "--json", d / f"{name}.json", "--exclusions",
          d / f"{name}.excl.json", "--force", "--quiet", *extra)
    return json.loads((d / f"{name}.json").read_text()), json.loads((d / f"{name}.excl.json").read_text())


def measure(octet, d, data, layers):
    """SQNR and agreement of the INT8 plan with exactly `layers` in FP32, measured by a separate octet tune run."""
    given = ["--fp32-layers", ",".join(layers)] if layers else []
    rep, _ = tune(octet, d, data, "check", "--max-fp32", "0", "--min-sqnr", "-1000", *given)
    return rep["metrics_final"]


def test_min_sqnr_is_met_with_few_layers(setup, octet):
    d, data = setup
    start = measure(octet, d, data, [])["sqnr_db"]
    target = start + 6
    rep, excl = tune(octet, d, data, "sqnr", "--min-sqnr", str(target))
    assert rep["metrics_start"]["sqnr_db"] < target <= rep["metrics_final"]["sqnr_db"] and rep["budget_met"]
    layers = rep["fp32_layers"]
    assert 0 < len(layers) < rep["int8_layers"]
    assert measure(octet, d, data, layers)["sqnr_db"] >= target  # independently re-measured
    # pruned: no chosen layer can go back to INT8 with the target still met
    for l in layers:
        assert measure(octet, d, data, [k for k in layers if k != l])["sqnr_db"] < target, l
    # exclusion lists: every FP32 layer, in each tool's form
    nodes = excl["onnxruntime"]["nodes_to_exclude"]
    assert set(layers) <= set(nodes) == set(excl["nodes"]) and rep["fp32_nodes"] == nodes
    assert excl["trtexec"]["args"] == "--precisionConstraints=obey --layerPrecisions=" + ",".join(f"{n}:fp32" for n in nodes)
    import onnx
    all_nodes = [n.name for n in onnx.load(str(d / "m.onnx")).graph.node]
    for pat in excl["modelopt"]["nodes_to_exclude"]:
        assert len([n for n in all_nodes if re.match(pat, n)]) == 1, pat


def test_chosen_layers_each_raise_the_sqnr(setup, octet):
    """Only layers that bring the outputs closer to FP32 on their own are candidates: a layer that lowers the
    output SQNR can only change a top-1 count by chance."""
    d, data = setup
    start = measure(octet, d, data, [])["sqnr_db"]
    rep, _ = tune(octet, d, data, "gain", "--min-sqnr", str(start + 6))
    alone = {s["layer"]: s["sqnr_db_alone_fp32"] for s in rep["layer_sensitivity"]}
    assert rep["fp32_layers"] and all(alone[l] > start for l in rep["fp32_layers"]), (start, rep["fp32_layers"], alone)


def test_mac_floor_bounds_the_fp32_layers(setup, octet):
    d, data = setup
    start = measure(octet, d, data, [])["sqnr_db"]
    free, _ = tune(octet, d, data, "free", "--min-sqnr", str(start + 6))
    assert free["budget_met"] and free["int8_mac_share"] < 1
    # a floor above what the free choice keeps: the answer keeps at least that share in INT8
    floor = 100 * (free["int8_mac_share"] + 1) / 2
    rep, _ = tune(octet, d, data, "floor", "--min-sqnr", str(start + 6), "--min-int8-macs", f"{floor:.3f}")
    assert rep["int8_mac_share"] * 100 >= floor - 1e-6 and rep["min_int8_mac_share"] == pytest.approx(floor / 100, abs=1e-5)
    # 100 %: nothing can go to FP32, the budget is not met, and the output says why
    r = octet("tune", d / "m.onnx", "--cache", d / "c.cache", "--data", data, "--samples", "64", "--batch", "16",
              "--no-scale-search", "-o", d / "f100.cache", "--json", d / "f100.json", "--force",
              "--min-sqnr", str(start + 6), "--min-int8-macs", "100")
    rep = json.loads((d / "f100.json").read_text())
    assert rep["fp32_layers"] == [] and not rep["budget_met"] and rep["int8_mac_share"] == pytest.approx(1.0)
    assert "budget NOT met" in r.stdout and "--min-int8-macs" in r.stderr, (r.stdout, r.stderr)
    # a floor without a budget, or outside 0..100: an error naming the option
    for extra in (["--min-int8-macs", "90"], ["--min-sqnr", "10", "--min-int8-macs", "120"]):
        r = octet("tune", d / "m.onnx", "--cache", d / "c.cache", "--data", data, "-o", d / "bad.cache", "--force",
                  *extra, check=False)
        assert r.returncode == 1 and "--min-int8-macs" in r.stderr, r.stderr


def test_a_missed_budget_keeps_the_closest_set(setup, octet):
    """A target no set of candidates reaches: budget NOT met, and the answer is never further from it than all
    INT8 (the closest set tried, or no FP32 layer), with or without a MAC floor."""
    d, data = setup
    start = measure(octet, d, data, [])["sqnr_db"]
    free, _ = tune(octet, d, data, "free2", "--min-sqnr", str(start + 6))
    for extra in ([], ["--min-int8-macs", f"{100 * (free['int8_mac_share'] + 1) / 2:.3f}"]):
        rep, _ = tune(octet, d, data, "missed", "--min-sqnr", str(start + 1000), *extra)
        assert not rep["budget_met"], extra
        assert rep["metrics_final"]["sqnr_db"] >= rep["metrics_start"]["sqnr_db"] - 1e-9, (extra, rep["metrics_final"])
        # and the answer is what it says: re-measured with exactly those layers
        assert measure(octet, d, data, rep["fp32_layers"])["sqnr_db"] == pytest.approx(rep["metrics_final"]["sqnr_db"])
    # On this seeded model the candidates do not add up: every layer that gains alone, all in FP32, reaches
    # 39.7 dB, while the longest ranked prefix (those and the multi-layer units: the answer before the closest set
    # was kept) falls to 36.3 dB. Without a floor the answer must be at least as close as the former.
    rep, _ = tune(octet, d, data, "missed", "--min-sqnr", str(start + 1000))
    gaining = [s["layer"] for s in rep["layer_sensitivity"] if s["sqnr_db_alone_fp32"] > start]
    assert rep["metrics_final"]["sqnr_db"] >= measure(octet, d, data, gaining)["sqnr_db"] - 1e-9, rep["fp32_layers"]


def test_int8_mac_share(setup, octet):
    d, data = setup
    rep, _ = tune(octet, d, data, "macs", "--min-sqnr", "-1000", "--max-fp32", "0", "--fp32-layers", "b1.conv2,logits")
    # per sample: stem 28*28*16*1*9, per block conv1 (groups 4) 28*28*16*4, dw 28*28*16*9, conv2 28*28*16*4,
    # se 16*16, logits 16*10
    hw = 28 * 28
    total = hw * 16 * 9 + 4 * (hw * 16 * 4 + hw * 16 * 9 + hw * 16 * 4) + 16 * 16 + 160
    assert rep["macs_total"] == pytest.approx(total)
    assert rep["macs_int8"] == pytest.approx(total - hw * 16 * 4 - 160)
    assert rep["int8_mac_share"] == pytest.approx(rep["macs_int8"] / total)


def test_top1_budget_with_labels(setup, octet):
    d, data = setup
    rep, _ = tune(octet, d, data, "top1", "--budget", "0")
    m = rep["metrics_final"]
    assert rep["budget_met"] and m["fp32_top1"] - m["top1"] <= 1e-9 and 0 <= m["top1"] <= 100


def test_agreement_budget(setup, octet):
    d, data = setup
    rep, _ = tune(octet, d, data, "agree", "--min-agreement", "100")
    assert rep["budget_met"] and rep["metrics_final"]["agreement"] == 1.0


def test_budget_needs_labels(setup, octet, tmp_path):
    d, _ = setup
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 28, 28), np.float32))
    r = octet("tune", d / "m.onnx", "--cache", d / "c.cache", "--data", tmp_path / "x.npy", "--budget", "0.1",
              "-o", tmp_path / "t.cache", check=False)
    assert r.returncode == 1 and "label" in r.stderr, r.stderr
    r = octet("tune", d / "m.onnx", "--cache", d / "c.cache", "--data", tmp_path / "x.npy", "--min-agreement", "150",
              "-o", tmp_path / "t.cache", check=False)
    assert r.returncode == 1 and "--min-agreement" in r.stderr, r.stderr


def test_exclusions_in_onnxruntime(setup, octet):
    """ORT's quantize_static with octet's exclusion list and scales: the excluded nodes stay float and ORT's INT8
    agrees with octet's INT8."""
    ort_q = pytest.importorskip("onnxruntime.quantization")
    import onnx
    import onnxruntime as ort
    d, data = setup
    _, excl = tune(octet, d, data, "ort", "--min-sqnr", "-1000", "--max-fp32", "0", "--fp32-layers", "b1.conv2,b2.dw")
    x = (np.frombuffer((d / "set-images-idx3-ubyte").read_bytes()[16:], np.uint8).reshape(-1, 1, 28, 28)
         .astype(np.float32) / 255.0)
    scales = {}
    for line in (d / "ort.cache").read_text().splitlines()[1:]:
        name, _, h = line.rpartition(":")
        if h.strip() != "0":
            scales[name] = struct.unpack(">f", bytes.fromhex(h.strip().rjust(8, "0")))[0]
    overrides = {t: [{"scale": np.array(s, np.float32), "zero_point": np.array(0, np.int8)}] for t, s in scales.items()}

    ort_q.quantize_static(str(d / "m.onnx"), str(d / "m.ort.onnx"), one_batch_reader(ort_q, x[:16]),
                          quant_format=ort_q.QuantFormat.QDQ,
                          per_channel=True, activation_type=ort_q.QuantType.QInt8, weight_type=ort_q.QuantType.QInt8,
                          nodes_to_exclude=excl["onnxruntime"]["nodes_to_exclude"],
                          extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                         "TensorQuantOverrides": overrides})
    g = onnx.load(str(d / "m.ort.onnx")).graph
    producer = {o: n for n in g.node for o in n.output}
    by_name = {n.name: n for n in g.node}
    for name in ["b1.conv2", "b2.dw"]:  # weights stay float: no DequantizeLinear feeds them
        w = by_name[name].input[1]
        assert w not in producer or producer[w].op_type != "DequantizeLinear", name
    assert producer[by_name["b0.conv2"].input[1]].op_type == "DequantizeLinear"  # a quantized one, for contrast
    y_ort = ort.InferenceSession(str(d / "m.ort.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.save(d / "x.npy", x)
    octet("run", d / "m.onnx", "--input", d / "x.npy", "--cache", d / "ort.cache", "--precision", "int8",
          "--output", d / "y.npy", "--force")
    y_octet = np.load(d / "y.npy")
    assert (y_ort.argmax(1) == y_octet.argmax(1)).mean() >= 0.95


def rounded_tensors(path):
    """{tensor: scale} that a Q/DQ model rounds to int8 (activation Q -> DQ pairs), and the set it rounds to 16
    bits. A pair on a Conv output whose one reader is a Relu / Clip counts as on that reader's output (the same
    values after the activation); ORT's renamed graph outputs (X_QuantizeLinear_Input) count as X."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    int8, int16 = {}, set()
    for n in g.node:
        q = producer.get(n.input[0])
        if n.op_type != "DequantizeLinear" or q is None or q.op_type != "QuantizeLinear":
            continue
        t = q.input[0]
        if t.endswith("_QuantizeLinear_Input"):
            t = t[:-len("_QuantizeLinear_Input")]
        zp = init[q.input[2]]
        if zp.dtype == np.int16:
            int16.add(t)
            continue
        assert zp.dtype == np.int8 and not zp.any(), (t, zp)
        act = [r for r in readers.get(n.output[0], []) if r.op_type in ("Relu", "Clip")]
        if producer.get(t) is not None and producer[t].op_type == "Conv" and len(readers[n.output[0]]) == 1 and act:
            t = act[0].output[0]
        int8[t] = float(init[q.input[1]])
    return int8, int16


def test_quantize_static_args_round_what_octet_rounds(setup, octet):
    """The "quantize_static" arguments of --exclusions name every node (quantized or excluded, tune's FP32 layers
    excluded) and carry the cache's scales bit for bit; ONNX Runtime's quantize_static called with them rounds
    exactly the tensors octet's INT8 plan rounds (those of `octet quantize --format ort`, which mirrors the plan),
    with the same scales, and agrees with octet's INT8."""
    import onnx
    d, data = setup
    fp32 = ["b1.conv2", "b2.dw"]
    _, excl = tune(octet, d, data, "qs", "--min-sqnr", "-1000", "--max-fp32", "0", "--fp32-layers", ",".join(fp32))
    qs = excl["onnxruntime"]["quantize_static"]
    kw = qs["kwargs"]
    assert excl["onnxruntime"]["nodes_to_exclude"] == excl["nodes"]  # the existing key is unchanged
    names = [n.name for n in onnx.load(str(d / "m.onnx")).graph.node if n.op_type != "Constant"]
    assert sorted(kw["nodes_to_quantize"] + kw["nodes_to_exclude"]) == sorted(names)
    assert set(fp32) <= set(kw["nodes_to_exclude"]) and not set(fp32) & set(kw["nodes_to_quantize"])
    assert set(kw["extra_options"]["OpTypesToExcludeOutputQuantization"]) <= set(kw["op_types_to_quantize"])
    assert qs["not_reproduced"] == [] and qs["rounded_for_every_reader"] == []
    cache = {}
    for line in (d / "qs.cache").read_text().splitlines()[1:]:
        name, _, h = line.rpartition(":")
        cache[name] = struct.unpack(">f", bytes.fromhex(h.strip().rjust(8, "0")))[0]
    overrides = kw["extra_options"]["TensorQuantOverrides"]
    exported = d / "qs.octet.onnx"
    octet("quantize", d / "m.onnx", "--cache", d / "qs.cache", "--format", "ort", "-o", exported, "--force", "--quiet")
    want, _ = rounded_tensors(exported)
    for t, s in want.items():  # octet's scales, bit for bit (a Conv output fused into a Relu: the Relu's)
        assert t in overrides and overrides[t][0]["scale"] == s == cache[t], t
    assert set(qs["int16_tensors"]) == {t for t, e in overrides.items() if e[0].get("quant_type") == "QInt16"}

    ort_q = pytest.importorskip("onnxruntime.quantization")
    import importlib.util
    import onnxruntime as ort
    path = __import__("pathlib").Path(__file__).resolve().parents[2] / "python/octet/ort.py"
    spec = importlib.util.spec_from_file_location("octet_ort", path)
    octet_ort = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(octet_ort)
    x = (np.frombuffer((d / "set-images-idx3-ubyte").read_bytes()[16:], np.uint8).reshape(-1, 1, 28, 28)
         .astype(np.float32) / 255.0)

    ort_q.quantize_static(str(d / "m.onnx"), str(d / "qs.ort.onnx"), one_batch_reader(ort_q, x[:16]),
                          **octet_ort.quantize_static_kwargs(d / "qs.excl.json"))
    got, got16 = rounded_tensors(d / "qs.ort.onnx")
    assert got16 == set(qs["int16_tensors"])
    y_ort = ort.InferenceSession(str(d / "qs.ort.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.save(d / "x.npy", x)
    octet("run", d / "m.onnx", "--input", d / "x.npy", "--cache", d / "qs.cache", "--precision", "int8",
          "--output", d / "yq.npy", "--force")
    y_octet = np.load(d / "yq.npy")
    # The export leaves graph outputs float; octet's INT8 logits layer writes int8 (multiples of its scale), and
    # ORT rounds it there too.
    extra = {t: s for t, s in got.items() if t not in want}
    assert list(extra) == ["logits"] and extra["logits"] == cache["logits"]
    assert np.abs(y_octet / cache["logits"] - np.round(y_octet / cache["logits"])).max() < 1e-3
    assert {t: s for t, s in got.items() if t in want} == want
    assert (y_ort.argmax(1) == y_octet.argmax(1)).mean() >= 0.95
    with pytest.raises(ValueError, match="quantize_static"):
        octet_ort.quantize_static_kwargs({"onnxruntime": {"nodes_to_exclude": []}})


def test_quantize_static_kwargs_names_a_bad_file(tmp_path):
    """octet.ort.quantize_static_kwargs on what is not tune's exclusions JSON: ValueError naming the file (a FIFO
    is refused, not read forever)."""
    import importlib.util
    import os
    spec = importlib.util.spec_from_file_location("octet_ort", Path(__file__).resolve().parents[2] / "python" /
                                                  "octet" / "ort.py")
    octet_ort = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(octet_ort)
    (tmp_path / "bad.json").write_text("not json")
    (tmp_path / "old.json").write_text('{"onnxruntime": {"nodes_to_exclude": []}}')
    os.mkfifo(tmp_path / "fifo.json")
    for name, scale in [("nan.json", "NaN"), ("zero.json", "0"), ("inf.json", "Infinity"), ("str.json", '"1"')]:
        (tmp_path / name).write_text('{"onnxruntime": {"quantize_static": {"kwargs": {"quant_format": "QDQ", '
                                     '"activation_type": "QInt8", "weight_type": "QInt8", "extra_options": '
                                     '{"TensorQuantOverrides": {"t0": [{"scale": ' + scale + '}]}}}}}}')
    for name, msg in [("nan.json", "tensor 't0' has scale nan"), ("zero.json", "tensor 't0' has scale 0"),
                      ("inf.json", "tensor 't0' has scale inf"), ("str.json", "tensor 't0' has scale '1'"),
                      ("bad.json", "not the JSON octet tune --exclusions writes"),
                      ("old.json", "no 'onnxruntime' -> 'quantize_static' entry"),
                      ("fifo.json", "not a regular file")]:
        with pytest.raises(ValueError, match=re.escape(str(tmp_path / name)) + ": " + re.escape(msg)):
            octet_ort.quantize_static_kwargs(tmp_path / name)


def paired_counts(octet, d, data, cache, labels):
    """(lost, gained): samples FP32 gets right and INT8 (all layers, `cache`) wrong, and the other way, from two
    `octet run`s."""
    octet("run", d / "m.onnx", "--data", data, "--output", d / "p32.npy", "--force", "--quiet")
    octet("run", d / "m.onnx", "--data", data, "--precision", "int8", "--cache", cache, "--fp32-layers", "none",
          "--output", d / "p8.npy", "--force", "--quiet")
    r32 = np.load(d / "p32.npy").argmax(1) == labels
    r8 = np.load(d / "p8.npy").argmax(1) == labels
    return int((r32 & ~r8).sum()), int((~r32 & r8).sum())


def ci95(lost, gained, n):
    return 100 * 1.96 * np.sqrt(((lost + gained) - (lost - gained) ** 2 / n) / n ** 2)


def test_top1_drop_interval_from_changed_predictions(setup, octet):
    """tune and eval report the paired counts behind the top-1 drop and its 95% interval; tune says when the
    budget is narrower than that interval (session 10: a 0.1 budget met on 1,000 images is inside the noise)."""
    d, data = setup
    labels = np.frombuffer((d / "set-labels-idx1-ubyte").read_bytes()[8:], np.uint8).astype(np.int64)
    # the calibrated plan changes no prediction of this model; thresholds at a quarter (clipping) change some
    lines = (d / "c.cache").read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        name, _, h = line.rpartition(":")
        s = struct.unpack(">f", bytes.fromhex(h.strip().rjust(8, "0")))[0] * (1.0 if name == "input" else 0.25)
        out.append(f"{name}: {struct.pack('>f', s).hex()}")
    (d / "q.cache").write_text("\n".join(out) + "\n")
    (d / "q.cache.json").write_text((d / "c.cache.json").read_text())
    lost, gained = paired_counts(octet, d, data, d / "q.cache", labels)
    n = len(labels)
    assert lost + gained > 0  # the seeded data changes some predictions, else nothing below is tested
    drop = 100 * (lost - gained) / n

    octet("eval", d / "m.onnx", "--data", data, "--precision", "fp32,int8", "--cache", d / "q.cache",
          "--fp32-layers", "none", "--json", d / "ev.json", "--force", "--quiet")
    p = json.loads((d / "ev.json").read_text())["paired"]
    assert (p["lost"], p["gained"]) == (lost, gained)
    assert p["drop_points"] == pytest.approx(drop) and p["ci95_points"] == pytest.approx(ci95(lost, gained, n))

    # a budget the all-INT8 plan meets but that is narrower than the interval: met, with a note saying so
    budget = max(drop, 0) + 0.01
    assert budget < ci95(lost, gained, n)
    args = ["tune", d / "m.onnx", "--cache", d / "q.cache", "--data", data, "--samples", str(n), "--batch", "16",
            "--no-scale-search", "-o", d / "ci.cache", "--json", d / "ci.json", "--force"]
    r = octet(*args, "--budget", f"{budget:.4f}")
    m = json.loads((d / "ci.json").read_text())["metrics_final"]
    assert json.loads((d / "ci.json").read_text())["fp32_layers"] == []
    assert (m["top1_lost"], m["top1_gained"]) == (lost, gained)
    assert m["top1_drop"] == pytest.approx(drop) and m["top1_drop_ci95"] == pytest.approx(ci95(lost, gained, n))
    out = r.stdout + r.stderr
    assert f"{lost} sample(s) right in FP32 and wrong in INT8, {gained} the other way" in out, out
    assert out.count("known only to") == 1, out
    # both streams in one log (CI, `2>&1 | tee`): the note comes after the metrics it is about
    merged = subprocess.run([octet_bin(), *map(str, args), "--budget", f"{budget:.4f}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=True).stdout
    assert merged.index("with the FP32 layers:") < merged.index("known only to"), merged
    # a budget wider than the interval: no note
    r = octet(*args, "--budget", "100")
    assert "known only to" not in r.stdout + r.stderr
