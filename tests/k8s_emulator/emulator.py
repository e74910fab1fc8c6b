"""An in-memory Kubernetes API server over real HTTP, built on `kmock.KubernetesEmulator` (kmock 0.8).

kmock supplies the HTTP server, the request parsing (resource, namespace, name, subresource,
action) and user-defined reactions (`emulator['get /x'] << ...` still work for anything this
class does not serve). This subclass replaces its object store with one that behaves like the
kube-apiserver where clients depend on it (see /work/shared/notes/kubernetes-without-a-cluster.md),
measured against a real Kubernetes 1.36 apiserver by tests/realcluster/test_realcluster_emulator_parity.py
(the same request sequences to both, answers compared):

- namespace from the URL, `uid`, `resourceVersion` bumped on every write, `generation` (only on
  the kinds that have one: custom resources and GENERATION_KINDS, not ConfigMaps or Services)
  bumped on spec changes and when a deletion starts, `creationTimestamp`, `generateName`; 201 on create;
- merge / strategic-merge / JSON patch (a failed `test` op answers 422; a strategic merge patch
  of a custom resource is 415), PUT with optimistic concurrency (409 Conflict; a custom resource
  without `resourceVersion` is 422), the `/status` subresource writes only status (and the main
  resource ignores status when the subresource exists);
- deletion with finalizers (deletionTimestamp, deletionGracePeriodSeconds 0, no new finalizer
  accepted (422), DELETED when the last finalizer goes); Namespaces carry the `kubernetes`
  finalizer and stay Terminating once deleted (no namespace controller empties them);
- strict JSON bodies (NaN/Infinity → 400); built-in objects checked by admission.py (names,
  label keys and values, the kind's OpenAPI schema, canonical quantities, requests ≤ limits,
  the Job's job-name label, `false` of plain bools such as a mount's readOnly not stored)
  → 422 with field paths in `details.causes`; creates in a terminating namespace → 403
  (NamespaceLifecycle);
- list with `kind`/`apiVersion`/`resourceVersion`, label and field selectors (an unparsable one,
  or a field the kind cannot be selected on, is 400), `limit`/`continue` pages that all show the
  objects as they were at the first page (`remainingItemCount` only without selectors; a token
  from before compact() is 410 Expired);
- watch that subscribes under the same lock as its snapshot (no lost events), replays every event
  after a `resourceVersion` from a bounded history (`history_limit`, or compact(): older is an
  ERROR event with a 410 Status, as after etcd compaction), honours label/field selectors and
  `timeoutSeconds`, and ends the initial events of `sendInitialEvents=true` with a BOOKMARK;
- discovery that kubectl and the Python client accept (`groupVersion: v1`, `/apis/`);
- errors with the reasons client-go relies on (NotFound, AlreadyExists, Conflict, Invalid);
- CustomResourceDefinitions: creating one registers its served versions and subresources, sets
  `Established`, and every custom resource is defaulted, pruned and validated against the
  `openAPIV3Schema` (CEL rules too, with cel-python, numbers bound as doubles; an integer is
  compared with a fractional minimum/maximum truncated, as kube-openapi does), answering 422
  like the apiserver;
- `pods/<name>/log` serves what a test put in `pod_logs`;
- every request is recorded in `requests_log` (verb, API group, resource, subresource, namespace)
  so an RBAC test can compare it with a Role.

Not emulated (the real control plane of tests/controlplane has them): authentication and RBAC
(tests/helm/rbac_support.py checks recorded requests against a Role instead), admission plugins
other than NamespaceLifecycle (OwnerReferencesPermissionEnforcement refuses a child with
blockOwnerDeletion unless the client may update the owner's finalizers), controllers (tests
play them by patching `/status`) and with them owner-reference garbage collection and the
namespace controller, defaulting of built-in objects (the apiserver fills in e.g.
terminationGracePeriodSeconds, imagePullPolicy, a Deployment's strategy), managedFields and
server-side apply, the objects every namespace gets (the kube-root-ca.crt ConfigMap, the default
ServiceAccount), periodic watch BOOKMARKs, protobuf. Stricter than the apiserver: unknown fields
of built-in objects are refused (the apiserver drops them with a warning unless
fieldValidation=Strict) and OpenAPI `required` is enforced on status too. Looser: see admission.py.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import gzip
import importlib.resources
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock._internal import rendering  # pinned kmock==0.8: the parsed request type

from . import admission
from .schema import CelRules, Cause, CustomResourceSchema
from .selectors import SelectorError, field_selector, label_selector

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # (group, plural, namespace or "", name)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # what the apiserver draws generated name suffixes from
_NAMESPACES_URL = re.compile(r"/api/v1/namespaces(?:/([^/]+)(?:/(status|finalize))?)?/?")


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as RBAC sees it."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    group: str  # "" for the core API
    resource: str  # plural
    subresource: str  # "" when none
    namespace: str  # "" when cluster-scoped or all namespaces
    name: str
    user_agent: str = ""  # tells the operator's requests (kopf/..., rejoinder-operator/...) from a test's
    label_selector: str = ""  # of a list or watch: what the server filtered on


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: Optional[CustomResourceSchema] = None  # custom resources only
    printer_columns: tuple[dict[str, Any], ...] = ()  # a CRD's additionalPrinterColumns
    crd: str = ""  # name of the CRD that registered it

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}
        self.metadata = metadata or {}  # the Status's own (a 410 list answer carries a continue token)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge patches are treated the same: close enough)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def strict_json(text: str) -> Any:
    """Parse a request body as the apiserver does: NaN and ±Infinity are not JSON (400 BadRequest)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as error:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {error}") from None


