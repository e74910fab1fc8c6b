"""The committed generated gRPC code is exactly what the .proto generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from rejoinder.modelserver.protos import generate


def test_regenerating_gives_the_committed_files(tmp_path):
    pytest.importorskip("grpc_tools")  # dev extra
    for path in generate.generate(tmp_path):
        committed = Path(generate.HERE) / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.name} is stale: run `python -m rejoinder.modelserver.protos.generate` and commit"
        )


def test_package_is_versioned_and_service_complete():
    from rejoinder.modelserver.protos import dialog_service_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["DialogService"]
    assert service.full_name == "rejoinder.serving.v1.DialogService"
    assert {m.name for m in service.methods} == {"Retrieve", "Rerank", "ScoreSession", "Respond", "ModelInfo", "Feedback"}
