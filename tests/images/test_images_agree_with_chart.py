"""The chart, the operator and the images agree: every container the chart renders or the
operator's builders create (tests/helm/operator_objects.py) names an image images/build.sh
makes, and each command it runs exists in that image and accepts its subcommand (`--help` of
every `rejoinder` verb, launcher and tool, run inside the image)."""

from __future__ import annotations

import shlex
from collections import defaultdict

import pytest

from images_support import COMPONENTS, image_ref, run_in
from tests.helm.helm_support import pod_specs, render
from tests.helm.operator_objects import build

pytestmark = pytest.mark.images
LAUNCHERS = {"horovodrun", "mpirun"}  # they start the `rejoinder` command later in their argv


def rejoinder_verb(argv: list[str]) -> str | None:
    if "rejoinder" not in argv:
        return None
    rest = argv[argv.index("rejoinder") + 1:]
    return next((arg for arg in rest if not arg.startswith("-")), None)


def checks(argv: list[str]) -> list[str]:
    """Shell commands that succeed in the image only if `argv` can run there."""
    exe = argv[0]
    out = [f"command -v {shlex.quote(exe)} >/dev/null || {{ echo 'missing {exe}'; exit 1; }}"]
    if exe.endswith("sshd"):  # no --help; its config file must be in the image (sshd -t: trainer test)
        out.append(f"test -f {shlex.quote(argv[argv.index('-f') + 1])}")
    elif exe != "rejoinder":
        out.append(f"{shlex.quote(exe)} --help >/dev/null")
    verb = rejoinder_verb(argv)
    if verb:
        out.append(f"rejoinder {shlex.quote(verb)} --help >/dev/null")
    return out


def commands_by_image() -> dict[str, set[tuple[str, ...]]]:
    objects, _ = build()
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for obj in [*render(), *objects]:
        for _, pod in pod_specs(obj):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                argv = [*container.get("command", []), *container.get("args", [])]
                assert argv, f"{container['name']}: no command (would run the image's default)"
                found[container["image"]].add(tuple(argv))
    return found


def test_every_image_the_chart_and_operator_name_is_built_here():
    assert set(commands_by_image()) <= {image_ref(c) for c in COMPONENTS}


def test_every_command_exists_in_the_image_it_names(images):
    for image, commands in sorted(commands_by_image().items()):
        script = sorted({line for argv in commands for line in checks(list(argv))})
        run = run_in(image, ["-c", "set -e\n" + "\n".join(script)], entrypoint=["sh"], timeout=600)
        assert run.returncode == 0, (image, script, run.stdout[-2000:], run.stderr[-3000:])
