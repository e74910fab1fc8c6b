"""Tiny specs shared by the model tests."""

from __future__ import annotations

from rejoinder.api.spec import DialogModelSpec

TINY_BERT = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 24,
             "contextLength": 16, "responseLength": 8}
TINY_LSTM = {"embeddingDim": 16, "hiddenUnits": 8, "mlpUnits": 16}


def tiny_spec(task: str, architecture: str = "bert", **bert) -> DialogModelSpec:
    return DialogModelSpec.model_validate({
        "task": task,
        "data": {"preset": "chatterbot"},
        "tokenizer": {"vocabSize": 400},
        "model": {"architecture": architecture, "bert": {**TINY_BERT, **bert}, "qaLstm": TINY_LSTM},
        "serving": {"enabled": task != "pretraining"},
    })
