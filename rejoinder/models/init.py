"""Apply `spec.model.init` to a freshly built task model: its encoder starts from pretrained weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional, Union

from .bert import BertEncoder
from .checkpoints import ImportReport, load_google_checkpoint, load_hugging_face
from .heads import MaskedLM, TaskModel
from .sources import resolve_hugging_face_dir, resolve_path

log = logging.getLogger(__name__)


def apply_init(
    model: TaskModel,
    init: Any,
    *,
    base_dir: Optional[Union[str, Path]] = None,
    resolve_dialog_model: Optional[Callable[[str], Path]] = None,
) -> list[ImportReport]:
    """Load `init` (a spec `InitSpec`) into every BERT encoder of `model`; one report per encoder.

    `init.dialogModel` names another DialogModel: `resolve_dialog_model(name)` must return its
    export directory (the caller knows the namespace and storage layout).
    """
    if init is None:
        return []
    encoders = [e for e in model.encoders if isinstance(e, BertEncoder)]
    if not encoders:
        raise ValueError("a pretrained init needs architecture bert")
    mlm = model.mlm if isinstance(model, MaskedLM) else None
    reports = []
    for encoder in encoders:
        if init.google_checkpoint:
            reports.append(load_google_checkpoint(encoder, resolve_path(init.google_checkpoint, base_dir), mlm))
        elif init.hugging_face:
            reports.append(load_hugging_face(encoder, resolve_hugging_face_dir(init.hugging_face, base_dir), mlm))
        elif init.dialog_model:
            if resolve_dialog_model is None:
                raise ValueError("init.dialogModel needs resolve_dialog_model to find that model's export")
            reports.append(load_from_bundle(encoder, resolve_dialog_model(init.dialog_model), mlm))
        else:
            raise ValueError("init sets none of googleCheckpoint, huggingFace, dialogModel")
    return reports


def load_from_bundle(encoder: BertEncoder, export_dir: Path, mlm=None) -> ImportReport:
    """The encoder of another exported bundle (e.g. a pretraining DialogModel) into `encoder`."""
    import keras

    from .bundle import load_bundle
    from .checkpoints import load_into, tf1_targets

    source = load_bundle(export_dir)
    src_encoders = [e for e in source.model.encoders if isinstance(e, BertEncoder)]
    if not src_encoders:
        raise ValueError(f"{export_dir}: that model has no BERT encoder to start from")
    src_mlm = source.model.mlm if isinstance(source.model, MaskedLM) else None
    src = tf1_targets(src_encoders[0], src_mlm)
    return load_into(encoder, list(src), lambda n: keras.ops.convert_to_numpy(src[n]), f"bundle:{export_dir}", mlm)
