"""Pretrained BERT weights into the Keras BERT: Google TF1 checkpoints and Hugging Face safetensors.

Both formats are read into one naming scheme, Google's original TF1 variable names
(`bert/encoder/layer_3/attention/self/query/kernel`, …); Hugging Face names are translated and
their PyTorch (out, in) matrices transposed. Then each Keras variable is filled from its TF1
name. The first N layers are kept when the model has fewer; position embeddings are sliced to
the model's max length. Every import returns an `ImportReport` listing exactly which checkpoint
variables were used, which were skipped (and why) and which model variables were left missing.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np

from .bert import BertEncoder, MaskedLMHead

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    source: str
    used: list[str] = field(default_factory=list)  # checkpoint names copied into the model
    skipped: dict[str, str] = field(default_factory=dict)  # checkpoint name → why not used
    missing: list[str] = field(default_factory=list)  # model variables nothing was loaded into

    def summary(self) -> str:
        return (
            f"{self.source}: used {len(self.used)}, skipped {len(self.skipped)}, "
            f"missing {len(self.missing)}" + (f" ({', '.join(self.missing)})" if self.missing else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "used": self.used, "skipped": self.skipped, "missing": self.missing}


class CheckpointMismatch(ValueError):
    """The checkpoint's sizes do not fit the model the spec asks for."""


# --- Keras variables by TF1 name -------------------------------------------------------------------


def tf1_targets(encoder: BertEncoder, mlm: Optional[MaskedLMHead] = None) -> dict[str, Any]:
    """TF1 checkpoint name → the Keras variable it fills."""
    e = encoder.embeddings
    out: dict[str, Any] = {
        "bert/embeddings/word_embeddings": e.word_embeddings.embeddings,
        "bert/embeddings/position_embeddings": e.position_embeddings.embeddings,
        "bert/embeddings/token_type_embeddings": e.token_type_embeddings.embeddings,
        "bert/embeddings/LayerNorm/gamma": e.layer_norm.gamma,
        "bert/embeddings/LayerNorm/beta": e.layer_norm.beta,
    }
    parts = {
        "attention/self/query": "query",
        "attention/self/key": "key",
        "attention/self/value": "value",
        "attention/output/dense": "attention_output",
        "intermediate/dense": "intermediate",
        "output/dense": "output_dense",
    }
    norms = {"attention/output/LayerNorm": "attention_norm", "output/LayerNorm": "output_norm"}
    for i, layer in enumerate(encoder.encoder_layers):
        prefix = f"bert/encoder/layer_{i}/"
        for tf1, attr in parts.items():
            dense = getattr(layer, attr)
            out[prefix + tf1 + "/kernel"] = dense.kernel
            out[prefix + tf1 + "/bias"] = dense.bias
        for tf1, attr in norms.items():
            norm = getattr(layer, attr)
            out[prefix + tf1 + "/gamma"] = norm.gamma
            out[prefix + tf1 + "/beta"] = norm.beta
    if encoder.pooler is not None:
        out["bert/pooler/dense/kernel"] = encoder.pooler.kernel
        out["bert/pooler/dense/bias"] = encoder.pooler.bias
    if mlm is not None:
        out["cls/predictions/transform/dense/kernel"] = mlm.transform.kernel
        out["cls/predictions/transform/dense/bias"] = mlm.transform.bias
        out["cls/predictions/transform/LayerNorm/gamma"] = mlm.layer_norm.gamma
        out["cls/predictions/transform/LayerNorm/beta"] = mlm.layer_norm.beta
        out["cls/predictions/output_bias"] = mlm.output_bias
    return out


_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")
_OPTIMIZER = re.compile(r"(/adam_[mv]$|/Adam(_\d+)?$|^global_step$|/Momentum$|^beta[12]_power)")


def _skip_reason(name: str, layers: int) -> str:
    if _OPTIMIZER.search(name):
        return "optimizer state"
    m = _LAYER.match(name)
    if m and int(m.group(1)) >= layers:
        return f"layer {m.group(1)} beyond the model's {layers} layers"
    if name.startswith("bert/pooler/"):
        return "pooler not used (mean pooling)"
    if name.startswith("cls/predictions/"):
        return "masked-LM head not used by this task"
    if name.startswith("cls/seq_relationship/"):
        return "next-sentence head not used"
    return "no matching model variable"


