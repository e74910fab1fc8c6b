"""Waiting for a `rejoinder up` subprocess to report Serving in its status.json."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest


def wait_serving(proc: subprocess.Popen, status_file: Path, timeout: float, output: Callable[[], str]) -> dict:
    """The status once it says Serving with an endpoint; the test fails (showing `output()`) if
    `up` exits first or takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`rejoinder up` exited with {proc.returncode}:\n{output()}")
        if status_file.is_file():
            status = json.loads(status_file.read_text())
            if status.get("phase") == "Serving" and status.get("endpoint"):
                return status
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"not Serving within {timeout:.0f} s:\n{output()}")
