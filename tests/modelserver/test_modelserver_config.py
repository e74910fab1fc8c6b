"""Serving configuration is resolved once: spec.serving (or the API's defaults), then flags."""

from __future__ import annotations

from rejoinder.api.spec import BatchingSpec, DialogModelSpec, ServingSpec
from rejoinder.modelserver.config import BatchingConfig, ServingFlags, resolve_serving
from rejoinder.modelserver.loading import LoadRequest
from rejoinder.modelserver.validation import Limits


def _spec(**serving) -> DialogModelSpec:
    return DialogModelSpec.model_validate({"task": "retrieval", "data": {"preset": "chatterbot", "maxContextTurns": 6},
                                           "serving": serving})


def test_without_a_spec_the_api_defaults_apply_everywhere():
    api, b = ServingSpec(), BatchingSpec()
    config = resolve_serving(None)
    assert config.batching == BatchingConfig() == BatchingConfig(
        b.max_batch_size, b.max_queue_delay_ms / 1000.0, b.queue_capacity, None, b.max_batch_tokens)
    assert (config.precision, config.xla, config.top_k, config.gpu) == (api.mixed_precision, api.xla, api.top_k, False)
    request = LoadRequest(bundle_dir=".")
    assert (request.precision, request.xla, request.max_batch_size) == (config.precision, config.xla, b.max_batch_size)
    assert (Limits().default_top_k, Limits().max_context_turns) == (config.top_k, config.max_context_turns)


def test_the_spec_then_the_flags():
    spec = _spec(batching={"maxBatchSize": 16, "maxQueueDelayMs": 2, "sequenceBuckets": [8, 16]},
                 mixedPrecision="bfloat16", xla=False, topK=7, gpus=1)
    config = resolve_serving(spec)
    assert config.batching == BatchingConfig(16, 0.002, 1024, (8, 16), None)
    assert (config.precision, config.xla, config.top_k, config.max_context_turns, config.gpu) == (
        "bfloat16", False, 7, 6, True)
    flagged = resolve_serving(spec, ServingFlags(max_batch_size=4, max_delay_ms=0.0, precision="none", xla=True,
                                                 top_k=3, max_batch_tokens=64))
    assert flagged.batching == BatchingConfig(4, 0.0, 1024, (8, 16), 64)
    assert (flagged.precision, flagged.xla, flagged.top_k, flagged.gpu) == ("none", True, 3, True)


def test_a_pinned_reranker_version_is_served_instead_of_the_newest(tmp_path):
    import os

    import pytest

    from rejoinder.api import parse_dialog_model
    from rejoinder.modelserver.locate import NotFound, layout_of, reranker_bundle

    doc = {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": "chat", "namespace": "t"},
           "spec": {"task": "retrieval", "data": {"preset": "chatterbot"}, "storage": {"path": str(tmp_path)},
                    "serving": {"reranker": "rerank"}}}
    model = parse_dialog_model(doc)
    layout = layout_of(model, "rerank")
    for n, version in enumerate(("v-old", "v-new")):
        manifest = layout.version(version).export_dir / "manifest.json"
        manifest.parent.mkdir(parents=True)
        manifest.write_text('{"created": "2026-12-0%dT00:00:00Z"}' % (n + 1))
        os.utime(manifest, (n, n))
    assert reranker_bundle(model) == layout.version("v-new").export_dir
    assert reranker_bundle(model, "v-old") == layout.version("v-old").export_dir  # the stable keeps its own
    with pytest.raises(NotFound, match="version v-none: no finished export"):
        reranker_bundle(model, "v-none")
    doc["spec"]["serving"] = {}
    with pytest.raises(NotFound, match="spec.serving.reranker is not set"):
        reranker_bundle(parse_dialog_model(doc), "v-old")
