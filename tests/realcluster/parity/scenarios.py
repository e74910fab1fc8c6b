"""Request sequences run against both servers. Each returns its transcript: one tuple per step
with what a client depends on (status codes, reasons, which fields are there, what changed),
never what legitimately differs (uids, timestamps, resourceVersion values, messages)."""

from __future__ import annotations

from typing import Any, Callable

from tests.realcluster.parity.target import Target

Transcript = list[tuple[Any, ...]]
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
GROUP, VERSION, PLURAL = "parity.rejoinder.dev", "v1", "widgets"
LABEL = {"parity": "yes"}  # a real namespace holds objects of its own (kube-root-ca.crt): select ours

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": PLURAL, "singular": "widget", "listKind": "WidgetList"},
             "versions": [{"name": VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {"size": {"type": "integer"},
                                                                          "ratio": {"type": "number", "minimum": 0.5}}},
                               "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]},
}


def configmaps(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps"


def podtemplates(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/podtemplates"  # served from etcd by the test apiserver


def widgets(ns: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL}"


def configmap(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {**LABEL, **meta.pop("labels", {})}, **meta}, "data": data or {}}


def podtemplate(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name, "labels": dict(LABEL)},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]}}}


def widget(name: str, size: int = 1, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name, **meta},
            "spec": {"size": size}, "status": {"ready": True}}


def reason(body: Any) -> str:
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def rv(body: Any) -> str:
    return str(((body or {}).get("metadata") or {}).get("resourceVersion", ""))


def names(listing: Any) -> list[str]:
    return [i["metadata"]["name"] for i in (listing or {}).get("items") or []]


def create_and_update(t: Target, ns: str) -> Transcript:
    p, out = configmaps(ns), []
    code, a = t.request("POST", p, configmap("a", {"k": "1"}))
    out.append(("create", code, sorted(k for k in ("uid", "resourceVersion", "creationTimestamp", "generation")
                                       if k in a["metadata"])))
    code, again = t.request("POST", p, configmap("a"))
    out.append(("create again", code, reason(again)))
    code, gen = t.request("POST", p, {"metadata": {"generateName": "gen-", "labels": LABEL}})
    out.append(("generateName", code, gen["metadata"]["name"][:4], len(gen["metadata"]["name"])))
    code, patched = t.request("PATCH", f"{p}/a", {"data": {"k": "2"}}, content_type=MERGE)
    out.append(("merge patch", code, rv(patched) != rv(a)))
    code, stale = t.request("PATCH", f"{p}/a", {"metadata": {"resourceVersion": rv(a)}, "data": {"k": "3"}},
                            content_type=MERGE)
    out.append(("merge patch, stale resourceVersion", code, reason(stale)))
    code, stale = t.request("PUT", f"{p}/a", configmap("a", {"k": "4"}, resourceVersion=rv(a)))
    out.append(("update, stale resourceVersion", code, reason(stale)))
    code, unconditional = t.request("PUT", f"{p}/a", configmap("a", {"k": "5"}))
    out.append(("update without resourceVersion", code, (unconditional.get("data") or {}).get("k")))
    code, same = t.request("PATCH", f"{p}/a", {"data": {"k": "5"}}, content_type=MERGE)
    out.append(("no-op patch keeps resourceVersion", code, rv(same) == rv(unconditional)))
    code, failed = t.request("PATCH", f"{p}/a", [{"op": "test", "path": "/data/k", "value": "other"}],
                             content_type=JSON_PATCH)
    out.append(("json patch, failing test", code, reason(failed)))
    code, strategic = t.request("PATCH", f"{p}/a", {"data": {"s": "1"}}, content_type=STRATEGIC)
    out.append(("strategic merge patch of a built-in", code, sorted((strategic.get("data") or {}))))
    code, missing = t.request("GET", f"{p}/nope")
    out.append(("get missing", code, reason(missing)))
    code, nan = t.request("POST", p, raw_body=b'{"metadata":{"name":"n"},"data":{"a":NaN}}')
    out.append(("NaN in the body", code, reason(nan)))
    return out


