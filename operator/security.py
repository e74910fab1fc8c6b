"""The one place that hardens every pod the operator creates.

Every pod runs as a non-root user with a read-only root filesystem, no capabilities, no
privilege escalation and the runtime's default seccomp profile. Writable places are an emptyDir
at /tmp (HOME points there) and the artifacts volume.
"""

from __future__ import annotations

from typing import Any

TMP_VOLUME = "tmp"


def container_security_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def harden_pod_spec(pod_spec: dict[str, Any], uid: int) -> dict[str, Any]:
    """Return `pod_spec` with the security settings and the writable /tmp added to every container."""
    spec = dict(pod_spec)
    spec["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        # chown the artifacts volume only when its root is not ours already: a recursive chown of
        # a large PVC at every pod start delays training by minutes
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec["automountServiceAccountToken"] = False  # no pod of ours talks to the API server
    volumes = list(spec.get("volumes") or [])
    if not any(v.get("name") == TMP_VOLUME for v in volumes):
        volumes.append({"name": TMP_VOLUME, "emptyDir": {}})
    spec["volumes"] = volumes
    for key in ("initContainers", "containers"):
        if key not in spec:
            continue
        hardened = []
        for container in spec[key]:
            c = dict(container)
            c["securityContext"] = container_security_context(uid)
            mounts = list(c.get("volumeMounts") or [])
            if not any(m.get("mountPath") == "/tmp" for m in mounts):
                mounts.append({"name": TMP_VOLUME, "mountPath": "/tmp"})
            c["volumeMounts"] = mounts
            env = [e for e in c.get("env") or [] if e.get("name") != "HOME"]
            c["env"] = env + [{"name": "HOME", "value": "/tmp"}]
            hardened.append(c)
        spec[key] = hardened
    return spec


def pod_spec_problems(pod_spec: dict[str, Any]) -> list[str]:
    """What is missing from a pod spec's hardening (empty when it is hardened); used by tests."""
    problems = []
    pod_ctx = pod_spec.get("securityContext") or {}
    if pod_ctx.get("runAsNonRoot") is not True:
        problems.append("pod: runAsNonRoot is not true")
    if (pod_ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("pod: seccompProfile is not RuntimeDefault")
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for key in ("initContainers", "containers"):
        for c in pod_spec.get(key) or []:
            ctx = c.get("securityContext") or {}
            name = c.get("name", "?")
            if ctx.get("runAsNonRoot") is not True:
                problems.append(f"{name}: runAsNonRoot is not true")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name}: readOnlyRootFilesystem is not true")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: allowPrivilegeEscalation is not false")
            if (ctx.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{name}: capabilities do not drop ALL")
            if (ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{name}: seccompProfile is not RuntimeDefault")
            tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
                problems.append(f"{name}: no writable emptyDir at /tmp")
    return problems
