"""Compacting the control plane's etcd, as the apiserver does every five minutes on a real cluster
(--etcd-compaction-interval): revisions before it are gone, so a watch or a list continuation
from one of them is answered 410 Gone. Through etcd's JSON gateway (no client library needed)."""

from __future__ import annotations

import json
import urllib.request


def _post(port: int, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def revision(port: int) -> int:
    """etcd's current revision (what the apiserver hands out as resourceVersions)."""
    header = _post(port, "/v3/kv/range", {"key": "AA==", "limit": 1})["header"]
    return int(header["revision"])  # type: ignore[index]


def compact(port: int, at: int | None = None) -> int:
    """Compact at revision `at` (default: the current one), physically; the revision compacted at."""
    at = at or revision(port)
    _post(port, "/v3/kv/compaction", {"revision": str(at), "physical": True})
    return at
