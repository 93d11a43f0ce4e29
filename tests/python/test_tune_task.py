"""octet tune --task detect|segment (issue 15): a budget on the task metric of octet eval --task -- box F1 of the
INT8 boxes against the FP32 boxes, mask IoU of the INT8 and FP32 probability maps -- met on two small seeded
models whose all-INT8 plan misses it, and re-measured independently by octet eval --task on the same images."""
import json

import numpy as np
import pytest
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(path, task, seed=3):
    """A small conv net on 1 x 28 x 28 images. segment: a DBNet-like probability map N x 1 x 28 x 28 (Sigmoid)
    whose values sit around the 0.3 mask threshold; detect: a YOLOX-like head N x 49 x 6 (stride 4, one class;
    Sigmoid on every channel, so x, y offsets in (0, 1), sizes exp(0..1) * 4 and scores around the 0.3 cut)."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def conv(x, cin, cout, name, k=3, stride=1, bias=0.0):
        w = rng.normal(0, (2.0 / (cin * k * k)) ** 0.5, size=(cout, cin, k, k)).astype(np.float32)
        b = (rng.normal(0, 0.05, size=(cout,)) + bias).astype(np.float32)
        pads = [k // 2] * 4 if stride == 1 else [0] * 4
        nodes.append(helper.make_node("Conv", [x, const(name + ".w", w), const(name + ".b", b)], [name], name=name,
                                      pads=pads, strides=[stride, stride]))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    x = node("Relu", [conv("input", 1, 8, "stem")], "stem_relu")
    for i in range(4):
        x = node("Relu", [conv(x, 8, 8, f"c{i}")], f"c{i}_relu")
        if i == 1:  # one channel 40x larger than the others: c1's output is where INT8 loses the rest
            ws = next(t for t in inits if t.name == "c1.w")
            w = numpy_helper.to_array(ws).copy()
            w[0] *= 40
            ws.CopyFrom(numpy_helper.from_array(w, "c1.w"))
    if task == "segment":
        y = node("Sigmoid", [conv(x, 8, 1, "head", k=3, bias=-0.85)], "map")
        out = helper.make_tensor_value_info("map", TensorProto.FLOAT, ["N", 1, 28, 28])
    else:
        h = node("Sigmoid", [conv(x, 8, 6, "head", k=4, stride=4, bias=0.4)], "head_sigmoid")
        r = node("Reshape", [h, const("shape", np.array([0, 6, 49], np.int64))], "head_reshape")
        y = node("Transpose", [r], "out", perm=[0, 2, 1])
        out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 49, 6])
    graph = helper.make_graph(nodes, task, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                              [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def setup(tmp_path_factory, octet):
    d = tmp_path_factory.mktemp("tune_task")
    rng = np.random.default_rng(11)
    np.save(d / "x.npy", rng.uniform(0, 1, size=(48, 1, 28, 28)).astype(np.float32))
    for task in ["detect", "segment"]:
        make_model(d / f"{task}.onnx", task)
        octet("calibrate", d / f"{task}.onnx", "--data", d / "x.npy", "--cache", d / f"{task}.cache", "--no-refine",
              "--quiet")
    return d


TASK_ARGS = {"detect": ["--task", "detect", "--decode", "yolox", "--strides", "4"],
             "segment": ["--task", "segment"]}
LIMIT = {"detect": "--min-f1", "segment": "--min-iou"}


def tune(octet, d, task, name, *extra):
    octet("tune", d / f"{task}.onnx", "--cache", d / f"{task}.cache", "--data", d / "x.npy", "--samples", "48",
          "--batch", "16", "--no-scale-search", "-o", d / f"{name}.cache", "--json", d / f"{name}.json", "--force",
          "--quiet", *TASK_ARGS[task], *extra)
    return json.loads((d / f"{name}.json").read_text())


def eval_task(octet, d, task, cache):
    octet("eval", d / f"{task}.onnx", "--data", d / "x.npy", "--batch", "16", "--cache", cache, "--json",
          d / "eval.json", "--force", "--quiet", *TASK_ARGS[task])
    j = json.loads((d / "eval.json").read_text())["int8_vs_fp32"]
    return j["f1"] if task == "detect" else j["mask_iou"]


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_task_budget_is_met_and_matches_eval(setup, octet, task):
    d = setup
    start = eval_task(octet, d, task, d / f"{task}.cache")
    assert start < 0.99, f"the all-INT8 {task} model should miss the target (score {start})"
    target = round(start + (1 - start) / 2, 4)
    rep = tune(octet, d, task, f"{task}_t", LIMIT[task], str(target))
    m0, m1 = rep["metrics_start"], rep["metrics_final"]
    assert m0["task_score"] == pytest.approx(start, abs=1e-12)  # tune's metric is octet eval --task's
    assert rep["budget_met"] and m1["task_score"] >= target and 0 < len(rep["fp32_layers"]) < rep["int8_layers"]
    # independently: octet eval --task on the tuned cache (its sidecar's FP32 layers) gives tune's number
    assert eval_task(octet, d, task, d / f"{task}_t.cache") == pytest.approx(m1["task_score"], abs=1e-12)


def test_rank_samples(setup, octet):
    """--rank-samples: the ranking on 16 of the 48 samples (one trial per unit, + a baseline); the budget is still
    checked on all 48, as octet eval --task re-measures."""
    d = setup
    start = eval_task(octet, d, "segment", d / "segment.cache")
    target = round(start + (1 - start) / 2, 4)
    rep = tune(octet, d, "segment", "seg_rank", "--min-iou", str(target), "--rank-samples", "16")
    assert rep["budget_met"] and rep["metrics_final"]["task_score"] >= target
    assert eval_task(octet, d, "segment", d / "seg_rank.cache") == pytest.approx(rep["metrics_final"]["task_score"], abs=1e-12)


def test_task_budget_already_met(setup, octet):
    d = setup
    rep = tune(octet, d, "segment", "seg0", "--min-iou", "0.5")
    assert rep["budget_met"] and rep["fp32_layers"] == [] and rep["trials"] == 2


@pytest.mark.parametrize("args, words", [
    (["--min-f1", "0.9"], ["--min-f1", "--task detect"]),
    (["--task", "segment"], ["--min-iou"]),
    (["--task", "detect", "--min-f1", "0.9"], ["--decode"]),
    (["--task", "detect", "--decode", "yolox", "--min-f1", "98"], ["--min-f1", "0 to 1"]),
    (["--task", "classify", "--min-f1", "0.9"], ["--task"]),
])
def test_task_option_errors(setup, octet, args, words):
    d = setup
    r = octet("tune", d / "segment.onnx", "--cache", d / "segment.cache", "--data", d / "x.npy", "-o",
              d / "bad.cache", "--force", *args, check=False)
    assert r.returncode == 1 and all(w in r.stderr for w in words), r.stderr
    assert "internal" not in r.stderr


def test_task_wrong_output_named(setup, octet):
    """A segmenter's map is not a detection head: an error naming the output and its shape."""
    d = setup
    r = octet("tune", d / "segment.onnx", "--cache", d / "segment.cache", "--data", d / "x.npy", "-o",
              d / "bad.cache", "--force", "--task", "detect", "--decode", "yolox", "--min-f1", "0.9", "--quiet",
              check=False)
    assert r.returncode == 1 and "output 'map' is 8x1x28x28" in r.stderr, r.stderr


