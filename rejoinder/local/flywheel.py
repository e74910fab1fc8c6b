"""The feedback loop's I/O: servers, simulated users, retraining and the report, in the order of
flywheel_plan (which holds the sequence and every decision)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Sequence

from ..api import parse_dialog_model
from ..api.status import Phase
from ..atomic import write_json
from ..constants import CANARY_FILE, DEFAULT_NAMESPACE, RFC3339
from ..feedback.records import served_version
from ..feedback.segments import read_reactions, reactions_dir
from ..feedback.simulation import LABEL, Half
from ..pipeline.commands import local_cli
from ..pipeline.stages import Stage
from . import supervisor
from .commands import Endpoint, stage_argv
from .flywheel_plan import Loop, judge, keep_judging, retrained, settled, status_message, winner
from .runner import LocalRun, StageFailed, free_port, spawn_logged, wait_serving

log = logging.getLogger(__name__)


@dataclass
class Server:
    """One model server of the loop (stable or canary) with the served version it names itself by."""

    arm: str
    endpoint: Endpoint
    proc: subprocess.Popen
    version: str  # model+reranker, as the reaction log and the counters label it


def _model_info(address: str):
    import grpc

    from ..modelserver.protos import dialog_service_pb2 as pb
    from ..modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(address) as channel:
        return pb_grpc.DialogServiceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=10.0)


def start_server(run: LocalRun, arm: str, endpoint: Endpoint, reranker_version: str, ready_timeout: float) -> Server:
    instance = f"up-{os.getpid()}-{arm}-{uuid.uuid4().hex[:6]}"
    argv = stage_argv(Stage.serve, run.spec_file, version=run.version, endpoint=endpoint, horovodrun=None,
                      instance=instance) + ["--reranker-version", reranker_version]
    proc = spawn_logged(argv, run.vlayout.root / "logs" / f"serve-{arm}.log")
    try:
        wait_serving(proc, endpoint, instance, ready_timeout)
        info = _model_info(endpoint.address)
    except BaseException:
        supervisor.stop(proc)
        raise
    if info.reranker_version != reranker_version:
        supervisor.stop(proc)
        raise StageFailed(f"the {arm} server reranks with {info.reranker_version or 'nothing'}, not {reranker_version}")
    log.info("%s server on %s: served version %s", arm, endpoint.address, served_version(info.model_version,
                                                                                           info.reranker_version))
    return Server(arm, endpoint, proc, served_version(info.model_version, info.reranker_version))


def simulate(run: LocalRun, args: Sequence[str]) -> dict:
    """`rejoinder simulate-users ARGS` as a supervised child; its JSON summary."""
    logs = run.vlayout.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    summary = logs / f"simulate-users-{uuid.uuid4().hex[:6]}.json"
    argv = [*local_cli(), "simulate-users", "--artifacts", run.model.spec.storage.path, "--summary-json",
            str(summary), *args]
    proc = spawn_logged(argv, logs / "simulate-users.log")
    try:
        code = proc.wait()
    except BaseException:
        supervisor.stop(proc)
        raise
    if code != 0 or not summary.is_file():
        raise StageFailed(f"{LABEL} exited with code {code}; see {logs / 'simulate-users.log'}")
    result = json.loads(summary.read_text())
    summary.unlink()
    return result


def _ratios(summary: dict) -> str:
    parts = []
    for arm, t in summary["targets"].items():
        n = t["upvotes"] + t["downvotes"]
        parts.append(f"{arm} {t['ratio']:.3f} of {n}" if n else f"{arm}: none")
    return ", ".join(parts)


def run_loop(loop: Loop, runs: Sequence[LocalRun], endpoint: Endpoint, horovodrun: Optional[str],
             ready_timeout: float) -> int:
    """Every step of flywheel_plan.STEPS, then serve the winner in the foreground until Ctrl-C."""
    served = next(r for r in runs if r.model.metadata.name == loop.served.metadata.name)
    reranker = next(r for r in runs if r.model.metadata.name == loop.reranker.metadata.name)
    name, settings, reporter = served.model.metadata.name, loop.settings, served.reporter
    namespace = served.model.metadata.namespace or DEFAULT_NAMESPACE
    log_dir = reactions_dir(served.model.spec.storage.path, namespace, name)
    servers: list[Server] = []
    try:
        # serve-stable
        reporter.mark((), "starting the stable server", Phase.RollingOut)
        stable = start_server(served, "stable", endpoint, reranker.version, ready_timeout)
        servers.append(stable)
        _serving(reporter, stable, f"loop: {LABEL} collect reactions for the reranker ({settings.collect_sessions} sessions)")
        # collect
        done = simulate(served, ["--target", stable.endpoint.address, "--contexts", Half.collect.value,
                                 "-n", str(settings.collect_sessions), "--seed", str(settings.seed),
                                 "--concurrency", str(settings.concurrency)])
        print(f"\n{LABEL}: collected on {stable.version}: {_ratios(done)}", flush=True)
        until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 0.1)  # until must have passed
        # retrain
        reporter.mark((), f"loop: retraining {reranker.model.metadata.name} on the reactions before {until:%H:%M:%S}Z")
        new = LocalRun.start(parse_dialog_model(retrained(loop.reranker, name, until, settings.min_reactions)))
        print(f"{new.model.metadata.name}: new version {new.version} from the users' reactions", flush=True)
        new.run_batch_stages(endpoint, horovodrun)
        new.reporter.mark((), "trained on users' reactions; judged as a canary", Phase.Trained)
        new.reporter.newline()
        # serve-canary
        canary = start_server(served, "canary", Endpoint(endpoint.host, free_port(), free_port()), new.version,
                              ready_timeout)
        servers.append(canary)
        since = datetime.now(timezone.utc).replace(microsecond=0)
        started = time.monotonic()
        # judge
        sent = 0
        while True:
            _serving(reporter, stable, f"loop: canary {canary.version} on {canary.endpoint.address} gets "
                     f"{loop.canary_share:.0%} of {LABEL}; judging")
            done = simulate(served, ["--target", stable.endpoint.address, "--canary", canary.endpoint.address,
                                     "--canary-share", str(loop.canary_share), "--contexts", Half.judge.value,
                                     "-n", str(settings.judge_round),
                                     "--start", str(settings.collect_sessions + sent), "--seed", str(settings.seed),
                                     "--concurrency", str(settings.concurrency)])
            sent += settings.judge_round
            elapsed = time.monotonic() - started
            decision, s, n = judge(read_reactions(log_dir), stable.version, canary.version, since, loop.policy, elapsed)
            print(f"{LABEL}: round of {settings.judge_round}: {_ratios(done)}; {decision.outcome.value}: "
                  f"{decision.message}", flush=True)
            reporter.status.message = status_message(decision, canary.version)
            reporter.update(force=True)
            if not keep_judging(decision, sent, settings):
                break
        decision = settled(decision, sent)
        write_json(reporter.root / CANARY_FILE, {
            "stable": {"version": stable.version, "upvotes": s.upvotes, "downvotes": s.downvotes},
            "new": {"version": canary.version, "upvotes": n.upvotes, "downvotes": n.downvotes},
            "since": since.strftime(RFC3339), "elapsedSeconds": elapsed, "judgeSessions": sent,
            "outcome": decision.outcome.value, "reason": decision.reason.value, "message": decision.message})
        # finish
        keep = canary if winner(decision) == "canary" else stable
        loser = stable if keep is canary else canary
        supervisor.stop(loser.proc)
        servers.remove(loser)
        reporter.status.endpoint = keep.endpoint.address
        _serving(reporter, keep, status_message(decision, canary.version))
        print(f"\ncanary {canary.version}: {decision.outcome.value}: {decision.message}", flush=True)
        # report
        _report(served)
        reporter.newline()
        print(f"\nserving {keep.version} on {keep.endpoint.address}; Ctrl-C stops", flush=True)
        code = keep.proc.wait()
        raise StageFailed(f"the {keep.arm} model server exited with code {code}")
    except KeyboardInterrupt as stopping:
        quick = isinstance(stopping, supervisor.Interrupted) and stopping.quick
        if not quick:
            print("\nstopping the model servers…", flush=True)
        for server in servers:
            supervisor.stop(server.proc, quick=quick)
        reporter.status.phase, reporter.status.endpoint = Phase.Trained, None
        reporter.status.ready_replicas = reporter.status.replicas = 0
        reporter.update(force=True)
        return 0
    except BaseException:
        for server in servers:
            supervisor.stop(server.proc)
        raise


def _serving(reporter, server: Server, message: str) -> None:
    status = reporter.status
    status.endpoint, status.serving_version = server.endpoint.address, reporter.status.latest_version
    status.replicas = status.ready_replicas = 1
    reporter.mark((), message, Phase.Serving)


def _report(run: LocalRun) -> Path:
    """`rejoinder report` for the served model: the table on stdout, the PNG beside its versions."""
    argv = [*local_cli(), "report", "--artifacts", run.model.spec.storage.path, "--model", run.model.metadata.name,
            "--namespace", run.model.metadata.namespace or DEFAULT_NAMESPACE]
    proc = supervisor.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate()
    except BaseException:
        supervisor.stop(proc)
        raise
    print("\n" + out.rstrip(), flush=True)
    if proc.returncode != 0:
        raise StageFailed(f"rejoinder report exited with code {proc.returncode}")
    from ..cli.report import REPORT_PNG

    return run.reporter.root / REPORT_PNG

