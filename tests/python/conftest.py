"""Shared fixtures: where the octet binary, the repo and ../shared are; skips when they are missing."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def octet_bin():
    return os.environ.get("OCTET_BIN", str(REPO / "build" / "octet"))


def shared_dir():
    d = pathlib.Path(os.environ.get("OCTET_SHARED", REPO.parent / "shared"))
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def octet():
    b = octet_bin()
    if not os.path.exists(b):
        pytest.skip(f"octet binary not found at {b} (build first or set OCTET_BIN)")

    def run(*args, check=True, timeout=None):  # timeout: a hang fails the test (TimeoutExpired), not the run
        r = subprocess.run([b, *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"octet {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    return run


@pytest.fixture(scope="session")
def shared():
    d = shared_dir()
    if d is None:
        pytest.skip("../shared not found (set OCTET_SHARED)")
    return d