def status_subresource(t: Target, ns: str) -> Transcript:
    p, out = widgets(ns), []
    code, w = t.request("POST", p, widget("w"))
    out.append(("create drops status", code, "status" in w, w["metadata"].get("generation")))
    code, main = t.request("PATCH", f"{p}/w", {"status": {"ready": True}}, content_type=MERGE)
    out.append(("status through the main resource: ignored", code, "status" in main, rv(main) == rv(w)))
    code, st = t.request("PATCH", f"{p}/w/status", {"spec": {"size": 9}, "status": {"ready": True}},
                         content_type=MERGE)
    out.append(("spec through /status: ignored", code, st["spec"]["size"], st.get("status"),
                st["metadata"]["generation"]))
    code, grown = t.request("PATCH", f"{p}/w", {"spec": {"size": 2}}, content_type=MERGE)
    out.append(("spec change bumps generation", code, grown["metadata"]["generation"]))
    code, labelled = t.request("PATCH", f"{p}/w", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE)
    out.append(("metadata change keeps generation", code, labelled["metadata"]["generation"]))
    code, st = t.request("PATCH", f"{p}/w/status", {"metadata": {"labels": {"z": "w"}}, "status": {"ready": False}},
                         content_type=MERGE)
    out.append(("labels through /status", code, sorted((st["metadata"].get("labels") or {})), st["status"]))
    code, put = t.request("PUT", f"{p}/w", {**widget("w", 3), "metadata": {"name": "w"}})
    out.append(("custom resource update without resourceVersion", code, reason(put)))
    code, strategic = t.request("PATCH", f"{p}/w", {"spec": {"size": 4}}, content_type=STRATEGIC)
    out.append(("strategic merge patch of a custom resource", code, reason(strategic)))
    return out


def finalizers(t: Target, ns: str) -> Transcript:
    p, out = configmaps(ns), []
    t.request("POST", p, configmap("f", {"k": "1"}, finalizers=["parity.rejoinder.dev/hold"]))
    code, deleted = t.request("DELETE", f"{p}/f")
    out.append(("delete with a finalizer", code, deleted.get("kind"), bool(deleted["metadata"].get("deletionTimestamp")),
                deleted["metadata"].get("deletionGracePeriodSeconds")))
    code, more = t.request("PATCH", f"{p}/f", {"metadata": {"finalizers": ["parity.rejoinder.dev/hold", "x.io/more"]}},
                           content_type=MERGE)
    out.append(("a new finalizer while deleting", code, reason(more)))
    code, changed = t.request("PATCH", f"{p}/f", {"data": {"k": "2"}}, content_type=MERGE)
    out.append(("an update while deleting", code, (changed.get("data") or {}).get("k")))
    code, released = t.request("PATCH", f"{p}/f", {"metadata": {"finalizers": None}}, content_type=MERGE)
    out.append(("the last finalizer removed", code, bool((released.get("metadata") or {}).get("deletionTimestamp"))))
    code, gone = t.request("GET", f"{p}/f")
    out.append(("then it is gone", code, reason(gone)))
    w = widgets(ns)
    code, created = t.request("POST", w, widget("held", finalizers=["parity.rejoinder.dev/hold"]))
    code, deleted = t.request("DELETE", f"{w}/held")
    out.append(("a custom resource's generation on delete", code,
                deleted["metadata"]["generation"] - created["metadata"]["generation"]))
    t.request("PATCH", f"{w}/held", {"metadata": {"finalizers": None}}, content_type=MERGE)
    return out


def selectors(t: Target, ns: str) -> Transcript:
    p, out = configmaps(ns), []
    for name, labels in (("s1", {"app": "a", "tier": "web"}), ("s2", {"app": "b"}), ("s3", {"tier": "db"}), ("s4", {})):
        t.request("POST", p, configmap(name, labels=labels))
    for query in ("app=a", "app!=a", "app in (a,b)", "app notin (a)", "app", "!app", "app=a,tier=web",
                  "tier in (web,db),app"):
        code, listing = t.request("GET", p, params={"labelSelector": f"parity=yes,{query}"})
        out.append(("labelSelector", query, code, sorted(names(listing))))
    code, bad = t.request("GET", p, params={"labelSelector": "app=("})
    out.append(("an unparsable labelSelector", code, reason(bad)))
    code, listing = t.request("GET", p, params={"fieldSelector": "metadata.name=s2"})
    out.append(("fieldSelector metadata.name", code, names(listing)))
    code, bad = t.request("GET", p, params={"fieldSelector": "data.k=1"})
    out.append(("an unsupported fieldSelector", code, reason(bad)))
    return out


