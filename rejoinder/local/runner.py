"""`rejoinder up`: run a DialogModel's stages as subprocesses on this machine and serve it.

Each stage is the CLI verb the operator's pods run (rejoinder/pipeline: train under horovodrun
when Horovod is installed, build-index, serve), started under a guard that ties it to `up`
(supervisor.py); its output goes to `<version>/logs/<stage>.log` and its progress lines drive a
live, `kubectl get dm`-like status row and `status.json`, with the operator's phases, conditions
and reasons.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import yaml

from ..api import DialogModel
from ..api.status import DialogModelStatus, Phase, TrainingProgress
from ..api.versioning import model_version
from ..artifacts import ModelLayout, VersionLayout
from ..atomic import write_text
from ..constants import DEFAULT_NAMESPACE, GRPC_PORT, LOCAL_HOST, LOCAL_TARGET, METRICS_PORT
from ..pipeline.stages import PHASE_OF_STAGE, Done, Stage, completion_files, pending, stages
from ..pipeline.transitions import FINISHED, SERVER_EXITED, STARTED, STOPPED, Mark, failed, opening
from ..progress_lines import parse_metrics, parse_progress
from . import display, state, supervisor
from .commands import Endpoint, horovodrun_path, stage_argv
from .fallback import effective_model
from .flywheel_plan import LoopError, loop_of
from .order import OrderError, bring_up_order

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

    def mark(self, marks: Sequence[Mark], message: str, phase: Optional[Phase] = None) -> None:
        """Enter `phase` (if given) with the pipeline's conditions for it, and show it."""
        if phase is not None:
            self.status.phase = phase
        self.status.message = message
        for t in state.record(self.status, marks, message):
            log.debug("%s: %s=%s %s", self.model.metadata.name, t.type, t.status, t.reason)
        self.update(force=True)

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
    with open(log_file, "a", encoding="utf-8", buffering=1) as out:  # line-buffered: `tail -f` shows it live
        out.write(f"\n$ {' '.join(argv)}\n")
        proc = supervisor.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip())
                _absorb(line, reporter.status)
                reporter.update()
            code = proc.wait()
        except BaseException as error:
            supervisor.stop(proc, quick=_quick(error))
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


def _quick(error: BaseException) -> bool:
    return isinstance(error, supervisor.Interrupted) and error.quick


def wait_serving(proc: subprocess.Popen, endpoint: Endpoint, instance: str, timeout: float) -> None:
    """Until the server `proc` answers SERVING on its health service and names itself `instance` in
    ModelInfo: another process answering on the port is not this `up`'s server (StageFailed if it
    exits, times out, or someone else answers)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from ..modelserver.protos import dialog_service_pb2 as pb
    from ..modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(endpoint.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StageFailed(f"the model server exited with code {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    info = pb_grpc.DialogServiceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=5.0)
                    if info.instance == instance:
                        return
                    raise StageFailed(f"another model server (instance {info.instance or 'unnamed'}, "
                                      f"{info.name} {info.model_version}) answers on {endpoint.address}, not this one")
            except grpc.RpcError:
                pass
            time.sleep(0.25)
    raise StageFailed(f"the model server was not SERVING within {timeout:.0f} s")


def _mark_stopped(reporter: Reporter, message: str, failed: bool) -> None:
    status = reporter.status
    status.phase = Phase.Failed if failed else Phase.Trained
    status.endpoint, status.ready_replicas, status.replicas, status.rps = None, 0, 0, 0.0
    status.message = message
    state.record(status, [SERVER_EXITED if failed else STOPPED], message)
    state.save(reporter.root, status)


def spawn_logged(argv: list[str], log_file: Path) -> subprocess.Popen:
    """A supervised child whose output goes to `log_file`, after its command line."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as out:  # the child keeps its own copy of the descriptor
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        return supervisor.spawn(argv, stdout=out, stderr=subprocess.STDOUT)


