"""The one lock, uv.lock, and the environments made from it.

    python .ci/lock.py sync VENV                 # make VENV exactly the lock's virtualenv selection
    python .ci/lock.py check VENV                # exit 1 naming every package that differs from the lock
    python .ci/lock.py pin NAME                  # "NAME==V --hash=..." for a locked package (pip --require-hashes)
    python .ci/lock.py image COMPONENT FLAVOUR   # one image's hashed pins (images/wheelhouse.sh)
    python .ci/lock.py image-local COMPONENT     # the packages that image gets from wheels built here
    python .ci/lock.py metadata-overrides        # packages whose requirements the lock overrides
    python .ci/lock.py upgrade                   # re-resolve to today's newest releases (`make lock`)

uv (its version and hashes are in the lock too, group `tools`) resolves and installs. The
virtualenv holds every extra, the dev tools and the build tools; each image holds its extras.
Two locked packages are built here from their sdists rather than installed by uv: Horovod
(training/install_horovod.sh patches it) and, in the images, YouTokenToMe (no wheel exists).
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "uv.lock"
# What the project virtualenv (`make install`) holds: this selection is the only definition.
VENV_SELECTION = ("--extra", "all", "--extra", "dev", "--group", "build", "--group", "tools")
# Built from source by training/install_horovod.sh after uv has installed everything else.
BUILT_BY_SCRIPT = ("horovod",)
# Each image's extras (images/<component>/Dockerfile installs what `image` prints).
IMAGE_EXTRAS = {
    "operator": ("operator",),
    "model-server": ("serving",),
    "trainer": ("training", "serving", "minilm", "horovod"),
}
FLAVOURS = ("cpu", "cuda")
# Images with TensorFlow and FAISS; the cuda flavour adds the gpu extra to them. faiss-cpu and
# faiss-gpu-cu12 both provide the `faiss` module, so exactly one may be installed.
GPU_CAPABLE = {"model-server", "trainer"}
CPU_ONLY = ("faiss-cpu",)
# Wheels built on the host (no wheel on PyPI, or a patched build): installed in the images with
# --no-deps after the hashed pins, which already hold their dependencies.
BUILT_HERE = ("youtokentome", "horovod")
# Of the `build` group, what an image needs: setuptools and wheel build rejoinder itself inside it.
IMAGE_BUILD_TOOLS = ("setuptools", "wheel")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_lock(path: Path = LOCK) -> dict:
    return tomllib.loads(path.read_text())


def locked_package(lock: dict, name: str) -> dict:
    for package in lock["package"]:
        if package["name"] == normalize(name):
            return package
    raise KeyError(f"{name} is not in {LOCK.name}")


def hashed_pin(lock: dict, name: str) -> str:
    """A pip requirement line that accepts only the locked version's files."""
    package = locked_package(lock, name)
    files = list(package.get("wheels", [])) + ([package["sdist"]] if "sdist" in package else [])
    hashes = " ".join(f"--hash={f['hash']}" for f in files)
    return f"{package['name']}=={package['version']} {hashes}"


@dataclass(frozen=True)
class Difference:
    name: str
    locked: str | None
    installed: str | None

    def __str__(self) -> str:
        if self.installed is None:
            return f"{self.name}: locked {self.locked}, not installed"
        if self.locked is None:
            return f"{self.name}: installed {self.installed}, not in the lock"
        return f"{self.name}: locked {self.locked}, installed {self.installed}"


def parse_pins(exported: str) -> dict[str, str]:
    """name -> version from `uv export --no-hashes` output (markers are already this platform's)."""
    pins: dict[str, str] = {}
    for line in exported.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = line.split(";", 1)[0].strip()
        name, sep, version = requirement.partition("==")
        if not sep:
            raise ValueError(f"not an exact pin in the export: {line!r}")
        pins[normalize(name)] = version.strip()
    return pins


def compare(locked: dict[str, str], installed: dict[str, str], ignore: tuple[str, ...] = ()) -> list[Difference]:
    """Every package whose installed version is not the locked one, or that only one side has."""
    skip = {normalize(n) for n in ignore}
    names = sorted((set(locked) | set(installed)) - skip)
    return [Difference(n, locked.get(n), installed.get(n)) for n in names if locked.get(n) != installed.get(n)]


def _uv(venv: Path) -> Path:
    return venv / "bin" / "uv"


def _run(args: list, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    # PYTHONSAFEPATH: the repository's operator/ would shadow the stdlib module for any Python
    # started here.
    env = {**(env or os.environ), "PYTHONSAFEPATH": "1"}
    return subprocess.run([str(a) for a in args], check=True, cwd=REPO, env=env, **kwargs)


def _env(venv: Path) -> dict[str, str]:
    # uv syncs the virtualenv it is told, not one it finds; and never the network's newest.
    return {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv.absolute()), "UV_NO_PROGRESS": "1"}


def export(venv: Path, *selection: str, hashes: bool = False, omit: tuple[str, ...] = ()) -> str:
    args = [_uv(venv), "export", "--frozen", "--format", "requirements-txt", "--no-emit-project",
            "--no-header", "--no-annotate", "--no-default-groups", *selection]
    args += [] if hashes else ["--no-hashes"]
    for name in omit:
        args += ["--no-emit-package", name]
    return _run(args, capture_output=True, text=True, env=_env(venv)).stdout


