"""Regenerate the committed gRPC/protobuf code from dialog_service.proto.

    python -m rejoinder.modelserver.protos.generate

The generated modules are committed (a fresh clone and `pip install -e .` need no protoc);
tests/modelserver/test_modelserver_protos.py checks that regenerating gives the same files.
The proto is mapped to the virtual path rejoinder/modelserver/protos/ so the generated code
imports its sibling by the package name (`from rejoinder.modelserver.protos import ...`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "dialog_service.proto"
VIRTUAL_DIR = "rejoinder/modelserver/protos"
GENERATED = ("dialog_service_pb2.py", "dialog_service_pb2.pyi", "dialog_service_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (grpcio-tools) on the proto; write the generated files into out_dir."""
    with tempfile.TemporaryDirectory() as tmp:
        # grpcio-tools (dev dependency) in its own process: its bundled protobuf runtime can crash
        # a process that already loaded TensorFlow's or upb's.
        args = [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{VIRTUAL_DIR}={HERE}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"{VIRTUAL_DIR}/{PROTO}",
        ]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"protoc failed on {HERE / PROTO}: {done.stderr.strip()}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            shutil.copyfile(Path(tmp) / VIRTUAL_DIR / name, out_dir / name)
            written.append(out_dir / name)
        return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
