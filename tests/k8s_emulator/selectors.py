"""Label and field selectors as the apiserver parses them (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`).

A selector the apiserver cannot parse, or a field it cannot select a kind on, raises
SelectorError (the emulator answers 400 BadRequest, as the apiserver does)."""

from __future__ import annotations

import re
from typing import Any, Callable

Predicate = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    pass


_KEY = r"(?:[a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")

# Fields the apiserver selects each kind on besides metadata.name and metadata.namespace (its
# field label conversion functions, Kubernetes 1.36); any other is "field label not supported".
FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                             "status.nominatedNodeName"}),
    ("", "events"): frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "replicationcontrollers"): frozenset({"status.replicas"}),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
    ("batch", "jobs"): frozenset({"status.successful"}),
}


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _term(term: str) -> Callable[[dict[str, str]], bool]:
    match = _SET_RE.match(term)
    if match:
        key, op = match.group(1), match.group(4)
        values = {v.strip() for v in match.group(5).split(",")}
        if not all(re.fullmatch(_VALUE, v) for v in values):
            raise SelectorError(f"unable to parse requirement: invalid label value in {term!r}")
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    match = _EQ_RE.match(term)
    if match:
        key, op, value = match.group(1), match.group(4), match.group(5)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _EXISTS_RE.match(term)
    if match:
        negate, key = match.group(1) == "!", match.group(2)
        return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
    raise SelectorError(f"unable to parse requirement: {term!r}")


def label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda obj: True
    terms = [_term(t) for t in _split_terms(text)]
    return lambda obj: all(t((obj.get("metadata") or {}).get("labels") or {}) for t in terms)


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def field_selector(text: str | None, group: str = "", plural: str = "") -> Predicate:
    """metadata.name and metadata.namespace on every kind, and the kind's own FIELDS."""
    if not text:
        return lambda obj: True
    supported = {"metadata.name", "metadata.namespace"} | FIELDS.get((group, plural), frozenset())
    checks = []
    for term in _split_terms(text):
        parts = re.split(r"(!=|==|=)", term, maxsplit=1)
        if len(parts) != 3:
            raise SelectorError(f"invalid field selector: {term!r}")
        key, op, value = parts[0].strip(), parts[1], parts[2].strip()
        if key not in supported:
            raise SelectorError(f'field label not supported: {key}')
        checks.append((key, value, op == "!="))

    def holds(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) != neg for f, v, neg in checks)

    return holds
