"""`rejoinder up`: run a DialogModel's stages as subprocesses on this machine and serve it.

Each stage is the CLI verb the operator's pods run (train under horovodrun when Horovod is
installed, build-index, serve); its output goes to `<version>/logs/<stage>.log` and its progress
lines drive a live, `kubectl get dm`-like status row and `status.json`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import yaml

from ..api import DialogModel
from ..api.status import ConditionType, DialogModelStatus, Phase, TrainingProgress
from ..api.versioning import index_version, model_version
from ..artifacts import ModelLayout, VersionLayout
from ..atomic import write_text
from ..progress_lines import parse_metrics, parse_progress
from . import display, state
from .commands import Endpoint, horovodrun_path, stage_argv
from .fallback import effective_model
from .order import OrderError, bring_up_order
from .stages import PHASE_OF_STAGE, Done, Stage, pending

log = logging.getLogger(__name__)

TAIL_LINES = 20


class StageFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reporter:
    """Keeps status.json current and shows one status row (rewritten in place on a terminal)."""

    model: DialogModel
    root: Path
    status: DialogModelStatus
    tty: bool = sys.stdout.isatty()
    _last_line: str = ""
    _last_save: float = 0.0

    def row(self) -> tuple[str, ...]:
        return display.row(self.model.metadata.name, self.model.spec.task.value, self.status)

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_save > 1.0:
            state.save(self.root, self.status)
            self._last_save = now
        row_text = display.table([self.row()]).splitlines()[-1]
        if self.tty:
            sys.stdout.write("\r\x1b[2K" + row_text[: os.get_terminal_size().columns - 1])
            sys.stdout.flush()
        elif force or self._phase_or_progress_changed(row_text):
            print(row_text, flush=True)
        self._last_line = row_text

    def _phase_or_progress_changed(self, row_text: str) -> bool:
        # Without a terminal, print on every phase change and every ~10 % of training.
        if not self._last_line:
            return True
        if row_text == self._last_line:
            return False
        old, new = self._last_line.split(), row_text.split()
        if old[2:4] != new[2:4]:
            return True
        t = self.status.training
        return bool(t and t.total_steps and t.step and t.step % max(1, t.total_steps // 10) == 0)

    def newline(self) -> None:
        if self.tty:
            sys.stdout.write("\n")


def _run_stage(argv: list[str], log_file: Path, reporter: Reporter) -> None:
    """Run one batch stage to completion, streaming its output into the log and the status."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    log.debug("running %s", " ".join(argv))
    with open(log_file, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        # A new session: the terminal's Ctrl-C reaches `up` alone, which then stops the child.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1, start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip())
                _absorb(line, reporter.status)
                reporter.update()
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
    if code != 0:
        raise StageFailed(f"exit code {code}; last lines of {log_file}:\n" + "\n".join(tail))


def _absorb(line: str, status: DialogModelStatus) -> None:
    progress = parse_progress(line)
    if progress is not None:
        status.training = TrainingProgress(step=progress.step, total_steps=progress.total, loss=progress.loss,
                                           examples_per_second=progress.examples_per_sec)
        status.message = f"training step {progress.step} of {progress.total}"
    metrics = parse_metrics(line)
    if metrics is not None:
        status.metrics = metrics


def _stop(proc: subprocess.Popen, grace: float = 30.0) -> int:
    """SIGTERM the stage's process group (the server drains), SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def wait_serving(proc: subprocess.Popen, endpoint: Endpoint, timeout: float) -> None:
    """Until the server `proc` answers SERVING on its health service (StageFailed if it exits or times out)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(endpoint.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StageFailed(f"the model server exited with code {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.25)
    raise StageFailed(f"the model server was not SERVING within {timeout:.0f} s")


def _mark_stopped(reporter: Reporter, message: str, failed: bool) -> None:
    status = reporter.status
    status.phase = Phase.Failed if failed else Phase.Trained
    status.endpoint, status.ready_replicas, status.replicas, status.rps = None, 0, 0, 0.0
    status.message = message
    state.set_condition(status, ConditionType.Available, False, "ServerExited" if failed else "Stopped", message)
    state.save(reporter.root, status)


def _serve(argv: list[str], log_file: Path, endpoint: Endpoint, reporter: Reporter, ready_timeout: float,
           others: Sequence[Reporter] = ()) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_serving(proc, endpoint, ready_timeout)
            status = reporter.status
            status.phase, status.endpoint = Phase.Serving, endpoint.address
            status.serving_version = status.latest_version
            status.replicas = status.ready_replicas = 1
            status.message = f"serving on {endpoint.address}; Ctrl-C stops"
            state.set_condition(status, ConditionType.Available, True, "ServerHealthy", status.message)
            state.set_condition(status, ConditionType.Progressing, False, "RolloutComplete")
            reporter.update(force=True)
            reporter.newline()
            if others:  # every model this `up` brought up, as `rejoinder status` shows them
                print("\n" + display.table([r.row() for r in [*others, reporter]]), flush=True)
            target = "" if endpoint.address == "127.0.0.1:8500" else f" --target {endpoint.address}"
            print(f"\nTry it:  rejoinder query{target} \"Let's go to an early movie\"", flush=True)
            code = proc.wait()
            _mark_stopped(reporter, f"the model server exited with code {code}; see {log_file}", failed=True)
            return code or 1
        except KeyboardInterrupt:
            reporter.newline()
            print("stopping the model server (draining in-flight requests)…", flush=True)
            code = _stop(proc)
            _mark_stopped(reporter, "stopped; `rejoinder up` serves it again without retraining", failed=False)
            return 0 if code in (0, -signal.SIGTERM) else code
        except BaseException:
            _stop(proc)
            raise


@dataclass
class LocalRun:
    """One DialogModel of an `up`: where its artifacts are and its live status."""

    model: DialogModel
    spec_file: Path
    version: str
    vlayout: VersionLayout
    reporter: Reporter

    @classmethod
    def start(cls, original: DialogModel) -> "LocalRun":
        model, why = effective_model(original)
        if why:
            log.warning("%s: %s", model.metadata.name, why)
        spec = model.spec
        namespace = model.metadata.namespace or "default"
        layout = ModelLayout.for_model(spec.storage.path, namespace, model.metadata.name)
        version = model_version(spec)
        spec_file = layout.root / "dialogmodel.yaml"
        write_text(spec_file, yaml.safe_dump(model.to_wire(), sort_keys=False))
        status = state.load(layout.root) or DialogModelStatus()
        status.latest_version, status.endpoint, status.phase = version, None, Phase.Pending
        return cls(model, spec_file, version, layout.version(version), Reporter(model, layout.root, status))

    def todo(self) -> list[Stage]:
        spec = self.model.spec
        done = Done(trained=self.vlayout.trained, indexed=self.vlayout.index_manifest(index_version(spec)).is_file())
        todo = pending(spec, done)
        for skipped in (s for s in (Stage.train, Stage.build_index) if s not in todo):
            log.info("%s: reusing finished stage %s of version %s", self.model.metadata.name, skipped.value, self.version)
        return todo

    def run_batch_stages(self, endpoint: Endpoint, horovodrun: Optional[str]) -> None:
        """train and build-index, as far as they are not done yet (StageFailed when one fails)."""
        status = self.reporter.status
        for stage in (s for s in self.todo() if s != Stage.serve):
            status.phase = PHASE_OF_STAGE[stage]
            status.message = {Stage.train: "starting training", Stage.build_index: "building the index"}[stage]
            self.reporter.update(force=True)
            argv = stage_argv(stage, self.spec_file, version=self.version, endpoint=endpoint, horovodrun=horovodrun)
            _run_stage(argv, self.vlayout.root / "logs" / f"{stage.value}.log", self.reporter)
            if stage == Stage.train:
                status.trained_version = self.version
                state.set_condition(status, ConditionType.Trained, True, "TrainingSucceeded")
            else:
                state.set_condition(status, ConditionType.Indexed, True, "IndexBuilt")


def up(originals: Union[DialogModel, Sequence[DialogModel]], *, host: str = "127.0.0.1", port: int = 8500,
       metrics_port: int = 9090, ready_timeout: float = 600.0, use_horovod: Optional[bool] = None) -> int:
    """Train (and index) every model of the file, dependencies first, then serve the one served."""
    try:
        ordered, served = bring_up_order([originals] if isinstance(originals, DialogModel) else list(originals))
    except OrderError as error:
        print(f"cannot bring these models up: {error}", file=sys.stderr)
        return 2
    endpoint = Endpoint(host, port or free_port(), metrics_port or free_port())
    horovodrun = horovodrun_path() if use_horovod is not False else None
    if use_horovod and horovodrun is None:
        log.error("--horovod asked for, but Horovod is not installed with TensorFlow support")
        return 2
    runs: list[LocalRun] = []
    current: Optional[LocalRun] = None
    try:
        for original in ordered:
            current = LocalRun.start(original)
            runs.append(current)
            log.info("model %s version %s; artifacts in %s; training %s", original.metadata.name, current.version,
                     current.vlayout.root,
                     "under horovodrun -np 2 (Gloo)" if horovodrun else "as one process (Horovod not installed)")
            current.run_batch_stages(endpoint, horovodrun)
            if current.model.spec.serving.enabled:
                continue
            status = current.reporter.status
            status.phase, status.message = Phase.Trained, "trained; not served (serving.enabled is false)"
            current.reporter.update(force=True)
            current.reporter.newline()
        if served is None:
            return 0
        current = next(r for r in runs if r.model.metadata.name == served.metadata.name)
        status = current.reporter.status
        status.phase, status.message = PHASE_OF_STAGE[Stage.serve], "starting the model server"
        current.reporter.update(force=True)
        argv = stage_argv(Stage.serve, current.spec_file, version=current.version, endpoint=endpoint, horovodrun=horovodrun)
        others = [r.reporter for r in runs if r is not current]
        return _serve(argv, current.vlayout.root / "logs" / f"{Stage.serve.value}.log", endpoint, current.reporter,
                      ready_timeout, others)
    except StageFailed as error:
        assert current is not None
        status = current.reporter.status
        status.phase, status.message = Phase.Failed, str(error).splitlines()[0]
        current.reporter.update(force=True)
        current.reporter.newline()
        print(f"stage failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if current is not None:
            current.reporter.status.message = "interrupted; run `rejoinder up` again to resume"
            current.reporter.update(force=True)
            current.reporter.newline()
        print("interrupted: finished stages are kept and training resumes from its last checkpoint", flush=True)
        return 0
