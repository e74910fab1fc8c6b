"""Run the emulator in its own thread and event loop, and talk to it from synchronous tests."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

import kmock
import yaml

from rejoinder.operator.kube import path_for as api_path  # the operator's own URL rule

from .emulator import KubeEmulator


class EmulatorThread:
    """`with EmulatorThread() as emu:` serves a fresh `KubeEmulator` on 127.0.0.1 at `emu.url`."""

    def __init__(self, emulator: Optional[KubeEmulator] = None) -> None:
        access = logging.getLogger("aiohttp.access")
        if access.level == logging.NOTSET:  # one INFO line per API request drowns every other log
            access.setLevel(logging.WARNING)
        self.emulator = emulator if emulator is not None else KubeEmulator()  # an empty emulator is falsy
        self.url = ""
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="k8s-emulator", daemon=True)

    def __enter__(self) -> "EmulatorThread":
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # surfaced to the test in __enter__
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.emulator, kmock.Server(self.emulator) as server:
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the emulator's event loop (its state is not thread-safe) and return its result."""
        assert self._loop is not None

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    @property
    def client(self) -> "Client":
        return Client(self.url)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig pointing at the emulator (no auth), for kopf, kubectl and the Python client."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester", "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path


class ApiFailure(Exception):
    def __init__(self, code: int, body: dict[str, Any]):
        super().__init__(f"{code} {body.get('reason')}: {body.get('message')}")
        self.code, self.body = code, body

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))


class Client:
    """A tiny synchronous HTTP client for tests (what kubectl would do)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None,
                content_type: str = "application/json", headers: dict[str, str] | None = None) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
                if response.headers.get_content_type() == "application/json":
                    return json.loads(raw)
                return raw.decode()
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                body_json = json.loads(payload)
            except ValueError:
                body_json = {"message": payload.decode(errors="replace")}
            raise ApiFailure(error.code, body_json) from None

    def get(self, api_version: str, plural: str, namespace: str | None, name: str) -> Optional[dict[str, Any]]:
        try:
            return self.request("GET", api_path(api_version, plural, namespace, name))
        except ApiFailure as error:
            if error.code == 404:
                return None
            raise

    def list(self, api_version: str, plural: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", api_path(api_version, plural, namespace), params=params)["items"]

    def create(self, obj: dict[str, Any], plural: str) -> dict[str, Any]:
        ns = (obj.get("metadata") or {}).get("namespace")
        return self.request("POST", api_path(obj["apiVersion"], plural, ns), obj)

    def patch(self, api_version: str, plural: str, namespace: str | None, name: str, patch: Any,
              subresource: str | None = None) -> dict[str, Any]:
        ctype = "application/json-patch+json" if isinstance(patch, list) else "application/merge-patch+json"
        return self.request("PATCH", api_path(api_version, plural, namespace, name, subresource), patch,
                            content_type=ctype)

    def patch_status(self, api_version: str, plural: str, namespace: str | None, name: str,
                     status: dict[str, Any]) -> dict[str, Any]:
        return self.patch(api_version, plural, namespace, name, {"status": status}, subresource="status")

    def delete(self, api_version: str, plural: str, namespace: str | None, name: str) -> Any:
        return self.request("DELETE", api_path(api_version, plural, namespace, name))

    def apply_file(self, path: Path) -> list[dict[str, Any]]:
        """Create every document of a YAML file (CRDs and namespaced objects; plural = kind + s)."""
        created = []
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            plural = "customresourcedefinitions" if doc["kind"] == "CustomResourceDefinition" else doc["kind"].lower() + "s"
            created.append(self.create(doc, plural))
        return created
