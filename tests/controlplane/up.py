"""Start the test control plane on its own and keep it up until interrupted (Ctrl-C or SIGTERM
stops every component and removes its files):

    .venv/bin/python tests/controlplane/up.py [--state FILE]

It prints the admin kubeconfig's path (use it with kubectl); --state also writes
{"kubeconfig", "workdir", "pids"} as JSON once the cluster is ready, for tests that kill it."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # appended: ./operator must not shadow the stdlib

from tests.controlplane import binaries, cluster, nodes  # noqa: E402
from tests.controlplane.fixtures import NODES  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, help="write kubeconfig, workdir and pids here as JSON when ready")
    args = parser.parse_args()
    bin_dir, why = binaries.find()
    if bin_dir is None:
        print(f"not built ({why}): run {binaries.BUILD_COMMAND}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    plane = cluster.start(bin_dir)
    try:
        nodes.create(plane.api(), [dict(n) for n in NODES])
        state = {"kubeconfig": str(plane.admin_kubeconfig), "workdir": str(plane.workdir), "pids": plane.pids()}
        if args.state:
            args.state.write_text(json.dumps(state))
        print(plane.admin_kubeconfig, flush=True)
        stop.wait()
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
