"""tests/helm: the emulator helper package (tests/k8s_emulator) is imported as `k8s_emulator`,
the same way the operator tests import it, so both share one copy of its classes."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