def installed_versions(python: Path) -> dict[str, str]:
    probe = ("import importlib.metadata as m, json\n"
             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    import json

    out = _run([python, "-c", probe], capture_output=True, text=True).stdout
    return {normalize(k): v for k, v in json.loads(out).items()}


def bootstrap_uv(venv: Path, lock: dict) -> None:
    """uv at the locked version, into the virtualenv, checked against the lock's hashes."""
    want = locked_package(lock, "uv")["version"]
    if _uv(venv).exists():
        have = _run([_uv(venv), "--version"], capture_output=True, text=True).stdout.split()[1]
        if have == want:
            return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
        requirements.write(hashed_pin(lock, "uv") + "\n")
    try:
        _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "--no-deps", "--require-hashes", "-r", requirements.name])
    finally:
        os.unlink(requirements.name)


def sync(venv: Path, python: str) -> None:
    lock = load_lock()
    if not (venv / "bin" / "python").exists():
        _run([python, "-m", "venv", venv])
    bootstrap_uv(venv, lock)
    env = _env(venv)
    # The build tools first: YouTokenToMe and rejoinder itself are built without isolation, with
    # these locked versions, in the second step.
    _run([_uv(venv), "sync", "--locked", "--no-install-project", "--only-group", "build", "--only-group", "tools",
          "--inexact"], env=env)
    no_install = [arg for name in BUILT_BY_SCRIPT for arg in ("--no-install-package", name)]
    # --inexact: keeps Horovod, which the next step installs, across repeated syncs.
    _run([_uv(venv), "sync", "--locked", *VENV_SELECTION, *no_install, "--inexact"], env=env)


def check(venv: Path) -> list[Difference]:
    locked = parse_pins(export(venv, *VENV_SELECTION))
    installed = installed_versions(venv / "bin" / "python")
    return compare(locked, installed, ignore=("rejoinder",))


def image_selection(component: str, flavour: str) -> list[str]:
    if component not in IMAGE_EXTRAS:
        raise ValueError(f"unknown component {component!r} (expected one of {sorted(IMAGE_EXTRAS)})")
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r} (expected one of {FLAVOURS})")
    extras = list(IMAGE_EXTRAS[component])
    if flavour == "cuda" and component in GPU_CAPABLE:
        extras.append("gpu")
    return [arg for extra in extras for arg in ("--extra", extra)]


def image_requirements(venv: Path, component: str, flavour: str) -> str:
    """The hashed pins one image installs (with --no-deps: the list is the whole closure)."""
    build_group = {d["name"] for d in locked_package(load_lock(), "rejoinder")["dev-dependencies"]["build"]}
    omit = (BUILT_HERE + (CPU_ONLY if flavour == "cuda" and component in GPU_CAPABLE else ())
            + tuple(sorted(build_group - set(IMAGE_BUILD_TOOLS))))
    return export(venv, *image_selection(component, flavour), "--group", "build", hashes=True, omit=omit)


def image_local(venv: Path, component: str) -> list[str]:
    """Locked packages of this image that are built on the host (exact pins, no hashes)."""
    pins = parse_pins(export(venv, *image_selection(component, "cpu")))
    return [f"{name}=={pins[name]}" for name in BUILT_HERE if name in pins]


def metadata_overrides(lock: dict) -> list[str]:
    """Packages whose declared requirements the lock replaces ([tool.uv.dependency-metadata]):
    installed in full from the lock's closure, `pip check` still reads their own metadata."""
    real = {"horovod", "youtokentome"}  # the override restates setup.py: pip check agrees
    return sorted(m["name"] for m in lock["manifest"].get("dependency-metadata", []) if m["name"] not in real)


def main(argv: list[str]) -> int:
    venv = Path(os.environ.get("VENV", REPO / ".venv")).absolute()
    match argv:
        case ["sync", path]:
            sync(Path(path).absolute(), os.environ.get("PYTHON", "python3.11"))
        case ["check", path]:
            differences = check(Path(path).absolute())
            for difference in differences:
                print(f"lock: {difference}", file=sys.stderr)
            if differences:
                print(f"lock: {path} differs from uv.lock in {len(differences)} package(s); "
                      "run `make install` (or `make lock` to change the lock on purpose)", file=sys.stderr)
                return 1
            print(f"lock: {path} matches uv.lock")
        case ["pin", name]:
            print(hashed_pin(load_lock(), name))
        case ["image", component, flavour]:
            print(image_requirements(venv, component, flavour), end="")
        case ["image-local", component]:
            print("\n".join(image_local(venv, component)))
        case ["metadata-overrides"]:
            print("\n".join(metadata_overrides(load_lock())))
        case ["upgrade"]:
            _run([_uv(venv), "lock", "--upgrade"], env=_env(venv))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (ValueError, KeyError) as error:
        print(f".ci/lock.py: {error}", file=sys.stderr)
        sys.exit(2)
