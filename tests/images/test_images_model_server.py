"""The model-server image serves a small trained bundle as the Deployment runs it: uid 10001, a
read-only root with /tmp as its only writable place, the artifacts volume read-only, the
DialogModel where the ConfigMap puts it. Health goes SERVING, Retrieve answers the brute-force
top-k, and SIGTERM drains: every accepted request is answered and the container exits 0."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from images_support import UID, Container
from tests.modelserver.conftest import ServerProcess, free_port
from tests.modelserver.test_modelserver_grpc import CONTEXTS, assert_same_ranking

pytestmark = [pytest.mark.images, pytest.mark.slow]
STORAGE = "/var/lib/rejoinder"  # the artifacts volume's mount path in the operator's pods


def readable_by_all(root: Path) -> None:
    """pytest's temporary directories are root-only; the container user only reads them."""
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


class ContainerServer(ServerProcess):
    """ServerProcess's health and stop logic for `rejoinder serve` inside the image."""

    def __init__(self, image: str, artifacts, workdir: Path):
        self.port, self.metrics_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        self.log = open(os.devnull, "wb")  # the container's output goes to log_path
        config = workdir / "config"
        config.mkdir()
        doc = yaml.safe_load(artifacts.retrieval_yaml.read_text())
        doc["spec"]["storage"]["path"] = STORAGE
        (config / "dialogmodel.yaml").write_text(yaml.safe_dump(doc))
        readable_by_all(config)
        readable_by_all(artifacts.root)
        self.container = Container.start(
            image, ["serve", "-f", "/etc/rejoinder/dialogmodel.yaml", "--host", "127.0.0.1", "--port", str(self.port),
                    "--metrics-port", str(self.metrics_port), "--drain-delay", "1", "--grace", "30"],
            self.log_path, user=f"{UID}:{UID}", volumes=[(artifacts.root, STORAGE, "ro"), (config, "/etc/rejoinder", "ro")],
        )
        self.proc = self.container.proc


def test_model_server_image_serves_retrieve_and_drains_on_sigterm(images, artifacts, tmp_path):
    import grpc

    from rejoinder.models.bundle import load_bundle
    from rejoinder.modelserver.protos import dialog_service_pb2 as pb
    from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    server = ContainerServer(images["model-server"], artifacts, tmp_path)
    try:
        seen = server.wait_serving(timeout=600)
        assert seen[-1] == "SERVING", seen
        bundle = load_bundle(artifacts.bundle)
        responses = bundle.encode_responses(artifacts.candidate_texts)
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.DialogServiceStub(channel)
            for turns in CONTEXTS[:3]:
                reply = stub.Retrieve(pb.RetrieveRequest(context=turns, top_k=10), timeout=60)
                query = bundle.encode_contexts([turns[-4:]])[0]
                cosine = responses @ query / np.linalg.norm(responses, axis=1) / np.linalg.norm(query)
                order = np.argsort(-cosine, kind="stable")[:10]
                assert_same_ranking([c.id for c in reply.candidates], [c.score for c in reply.candidates],
                                    [artifacts.candidate_ids[i] for i in order], cosine[order])
            assert reply.model_version == bundle.version

            accepted = [stub.Retrieve.future(pb.RetrieveRequest(context=CONTEXTS[i % len(CONTEXTS)], top_k=5), timeout=120)
                        for i in range(32)]
            code = server.container.terminate(timeout=120)  # SIGTERM → podman → tini → the server
            answers = [f.result() for f in accepted]  # raises if any accepted request was lost
        assert len(answers) == 32 and all(len(a.candidates) == 5 for a in answers)
        assert code == 0, server.logs()
        assert "every accepted request was answered" in server.logs()
    finally:
        server.container.close()
