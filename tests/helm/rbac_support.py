"""Kubernetes RBAC authorization, as the apiserver's RBAC authorizer decides it, for tests.

`Grants.from_objects` collects what a ServiceAccount may do from Roles, ClusterRoles and their
bindings (as the chart renders them, or as they were stored in the API emulator);
`Grants.allows` answers one request. `RbacEmulator` enforces that for one client identity,
so code running as the chart's ServiceAccount gets 403 Forbidden exactly where a real cluster
would refuse it.

Identity: the emulator speaks plain HTTP, and kubectl, kopf and the Kubernetes Python client
send no bearer token over plain HTTP, so the identity is the door instead: `RbacEmulatorThread`
serves one emulator on two ports, and everything arriving on `subject_url` is the ServiceAccount.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import attrs
from kmock._internal import rendering  # kmock==0.8 is pinned by the emulator

import kmock

from k8s_emulator.emulator import ApiError, KubeEmulator, RecordedRequest
from k8s_emulator.runner import EmulatorThread

Rule = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return wanted in values or "*" in values


def rule_allows(rule: Rule, verb: str, group: str, resource: str, subresource: str, name: str) -> bool:
    full = f"{resource}/{subresource}" if subresource else resource
    if not _matches(rule.get("apiGroups", []), group) or not _matches(rule.get("verbs", []), verb):
        return False
    resources = rule.get("resources", [])
    if not (_matches(resources, full) or (subresource and f"{resource}/*" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or name in names


@dataclass
class Grants:
    cluster: list[Rule] = field(default_factory=list)  # from ClusterRoleBindings: everywhere
    namespaced: dict[str, list[Rule]] = field(default_factory=dict)  # from RoleBindings: one namespace

    @classmethod
    def from_objects(cls, objects: Iterable[dict[str, Any]], sa_namespace: str, sa_name: str) -> "Grants":
        objects = list(objects)
        cluster_roles = {o["metadata"]["name"]: o.get("rules") or [] for o in objects if o["kind"] == "ClusterRole"}
        roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("rules") or []
                 for o in objects if o["kind"] == "Role"}

        def bound(binding: dict[str, Any]) -> bool:
            return any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                       and s.get("namespace", binding["metadata"].get("namespace")) == sa_namespace
                       for s in binding.get("subjects") or [])

        grants = cls()
        for o in objects:
            if o["kind"] == "ClusterRoleBinding" and bound(o):
                grants.cluster += cluster_roles.get(o["roleRef"]["name"], [])
            elif o["kind"] == "RoleBinding" and bound(o):
                ns, ref = o["metadata"]["namespace"], o["roleRef"]
                rules = cluster_roles.get(ref["name"], []) if ref["kind"] == "ClusterRole" else roles.get((ns, ref["name"]), [])
                grants.namespaced.setdefault(ns, []).extend(rules)
        return grants

    def allows(self, request: RecordedRequest) -> bool:
        args = (request.verb, request.group, request.resource, request.subresource, request.name)
        if any(rule_allows(rule, *args) for rule in self.cluster):
            return True
        # namespaced grants cover requests inside that namespace only (not cluster-wide lists)
        return bool(request.namespace) and any(
            rule_allows(rule, *args) for rule in self.namespaced.get(request.namespace, []))

    def triples(self) -> set[tuple[str, str, str]]:
        """(group, resource, verb) of every rule, wherever it applies."""
        out = set()
        for rule in self.cluster + [r for rules in self.namespaced.values() for r in rules]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add((group, resource, verb))
        return out


@attrs.define(kw_only=True)
class RbacEmulator(KubeEmulator):
    """The API emulator, enforcing RBAC for requests that arrive on `subject_port`.

    Grants are read from the emulator's own Roles/ClusterRoles/bindings on every request, so
    whatever `kubectl apply` stored from the chart is what applies. Requests on the other port
    (the tests, kubectl as an administrator) are not restricted. Refused requests are kept in
    `denied`, allowed ones in `authorized`.
    """

    subject_port: int = 0
    sa_namespace: str = ""
    sa_name: str = ""
    authorized: list[RecordedRequest] = attrs.field(factory=list, init=False)
    denied: list[RecordedRequest] = attrs.field(factory=list, init=False)

    def grants(self) -> Grants:
        objects = []
        for plural, kind in (("clusterroles", "ClusterRole"), ("clusterrolebindings", "ClusterRoleBinding"),
                             ("roles", "Role"), ("rolebindings", "RoleBinding")):
            objects += [{**o, "kind": kind} for o in self.objects(RBAC_GROUP, plural)]
        return Grants.from_objects(objects, self.sa_namespace, self.sa_name)

    def _is_subject(self, request: rendering.Request) -> bool:
        return bool(self.subject_port) and request.url.port == self.subject_port

    async def __call__(self, raw_request: Any):  # type: ignore[override]
        """kmock 0.8 cannot parse the cluster-scoped `/api/v1/namespaces` collection (it answers
        500 before `_handle` runs), so that URL is authorized and served here: a list of the
        namespaces objects live in, and a watch that stays open without events."""
        path = raw_request.path.rstrip("/")
        if path != "/api/v1/namespaces" or raw_request.method != "GET":
            return await super().__call__(raw_request)
        watch = raw_request.query.get("watch") in ("true", "1")
        call = RecordedRequest(verb="watch" if watch else "list", group="", resource="namespaces",
                               subresource="", namespace="", name="")
        self.requests_log.append(call)
        if self.subject_port and raw_request.url.port == self.subject_port:
            if not self.grants().allows(call):
                self.denied.append(call)
                return self._forbidden(call)
            self.authorized.append(call)
        if not watch:
            names = sorted({ns for (_, _, ns, _) in list(self._store) if ns})
            return self._json({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": str(self._rv)},
                               "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]})
        import asyncio

        import aiohttp.web

        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(raw_request)
        await asyncio.sleep(float(raw_request.query.get("timeoutSeconds") or 300))
        await response.write_eof()
        return response

    def _forbidden(self, call: RecordedRequest):
        return self._status_response(ApiError(
            403, "Forbidden",
            f'{call.resource}{"/" + call.subresource if call.subresource else ""} is forbidden: '
            f'User "system:serviceaccount:{self.sa_namespace}:{self.sa_name}" cannot {call.verb} '
            f'resource "{call.resource}" in API group "{call.group}"'
            + (f' in the namespace "{call.namespace}"' if call.namespace else " at the cluster scope")))

    async def _handle(self, request: rendering.Request):  # type: ignore[override]
        if self._is_subject(request):
            before = len(self.requests_log)
            self._record(request)
            described = self.requests_log[before:]
            del self.requests_log[before:]
            if described:  # resource requests; discovery is open to every authenticated user
                (call,) = described
                if not self.grants().allows(call):
                    self.denied.append(call)
                    self._record(request)
                    return self._forbidden(call)
                self.authorized.append(call)
                refused = self._owner_references_refused(call, request)
                if refused is not None:
                    self._record(request)
                    return refused
        return await super()._handle(request)

    def _owner_references_refused(self, call: RecordedRequest, request: rendering.Request):
        """OwnerReferencesPermissionEnforcement (OpenShift's default): an ownerReference with
        `blockOwnerDeletion: true` needs `update` on the owner's `finalizers` subresource.

        Looser than the admission plugin: it checks creates and every update/patch body that
        carries owner references, not only those that change them."""
        if call.verb not in ("create", "update", "patch") or not request.text.strip():
            return None
        try:
            body = json.loads(request.text)
        except ValueError:
            return None
        refs = ((body.get("metadata") or {}).get("ownerReferences") or []) if isinstance(body, dict) else []
        for ref in refs:
            if not ref.get("blockOwnerDeletion"):
                continue
            owner = self._by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            if owner is None:
                continue
            check = RecordedRequest(verb="update", group=owner.group, resource=owner.plural, subresource="finalizers",
                                    namespace=call.namespace, name=str(ref.get("name", "")))
            if not self.grants().allows(check):
                self.denied.append(check)
                return self._status_response(ApiError(
                    403, "Forbidden",
                    f'{call.resource} "{call.name or (body.get("metadata") or {}).get("name", "")}" is forbidden: cannot set '
                    f"blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: "
                    f'User "system:serviceaccount:{self.sa_namespace}:{self.sa_name}" cannot update resource '
                    f'"{owner.plural}/finalizers" in API group "{owner.group}" in the namespace "{call.namespace}"'))
            self.authorized.append(check)
        return None


class RbacEmulatorThread(EmulatorThread):
    """`EmulatorThread` with a second door: `url` for administrators, `subject_url` for the
    ServiceAccount whose RBAC the emulator enforces."""

    def __init__(self, emulator: RbacEmulator) -> None:
        super().__init__(emulator)
        self.subject_url = ""

    async def _main(self) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.emulator, kmock.Server(self.emulator) as admin, kmock.Server(self.emulator) as subject:
            self.url = str(admin.url).rstrip("/")
            self.subject_url = str(subject.url).rstrip("/")
            self.emulator.subject_port = subject.url.port
            self._ready.set()
            await self._stop.wait()
