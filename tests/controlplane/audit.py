"""The apiserver's audit log, read by tests: every request a ServiceAccount outside kube-system
made (the operator's, with the chart's RBAC) and the status code it was answered with, at the
Metadata level (no bodies). A test proves "the operator was never refused" from it, whatever the
operator's code did with a 403 (kopf logs some and retries others).

The controllers' own ServiceAccounts (kube-system, --use-service-account-credentials) and the
certificate users (admin, the scheduler, kwok) are not recorded: the log stays small."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from .components import AuditFiles

POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
    "omitStages": ["RequestReceived"],  # one entry per request: ResponseComplete (or Panic)
    "rules": [
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


def write_policy(directory: Path) -> AuditFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = AuditFiles(policy=directory / "policy.yaml", log=directory / "audit.log")
    files.policy.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    files.log.touch()
    return files


@dataclass(frozen=True)
class Request:
    user: str
    verb: str
    group: str  # "" for the core API
    resource: str  # plural, or plural/subresource
    namespace: str
    name: str
    code: int
    user_agent: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        group = f".{self.group}" if self.group else ""
        return f"{self.code} {self.verb} {self.resource}{group} {where}{self.name} ({self.user_agent})"


def _request(entry: dict[str, Any]) -> Request:
    ref = entry.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return Request(user=(entry.get("user") or {}).get("username", ""), verb=entry.get("verb", ""),
                   group=ref.get("apiGroup", ""), resource=resource or entry.get("requestURI", ""),
                   namespace=ref.get("namespace", ""), name=ref.get("name", ""),
                   code=int((entry.get("responseStatus") or {}).get("code") or 0),
                   user_agent=entry.get("userAgent", ""))


class AuditLog:
    """The audit log from a point on: `mark()` now, `requests()` made after it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> "AuditLog":
        self.offset = self.path.stat().st_size
        return self

    def _entries(self) -> Iterator[dict[str, Any]]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            for line in log:
                if line.endswith(b"\n"):  # a line being written is read next time
                    yield json.loads(line)

    def requests(self, user: str) -> list[Request]:
        return [r for r in map(_request, self._entries()) if r.user == user]

    def refused(self, user: str) -> list[Request]:
        """Requests of `user` that authorization or admission refused (403)."""
        return [r for r in self.requests(user) if r.code == 403]
