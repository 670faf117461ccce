"""Helpers for reading what the CLI wrote and printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def cli_error(p: subprocess.CompletedProcess[str]) -> str:
    """The CLI's error message: its stderr line after `error: `."""
    assert p.returncode == 2, f"expected exit code 2 (bad input), got {p.returncode}: {p.stderr}"
    # The message may span lines (a TOML parse error quotes the line it points at).
    head, sep, message = p.stderr.partition("error: ")
    assert sep and (head == "" or head.endswith("\n")), p.stderr
    return message.rstrip("\n")
