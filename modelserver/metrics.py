"""Prometheus metrics of the model server, served on their own HTTP port (text format).

The operator's autoscaler reads `rejoinder_requests_total` (sum over method and code per pod,
differentiated over time = RPS). Each server owns its registry, so several servers can run in
one process (tests) without clashing.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
EFFICIENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class ServerMetrics:
    """All metrics of one server; also the batchifier's BatchObserver."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rejoinder_requests", "RPCs answered, by method and gRPC status code.", ["method", "code"], registry=r
        )
        self.latency = Histogram(
            "rejoinder_request_duration_seconds", "Time to answer an RPC.", ["method"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("rejoinder_in_flight_requests", "RPCs being handled now.", ["method"], registry=r)
        self.queue_depth = Gauge(
            "rejoinder_queue_depth", "Requests waiting in a batchifier queue.", ["batcher"], registry=r
        )
        self.queue_wait = Histogram(
            "rejoinder_queue_wait_seconds", "Time a request waited before its batch started.", ["batcher"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            "rejoinder_batch_size", "Rows (contexts, pairs or sessions) per model call.", ["batcher"],
            buckets=BATCH_BUCKETS, registry=r,
        )
        self.batch_requests = Histogram(
            "rejoinder_batch_requests", "Requests per model call.", ["batcher"], buckets=BATCH_BUCKETS, registry=r
        )
        # Tune spec.serving.batching.sequenceBuckets from these: padded/real is the encoder work
        # per useful token; the mean padded length per row is padded tokens / batch_size_sum.
        self.batch_tokens = Counter(
            "rejoinder_batch_tokens",
            "Tokens the model ran on, by kind: real (the requests' own, [CLS]/[SEP] included) or padded "
            "(rows × the batch's sequence bucket; the rows padding a batch to its compiled size not counted).",
            ["batcher", "kind"], registry=r,
        )
        self.padding_efficiency = Histogram(
            "rejoinder_batch_padding_efficiency", "Real tokens / padded tokens per model call.", ["batcher"],
            buckets=EFFICIENCY_BUCKETS, registry=r,
        )
        self.batch_duration = Histogram(
            "rejoinder_batch_duration_seconds", "Model compute time per batch.", ["batcher", "outcome"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.model_info = Gauge(
            "rejoinder_model_info", "What this server serves (value 1).",
            ["name", "namespace", "task", "model_version", "index_version", "reranker_version"], registry=r,
        )
        self.ready = Gauge("rejoinder_ready", "1 when loaded, warmed up and SERVING; 0 otherwise.", registry=r)
        self.warmup_seconds = Gauge("rejoinder_warmup_seconds", "Time spent loading and warming up.", registry=r)
        self.compiled_shapes = Gauge(
            "rejoinder_compiled_shapes", "(batch size, sequence length) shapes compiled at warm-up.", registry=r
        )
        # The canary's input (issue 16): counted once each reaction is fsync'd, duplicates not counted.
        self.feedback = Counter(
            "rejoinder_feedback", "User reactions recorded durably, by served version (model+reranker) and reaction.",
            ["version", "reaction"], registry=r,
        )
        self.feedback_duplicates = Counter(
            "rejoinder_feedback_duplicates", "Reactions answered duplicate=true (already recorded; not logged again).",
            ["reaction"], registry=r,
        )
        self.reaction_log_write = Histogram(
            "rejoinder_reaction_log_write_seconds", "Write + flush + fsync of one group-commit batch.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.reaction_log_batch = Histogram(
            "rejoinder_reaction_log_batch_records", "Reactions per group-commit batch.", buckets=BATCH_BUCKETS, registry=r,
        )
        self.reaction_log_bytes = Counter(
            "rejoinder_reaction_log_bytes", "Bytes written (and fsync'd) to reaction segments.", registry=r
        )
        self.reaction_log_queue = Gauge(
            "rejoinder_reaction_log_queue_depth", "Reactions waiting for the log writer.", registry=r
        )
        self.reaction_log_errors = Counter(
            "rejoinder_reaction_log_errors", "Reactions refused by the log: queue_full or disk.", ["kind"], registry=r
        )

    # --- BatchObserver ---------------------------------------------------------------------

    def queue_depth_changed(self, batcher: str, depth: int) -> None:
        self.queue_depth.labels(batcher).set(depth)

    def batch_started(
        self, batcher: str, rows: int, requests: int, queue_waits: Sequence[float], real_tokens: int, padded_tokens: int
    ) -> None:
        self.batch_size.labels(batcher).observe(rows)
        if padded_tokens > 0:
            self.batch_tokens.labels(batcher, "real").inc(real_tokens)
            self.batch_tokens.labels(batcher, "padded").inc(padded_tokens)
            self.padding_efficiency.labels(batcher).observe(real_tokens / padded_tokens)
        self.batch_requests.labels(batcher).observe(requests)
        wait = self.queue_wait.labels(batcher)
        for seconds in queue_waits:
            wait.observe(seconds)

    def batch_finished(self, batcher: str, seconds: float, ok: bool) -> None:
        self.batch_duration.labels(batcher, "ok" if ok else "error").observe(seconds)

    # --- reaction_log.LogObserver (called from the writer thread; prometheus_client is thread-safe) ---

    def log_queue_depth(self, depth: int) -> None:
        self.reaction_log_queue.set(depth)

    def log_batch_written(self, records: int, nbytes: int, seconds: float) -> None:
        self.reaction_log_write.observe(seconds)
        self.reaction_log_batch.observe(records)
        self.reaction_log_bytes.inc(nbytes)

    def log_error(self, kind: str) -> None:
        self.reaction_log_errors.labels(kind).inc()

    # --- the rest ----------------------------------------------------------------------------

    def set_model_info(self, labels: Mapping[str, str]) -> None:
        self.model_info.labels(**{k: labels.get(k, "") for k in self.model_info._labelnames}).set(1)

    def serve_http(self, port: int, host: str = "0.0.0.0"):
        """Start the /metrics HTTP server in a daemon thread; returns (server, thread)."""
        return start_http_server(port, addr=host, registry=self.registry)
