"""The CLI's OpenMP wait default (tools/main.cpp): with neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set, octet
re-executes itself once with a short spin (GOMP_SPINCOUNT=3000) when the CPUs it may use are idle, else with
OMP_WAIT_POLICY=passive; a user's setting is left alone. `octet bench` prints the variables in effect."""
import os
import re
import subprocess

import pytest

from conftest import octet_bin


def _bench_openmp_line(shared, **env):
    model = shared / "models" / "cifar10" / "resnet20.onnx"
    if not model.exists():
        pytest.skip(f"{model} missing")
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OCTET_OMP_DEFAULTS")}
    e.update(env)
    r = subprocess.run([octet_bin(), "bench", str(model), "--iterations", "2", "--warmup", "0", "--threads", "2"],
                       capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^openmp\s+(.*)$", r.stdout, re.M)
    assert m, r.stdout
    return m.group(1)


def test_default_is_octets_choice(octet, shared):
    line = _bench_openmp_line(shared)
    assert "octet's default" in line
    assert line.startswith("OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=(unset)") or \
        line.startswith("OMP_WAIT_POLICY=(unset) GOMP_SPINCOUNT=3000"), line


def test_passive_when_the_cpus_are_busy(octet, shared):
    # One busy loop per CPU this process may use: no idle CPU is left, so a spinning worker would steal a core
    # from the thread it waits for.
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(len(os.sched_getaffinity(0)))]
    try:
        line = _bench_openmp_line(shared)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert line.startswith("OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=(unset)") and "octet's default" in line, line


@pytest.mark.parametrize("env,want", [({"OMP_WAIT_POLICY": "active"}, "OMP_WAIT_POLICY=active GOMP_SPINCOUNT=(unset)"),
                                      ({"GOMP_SPINCOUNT": "1000"}, "OMP_WAIT_POLICY=(unset) GOMP_SPINCOUNT=1000"),
                                      ({"OCTET_OMP_DEFAULTS": "0"}, "OMP_WAIT_POLICY=(unset) GOMP_SPINCOUNT=(unset)")])
def test_user_setting_wins(octet, shared, env, want):
    line = _bench_openmp_line(shared, **env)
    assert line.startswith(want) and "octet's default" not in line