def load_into(
    encoder: BertEncoder,
    names: Iterable[str],
    read: Callable[[str], np.ndarray],
    source: str,
    mlm: Optional[MaskedLMHead] = None,
) -> ImportReport:
    """Fill `encoder` (and `mlm`) from arrays under TF1 names; raise on any shape mismatch."""
    targets = tf1_targets(encoder, mlm)
    report = ImportReport(source)
    layers = len(encoder.encoder_layers)
    for name in sorted(names):
        variable = targets.get(name)
        if variable is None:
            report.skipped[name] = _skip_reason(name, layers)
            continue
        value = np.asarray(read(name))
        want = tuple(variable.shape)
        if name == "bert/embeddings/position_embeddings" and value.shape[0] > want[0]:
            value = value[: want[0]]  # the model keeps only maxSeqLength positions
        if tuple(value.shape) != want:
            raise CheckpointMismatch(
                f"{source}: {name} has shape {tuple(value.shape)} but the model needs {want} "
                "(model.bert hidden/intermediate and the tokenizer vocab must match the checkpoint)"
            )
        variable.assign(value.astype(np.float32))
        report.used.append(name)
    loaded = set(report.used)
    report.missing = sorted(name for name in targets if name not in loaded)
    log.info("%s", report.summary())
    return report


# --- Google TF1 checkpoints --------------------------------------------------------------------


def load_google_checkpoint(
    encoder: BertEncoder, prefix: Union[str, Path], mlm: Optional[MaskedLMHead] = None
) -> ImportReport:
    """A TF1 BERT checkpoint (`…/bert_model.ckpt` prefix) into the Keras encoder."""
    import tensorflow as tf

    prefix = str(prefix)
    try:
        names = [name for name, _ in tf.train.list_variables(prefix)]
    except (tf.errors.NotFoundError, ValueError) as e:
        raise FileNotFoundError(f"no TF1 checkpoint at {prefix}: {e}") from e
    _check_heads(Path(prefix).parent / "bert_config.json", "num_attention_heads", encoder, prefix)
    return load_into(encoder, names, lambda n: tf.train.load_variable(prefix, n), f"google:{prefix}", mlm)


# --- Hugging Face safetensors -------------------------------------------------------------------


def hf_to_tf1(name: str) -> Optional[tuple[str, bool]]:
    """HF BERT name → (TF1 name, transpose?) or None when it has no TF1 twin."""
    n = name[len("bert.") :] if name.startswith("bert.") else name
    if n.startswith("cls.predictions.bias") or n == "cls.predictions.decoder.bias":
        return "cls/predictions/output_bias", False
    if n.startswith("cls.predictions.decoder.weight"):
        return None  # tied to the word embeddings
    n = re.sub(r"encoder\.layer\.(\d+)\.", r"encoder.layer_\1.", n)
    parts = n.split(".")
    last = parts[-1]
    path = "/".join(parts[:-1])
    if not n.startswith("cls."):
        path = "bert/" + path
    if path.endswith("_embeddings") and last == "weight":
        return path, False
    if path.endswith("LayerNorm"):
        return path + "/" + {"weight": "gamma", "gamma": "gamma", "bias": "beta", "beta": "beta"}[last], False
    if last == "weight":
        return path + "/kernel", True  # PyTorch Linear stores (out, in)
    if last == "bias":
        return path + "/bias", False
    return None


def load_hugging_face(
    encoder: BertEncoder, directory: Union[str, Path], mlm: Optional[MaskedLMHead] = None
) -> ImportReport:
    """`model.safetensors` of a Hugging Face BERT (read as numpy, no PyTorch) into the encoder."""
    from safetensors import safe_open

    directory = Path(directory)
    path = directory / "model.safetensors"
    _check_heads(directory / "config.json", "num_attention_heads", encoder, str(directory))
    with safe_open(str(path), framework="np") as f:
        tf1: dict[str, tuple[str, bool]] = {}
        unmapped: list[str] = []
        for key in f.keys():
            mapped = hf_to_tf1(key)
            if mapped is None:
                unmapped.append(key)
            else:
                tf1[mapped[0]] = (key, mapped[1])

        def read(name: str) -> np.ndarray:
            key, transpose = tf1[name]
            value = f.get_tensor(key)
            return value.T if transpose else value

        report = load_into(encoder, list(tf1), read, f"huggingface:{directory}", mlm)
    # Report in the checkpoint's own names, so a user can find them in the file.
    by_tf1 = {k: v[0] for k, v in tf1.items()}
    report.used = sorted(by_tf1[n] for n in report.used)
    report.skipped = {by_tf1[n]: why for n, why in report.skipped.items()}
    for key in unmapped:
        report.skipped[key] = "no TF1/Keras counterpart (tied or unused)"
    return report


def _check_heads(config_path: Path, key: str, encoder: BertEncoder, source: str) -> None:
    """Head count cannot be seen in weight shapes; check it against the checkpoint's config."""
    if not config_path.is_file():
        return
    heads = json.loads(config_path.read_text()).get(key)
    if heads is not None and heads != encoder.config.heads:
        raise CheckpointMismatch(
            f"{source}: checkpoint has {heads} attention heads but model.bert.heads is {encoder.config.heads}"
        )
