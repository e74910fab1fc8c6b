"""Every pod the chart deploys and every pod the operator creates is hardened the same way:
non-root, read-only root filesystem, all capabilities dropped, RuntimeDefault seccomp, no
privilege escalation. Checked with this file's own reading of the pod specs (helm_support
.security_problems), not with the operator's helper, so a mistake in one is caught by the other.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from rejoinder.operator import security
from tests.helm import operator_objects
from tests.helm.helm_support import pod_specs, render, security_problems
from tests.helm.helm_values import MINIMAL, NON_DEFAULT

CASES = {"default": None, "non-default": NON_DEFAULT, "minimal": MINIMAL}


@pytest.mark.parametrize("case", CASES)
def test_every_pod_the_chart_renders_is_hardened(case: str, tmp_path: Path) -> None:
    pods = [pod for doc in render(CASES[case], tmp_path) for pod in pod_specs(doc)]
    assert pods, "the chart renders at least the operator Deployment"
    for where, pod in pods:
        assert security_problems(where, pod) == []
        # read-only root: whatever is writable is a declared volume
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: no writable /tmp"


def test_the_checker_finds_each_missing_setting() -> None:
    """security_problems is not vacuous: removing any one setting is reported."""
    good = security.harden_pod_spec({"containers": [{"name": "c", "image": "x"}]}, 10001)
    assert security_problems("pod", good) == []
    breakers = [
        lambda p: p["securityContext"].pop("runAsNonRoot") and p["containers"][0]["securityContext"].pop("runAsNonRoot"),
        lambda p: p["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
        lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        lambda p: p["containers"][0]["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
        lambda p: p["containers"][0]["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        lambda p: p["securityContext"].pop("seccompProfile") and p["containers"][0]["securityContext"].pop("seccompProfile"),
        lambda p: p["containers"][0]["securityContext"].update(runAsUser=0),
        lambda p: p.update(hostNetwork=True),
        lambda p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        lambda p: p["containers"][0].update(ports=[{"containerPort": 22, "hostPort": 22}]),
    ]
    for number, breaker in enumerate(breakers):
        pod = copy.deepcopy(good)
        breaker(pod)
        assert security_problems("pod", pod), f"breaker {number} not detected"


def test_operator_hardening_helper_satisfies_the_requirements() -> None:
    pod = security.harden_pod_spec(
        {"initContainers": [{"name": "init", "image": "x"}],
         "containers": [{"name": "a", "image": "x", "securityContext": {"privileged": True}}, {"name": "b", "image": "y"}]},
        10001,
    )
    assert security_problems("pod", pod) == []
    assert security.pod_spec_problems(pod) == []


def test_every_pod_the_operator_builds_is_hardened() -> None:
    objects, _ = operator_objects.build()
    pods = [pod for obj in objects for pod in pod_specs(obj)]
    kinds = {where.split("/")[0] for where, _ in pods}
    assert kinds == {"Job", "MPIJob", "Deployment"}
    assert len([w for w, _ in pods if w.startswith("MPIJob")]) >= 2  # launcher and worker
    for where, pod in pods:
        assert security_problems(where, pod) == []
        assert pod["securityContext"]["runAsUser"] == operator_objects.RUN_AS_USER
        assert pod.get("automountServiceAccountToken") is False, f"{where} mounts an API token"
        assert security.pod_spec_problems(pod) == []


def test_every_pod_builder_of_the_operator_is_checked() -> None:
    """A new function that builds pods in operator/children.py must be added above."""
    import inspect

    from rejoinder.operator import children

    _, used = operator_objects.build()
    builders = {
        name for name, fn in inspect.getmembers(children, inspect.isfunction)
        if fn.__module__ == children.__name__ and not name.startswith("_")
        and ("harden_pod_spec(" in inspect.getsource(fn) or "_training_pod(" in inspect.getsource(fn))
    }
    assert builders and builders <= used, f"unchecked pod builders: {sorted(builders - used)}"
