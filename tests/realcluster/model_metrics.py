"""What model-server pods' /metrics would answer, served by the test: kwok runs no server, so the
chart's `operator.modelServerMetricsUrl` points the operator here (its scrapes for autoscaling and
canary judgement are real HTTP requests). Each namespace's answers come from a function of the
pod's name; a namespace without one answers zero requests and no feedback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

Exposition = Callable[[str], str]  # pod name → Prometheus text


def requests_total(count: float) -> str:
    return ("# TYPE rejoinder_requests_total counter\n"
            f'rejoinder_requests_total{{method="Respond",code="OK"}} {count}\n')


def feedback_total(version: str, upvotes: int, downvotes: int) -> str:
    return ("# TYPE rejoinder_feedback_total counter\n"
            f'rejoinder_feedback_total{{version="{version}",reaction="upvote"}} {upvotes}\n'
            f'rejoinder_feedback_total{{version="{version}",reaction="downvote"}} {downvotes}\n')


class ModelMetrics:
    def __init__(self) -> None:
        self.by_namespace: dict[str, Exposition] = {}
        self.scrapes: dict[str, int] = {}  # pod → how often it was read
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path).path.strip("/").split("/")  # metrics/<namespace>/<pod>
                if len(parts) != 3 or parts[0] != "metrics":
                    self.send_error(404)
                    return
                _, namespace, pod = parts
                metrics.scrapes[pod] = metrics.scrapes.get(pod, 0) + 1
                answer = metrics.by_namespace.get(namespace, lambda _: requests_total(0))
                body = answer(pod).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="model-metrics", daemon=True)

    @property
    def url_template(self) -> str:
        """The chart's operator.modelServerMetricsUrl (its schema wants {pod_ip} in it)."""
        return f"http://127.0.0.1:{self.port}/metrics/{{namespace}}/{{pod_name}}?ip={{pod_ip}}"

    def __enter__(self) -> "ModelMetrics":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
