"""Time from `rejoinder up -f FILE` to phase Serving, measured holding the benchmark lock.

    cd bench && python -m quality.time_to_serving ../examples/quickstart.yaml

(from bench/, so `quality` imports and the repository's operator/ does not shadow the stdlib's; a
run that does not reach Serving is printed and exits 1). The result is written to result.json in
the run's directory, for bench/quality/chitchat_retrieval.py --time-to-serving to record.

The DialogModel's storage.path is replaced by a fresh directory, so nothing earlier is reused
(no finished stage, no tokenizer, no checkpoint); `up` is stopped with SIGINT (as Ctrl-C would)
once it serves, and its metrics.json is copied next to the printed result.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

from .timing import bench_lock
from .up_process import UpProcess

ROOT = Path(__file__).resolve().parents[2]


def time_to_serving(spec_file: Path, timeout: float = 3600.0) -> dict:
    from rejoinder.constants import DEFAULT_NAMESPACE

    work = Path(tempfile.mkdtemp(prefix="rejoinder-up-"))
    wire = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    wire["spec"]["storage"]["path"] = str(work / "artifacts")
    copy = work / spec_file.name
    copy.write_text(yaml.safe_dump(wire, sort_keys=False), encoding="utf-8")
    model_root = work / "artifacts" / (wire["metadata"].get("namespace") or DEFAULT_NAMESPACE) / wire["metadata"]["name"]
    load_before = os.getloadavg()
    with bench_lock(), open(work / "up.log", "w", encoding="utf-8") as log:
        up = UpProcess(copy, model_root, log, ready_timeout=timeout)
        try:
            phase, elapsed = up.wait_phase(("Serving", "Failed"), timeout)
        finally:
            up.stop()
    metrics = sorted(model_root.glob("versions/*/metrics.json"))
    return {"phase": phase, "seconds": round(elapsed, 1), "loadavgBefore": load_before, "loadavgAfter": os.getloadavg(),
            "work": str(work), "metrics": json.loads(metrics[0].read_text()) if metrics else None}


def cache_key(spec_file: Path) -> str:
    return f"time to SERVING: {spec_file.relative_to(ROOT) if spec_file.is_relative_to(ROOT) else spec_file}"


if __name__ == "__main__":
    spec = Path(sys.argv[1]).resolve()
    result = time_to_serving(spec)
    work = Path(result["work"])
    summary = {**{k: v for k, v in result.items() if k != "metrics"}, "cores": os.cpu_count(),
               "spec": str(spec.relative_to(ROOT)) if spec.is_relative_to(ROOT) else str(spec)}
    (work / "result.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    if result["phase"] != "Serving":
        sys.exit(f"`rejoinder up` ended in phase {result['phase']}, not Serving: see {work}/up.log")
    # The quickstart trains on Chit-Chat: its table records the time (and the trained version).
    versions = sorted(work.glob("artifacts/*/*/versions/v-*"))
    print("record it: .venv/bin/python bench/quality/chitchat_retrieval.py --write-docs "
          f"--time-to-serving {work / 'result.json'}" + (f' "NAME, seed N={versions[0]}"' if versions else ""))
