"""Polling the components' health endpoints (stdlib only: these run before any API client works)."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .certs import KeyPair


def tls_context(ca: Path, client: KeyPair | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def get(url: str, context: ssl.SSLContext | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


class NotReady(RuntimeError):
    pass


def wait_until(what: str, ready: Callable[[], bool], alive: Callable[[], bool], timeout: float) -> None:
    """Poll `ready` until it holds; give up when `alive` says the process died, or after `timeout`
    seconds (generous: the components start slowly on a loaded 2-core machine)."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if not alive():
            raise NotReady(f"{what}: the process exited")
        if time.monotonic() > deadline:
            raise NotReady(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.25)