def _serve(argv: list[str], instance: str, log_file: Path, endpoint: Endpoint, reporter: Reporter,
           ready_timeout: float, others: Sequence[Reporter] = ()) -> int:
    proc = spawn_logged(argv, log_file)
    try:
        wait_serving(proc, endpoint, instance, ready_timeout)
        status = reporter.status
        status.endpoint, status.serving_version = endpoint.address, status.latest_version
        status.replicas = status.ready_replicas = 1
        reporter.mark(FINISHED[Stage.serve], f"serving on {endpoint.address}; Ctrl-C stops", Phase.Serving)
        reporter.newline()
        if others:  # every model this `up` brought up, as `rejoinder status` shows them
            print("\n" + display.table([r.row() for r in [*others, reporter]]), flush=True)
        target = "" if endpoint.address == LOCAL_TARGET else f" --target {endpoint.address}"
        print(f"\nTry it:  rejoinder query{target} \"Let's go to an early movie\"", flush=True)
        code = proc.wait()
        message = f"the model server exited with code {code}; see {log_file}"
        _mark_stopped(reporter, message, failed=True)
        print(message, file=sys.stderr, flush=True)
        return code or 1
    except KeyboardInterrupt as stopping:
        quick = _quick(stopping)
        if not quick:  # on SIGHUP the terminal is gone: stop at once, print nothing
            reporter.newline()
            print("stopping the model server (draining in-flight requests)…", flush=True)
        code = supervisor.stop(proc, quick=quick)
        _mark_stopped(reporter, "stopped; `rejoinder up` serves it again without retraining", failed=False)
        return 0 if supervisor.stopped_by_sigterm(code) or quick else code
    except BaseException as error:
        supervisor.stop(proc, quick=_quick(error))
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
        namespace = model.metadata.namespace or DEFAULT_NAMESPACE
        layout = ModelLayout.for_model(spec.storage.path, namespace, model.metadata.name)
        version = model_version(spec)
        spec_file = layout.root / "dialogmodel.yaml"
        write_text(spec_file, yaml.safe_dump(model.to_wire(), sort_keys=False))
        status = state.load(layout.root) or DialogModelStatus()
        status.latest_version, status.endpoint, status.phase = version, None, Phase.Pending
        return cls(model, spec_file, version, layout.version(version), Reporter(model, layout.root, status))

    def finished(self, stage: Stage) -> bool:
        return all((self.vlayout.root / f).is_file() for f in completion_files(stage, self.model.spec))

    def todo(self) -> list[Stage]:
        spec = self.model.spec
        todo = pending(spec, Done(trained=self.finished(Stage.train), indexed=self.finished(Stage.build_index)))
        for skipped in (s for s in stages(spec) if s in (Stage.train, Stage.build_index) and s not in todo):
            log.info("%s: reusing finished stage %s of version %s", self.model.metadata.name, skipped.value, self.version)
        return todo

    def run_batch_stages(self, endpoint: Endpoint, horovodrun: Optional[str]) -> None:
        """train and build-index, as far as they are not done yet (StageFailed when one fails)."""
        status = self.reporter.status
        todo = self.todo()
        if Stage.train not in todo:
            status.trained_version = self.version
        for reused in (s for s in stages(self.model.spec) if s != Stage.serve and s not in todo):
            if not any(c.type == FINISHED[reused][0].condition and c.status == "True" for c in status.conditions):
                state.record(status, FINISHED[reused], f"{reused.value} of version {self.version} reused")
        for stage in (s for s in todo if s != Stage.serve):
            marks = opening(self.model.spec) if stage == Stage.train else (STARTED[stage],)
            message = {Stage.train: "starting training", Stage.build_index: "building the index"}[stage]
            self.reporter.mark(marks, message, PHASE_OF_STAGE[stage])
            argv = stage_argv(stage, self.spec_file, version=self.version, endpoint=endpoint, horovodrun=horovodrun)
            try:
                _run_stage(argv, self.vlayout.root / "logs" / f"{stage.value}.log", self.reporter)
            except StageFailed as error:
                self.reporter.mark(failed(stage), str(error).splitlines()[0], Phase.Failed)
                raise
            if stage == Stage.train:
                status.trained_version = self.version
            self.reporter.mark(FINISHED[stage], f"{stage.value} finished for version {self.version}")


def up(originals: Union[DialogModel, Sequence[DialogModel]], *, host: str = LOCAL_HOST, port: int = GRPC_PORT,
       metrics_port: int = METRICS_PORT, ready_timeout: float = 600.0, use_horovod: Optional[bool] = None) -> int:
    """Train (and index) every model of the file, dependencies first, then serve the one served."""
    try:
        ordered, served = bring_up_order([originals] if isinstance(originals, DialogModel) else list(originals))
    except OrderError as error:
        print(f"cannot bring these models up: {error}", file=sys.stderr)
        return 2
    try:  # a loop asked for incompletely fails before an hour of training, not after
        loop = loop_of(ordered, served)
    except LoopError as error:
        print(f"cannot run the feedback loop: {error}", file=sys.stderr)
        return 2
    busy = supervisor.ports_in_use(host, (port, metrics_port)) if served is not None else []
    if busy:  # before anything starts: an hour of training must not end in a port conflict
        print(f"cannot serve {served.metadata.name}: port {', '.join(map(str, busy))} on {host} is in use "
              "(another `rejoinder up` or model server?); stop it, or choose free ports with --port and "
              "--metrics-port (0 picks any)", file=sys.stderr)
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
            current.reporter.mark((), "trained; not served (serving.enabled is false)", Phase.Trained)
            current.reporter.newline()
        if served is None:
            return 0
        current = next(r for r in runs if r.model.metadata.name == served.metadata.name)
        if loop is not None:  # serve → simulated users → retrain → canary → decision (flywheel_plan)
            from .flywheel import run_loop

            return run_loop(loop, runs, endpoint, horovodrun, ready_timeout)
        current.reporter.mark((STARTED[Stage.serve],), "starting the model server", PHASE_OF_STAGE[Stage.serve])
        instance = f"up-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # the server names itself so in ModelInfo
        argv = stage_argv(Stage.serve, current.spec_file, version=current.version, endpoint=endpoint,
                          horovodrun=horovodrun, instance=instance)
        others = [r.reporter for r in runs if r is not current]
        return _serve(argv, instance, current.vlayout.root / "logs" / f"{Stage.serve.value}.log", endpoint,
                      current.reporter, ready_timeout, others)
    except StageFailed as error:
        assert current is not None
        status = current.reporter.status
        if status.phase != Phase.Failed:
            current.reporter.mark((), str(error).splitlines()[0], Phase.Failed)
        current.reporter.newline()
        print(f"stage failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stopping:
        if current is not None:
            current.reporter.status.message = "interrupted; run `rejoinder up` again to resume"
            state.save(current.reporter.root, current.reporter.status)
        if _quick(stopping):  # the terminal is gone: nobody reads the rest
            return 128 + stopping.signum  # type: ignore[attr-defined]
        if current is not None:
            current.reporter.update(force=True)
            current.reporter.newline()
        print("interrupted: finished stages are kept and training resumes from its last checkpoint", flush=True)
        return 0
