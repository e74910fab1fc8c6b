"""Where each stage writes and reads its files (see docs/architecture.md, "Artifact layout").

    <storage.path>/<namespace>/<name>/
        versions/<model version>/
            spec.yaml              the spec that produced this version           (train)
            data/                  normalised JSONL: train, eval, candidates      (train)
            tokenizer/             bpe.model or vocab.txt + tokenizer.json        (train)
            shards/                pre-tokenized training shards (.npz)           (train)
            checkpoints/           resumable training state, `latest` pointer     (train)
            export/                model for serving + manifest.json             (train)
            metrics.json           evaluation metrics                             (train)
            index/<index version>/ FAISS index, ids, texts, index.json            (build-index)

A stage is finished exactly when its completion file exists (export/manifest.json,
metrics.json, index/<v>/index.json); those are written last and atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .api.spec import DialogModelSpec
from .api.versioning import model_version


@dataclass(frozen=True)
class VersionLayout:
    root: Path  # versions/<model version>

    @property
    def version(self) -> str:
        return self.root.name

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    @property
    def shards_dir(self) -> Path:
        return self.root / "shards"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    @property
    def manifest_file(self) -> Path:
        return self.export_dir / "manifest.json"

    @property
    def metrics_file(self) -> Path:
        return self.root / "metrics.json"

    def index_dir(self, index_ver: str) -> Path:
        return self.root / "index" / index_ver

    def index_manifest(self, index_ver: str) -> Path:
        return self.index_dir(index_ver) / "index.json"

    @property
    def trained(self) -> bool:
        return self.manifest_file.is_file() and self.metrics_file.is_file()


@dataclass(frozen=True)
class ModelLayout:
    """All versions of one DialogModel."""

    root: Path  # <storage>/<namespace>/<name>

    @classmethod
    def for_model(cls, storage: Path | str, namespace: str, name: str) -> "ModelLayout":
        return cls(Path(storage) / namespace / name)

    def version(self, version: str) -> VersionLayout:
        return VersionLayout(self.root / "versions" / version)

    def for_spec(self, spec: DialogModelSpec) -> VersionLayout:
        return self.version(model_version(spec))
