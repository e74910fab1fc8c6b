"""Where the built control plane is: build.sh's cache directory for the pinned modules, or
$REJOINDER_CONTROL_PLANE_BIN. Finding it never builds anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build.sh"
BUILD_COMMAND = "tests/controlplane/build.sh"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def find() -> tuple[Path | None, str]:
    """(the bin directory, "") when every binary is there, else (None, why not)."""
    explicit = os.environ.get("REJOINDER_CONTROL_PLANE_BIN")
    if explicit:
        found = Path(explicit)
    else:
        try:  # build.sh hashes the modules' go.mod/go.sum into the cache key (a second or two)
            done = subprocess.run(["bash", str(BUILD), "--check"], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"cannot run {BUILD_COMMAND} --check: {err}"
        if done.returncode != 0:
            return None, (done.stderr.strip() or f"{BUILD_COMMAND} --check exited {done.returncode}")
        found = Path(done.stdout.strip().splitlines()[-1])
    missing = [name for name in COMPONENTS if not os.access(found / name, os.X_OK)]
    if missing:
        return None, f"{found} lacks {', '.join(missing)}"
    return found, ""


def share(bin_dir: Path) -> Path:
    """kwok's CRDs and default stages, copied beside the binaries by build.sh."""
    return bin_dir.parent / "share" / "kwok"
