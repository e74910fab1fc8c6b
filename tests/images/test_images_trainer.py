"""The trainer image trains as the training Job runs it: `horovodrun -np 2` with Gloo, as the
image's non-root user on a read-only root, the DialogModel mounted where the ConfigMap goes and
the artifacts volume where the PVC goes; the export and metrics.json land in that volume. Its
sshd configuration (the MPIJob workers' command) is valid with the key Secret mounted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from images_support import UID, run_in
from tests.training.training_support import tiny_model, write_model

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.horovod]
STORAGE = "/var/lib/rejoinder"


def writable_by_all(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)  # the container's uid 10001 writes here, as into a PVC with fsGroup
    return path


def test_trainer_image_trains_with_two_horovod_processes_into_the_volume(images, tmp_path):
    storage = writable_by_all(tmp_path / "artifacts")
    config = tmp_path / "config"
    config.mkdir()
    write_model(config / "dialogmodel.yaml", tiny_model(
        "img-hvd", Path(STORAGE),
        training={"steps": 8, "batchSizePerGpu": 16, "controller": "gloo", "checkpointInterval": 4}))
    os.chmod(config, 0o755)
    os.chmod(config / "dialogmodel.yaml", 0o644)
    run = run_in(images["trainer"], ["horovodrun", "-np", "2", "--gloo", "-H", "localhost:2",
                                     "rejoinder", "train", "-f", "/etc/rejoinder/dialogmodel.yaml"],
                 entrypoint=["tini", "--"], env={"HOME": "/tmp", "CUDA_VISIBLE_DEVICES": ""},
                 volumes=[(storage, STORAGE, "rw"), (config, "/etc/rejoinder", "ro")], timeout=900)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    versions = list((storage / "default" / "img-hvd" / "versions").glob("v-*"))
    assert len(versions) == 1, versions
    report = json.loads((versions[0] / "metrics.json").read_text())
    training = report["training"]
    assert training["horovod"] is True and training["processes"] == 2
    digests = training["rankWeightDigests"]
    assert len(digests) == 2 and digests[0] == digests[1], digests
    manifest = versions[0] / "export" / "manifest.json"
    assert manifest.is_file(), sorted(str(p.relative_to(versions[0])) for p in versions[0].rglob("*"))
    assert manifest.stat().st_uid == UID and (versions[0] / "metrics.json").stat().st_uid == UID  # written as the user


def test_trainer_image_sshd_config_is_valid_with_the_mpi_key_secret(images, tmp_path):
    keys = writable_by_all(tmp_path / "ssh")
    made = run_in(images["trainer"], ["-q", "-t", "ecdsa", "-N", "", "-f", "/keys/id_rsa"],
                  entrypoint=["ssh-keygen"], volumes=[(keys, "/keys", "rw")], timeout=120)
    assert made.returncode == 0, made.stderr
    os.rename(keys / "id_rsa.pub", keys / "authorized_keys")
    for config in ("/opt/rejoinder/sshd_config", "/etc/ssh/sshd_config"):
        checked = run_in(images["trainer"], ["-t", "-f", config], entrypoint=["/usr/sbin/sshd"],
                         volumes=[(keys, "/home/rejoinder/.ssh", "ro")], timeout=120)
        assert checked.returncode == 0, (config, checked.stdout, checked.stderr)
