"""One HTTP client for both servers: the real apiserver (as the admin, over TLS) and the emulator
(plain HTTP, no authentication). Answers are (status code, JSON body); watches are lists of events
read until the server ends the stream (timeoutSeconds)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

Answer = tuple[int, Any]


@dataclass
class Target:
    name: str  # "apiserver" or "emulator"
    base: str
    context: Optional[ssl.SSLContext] = None
    compact: Callable[[], object] = field(default=lambda: None)  # forget history, as etcd compaction does

    def request(self, method: str, path: str, body: Any = None, params: Optional[dict[str, str]] = None,
                content_type: str = "application/json", raw_body: Optional[bytes] = None) -> Answer:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())

    def watch(self, path: str, params: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
        """(status, events) of a watch that the server ends after params["timeoutSeconds"]."""
        url = self.base + path + "?" + urllib.parse.urlencode({"watch": "true", **params})
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=120) as response:
                return response.status, [json.loads(line) for line in response if line.strip()]
        except urllib.error.HTTPError as err:
            return err.code, [_json(err.read())]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode(errors="replace")