def _invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    text = "; ".join(f"{c.field}: {c.message}" for c in causes)
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}',
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "field": c.field, "message": c.message} for c in causes]})


# Built-in kinds whose objects carry metadata.generation (measured on Kubernetes 1.36 by
# tests/realcluster/test_realcluster_emulator_parity.py); others (ConfigMaps, Services, Secrets,
# Namespaces, HPAs...) have none. Custom resources always do.
GENERATION_KINDS = frozenset({
    ("", "pods"), ("", "podtemplates"), ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
    ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"), ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "networkpolicies"), ("networking.k8s.io", "ingresses"),
    ("discovery.k8s.io", "endpointslices"),
})


def _has_generation(rtype: "ResourceType") -> bool:
    return bool(rtype.crd) or (rtype.group, rtype.plural) in GENERATION_KINDS


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """See the module docstring. Run it with `k8s_emulator.EmulatorThread`."""

    requests_log: list[RecordedRequest] = attrs.field(factory=list, init=False)
    pod_logs: dict[tuple[str, str], str] = attrs.field(factory=dict, init=False)
    _types: dict[tuple[str, str, str], ResourceType] = attrs.field(factory=dict, init=False)
    _store: dict[Key, dict[str, Any]] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=1, init=False)
    history_limit: int = 20000  # events kept for watches to resume from (etcd compaction, in events)
    expired_watches: int = attrs.field(default=0, init=False)  # watches answered 410 Gone
    _history: collections.deque = attrs.field(factory=collections.deque, init=False)
    _watchers: list[tuple[ResourceType, str, Any, asyncio.Queue]] = attrs.field(factory=list, init=False)
    _cel: CelRules = attrs.field(factory=CelRules, init=False)
    _state_lock: Any = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._history = collections.deque(maxlen=self.history_limit)
        data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
        for doc in json.loads(gzip.decompress(data)):
            group, _, version = doc["groupVersion"].rpartition("/")
            subs: dict[str, set[str]] = collections.defaultdict(set)
            for entry in doc["resources"]:
                if "/" in entry["name"]:
                    parent, sub = entry["name"].split("/", 1)
                    subs[parent].add(sub)
            for entry in doc["resources"]:
                if "/" in entry["name"]:
                    continue
                self.register(ResourceType(
                    group=group, version=version, plural=entry["name"], kind=entry["kind"],
                    namespaced=bool(entry.get("namespaced")), singular=entry.get("singularName") or "",
                    verbs=tuple(entry.get("verbs") or ()), subresources=frozenset(subs[entry["name"]]),
                    short_names=tuple(entry.get("shortNames") or ()),
                    categories=tuple(entry.get("categories") or ()),
                ))

    # --- registry -----------------------------------------------------------------------------

    def register(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def unregister(self, group: str, version: str, plural: str) -> None:
        self._types.pop((group, version, plural), None)

    def resource_type(self, group: str, version: str, plural: str) -> Optional[ResourceType]:
        return self._types.get((group, version, plural))

    def _by_kind(self, api_version: str, kind: str) -> Optional[ResourceType]:
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        return None

    # --- direct access for tests (same lock as HTTP, call from the emulator's loop) --------------

    def objects(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """A snapshot of the stored objects of one resource (any thread; dict reads are atomic)."""
        return [copy.deepcopy(o) for (g, p, ns, _), o in list(self._store.items())
                if g == group and p == plural and (namespace is None or ns == namespace)]

    def get_object(self, group: str, plural: str, namespace: str, name: str) -> Optional[dict[str, Any]]:
        obj = self._store.get((group, plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    # --- HTTP entry ---------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock's URL parser reads `/api/v1/namespaces[/<name>]` as a namespace prefix with no
        # resource after it; Namespace objects themselves are parsed here instead.
        match = _NAMESPACES_URL.fullmatch(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        body = await raw_request.read()
        text = body.decode("utf-8", errors="replace")
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            data = None
        method = raw_request.method.upper()
        request = rendering.Request(
            id=len(self._requests), raw_request=raw_request, url=raw_request.url, method=method,
            params=dict(raw_request.query), headers=dict(raw_request.headers), cookies=dict(raw_request.cookies),
            data=data, body=body, text=text,
            action=None, resource=kmock.resource("", "v1", "namespaces"), namespace=None,
            name=match.group(1), subresource=match.group(2),
        )
        self._requests.append(request)
        return await self._handle(request)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if self._state_lock is None:
            self._state_lock = asyncio.Lock()
        self._record(request)
        try:
            served = await self._serve(request)
        except ApiError as error:
            return self._status_response(error)
        if served is not None:
            return served
        return await kmock.RawHandler._handle(self, request)  # user reactions, kmock fallbacks

    def _record(self, request: rendering.Request) -> None:
        res = request.resource
        if res is None or not res.plural:
            return
        method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
        is_watch = request.params.get("watch") in ("true", "1")
        if is_watch:
            verb = "watch"
        elif method == "GET":
            verb = "get" if request.name else "list"
        elif method == "POST":
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if request.name else "deletecollection"
        else:
            verb = method.lower()
        self.requests_log.append(RecordedRequest(
            verb=verb, group=res.group or "", resource=res.plural, subresource=request.subresource or "",
            namespace=request.namespace or "", name=request.name or "",
            user_agent=request.headers.get("User-Agent", ""),
            label_selector=request.params.get("labelSelector", "") if verb in ("list", "watch") else "",
        ))

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse | None:
        path = request.url.path.rstrip("/") or "/"
        if request.resource is None or not request.resource.plural:
            return self._discovery(path)
        res = request.resource
        rtype = self._types.get((res.group or "", res.version or "", res.plural))
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
        ns = request.namespace or ""
        if ns and not rtype.namespaced:
            raise ApiError(404, "NotFound", f"{rtype.plural} is not namespaced")
        if request.params.get("watch") in ("true", "1"):
            return await self._watch(request, rtype, ns)
        if request.subresource == "log" and rtype.plural == "pods" and method == "GET":
            return self._pod_log(request, rtype, ns)
        if request.subresource and request.subresource not in rtype.subresources:
            raise ApiError(404, "NotFound", f"{rtype.plural}/{request.subresource} is not served")
        body = None
        if request.text.strip():
            if "protobuf" in request.headers.get("Content-Type", ""):
                raise ApiError(415, "UnsupportedMediaType", "the emulator speaks JSON only, not protobuf")
            body = strict_json(request.text)
        as_table = "as=Table" in request.headers.get("Accept", "") and rtype.printer_columns
        async with self._state_lock:
            if method == "GET" and request.name:
                obj = self._get(rtype, ns, request.name)
                return self._json(self._table(rtype, [obj]) if as_table else obj)
            if method == "GET":
                listing = self._list(rtype, ns, request.params)
                return self._json(self._table(rtype, listing["items"]) if as_table else listing)
            if method == "POST" and not request.name:
                created = self._create(rtype, ns, body, request.params)
                return self._json(created, status=201)
            if method in ("PATCH", "PUT") and request.name:
                ctype = request.headers.get("Content-Type", "")
                if method == "PUT":
                    updated = self._replace(rtype, ns, request.name, body, request.subresource, request.params)
                else:
                    updated = self._patch(rtype, ns, request.name, body, ctype, request.subresource, request.params)
                return self._json(updated)
            if method == "DELETE" and request.name:
                return self._json(self._delete(rtype, ns, request.name))
            if method == "DELETE":
                return self._json(self._delete_collection(rtype, ns, request.params))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this URL")

    # --- verbs (called under the state lock) ----------------------------------------------------

    def _key(self, rtype: ResourceType, ns: str, name: str) -> Key:
        return (rtype.group, rtype.plural, ns if rtype.namespaced else "", name)

    @staticmethod
    def _selectors(rtype: ResourceType, params: dict[str, str]) -> tuple[Any, Any]:
        """The list's or watch's label and field selectors; 400 when the apiserver could not use them."""
        try:
            return (label_selector(params.get("labelSelector")),
                    field_selector(params.get("fieldSelector"), rtype.group, rtype.plural))
        except SelectorError as error:
            raise ApiError(400, "BadRequest", str(error)) from None

    def _get(self, rtype: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self._store.get(self._key(rtype, ns, name))
        if obj is None:
            kind = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
            raise ApiError(404, "NotFound", f'{kind} "{name}" not found',
                           {"name": name, "group": rtype.group, "kind": rtype.plural})
        return obj

    def _list(self, rtype: ResourceType, ns: str, params: dict[str, str]) -> dict[str, Any]:
        """A list, in pages with `limit`: every page shows the objects as they were when the first
        was served (as the apiserver does from etcd); a continue token from before a compaction is
        410 Expired, with a token that continues from the current objects instead."""
        matches_labels, matches_fields = self._selectors(rtype, params)
        token = params.get("continue")
        at, after = self._rv, None
        if token:  # the snapshot's resourceVersion and the last key of the previous page
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                at, after = int(decoded["rv"]), tuple(decoded["start"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "invalid continue token: continue key is not valid") from None
        objects = self._state_at(rtype, at) if at >= 0 else self._state_at(rtype, self._rv)
        if objects is None:
            raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                                           "result. You can start a new list without the continue parameter, or use "
                                           "the continue token in this response to retrieve the remainder of the "
                                           "results.", metadata={"continue": self._token(-1, after or ())})
        at = at if at >= 0 else self._rv
        found = sorted((key, o) for key, o in objects.items()
                       if (not ns or key[0] == ns) and matches_labels(o) and matches_fields(o))
        if after is not None:
            found = [(k, o) for k, o in found if k > after]
        meta: dict[str, Any] = {"resourceVersion": str(at)}
        limit = int(params.get("limit") or 0)
        if limit > 0 and len(found) > limit:
            meta["continue"] = self._token(at, found[limit - 1][0])
            if not params.get("labelSelector") and not params.get("fieldSelector"):
                meta["remainingItemCount"] = len(found) - limit  # not counted through a selector
            found = found[:limit]
        return {"apiVersion": rtype.api_version, "kind": f"{rtype.kind}List", "metadata": meta,
                "items": [copy.deepcopy(o) for _, o in found]}

    @staticmethod
    def _token(rv: int, start: tuple[str, ...]) -> str:
        return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": list(start)}).encode()).decode()

    def _state_at(self, rtype: ResourceType, rv: int) -> Optional[dict[tuple[str, str], dict[str, Any]]]:
        """{(namespace, name): object} of a resource as it was at `rv`: the current objects with
        the later events undone from the history; None when the history needed is compacted."""
        state = {(ons, name): o for (g, p, ons, name), o in self._store.items() if g == rtype.group and p == rtype.plural}
        if rv >= self._rv:
            return state
        oldest = self._history[0][0] if self._history else self._rv + 1
        if rv < oldest - 1:
            return None
        events: dict[tuple[str, str], list[tuple[int, str, dict[str, Any]]]] = collections.defaultdict(list)
        for at, group, plural, event, obj in self._history:
            if group == rtype.group and plural == rtype.plural:
                events[(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])].append((at, event, obj))
        for key, history in events.items():
            if history[-1][0] <= rv:
                continue  # unchanged since
            before = [h for h in history if h[0] <= rv]
            if before:
                if before[-1][1] == "DELETED":
                    state.pop(key, None)
                else:
                    state[key] = before[-1][2]
            elif history[0][1] == "ADDED":
                state.pop(key, None)  # created after rv
            else:
                return None  # it existed at rv, in a state the history no longer holds
        return state

    def _create(self, rtype: ResourceType, ns: str, body: Any, params: dict[str, str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of a create must be an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            if not ns:
                ns = meta.get("namespace") or ""
                if not ns:
                    raise ApiError(400, "BadRequest", "a namespace is required for namespaced resources")
            if meta.get("namespace") not in (None, ns):
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the URL")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required",
                               {"causes": [{"field": "metadata.name", "message": "Required value"}]})
            for _ in range(8):  # the apiserver retries generated names that collide
                meta["name"] = meta["generateName"] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
                if self._key(rtype, ns, meta["name"]) not in self._store:
                    break
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        if rtype.namespaced:
            self._refuse_if_terminating(rtype, ns, meta["name"])
        key = self._key(rtype, ns, meta["name"])
        if key in self._store:
            raise ApiError(409, "AlreadyExists", f'{rtype.plural} "{meta["name"]}" already exists',
                           {"name": meta["name"], "group": rtype.group, "kind": rtype.plural})
        if "status" in rtype.subresources:
            obj.pop("status", None)  # status is written through /status only
        self._admit(rtype, obj, params)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if _has_generation(rtype):
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if (rtype.group, rtype.plural) == ("", "namespaces"):
            # the namespace controller's finalizer, and the label the apiserver puts on every namespace
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        if rtype.plural == "customresourcedefinitions" and rtype.group == "apiextensions.k8s.io":
            self._register_crd(obj)
        self._commit(rtype, key, obj, "ADDED")
        return obj

    def _replace(self, rtype: ResourceType, ns: str, name: str, body: Any, sub: str | None,
                 params: dict[str, str]) -> dict[str, Any]:
        old = self._get(rtype, ns, name)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of an update must be an object")
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rtype.plural} "{name}": '
                                            "the object has been modified; please apply your changes to the latest version and try again")
        if not rv and rtype.crd:  # custom resources allow no unconditional update (built-ins mostly do)
            raise _invalid(rtype.kind, rtype.group, name, [Cause(
                "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")])
        return self._write(rtype, ns, name, old, copy.deepcopy(body), sub, params)

    def _patch(self, rtype: ResourceType, ns: str, name: str, body: Any, ctype: str, sub: str | None,
               params: dict[str, str]) -> dict[str, Any]:
        old = self._get(rtype, ns, name)
        if "json-patch" in ctype or isinstance(body, list):
            try:
                new = jsonpatch.apply_patch(copy.deepcopy(old), body or [], in_place=False)
            except jsonpatch.JsonPatchTestFailed as error:
                raise ApiError(422, "Invalid", f"the JSON patch test failed: {error}") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                raise ApiError(422, "Invalid", f"the JSON patch cannot be applied: {error}") from None
        else:
            if "strategic-merge-patch" in ctype and rtype.crd:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be an object")
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rtype.plural} "{name}": '
                                                "the object has been modified")
            new = _merge_patch(copy.deepcopy(old), body)  # a copy: the merge shares what it does not touch
        return self._write(rtype, ns, name, old, new, sub, params)

    def _write(self, rtype: ResourceType, ns: str, name: str, old: dict[str, Any], new: dict[str, Any],
               sub: str | None, params: dict[str, str]) -> dict[str, Any]:
        if sub == "status":  # only status changes
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            if "status" in rtype.subresources:  # the main resource ignores status
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            meta = new.setdefault("metadata", {})
            meta.pop("generation", None)
            for fixed in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp",
                          "deletionGracePeriodSeconds"):
                if fixed in old["metadata"]:
                    meta[fixed] = old["metadata"][fixed]
            if old["metadata"].get("deletionTimestamp"):
                added = [f for f in meta.get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
                if added:
                    raise _invalid(rtype.kind, rtype.group, name, [Cause(
                        "metadata.finalizers",
                        f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added}")])
            if _spec_part(new) != _spec_part(old) and "generation" in meta:
                meta["generation"] = int(meta["generation"]) + 1
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        self._admit(rtype, new, params)
        key = self._key(rtype, ns, name)
        meta = new["metadata"]
        held_by_spec = (rtype.group, rtype.plural) == ("", "namespaces") and (new.get("spec") or {}).get("finalizers")
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not held_by_spec:
            self._commit(rtype, key, new, "DELETED", remove=True)
            return new
        if new == old:  # a no-op write keeps the resourceVersion, as the apiserver does
            return old
        self._commit(rtype, key, new, "MODIFIED")
        return new

    def _delete(self, rtype: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self._get(rtype, ns, name)
        key = self._key(rtype, ns, name)
        namespace = (rtype.group, rtype.plural) == ("", "namespaces")
        # A namespace goes once the namespace controller (not emulated: it stays Terminating) has
        # emptied it and removed its spec.finalizers; other objects once their finalizers are gone.
        if obj["metadata"].get("finalizers") or (namespace and (obj.get("spec") or {}).get("finalizers")):
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = _now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if "generation" in obj["metadata"]:  # the apiserver counts the deletion as a change
                    obj["metadata"]["generation"] = int(obj["metadata"]["generation"]) + 1
                if namespace:
                    obj.setdefault("status", {})["phase"] = "Terminating"
                self._commit(rtype, key, obj, "MODIFIED")
            return obj
        self._commit(rtype, key, copy.deepcopy(obj), "DELETED", remove=True)
        if rtype.plural == "customresourcedefinitions" and rtype.group == "apiextensions.k8s.io":
            self._unregister_crd(obj)
        return {"apiVersion": "v1", "kind": "Status", "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural, "uid": obj["metadata"]["uid"]}}

    def _delete_collection(self, rtype: ResourceType, ns: str, params: dict[str, str]) -> dict[str, Any]:
        listing = self._list(rtype, ns, params)
        for obj in listing["items"]:
            self._delete(rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return listing

    def _commit(self, rtype: ResourceType, key: Key, obj: dict[str, Any], event: str, remove: bool = False) -> None:
        self._rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
        if remove:
            self._store.pop(key, None)
        else:
            self._store[key] = obj
        frozen = copy.deepcopy(obj)
        self._history.append((self._rv, rtype.group, rtype.plural, event, frozen))
        for wtype, wns, matches, queue in list(self._watchers):
            if wtype.group == rtype.group and wtype.plural == rtype.plural and (not wns or key[2] == wns) and matches(frozen):
                queue.put_nowait({"type": event, "object": frozen})

    # --- custom resources ---------------------------------------------------------------------

    @staticmethod
    def _table(rtype: ResourceType, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Server-side printing (`kubectl get` asks for a Table): the CRD's printer columns."""

        def cell(obj: Any, path: str) -> Any:
            for part in path.strip(".").split("."):
                obj = obj.get(part) if isinstance(obj, dict) else None
            return obj

        columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        columns += [{"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)}
                    for c in rtype.printer_columns]
        def shown(value: Any, column: dict[str, Any]) -> Any:
            if column.get("type") != "date" or not isinstance(value, str):
                return value
            try:  # the apiserver prints dates as ages, like kubectl's AGE column
                then = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            seconds = max(0, int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()))
            for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
                if seconds >= 2 * size:
                    return f"{seconds // size}{unit}"
            return f"{seconds}s"

        rows = [{"cells": [o["metadata"]["name"]] + [shown(cell(o, c["jsonPath"]), c) for c in rtype.printer_columns],
                 "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
                for o in items]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}

    def _admit(self, rtype: ResourceType, obj: dict[str, Any], params: dict[str, str]) -> None:
        """Validate (and normalise) an object about to be stored: 422 Invalid with the causes."""
        name = str((obj.get("metadata") or {}).get("name", ""))
        if rtype.crd:
            causes = admission.custom_resource_name_causes(name)
            causes += admission.label_causes((obj.get("metadata") or {}).get("labels"), "metadata.labels")
            if rtype.schema is not None and not causes:
                causes = rtype.schema.admit(obj, strict=params.get("fieldValidation") == "Strict")
        else:
            causes = admission.admit_builtin(rtype.group, rtype.plural, obj)
        if causes:
            raise _invalid(rtype.kind, rtype.group, name, causes)

    def _refuse_if_terminating(self, rtype: ResourceType, ns: str, name: str) -> None:
        """NamespaceLifecycle admission: nothing new in a namespace that is being deleted."""
        namespace = self._store.get(("", "namespaces", "", ns))
        if namespace is not None and (namespace["metadata"].get("deletionTimestamp")
                                      or (namespace.get("status") or {}).get("phase") == "Terminating"):
            raise ApiError(403, "Forbidden",
                           f'{rtype.plural} "{name}" is forbidden: unable to create new content in namespace {ns} '
                           "because it is being terminated",
                           {"name": name, "group": rtype.group, "kind": rtype.plural,
                            "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                        "message": f"namespace {ns} is being terminated"}]})

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        if not group or not names.get("plural") or not names.get("kind") or not spec.get("versions"):
            raise ApiError(422, "Invalid", "a CRD needs spec.group, spec.names.plural/kind and spec.versions")
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            openapi = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            self.register(ResourceType(
                group=group, version=version["name"], plural=names["plural"], kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                subresources=frozenset((version.get("subresources") or {}).keys()),
                short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
                schema=CustomResourceSchema(openapi, self._cel) if openapi else None,
                crd=crd["metadata"]["name"], printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            ))
        now = _now()
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        }

    def _unregister_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural")
        for version in spec.get("versions") or ():
            rtype = self._types.get((spec.get("group"), version["name"], plural))
            if rtype is None:
                continue
            for key in [k for k in self._store if k[0] == rtype.group and k[1] == rtype.plural]:
                self._commit(rtype, key, copy.deepcopy(self._store[key]), "DELETED", remove=True)
            self.unregister(spec.get("group"), version["name"], plural)

    # --- watch and logs -----------------------------------------------------------------------

    async def _watch(self, request: rendering.Request, rtype: ResourceType, ns: str) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        labels, fields = self._selectors(rtype, request.params)
        if request.name:
            fields_by_name = field_selector(f"metadata.name={request.name}")
            matches = lambda o: labels(o) and fields(o) and fields_by_name(o)  # noqa: E731
        else:
            matches = lambda o: labels(o) and fields(o)  # noqa: E731
        queue: asyncio.Queue = asyncio.Queue()
        since = request.params.get("resourceVersion")
        async with self._state_lock:  # snapshot and subscribe atomically: no event falls in between
            # A watch from resourceVersion N replays every event after N (objects deleted after the
            # client's list arrive as DELETED); N older than the kept history is 410 Gone.
            oldest = self._history[0][0] if self._history else self._rv + 1
            resume = since not in (None, "", "0")
            if resume and not (since.isdigit() and int(since) >= oldest - 1):  # type: ignore[union-attr]
                return await self._gone(raw, since)
            if resume:
                for rv, group, plural, event, obj in self._history:
                    if rv > int(since) and group == rtype.group and plural == rtype.plural \
                            and (not ns or obj["metadata"].get("namespace", "") == ns) and matches(obj):
                        queue.put_nowait({"type": event, "object": obj})
            else:
                for (g, p, ons, _), obj in self._store.items():
                    if g == rtype.group and p == rtype.plural and (not ns or ons == ns) and matches(obj):
                        queue.put_nowait({"type": "ADDED", "object": copy.deepcopy(obj)})
                if request.params.get("sendInitialEvents") == "true":  # a streaming list: say where it ends
                    queue.put_nowait({"type": "BOOKMARK", "object": {
                        "kind": rtype.kind, "apiVersion": rtype.api_version,
                        "metadata": {"resourceVersion": str(self._rv),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}})
            watcher = (rtype, ns, matches, queue)
            self._watchers.append(watcher)
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        timeout = float(request.params.get("timeoutSeconds") or 0) or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            await response.prepare(raw)
            while True:
                wait = None if deadline is None else deadline - loop.time()
                if wait is not None and wait <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=wait)
                except asyncio.TimeoutError:
                    break
                if event is None:  # end_watches(): the apiserver closed the stream
                    break
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError, aiohttp.ClientConnectionError):
            pass
        finally:
            async with self._state_lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
        try:
            await response.write_eof()
        except Exception:  # the client is gone already
            pass
        return response

    def compact(self) -> int:
        """Forget the history before the current resourceVersion, as etcd compaction does: a watch
        from an older resourceVersion is then 410 Gone. Returns the resourceVersion kept."""
        while self._history and self._history[0][0] < self._rv:
            self._history.popleft()
        return self._rv

    def end_watches(self) -> int:
        """Close every open watch stream, as an apiserver restart or a load balancer would (call from
        the emulator's loop, e.g. with EmulatorThread.call); clients then watch again from the last
        resourceVersion they saw. Returns how many streams were closed."""
        for _, _, _, queue in self._watchers:
            queue.put_nowait(None)
        return len(self._watchers)

    async def _gone(self, raw: Any, since: Any) -> aiohttp.web.StreamResponse:
        """What the apiserver streams for a watch from a compacted resourceVersion."""
        self.expired_watches += 1
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": f"too old resource version: {since} ({self._history[0][0] - 1 if self._history else self._rv})",
                  "reason": "Expired", "code": 410}
        await response.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
        await response.write_eof()
        return response

    def _pod_log(self, request: rendering.Request, rtype: ResourceType, ns: str) -> aiohttp.web.StreamResponse:
        if (rtype.group, rtype.plural, ns, request.name) not in self._store:
            raise ApiError(404, "NotFound", f'pods "{request.name}" not found')
        text = self.pod_logs.get((ns, request.name or ""), "")
        tail = request.params.get("tailLines")
        if tail and tail.isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail):]) if int(tail) else ""
        return aiohttp.web.Response(text=text, content_type="text/plain")

    # --- discovery ----------------------------------------------------------------------------

    def _discovery(self, path: str) -> aiohttp.web.StreamResponse | None:
        if path == "/api":
            return self._json({"kind": "APIVersions", "versions": ["v1"],
                               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
        if path == "/api/v1":
            return self._json(self._resource_list("", "v1"))
        groups: dict[str, list[str]] = collections.defaultdict(list)
        for rtype in self._types.values():
            if rtype.group and rtype.version not in groups[rtype.group]:
                groups[rtype.group].append(rtype.version)

        def group_doc(group: str) -> dict[str, Any]:
            versions = groups[group]
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            return {"name": group, "versions": entries, "preferredVersion": entries[0]}

        if path == "/apis":
            return self._json({"kind": "APIGroupList", "apiVersion": "v1",
                               "groups": [group_doc(g) for g in sorted(groups)]})
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in groups:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._json({"kind": "APIGroup", "apiVersion": "v1", **group_doc(parts[1])})
        if parts[0] == "apis" and len(parts) == 3:
            if parts[2] not in groups.get(parts[1], []):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._json(self._resource_list(parts[1], parts[2]))
        if path in ("/openapi/v2", "/openapi/v3"):
            raise ApiError(404, "NotFound", "OpenAPI is not served by the emulator (use --validate=false)")
        return None  # /version and the rest: kmock's scaffold

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for rtype in self._types.values():
            if rtype.group != group or rtype.version != version:
                continue
            resources.append({
                "name": rtype.plural, "singularName": rtype.singular, "namespaced": rtype.namespaced,
                "kind": rtype.kind, "verbs": list(rtype.verbs), "shortNames": list(rtype.short_names),
                "categories": list(rtype.categories),
            })
            for sub in sorted(rtype.subresources):
                resources.append({"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced,
                                  "kind": rtype.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    # --- responses ----------------------------------------------------------------------------

    @staticmethod
    def _json(payload: Any, status: int = 200) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=json.dumps(payload).encode(), status=status, content_type="application/json")

    @staticmethod
    def _status_response(error: ApiError) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            body=json.dumps({"apiVersion": "v1", "kind": "Status", "metadata": error.metadata, "status": "Failure",
                             "message": error.message, "reason": error.reason, "details": error.details,
                             "code": error.code}).encode(),
            status=error.code, content_type="application/json")


__all__ = ["ApiError", "Cause", "KubeEmulator", "RecordedRequest", "ResourceType"]
