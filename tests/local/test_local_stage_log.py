"""A batch stage's log file shows each line of its output while the stage still runs (a person
tails it to see why a training is slow or stuck), not only when 8 KiB have piled up."""

from __future__ import annotations

import sys
import threading
import time

import yaml

from rejoinder.api import parse_dialog_model
from rejoinder.api.status import DialogModelStatus
from rejoinder.local.runner import Reporter, _run_stage

SPEC = """
apiVersion: rejoinder.dev/v1alpha1
kind: DialogModel
metadata: {name: logged}
spec: {task: retrieval, data: {preset: chatterbot}}
"""


def test_stage_output_reaches_the_log_line_by_line(tmp_path):
    model = parse_dialog_model(yaml.safe_load(SPEC))
    reporter = Reporter(model, tmp_path / "model", DialogModelStatus(), tty=False)
    log_file = tmp_path / "logs" / "train.log"
    child = "import time; print('first line', flush=True); time.sleep(4)"
    runner = threading.Thread(target=_run_stage, args=([sys.executable, "-c", child], log_file, reporter), daemon=True)
    runner.start()
    seen = False
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not seen:
        seen = log_file.exists() and "first line" in log_file.read_text()
        time.sleep(0.2)
    assert seen, log_file.read_text() if log_file.exists() else "no log file"
    assert runner.is_alive()  # the stage was still running when its line was in the log
    runner.join(timeout=30)
