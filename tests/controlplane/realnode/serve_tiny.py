"""The project's own images as pods on a real node (README.md): `helm install` of the chart, the
operator as in tests/realcluster (the chart's ServiceAccount token and environment, with
image.tag set to the images' tag), and a tiny retrieval DialogModel placed on the real node.
Its training Job and index Job run the trainer image, its Deployment the model-server image;
the check passes when `rejoinder query` through the model's Service (its ClusterIP, routed by
kube-proxy) answers. Exit status 0 when it did.

    .venv/bin/python tests/controlplane/realnode/serve_tiny.py [--tag 0.1.0]

Needs root, Debian's containerd, runc and containernetworking-plugins, the images in podman
(TAG=<tag> images/build.sh), tests/controlplane/build.sh and tests/controlplane/realnode/build.sh."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[3]))  # appended: ./operator must not shadow the stdlib

from kubernetes import client  # noqa: E402

from tests.controlplane import binaries, cluster, nodes  # noqa: E402
from tests.controlplane.fixtures import NODES  # noqa: E402
from tests.controlplane.kube import raw  # noqa: E402
from tests.controlplane.realnode.node import LABEL, TAINT, RealNode  # noqa: E402
from tests.realcluster import chart, dialogmodels  # noqa: E402
from tests.realcluster.operator_process import OperatorProcess, rejoinder_command  # noqa: E402

HERE = Path(__file__).resolve().parent
STORE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rejoinder" / "realnode" / "store"
NAMESPACE = "real"


def tiny(claim: str) -> dict:
    """A retrieval model that trains in seconds: one small BERT layer, four steps, chatterbot."""
    placement = {"nodeSelector": dict(LABEL), "tolerations": [{"key": TAINT["key"], "operator": "Exists",
                                                               "effect": TAINT["effect"]}]}
    return {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": "tiny"},
            "spec": {"task": "retrieval",
                     "model": {"architecture": "bert",
                               "bert": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 32}},
                     "tokenizer": {"kind": "bpe", "vocabSize": 500},
                     "data": {"preset": "chatterbot", "maxContextTurns": 2},
                     "training": {"steps": 4, "batchSizePerGpu": 8, "gpusPerWorker": 0, "controller": "gloo",
                                  "warmupSteps": 1, "checkpointInterval": 4, "xla": False, **placement},
                     "index": {"kind": "flat"},
                     "serving": {"minReplicas": 1, "maxReplicas": 1, "xla": False, **placement},
                     "storage": {"persistentVolumeClaim": claim, "path": "/var/lib/rejoinder"}}}


def host_path_claim(api: client.ApiClient, directory: Path) -> str:
    """A claim bound to a hostPath volume on this machine, writable by the pods' uid."""
    directory.mkdir(mode=0o777, exist_ok=True)
    directory.chmod(0o777)
    core = client.CoreV1Api(api)
    raw(core.create_persistent_volume, {"metadata": {"name": "real-artifacts"}, "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
        "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(directory), "type": "Directory"},
        "claimRef": {"namespace": NAMESPACE, "name": "artifacts"}}})
    raw(core.create_namespaced_persistent_volume_claim, NAMESPACE, {"metadata": {"name": "artifacts"}, "spec": {
        "accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": "real-artifacts",
        "resources": {"requests": {"storage": "10Gi"}}}})
    return "artifacts"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="0.1.0", help="tag of the images in podman (the chart's image.tag)")
    args = parser.parse_args()
    plane_bin, why = binaries.find()
    assert plane_bin is not None, why
    node_bin = Path(subprocess.run(["bash", str(HERE / "build.sh")], check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1])
    images = [f"ghcr.io/rejoinder/rejoinder-{c}:{args.tag}" for c in ("trainer", "model-server")]
    workdir = Path(tempfile.mkdtemp(prefix="rejoinder-realnode-"))
    started = time.monotonic()
    plane = cluster.start(plane_bin)
    try:
        api = plane.api()
        nodes.create(api, [dict(n) for n in NODES])
        release = chart.install(plane.admin_kubeconfig, workdir / "helm", {"image": {"tag": args.tag}})
        with RealNode(plane, node_bin, workdir / "node", STORE, images):
            print(f"node Ready after {time.monotonic() - started:.0f} s", flush=True)
            raw(client.CoreV1Api(api).create_namespace, {"metadata": {"name": NAMESPACE}})
            claim = host_path_claim(api, workdir / "artifacts")
            operator = OperatorProcess(plane, release, NAMESPACE, workdir, chart.operator_environment(api, release))
            operator.start()
            try:
                dialogmodels.create(api, NAMESPACE, tiny(claim))
                status = dialogmodels.wait_phase(api, NAMESPACE, "tiny", "Serving")
                print(f"Serving after {time.monotonic() - started:.0f} s: {status['message']}", flush=True)
                service = raw(client.CoreV1Api(api).read_namespaced_service, "tiny-server", NAMESPACE)
                target = f"{service['spec']['clusterIP']}:8500"
                answer = subprocess.run([*rejoinder_command(), "query", "--target", target, "--timeout", "30",
                                         "hello there"], capture_output=True, text=True, env={**os.environ,
                                                                                           "PYTHONSAFEPATH": "1"})
                print(answer.stdout[-2000:], answer.stderr[-2000:], flush=True)
                return answer.returncode
            finally:
                operator.stop()
    finally:
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
