"""Calls through the `kubernetes` client that return plain dicts: the client's generated models
reject some valid objects (a CRD status without conditions, for one), and tests compare dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from kubernetes import client, config


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`call(*args, **kwargs)` without the client's models: the response body as a dict."""
    response = call(*args, _preload_content=False, **kwargs)
    data = response.data
    return json.loads(data) if data else {}
