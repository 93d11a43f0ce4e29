"""Warnings people can act on (issue 16): shape/index tensors of a PyTorch-style channel shuffle never warn,
--quiet silences notes and warnings on every subcommand, repeats are summarized with where the full list is
(the cache's sidecar, a --json report), and --all-warnings prints every one."""
import json

import numpy as np
import pytest

from shuffle_model import make_shuffle_model


@pytest.fixture(scope="module")
def shuffle(tmp_path_factory, octet):
    d = tmp_path_factory.mktemp("warn")
    make_shuffle_model(d / "shuffle.onnx")
    np.save(d / "x.npy", np.random.default_rng(1).normal(size=(24, 3, 32, 32)).astype(np.float32))
    # TensorRT's own thresholds (--kl-error-limit 0: no MSE bound) clip several depthwise outputs of this model,
    # which gives the repeated warnings these tests need
    r = octet("calibrate", d / "shuffle.onnx", "--data", d / "x.npy", "--cache", d / "c.cache", "--no-refine", "--kl-error-limit", "0")
    return d, r


def warning_lines(r):
    return [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("warning:")]


def test_shape_tensors_never_warn(shuffle):
    d, r = shuffle
    text = r.stdout + r.stderr
    assert "never observed" not in text, text
    side = json.loads((d / "c.cache.json").read_text())
    assert not [w for w in side.get("warnings", []) if w["issue"] == "never_observed"]
    # the shape tensors are still in the cache (no scale), as before
    assert "shuffle0/s5: 0" in (d / "c.cache").read_text()


def test_repeats_are_summarized_and_listed_in_the_sidecar(shuffle):
    d, r = shuffle
    side = json.loads((d / "c.cache.json").read_text())["warnings"]
    clipping = [w for w in side if w["issue"] == "heavy_clipping"]
    assert len(clipping) >= 5, side  # the seeded model clips several depthwise outputs
    lines = warning_lines(r)
    shown = [l for l in lines if "lie above amax" in l]
    assert len(shown) == 3, lines
    summary = [l for l in lines if "more heavy_clipping warnings" in l]
    assert len(summary) == 1 and f"{len(clipping)} in all" in summary[0] and "c.cache.json" in summary[0], lines


def test_all_warnings_prints_every_one(shuffle, octet):
    d, _ = shuffle
    r = octet("calibrate", d / "shuffle.onnx", "--data", d / "x.npy", "--cache", d / "a.cache", "--no-refine", "--kl-error-limit", "0",
              "--all-warnings")
    side = json.loads((d / "a.cache.json").read_text())["warnings"]
    assert len([l for l in warning_lines(r) if "lie above amax" in l]) == len(side)


def test_quiet_calibrate_prints_no_warning(shuffle, octet):
    d, _ = shuffle
    r = octet("calibrate", d / "shuffle.onnx", "--data", d / "x.npy", "--cache", d / "q.cache", "--no-refine", "--kl-error-limit", "0", "--quiet")
    assert warning_lines(r) == [] and "note:" not in r.stderr, r.stdout + r.stderr
    assert json.loads((d / "q.cache.json").read_text())["warnings"]  # still recorded


def test_build_summarizes_and_quiet_silences(shuffle, octet):
    d, _ = shuffle
    bad = ",".join(f"nosuch{i}" for i in range(6))
    r = octet("build", d / "shuffle.onnx", "--cache", d / "c.cache", "--fp32-layers", bad, "-o", d / "p.plan", "--force")
    lines = warning_lines(r)
    assert len(lines) == 4 and "3 more fp32_layers_unknown warnings" in lines[3] and "--all-warnings" in lines[3], lines
    r = octet("build", d / "shuffle.onnx", "--cache", d / "c.cache", "--fp32-layers", bad, "-o", d / "p.plan", "--force",
              "--quiet")
    assert warning_lines(r) == [], r.stderr
    assert (d / "p.plan").exists()


def test_every_subcommand_takes_quiet(octet):
    for cmd in ["calibrate", "build", "quantize", "eval", "tune", "run", "bench", "convert", "info", "cache"]:
        r = octet(cmd, "--help")
        assert "--quiet" in r.stdout and "--all-warnings" in r.stdout, cmd
