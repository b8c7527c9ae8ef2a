"""Shared test helpers: real processes, real ports, real files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def fedhealth_cmd(*args: str) -> list[str]:
    """The `fedhealth` command line, run with this interpreter."""
    return [sys.executable, "-m", "fedhealth", *args]


def free_port() -> int:
    """A port nothing listens on right now (for 'unreachable' tests only)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_file(path: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before writing {path}")
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


@pytest.fixture
def env() -> dict[str, str]:
    """Environment for child processes: unbuffered, no inherited fedhealth settings."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("FEDHEALTH_")}
    e["PYTHONUNBUFFERED"] = "1"
    return e
