"""What the kube-apiserver checks and normalises on every write of a built-in object, beyond
custom-resource schemas (schema.py): object names, label keys and values, the OpenAPI schema of
built-in kinds (kubernetes-validate's bundled schemas), resource quantities (stored canonical,
requests not above limits) and the labels the Job API adds to its pod template.

Every check answers like the apiserver: a list of (field path, message) causes for a 422 Invalid.
Where this is looser or stricter than the real apiserver is said next to the check.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterator

from .quantity import QuantityError, canonical, value
from .schema import Cause

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

# Resources whose names are DNS-1035 labels (apimachinery's ValidateServiceName / namespace names).
DNS1035_NAMED = {("", "services"), ("", "namespaces")}
KUBERNETES_VERSION = "1.35.0"  # the schemas kubernetes-validate bundles for the emulated server
# Pod templates inside built-in workloads, by kind: where `spec.template.spec` (or deeper) is.
_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"), "ReplicaSet": ("spec", "template"), "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"), "Job": ("spec", "template"), "ReplicationController": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"), "PodTemplate": ("template",),
}


def dns1123_subdomain(name: str) -> list[str]:
    problems = []
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(name):
        problems.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                        "'-' or '.', and must start and end with an alphanumeric character")
    return problems


def dns1035_label(name: str) -> list[str]:
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(name):
        problems.append("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                        "an alphabetic character, and end with an alphanumeric character")
    return problems


def label_value(text: str) -> list[str]:
    problems = []
    if len(text) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL_VALUE.match(text):
        problems.append("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                        "or '.', and must start and end with an alphanumeric character")
    return problems


def label_key(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        problems.append(f"prefix part {dns1123_subdomain(prefix)[-1] if dns1123_subdomain(prefix) else ''}")
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        problems.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                        "end with an alphanumeric character (at most 63 characters)")
    return problems


def name_causes(group: str, plural: str, name: str, field: str = "metadata.name") -> list[Cause]:
    check = dns1035_label if (group, plural) in DNS1035_NAMED else dns1123_subdomain
    return [Cause(field, f"Invalid value: {name!r}: {p}") for p in check(name)]


def label_causes(labels: Any, field: str) -> list[Cause]:
    causes = []
    for key, val in (labels or {}).items():
        causes += [Cause(field, f"Invalid value: {key!r}: {p}") for p in label_key(str(key))]
        if not isinstance(val, str):
            causes.append(Cause(f"{field}.{key}", f"Invalid value: {val!r}: label values are strings"))
            continue
        causes += [Cause(f"{field}.{key}", f"Invalid value: {val!r}: {p}") for p in label_value(val)]
    return causes


def _pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(field path, pod spec, template metadata) of a Pod or a built-in workload's pod template."""
    kind = obj.get("kind")
    if kind == "Pod":
        if isinstance(obj.get("spec"), dict):
            yield "spec", obj["spec"], None
        return
    path = _TEMPLATE_PATHS.get(kind or "")
    if path is None:
        return
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get("spec"), dict):
        yield ".".join(path) + ".spec", node["spec"], node.get("metadata")


# Plain (not pointer) Go bools with `omitempty` in a pod spec: the apiserver stores `false` as
# nothing, so an object read back has no such key (a client comparing "desired ⊆ stored" must
# not send them).
_POD_FALSE_OMITTED = ("hostNetwork", "hostPID", "hostIPC")
_CONTAINER_FALSE_OMITTED = ("stdin", "stdinOnce", "tty")


def drop_false_bools(pod_spec: dict[str, Any]) -> None:
    """Remove, in place, the `false` values the apiserver does not store (see above)."""
    for key in _POD_FALSE_OMITTED:
        if pod_spec.get(key) is False:
            del pod_spec[key]
    for volume in pod_spec.get("volumes") or []:
        claim = volume.get("persistentVolumeClaim") if isinstance(volume, dict) else None
        if isinstance(claim, dict) and claim.get("readOnly") is False:
            del claim["readOnly"]
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            for flag in _CONTAINER_FALSE_OMITTED:
                if container.get(flag) is False:
                    del container[flag]
            for mount in container.get("volumeMounts") or []:
                if isinstance(mount, dict) and mount.get("readOnly") is False:
                    del mount["readOnly"]


def normalise_resources(pod_spec: dict[str, Any], field: str) -> list[Cause]:
    """Canonicalise every container's requests/limits in place; requests above limits are invalid.

    Looser than the apiserver: no check that extended resources (nvidia.com/gpu) are integers
    requested only with equal limits, nor of hugepages and overcommit rules."""
    causes = []
    for key in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(key) or []):
            resources = container.get("resources") if isinstance(container, dict) else None
            if not isinstance(resources, dict):
                continue
            where = f"{field}.{key}[{i}].resources"
            for part in ("requests", "limits"):
                for resource, amount in list((resources.get(part) or {}).items()):
                    try:
                        resources[part][resource] = canonical(amount)
                    except QuantityError as error:
                        causes.append(Cause(f"{where}.{part}[{resource}]", f"Invalid value: {amount!r}: {error}"))
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            for resource, amount in requests.items():
                if resource in limits and not causes:
                    if value(amount) > value(limits[resource]):
                        causes.append(Cause(f"{where}.requests", f"Invalid value: {amount!r}: must be less than "
                                                                 f"or equal to {resource} limit of {limits[resource]}"))
    return causes


def schema_causes(obj: dict[str, Any]) -> list[Cause]:
    """The built-in kind's OpenAPI schema (strict: unknown fields are errors).

    Stricter than a real apiserver, which by default (fieldValidation=Warn) drops unknown fields of
    built-in objects with a warning: a misspelled field in the operator's builders must fail here."""
    validator = _validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if validator is None:  # a kind the bundled schemas do not know: not validated
        return []
    return [Cause(".".join(str(p) for p in error.absolute_path) or "<root>", error.message)
            for error in validator.iter_errors(obj)]


@functools.lru_cache(maxsize=256)
def _validator(api_version: str, kind: str) -> Any:
    """kubernetes-validate's bundled strict schema of one kind, as a reusable jsonschema validator."""
    import jsonschema
    import kubernetes_validate.utils as kv
    from referencing import Registry, Resource

    schema_dir = f"v{KUBERNETES_VERSION}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", KUBERNETES_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def admit_builtin(group: str, plural: str, obj: dict[str, Any]) -> list[Cause]:
    """Name, labels, quantities and schema of a built-in object; normalises quantities in place."""
    meta = obj.get("metadata") or {}
    causes = name_causes(group, plural, str(meta.get("name", "")))
    causes += label_causes(meta.get("labels"), "metadata.labels")
    for field, pod_spec, template_meta in _pod_specs(obj):
        drop_false_bools(pod_spec)
        causes += normalise_resources(pod_spec, field)
        if template_meta is not None:
            causes += label_causes(template_meta.get("labels"), field.rsplit(".", 1)[0] + ".metadata.labels")
    if obj.get("kind") == "Job":
        # The Job API labels its pod template with the Job's name (controller-uid, job-name):
        # a name that is not a valid label value fails there.
        name = str(meta.get("name", ""))
        for key in ("batch.kubernetes.io/job-name", "job-name"):
            causes += [Cause(f"spec.template.metadata.labels[{key}]", f"Invalid value: {name!r}: {p}")
                       for p in label_value(name)]
    if not causes:
        causes += schema_causes(obj)
    return causes


def custom_resource_name_causes(name: str) -> list[Cause]:
    """Custom resources: names are DNS-1123 subdomains."""
    return [Cause("metadata.name", f"Invalid value: {name!r}: {p}") for p in dns1123_subdomain(name)]
