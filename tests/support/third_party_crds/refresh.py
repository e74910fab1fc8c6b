"""Copy the third-party CRDs the chart's objects are checked against out of their Go module zips
(the module proxy serves a repository's non-Go files too), and record where each came from.

    python tests/support/third_party_crds/refresh.py         # re-copy the pinned versions
    python tests/support/third_party_crds/refresh.py --check # exit 1 if a copy differs from its module

To move to another version, edit `version` in provenance.json and run it without --check.
Needs Go (/usr/local/go/bin or PATH) and the module proxy. Standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROVENANCE = HERE / "provenance.json"


def entries() -> list[dict[str, str]]:
    return list(json.loads(PROVENANCE.read_text())["files"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_dir(module: str, version: str) -> Path:
    """The unpacked module zip in the Go module cache (downloaded, and its hash checked against the
    checksum database, by `go mod download`)."""
    env = {**os.environ, "GOTOOLCHAIN": "local",
           "PATH": f"/usr/local/go/bin:{os.environ.get('PATH', '')}"}
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True,
                         text=True, env=env, cwd=HERE, check=False)
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version}: {info.get('Error') or out.stderr.strip()}")
    return Path(info["Dir"])


def differences() -> list[str]:
    """Each committed copy that is not byte-for-byte its module's file, or not the recorded hash."""
    out = []
    for entry in entries():
        source = module_dir(entry["module"], entry["version"]) / entry["path"]
        copy = HERE / entry["file"]
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            out.append(f"{entry['file']} differs from {entry['module']}@{entry['version']}/{entry['path']}")
        elif sha256(copy) != entry["sha256"]:
            out.append(f"{entry['file']}: sha256 {sha256(copy)} is not the recorded {entry['sha256']}")
    return out


def refresh() -> None:
    data = json.loads(PROVENANCE.read_text())
    for entry in data["files"]:
        source = module_dir(entry["module"], entry["version"]) / entry["path"]
        shutil.copyfile(source, HERE / entry["file"])
        entry["sha256"] = sha256(HERE / entry["file"])
    PROVENANCE.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        problems = differences()
        print("\n".join(problems) or "the committed CRDs are their modules' files")
        sys.exit(1 if problems else 0)
    refresh()