def test_python_tune_task(setup, octet):
    """octet.tune(task=, min_f1= / min_iou=) as the CLI: the same metric and the same choice on the same batches."""
    pkg = pytest.importorskip("octet")
    d = setup
    x = np.load(d / "x.npy")
    start = eval_task(octet, d, "segment", d / "segment.cache")
    target = round(start + (1 - start) / 2, 4)
    r = pkg.tune(str(d / "segment.onnx"), d / "segment.cache", x, batch=16, scale_search=False, task="segment",
                 min_iou=target)
    cli = tune(octet, d, "segment", "seg_py", "--min-iou", str(target))
    assert r.budget_met and r.task_score >= target and r.task_score_start == pytest.approx(start, abs=1e-12)
    assert r.fp32_layers == cli["fp32_layers"] and r.task_score == pytest.approx(cli["metrics_final"]["task_score"])
    r = pkg.tune(str(d / "detect.onnx"), d / "detect.cache", x, batch=16, scale_search=False, task="detect",
                 decode="yolox", strides=[4], min_f1=1.0)
    assert r.budget_met and r.task_score == 1.0
    with pytest.raises(pkg.Error, match="min_f1"):
        pkg.tune(str(d / "detect.onnx"), d / "detect.cache", x, task="segment", min_f1=0.9)
