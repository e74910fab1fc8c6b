"""In which order `rejoinder up` brings up the DialogModels of one multi-document file.

Pure: a model is trained after every model of the file its training reads — its
init.dialogModel, its data.negativesFrom (a reranker mines that retrieval model's hard
negatives) and its data.reactionsFrom (a reranker trains on users' reactions to that model). Serving comes after all training, so serving.reranker only has to name a model that
is trained by then. Names not in the file must already be trained in the same storage; their
stages say so if not. Local mode serves one model in the foreground: at most one document may
have serving enabled.
"""

from __future__ import annotations

from typing import Sequence

from ..api import DialogModel


class OrderError(ValueError):
    pass


def needs(model: DialogModel) -> list[str]:
    """Names of the DialogModels whose trained export `model`'s training reads."""
    spec = model.spec
    out = []
    if spec.model.init is not None and spec.model.init.dialog_model:
        out.append(spec.model.init.dialog_model)
    if spec.data.negatives_from:
        out.append(spec.data.negatives_from)
    if spec.data.reactions_from is not None and spec.data.reactions_from.dialog_model not in out:
        out.append(spec.data.reactions_from.dialog_model)
    return out


def bring_up_order(models: Sequence[DialogModel]) -> tuple[list[DialogModel], DialogModel | None]:
    """(the models in training order: dependencies first, file order otherwise; the served one)."""
    by_name: dict[str, DialogModel] = {}
    for m in models:
        key = m.metadata.name
        if key in by_name:
            raise OrderError(f"two documents are named {key!r}")
        by_name[key] = m
    served = [m.metadata.name for m in models if m.spec.serving.enabled]
    if len(served) > 1:
        raise OrderError(f"local mode serves one model, but {', '.join(served)} have serving enabled: "
                         "set serving.enabled: false on all but one")
    if len({m.spec.storage.path for m in models}) > 1:
        raise OrderError("every document must use the same storage.path (models find each other there)")
    ordered: list[DialogModel] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if any(m.metadata.name == name for m in ordered) or name not in by_name:
            return
        if name in visiting:
            raise OrderError("the documents depend on each other in a cycle: " + " → ".join([*visiting, name]))
        visiting.append(name)
        for dependency in needs(by_name[name]):
            visit(dependency)
        visiting.pop()
        ordered.append(by_name[name])

    for m in models:
        visit(m.metadata.name)
    reranker = by_name[served[0]].spec.serving.reranker if served else None
    if reranker is not None and reranker in by_name and by_name[reranker].spec.task.value != "reranking":
        raise OrderError(f"{served[0]}: serving.reranker {reranker!r} is a {by_name[reranker].spec.task.value} model")
    return ordered, (by_name[served[0]] if served else None)
