"""octet calibrate's refinement shortcuts (src/calib/refine.h) from the command line: --refine-screen and
--refine-prune are checked, the sidecar says how each candidate ended (pruned, screened out, confirmed) and where
the time went, and the search without shortcuts (--refine-screen 0 --refine-prune 0) tries every candidate on all
samples."""
import json

import numpy as np

from conftest import REPO

MODEL = REPO / "models" / "fmnist_cnn.onnx"


def data(tmp_path):
    x = np.random.default_rng(11).uniform(-0.8, 2.0, size=(48, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


def test_refine_shortcut_options_are_checked(tmp_path, octet):
    x = data(tmp_path)
    for flag, value in (("--refine-screen", "-1"), ("--refine-prune", "-2"), ("--refine-prune", "nan")):
        r = octet("calibrate", MODEL, "--data", x, "--cache", tmp_path / "c.cache", flag, value, check=False)
        assert r.returncode != 0 and flag in r.stderr and not (tmp_path / "c.cache").exists(), (flag, value, r.stderr)


def test_refinement_reports_its_shortcuts(tmp_path, octet):
    x = data(tmp_path)
    common = [MODEL, "--data", x, "--quiet", "--refine-samples", "32"]
    octet("calibrate", *common, "--cache", tmp_path / "fast.cache", "--refine-screen", "8")
    octet("calibrate", *common, "--cache", tmp_path / "full.cache", "--refine-screen", "0", "--refine-prune", "0")
    fast = json.loads((tmp_path / "fast.cache.json").read_text())["refinement"]
    full = json.loads((tmp_path / "full.cache.json").read_text())["refinement"]
    assert fast["samples"] == full["samples"] == 32
    # Without shortcuts every trial runs on all samples; with them, every trial is a screening run and only the
    # ones that won there run on all samples.
    assert full["pruned"] == full["screened_out"] == full["confirmations"] == 0 and full["trials"] > 0
    assert fast["trials"] == fast["screened_out"] + fast["confirmations"]
    assert fast["confirmations"] < full["trials"]
    for r in (fast, full):
        parts = r["seconds_parts"]
        assert set(parts) == {"setup", "build", "screen", "full"} and all(v >= 0 for v in parts.values())
        assert sum(parts.values()) <= r["seconds"] * 1.05 + 0.01
    assert full["seconds_parts"]["screen"] == 0
    # Both start from the same thresholds on the same samples.
    assert fast["sqnr_before_db"] == full["sqnr_before_db"]
    assert fast["sqnr_after_db"] >= fast["sqnr_before_db"] and full["sqnr_after_db"] >= full["sqnr_before_db"]
