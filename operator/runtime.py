"""The process-wide state of a running operator: API clients, per-model locks and coalescing,
the statuses it wrote last, the creates the apiserver refused and cached discovery answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Mapping, Optional

import aiohttp

from rejoinder.api.spec import GROUP, PLURAL, VERSION

from . import rejections, staleness
from .child_kinds import ChildKind
from .indexes import ModelKey
from .kube import Credentials, Kube, path_for
from .settings import OperatorSettings

DISCOVERY_SECONDS = 30.0  # how long an answer about an optional API (MPIJob, ScaledObject) is kept


class OperatorRuntime:
    def __init__(self, settings: OperatorSettings):
        self.settings = settings
        self.kube: Optional[Kube] = None
        self.http: Optional[aiohttp.ClientSession] = None  # scrapes of model-server pods, Prometheus
        self._served: dict[tuple[str, str], tuple[float, bool]] = {}
        self._locks: dict[ModelKey, asyncio.Lock] = {}
        self._running: set[ModelKey] = set()
        self._again: set[ModelKey] = set()
        # The status this operator wrote last, by model: a body from a watch can lag behind it.
        self.written: dict[ModelKey, staleness.Written] = {}
        # Creates the apiserver refused, by model (see rejections.py).
        self.rejected: dict[ModelKey, dict[rejections.Key, rejections.Rejection]] = {}

    def newest_status(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        status, ahead = staleness.newest_status(body, self.written.get(key))
        if not ahead:
            self.written.pop(key, None)
        return status

    async def write_status(self, key: ModelKey, patch: Mapping[str, Any]) -> None:
        """Merge-patch a DialogModel's status and remember what the apiserver stored (staleness.py)."""
        assert self.kube is not None
        written = await self.kube.merge_patch(path_for(f"{GROUP}/{VERSION}", PLURAL, key[0], key[1], "status"),
                                              {"status": dict(patch)})
        rv = str(((written or {}).get("metadata") or {}).get("resourceVersion") or "")
        if rv:  # opaque: compared for equality only
            self.written[key] = staleness.Written(rv, dict((written or {}).get("status") or {}))

    def lock(self, key: ModelKey) -> asyncio.Lock:
        """One reconciliation of a model at a time (change handlers, timers and child events)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def forget(self, key: ModelKey) -> None:
        self._locks.pop(key, None)
        self.rejected.pop(key, None)
        self.written.pop(key, None)

    async def coalesce(self, key: ModelKey, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` for a model; events arriving meanwhile cause one more run, not one each."""
        if key in self._running:
            self._again.add(key)
            return
        self._running.add(key)
        try:
            while True:
                self._again.discard(key)
                await run()
                if key not in self._again:
                    break
        finally:
            self._running.discard(key)

    async def start(self) -> None:
        self.kube = Kube(Credentials.load())
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.kube is not None:
            await self.kube.close()
        if self.http is not None:
            await self.http.close()

    async def served(self, child: ChildKind) -> bool:
        """Whether a child kind's API is served (an optional CRD installed), asked at most every 30 s."""
        key = (child.api_version, child.plural)
        checked_at, supported = self._served.get(key, (0.0, False))
        if time.monotonic() - checked_at > DISCOVERY_SECONDS:
            assert self.kube is not None
            supported = await self.kube.served(child.api_version, child.plural)
            self._served[key] = (time.monotonic(), supported)
        return supported
