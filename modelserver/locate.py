"""Where the server and build-index find their inputs, from a DialogModel (artifact layout).

    <storage.path>/<namespace or "default">/<name>/versions/<v>/export/          the bundle
    <storage.path>/<namespace or "default">/<name>/versions/<v>/index/<i>/       the index
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rejoinder.api import DialogModel
from rejoinder.api.versioning import index_version, model_version
from rejoinder.artifacts import ModelLayout, VersionLayout
from rejoinder.constants import DEFAULT_NAMESPACE

log = logging.getLogger(__name__)



class NotFound(FileNotFoundError):
    """An artifact a stage needs does not exist yet; the message says which stage makes it."""


@dataclass(frozen=True)
class Located:
    name: str
    namespace: str
    model_version: str
    index_version: str
    version_dir: VersionLayout

    @property
    def bundle_dir(self) -> Path:
        return self.version_dir.export_dir

    @property
    def index_dir(self) -> Path:
        return self.version_dir.index_dir(self.index_version)


def namespace_of(model: DialogModel) -> str:
    return model.metadata.namespace or DEFAULT_NAMESPACE


def layout_of(model: DialogModel, name: Optional[str] = None) -> ModelLayout:
    return ModelLayout.for_model(model.spec.storage.path, namespace_of(model), name or model.metadata.name)


def locate(model: DialogModel, version: Optional[str] = None) -> Located:
    """Paths of `version` (default: the version the spec trains) of this DialogModel.

    With an explicit older `version` (rollback), the index is the newest finished one of that
    version, because the current index settings may not have been built for it.
    """
    spec = model.spec
    layout = layout_of(model)
    current = model_version(spec)
    version = version or current
    vl = layout.version(version)
    index_ver = index_version(spec)
    if version != current or not vl.index_manifest(index_ver).is_file():
        index_ver = newest_index(vl) or index_ver
    return Located(model.metadata.name, namespace_of(model), version, index_ver, vl)


def newest_index(vl: VersionLayout) -> Optional[str]:
    """The most recently finished index of a version (by index.json mtime), if any."""
    root = vl.root / "index"
    finished = [p for p in root.glob("i-*/index.json")] if root.is_dir() else []
    if not finished:
        return None
    return max(finished, key=lambda p: p.stat().st_mtime).parent.name


def newest_export(layout: ModelLayout) -> Optional[Path]:
    """The export dir of the most recently created trained version of a DialogModel."""
    manifests = list((layout.root / "versions").glob("v-*/export/manifest.json"))
    if not manifests:
        return None

    def created(path: Path) -> str:
        try:
            return str(json.loads(path.read_text(encoding="utf-8")).get("created", ""))
        except (OSError, ValueError):
            return ""

    return max(manifests, key=lambda p: (created(p), p.stat().st_mtime)).parent


def reranker_bundle(model: DialogModel, version: Optional[str] = None) -> Optional[Path]:
    """spec.serving.reranker names a reranking DialogModel in the same namespace: the export of
    `version` when given (a canary serves a new reranker beside the stable one, which keeps its
    own), else its newest export."""
    name = model.spec.serving.reranker
    if name is None:
        if version is not None:
            raise NotFound(f"a reranker version ({version}) was given but spec.serving.reranker is not set")
        return None
    if version is not None:
        export = layout_of(model, name).version(version).export_dir
        if not (export / "manifest.json").is_file():
            raise NotFound(f"serving.reranker {name!r} version {version}: no finished export at {export}")
        return export
    found = newest_export(layout_of(model, name))
    if found is None:
        raise NotFound(
            f"serving.reranker {name!r}: no trained version under {layout_of(model, name).root}/versions "
            "(train that DialogModel first, or unset serving.reranker)"
        )
    return found

