"""tests/helm imports its helpers as `tests.helm.*` and the emulator helper package
(tests/k8s_emulator) as `k8s_emulator`, the same way the operator tests import it, so both share
one copy of its classes. Both roots go on sys.path here, so a plain `pytest tests/helm` works
as well as `python -m pytest`."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
for path in (str(_ROOT), str(_ROOT / "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)
