"""A whole DialogModel object (apiVersion, kind, metadata, spec, status) and loading it from YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml
from pydantic import Field, ValidationError

from .base import ApiModel, CrossFieldRule
from .spec import API_VERSION, KIND, DialogModelSpec
from .status import DialogModelStatus


class ObjectMeta(ApiModel):
    """The parts of metadata rejoinder reads; everything else Kubernetes adds is kept as is."""

    model_config = ApiModel.model_config | {"extra": "allow"}

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """A DNS label: it prefixes the names of Jobs, Deployments and Services."""
    namespace: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class DialogModel(ApiModel):
    # Rules over the name and the spec: the apiserver lets a root-level rule read metadata.name.
    rules = (
        CrossFieldRule(
            cel="!has(self.spec.data.reactionsFrom) || self.spec.data.reactionsFrom.dialogModel != self.metadata.name",
            message="data.reactionsFrom names the retrieval model whose answers users reacted to, not this model",
            field=".spec.data.reactionsFrom.dialogModel",
            holds=lambda m: m.spec.data.reactions_from is None or m.spec.data.reactions_from.dialog_model != m.metadata.name,
        ),
        # A model that waits for itself would wait for ever (WaitingForNegativesModel, init).
        CrossFieldRule(
            cel="!has(self.spec.data.negativesFrom) || self.spec.data.negativesFrom != self.metadata.name",
            message="data.negativesFrom names the retrieval model whose hard negatives are mined, not this model",
            field=".spec.data.negativesFrom",
            holds=lambda m: m.spec.data.negatives_from != m.metadata.name,
        ),
        CrossFieldRule(
            cel="!has(self.spec.model.init) || !has(self.spec.model.init.dialogModel)"
                " || self.spec.model.init.dialogModel != self.metadata.name",
            message="model.init.dialogModel names the pretraining model whose encoder this one starts from, not this model",
            field=".spec.model.init.dialogModel",
            holds=lambda m: m.spec.model.init is None or m.spec.model.init.dialog_model != m.metadata.name,
        ),
    )

    api_version: str = Field(API_VERSION, pattern=f"^{API_VERSION}$")
    kind: str = Field(KIND, pattern=f"^{KIND}$")
    metadata: ObjectMeta
    spec: DialogModelSpec
    status: Optional[DialogModelStatus] = None


@dataclass(frozen=True)
class SpecProblem:
    """One violated rule, located by the path of the field a user has to change."""

    source: str  # file[#document]
    path: str  # e.g. spec.serving.minReplicas
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}"


class InvalidDialogModel(ValueError):
    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _field_path(loc: tuple[Any, ...], aliases_from: type[ApiModel]) -> str:
    """Turn a pydantic error location (python names) into the wire path (camelCase)."""
    model: Any = aliases_from
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            continue
        name = str(item)
        field = getattr(model, "model_fields", {}).get(name) if model is not None else None
        if field is not None:
            parts.append(field.alias or name)
            model = _inner_model(field.annotation)
        else:
            parts.append(name)
            model = None
    return ".".join(parts)


def _inner_model(annotation: Any) -> Any:
    """The ApiModel class inside Optional[...] / list[...] annotations, if any."""
    if isinstance(annotation, type) and issubclass(annotation, ApiModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def problems_from(error: ValidationError, source: str) -> list[SpecProblem]:
    problems = []
    for err in error.errors():
        path = _field_path(tuple(err["loc"]), DialogModel)
        ctx = err.get("ctx") or {}
        if err["type"] == "cross_field_rule" and ctx.get("field"):
            path = f"{path}.{ctx['field']}" if path else ctx["field"]  # already camelCase
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(SpecProblem(source, path or "(document)", message))
    return problems


def parse_dialog_model(obj: Any, source: str = "<object>") -> DialogModel:
    """Validate one decoded YAML/JSON document; raise InvalidDialogModel listing every problem."""
    if not isinstance(obj, dict):
        raise InvalidDialogModel([SpecProblem(source, "(document)", "expected a mapping (a DialogModel object)")])
    try:
        return DialogModel.model_validate(obj)
    except ValidationError as error:
        raise InvalidDialogModel(problems_from(error, source)) from None


def iter_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (source label, document) for every non-empty document of a multi-document YAML file."""
    text = path.read_text(encoding="utf-8")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InvalidDialogModel([SpecProblem(str(path), "(yaml)", str(error).replace("\n", " "))]) from None
    numbered = [(i, d) for i, d in enumerate(docs) if d is not None]
    for i, doc in numbered:
        yield (f"{path}#{i}" if len(numbered) > 1 else str(path)), doc


def load_dialog_models(path: Path) -> list[DialogModel]:
    """Every DialogModel in a YAML file; all problems of all documents are reported together."""
    models, problems = [], []
    for source, doc in iter_documents(path):
        try:
            models.append(parse_dialog_model(doc, source))
        except InvalidDialogModel as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidDialogModel(problems)
    return models


def load_dialog_model(path: Path) -> DialogModel:
    """Exactly one DialogModel from a file (what `train`, `build-index`, `serve` and `up` take)."""
    models = load_dialog_models(path)
    if len(models) != 1:
        raise InvalidDialogModel([SpecProblem(str(path), "(file)", f"expected one DialogModel, found {len(models)}")])
    return models[0]