def pagination(t: Target, ns: str) -> Transcript:
    p, out = podtemplates(ns), []
    for i in range(5):
        t.request("POST", p, podtemplate(f"t{i}"))
    query = {"labelSelector": "parity=yes", "limit": "2"}
    code, first = t.request("GET", p, params=query)
    out.append(("page 1", code, names(first), first["metadata"].get("remainingItemCount"),
                bool(first["metadata"].get("continue"))))
    t.request("POST", p, podtemplate("t00"))  # changes between pages: the later pages do not see them
    t.request("DELETE", f"{p}/t4")
    code, second = t.request("GET", p, params={**query, "continue": first["metadata"]["continue"]})
    out.append(("page 2", code, names(second), bool(second["metadata"].get("continue"))))
    code, third = t.request("GET", p, params={**query, "continue": second["metadata"]["continue"]})
    out.append(("page 3", code, names(third), bool(third["metadata"].get("continue"))))
    code, fresh = t.request("GET", p, params={"labelSelector": "parity=yes"})
    out.append(("a new list", code, names(fresh)))
    code, bad = t.request("GET", p, params={**query, "continue": "garbage"})
    out.append(("an invalid continue token", code, reason(bad)))
    t.compact()
    code, expired = t.request("GET", p, params={**query, "continue": first["metadata"]["continue"]})
    out.append(("a continue token from before compaction", code, reason(expired),
                bool((expired.get("metadata") or {}).get("continue"))))
    return out


def watches(t: Target, ns: str) -> Transcript:
    p, out = podtemplates(ns), []
    t.request("POST", p, podtemplate("before"))
    code, listing = t.request("GET", p, params={"labelSelector": "parity=yes"})
    since = rv(listing)
    t.request("POST", p, podtemplate("x"))
    t.request("PATCH", f"{p}/x", {"metadata": {"annotations": {"a": "b"}}}, content_type=MERGE)
    t.request("DELETE", f"{p}/x")
    code, events = t.watch(p, {"labelSelector": "parity=yes", "resourceVersion": since, "timeoutSeconds": "1"})
    out.append(("watch from a list", code, [(e["type"], e["object"]["metadata"]["name"]) for e in events]))
    code, events = t.watch(p, {"labelSelector": "parity=yes", "sendInitialEvents": "true",
                               "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true",
                               "timeoutSeconds": "1"})
    out.append(("watch with initial events", code, [(e["type"], e["object"]["metadata"].get("name"),
                                                     (e["object"]["metadata"].get("annotations") or {})
                                                     .get("k8s.io/initial-events-end")) for e in events]))
    t.compact()
    code, events = t.watch(p, {"labelSelector": "parity=yes", "resourceVersion": since, "timeoutSeconds": "1"})
    out.append(("watch from before compaction", code,
                [(e["type"], e["object"].get("code"), reason(e["object"])) for e in events]))
    code, relisted = t.request("GET", p, params={"labelSelector": "parity=yes"})
    out.append(("relist", code, names(relisted)))
    return out


def terminating_namespace(t: Target, ns: str) -> Transcript:
    out, doomed = [], f"{ns}-doomed"
    t.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": doomed}})
    t.request("POST", widgets(doomed), widget("held", finalizers=["parity.rejoinder.dev/hold"]))
    code, _ = t.request("DELETE", f"/api/v1/namespaces/{doomed}")
    code, namespace = t.request("GET", f"/api/v1/namespaces/{doomed}")
    out.append(("a namespace being deleted", code, (namespace.get("status") or {}).get("phase"),
                bool(namespace["metadata"].get("deletionTimestamp"))))
    code, refused = t.request("POST", configmaps(doomed), configmap("late"))
    out.append(("create in it", code, reason(refused)))
    t.request("PATCH", f"{widgets(doomed)}/held", {"metadata": {"finalizers": None}}, content_type=MERGE)
    return out


def stored_forms(t: Target, ns: str) -> Transcript:
    """What the apiserver stores of what it was sent: numbers under fractional bounds, and the
    `false` of a plain bool (omitempty) in a pod template."""
    out: Transcript = []
    for ratio in (0, 0.0, 1):
        code, body = t.request("POST", widgets(ns), {**widget(f"r{str(ratio).replace('.', '-')}"),
                                                      "spec": {"size": 1, "ratio": ratio}})
        out.append(("a number under minimum 0.5", repr(ratio), code, reason(body)))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": LABEL},
                  "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                      "metadata": {"labels": {"app": "d"}},
                      "spec": {"hostNetwork": False, "containers": [{
                          "name": "c", "image": "registry.invalid/none:1", "tty": False,
                          "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": False}]}],
                               "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "c", "readOnly": False}}]}}}}
    code, stored = t.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    pod = stored["spec"]["template"]["spec"]
    out.append(("false bools of a pod template", code, "hostNetwork" in pod, "tty" in pod["containers"][0],
                pod["containers"][0]["volumeMounts"][0], pod["volumes"][0]["persistentVolumeClaim"]))
    return out


SCENARIOS: dict[str, Callable[[Target, str], Transcript]] = {
    f.__name__: f for f in (create_and_update, status_subresource, finalizers, selectors, pagination, watches,
                            terminating_namespace, stored_forms)}
