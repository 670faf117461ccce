"""Shared fixtures: the `servesim` binary of the same build (tests/python.rs passes its path), so
that every Python result can be compared with the CLI's on the same inputs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cli():
    """Runs the servesim binary; returns the CompletedProcess (text)."""
    binary = os.environ.get("SERVESIM_BIN")
    if not binary:
        pytest.fail("SERVESIM_BIN is not set: run these tests through `cargo test --test python`")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([binary, *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"servesim {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
        return p

    return run


@pytest.fixture()
def simulate_cli(cli, tmp_path):
    """`servesim simulate ARGS --out tmp`; returns the run directory."""

    def run(*args: str) -> Path:
        out = tmp_path / "runs"
        cli("simulate", *args, "--out", str(out))
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        return run_dir

    return run
