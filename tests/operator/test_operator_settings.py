"""Operator settings: environment variables with documented defaults, flags over them."""

from __future__ import annotations

import argparse

import pytest

from rejoinder.cli import build_parser
from rejoinder.cli.operator import settings_from
from rejoinder.operator.settings import OperatorSettings


def test_defaults_and_environment() -> None:
    d = OperatorSettings.from_env({})
    assert d.resync_seconds == 10 and d.autoscale_seconds == 15 and d.namespaces == ()
    assert d.health_port == 8080 and d.metrics_port == 9090 and d.prometheus_url is None
    s = OperatorSettings.from_env({"REJOINDER_WATCH_NAMESPACES": "a, b,", "REJOINDER_TRAINER_IMAGE": "t:1",
                                   "REJOINDER_MODEL_SERVER_IMAGE": "s:1", "REJOINDER_PROMETHEUS_URL": "http://p:9090",
                                   "REJOINDER_RESYNC_SECONDS": "2.5"})
    assert s.namespaces == ("a", "b") and s.trainer_image == "t:1" and s.model_server_image == "s:1"
    assert s.prometheus_url == "http://p:9090" and s.resync_seconds == 2.5
    with pytest.raises(ValueError, match="invalid operator setting"):
        OperatorSettings.from_env({"REJOINDER_HEALTH_PORT": "eighty"})


def test_metrics_url_from_the_pod() -> None:
    s = OperatorSettings()
    assert s.metrics_url({"metadata": {"name": "p"}, "status": {"podIP": "10.1.2.3"}}) == "http://10.1.2.3:9090/metrics"
    assert s.metrics_url({"metadata": {"name": "p"}, "status": {}}) is None


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REJOINDER_TRAINER_IMAGE", "from-env:1")
    monkeypatch.setenv("REJOINDER_WATCH_NAMESPACES", "env-ns")
    args = build_parser().parse_args(["operator", "-n", "x", "-n", "y", "--model-server-image", "flag:2"])
    assert isinstance(args, argparse.Namespace)
    s = settings_from(args)
    assert s.namespaces == ("x", "y") and s.model_server_image == "flag:2" and s.trainer_image == "from-env:1"
