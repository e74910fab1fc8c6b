"""`rejoinder simulate-users`: SIMULATED users that chat with a model server and react to its answers.

A simulation, labelled as one: sessions are named sim-<seed>-<n>, every log line and the summary
say "simulated users". Each simulated session sends one held-out context of the served retrieval
model (its own evaluation split, `<model>/versions/<served version>/data/eval.jsonl`, found from
the server's ModelInfo; never a training context) to Respond, upvotes the answer when it is a
true response of that context or a close paraphrase (normalized text equal, or token Jaccard of
at least 0.6: rejoinder/feedback/simulation.py), downvotes it otherwise, and sends the reaction
with Feedback and the answer's response_id.

With --canary, each session goes to the canary with probability --canary-share, else to
--target: that is how local mode gives a canary its traffic share (docs/feedback.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..constants import LOCAL_TARGET

log = logging.getLogger("rejoinder.simulated_users")


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..feedback.simulation import PARAPHRASE_JACCARD, Half

    parser = subparsers.add_parser(
        "simulate-users", help="SIMULATED users: send held-out contexts to Respond and up/downvote the answers",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", default=LOCAL_TARGET, help=f"the (stable) server (default {LOCAL_TARGET})")
    parser.add_argument("--canary", help="a canary server beside --target; sessions split by --canary-share")
    parser.add_argument("--canary-share", type=float, default=0.1, help="share of sessions the canary gets (0..1)")
    parser.add_argument("-n", "--sessions", type=int, default=200, help="simulated sessions (one reaction each)")
    parser.add_argument("--start", type=int, default=0, help="number of the first session (to continue a run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=4, help="sessions in flight at once")
    parser.add_argument("--rate", type=float, default=0.0, help="sessions per second at most (0: as fast as served)")
    parser.add_argument("--contexts", choices=[h.value for h in Half], default=Half.all.value,
                        help="which fixed half of the held-out contexts: 'collect' (reactions to retrain on), "
                        "'judge' (reactions that judge a canary) or 'all'")
    parser.add_argument("--threshold", type=float, default=PARAPHRASE_JACCARD,
                        help="token Jaccard at which an answer counts as a paraphrase of the true response")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--artifacts", type=Path, default=Path(".rejoinder"),
                        help="artifacts directory of the served model, to find its held-out split (default: .rejoinder)")
    source.add_argument("--held-out", type=Path, help="a dialog-pairs JSONL of held-out contexts, instead")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per RPC")
    parser.add_argument("--summary-json", type=Path, help="also write the summary here as JSON")
    parser.set_defaults(run=run)


@dataclass
class Tally:
    """What one target's simulated sessions got back (counted as the server acknowledged them)."""

    upvotes: int = 0
    downvotes: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # served version → reactions

    def to_json(self) -> dict[str, Any]:
        n = self.upvotes + self.downvotes
        return {"upvotes": self.upvotes, "downvotes": self.downvotes, "ratio": self.upvotes / n if n else None,
                "duplicates": self.duplicates, "errors": self.errors, "versions": self.versions}


class Unusable(RuntimeError):
    """The server cannot take part (no Feedback, another model, …): stop, saying why."""


def held_out_file(artifacts: Path, info: Any) -> Path:
    from ..artifacts import ModelLayout

    layout = ModelLayout.for_model(artifacts, info.namespace or "default", info.name)
    return layout.version(info.model_version).data_dir / "eval.jsonl"


def load_held_out(path: Path, half: str) -> list:
    from ..feedback.simulation import Half, group_held_out
    from ..text.formats import RecordKind, read_records

    if not path.is_file():
        raise Unusable(f"{path}: no held-out split there (is --artifacts the served model's storage.path?)")
    pairs = ((r.context, r.response) for r in read_records(path, RecordKind.pairs))  # type: ignore[union-attr]
    return group_held_out(pairs, Half(half))


def _one(stub: Any, visit: Any, threshold: float, timeout: float, tally: Tally, lock: threading.Lock) -> None:
    import grpc

    from ..feedback.records import ReactionKind, served_version
    from ..feedback.simulation import react
    from ..modelserver.protos import dialog_service_pb2 as pb

    try:
        answer = stub.Respond(pb.RespondRequest(context=list(visit.held_out.context)), timeout=timeout)
        reaction = react(answer.best.text, visit.held_out.truths, threshold)
        wire = pb.UPVOTE if reaction is ReactionKind.upvote else pb.DOWNVOTE
        ack = stub.Feedback(pb.FeedbackRequest(response_id=answer.response_id, reaction=wire,
                                               session_id=visit.session_id), timeout=timeout)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise Unusable(f"the server does not take Feedback ({error.details()})") from error
        with lock:
            tally.errors[error.code().name] = tally.errors.get(error.code().name, 0) + 1
        log.warning("simulated user %s: %s: %s", visit.session_id, error.code().name, error.details())
        return
    version = served_version(ack.model_version, ack.reranker_version)
    with lock:
        if ack.duplicate:
            tally.duplicates += 1
        elif reaction is ReactionKind.upvote:
            tally.upvotes += 1
        else:
            tally.downvotes += 1
        tally.versions[version] = tally.versions.get(version, 0) + 1


def simulate(targets: dict[str, str], held_out: Sequence, *, sessions: int, start: int, seed: int, share: float,
             concurrency: int, rate: float, threshold: float, timeout: float) -> dict[str, Tally]:
    """Run the sessions against `targets` ({arm: address}); the tally per arm."""
    import grpc
    from tqdm import tqdm

    from ..feedback.simulation import Arm, visits
    from ..modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    plan = visits(held_out, sessions, seed, share if Arm.canary.value in targets else 0.0, start=start)
    channels = {arm: grpc.insecure_channel(address) for arm, address in targets.items()}
    stubs = {arm: pb_grpc.DialogServiceStub(ch) for arm, ch in channels.items()}
    tallies = {arm: Tally() for arm in targets}
    lock = threading.Lock()
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(max(1, concurrency)) as pool, \
                tqdm(total=len(plan), desc="simulated users", unit="session", file=sys.stderr,
                     mininterval=2.0) as bar:
            futures = []
            for i, visit in enumerate(plan):
                if rate > 0:  # pace the sessions' starts
                    time.sleep(max(0.0, began + i / rate - time.monotonic()))
                arm = visit.arm.value
                future = pool.submit(_one, stubs[arm], visit, threshold, timeout, tallies[arm], lock)
                future.add_done_callback(lambda _: bar.update())
                futures.append(future)
            for future in futures:
                future.result()  # re-raises Unusable
    finally:
        for channel in channels.values():
            channel.close()
    return tallies


def _check_servers(targets: dict[str, str], timeout: float) -> Any:
    """ModelInfo of each target: all must serve the same retrieval model version with Feedback."""
    import grpc

    from ..modelserver.protos import dialog_service_pb2 as pb
    from ..modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    infos = {}
    for arm, address in targets.items():
        with grpc.insecure_channel(address) as channel:
            try:
                infos[arm] = pb_grpc.DialogServiceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=timeout)
            except grpc.RpcError as error:
                raise Unusable(f"{address}: {error.code().name}: {error.details()}") from error
        info = infos[arm]
        if "Respond" not in info.methods or "Feedback" not in info.methods:
            raise Unusable(f"{address} ({info.name}) answers {list(info.methods)}: simulated users need Respond and Feedback")
    models = {(i.namespace, i.name, i.model_version) for i in infos.values()}
    if len(models) > 1:  # the held-out split is one model version's
        raise Unusable(f"the targets serve different models or model versions: {sorted(models)}")
    return next(iter(infos.values()))


def run(args: argparse.Namespace) -> int:
    from ..feedback.simulation import LABEL, PARAPHRASE_JACCARD

    if not 0.0 <= args.canary_share <= 1.0:
        print("--canary-share must be between 0 and 1", file=sys.stderr)
        return 2
    targets = {"stable": args.target, **({"canary": args.canary} if args.canary else {})}
    try:
        info = _check_servers(targets, args.timeout)
        path = args.held_out or held_out_file(args.artifacts, info)
        held_out = load_held_out(path, args.contexts)
        if not held_out:
            raise Unusable(f"{path}: no held-out contexts in the {args.contexts!r} half")
        log.info("%s (a SIMULATION, sessions sim-%d-*): %d sessions on %d held-out contexts (%s half) of %s %s from "
                 "%s; upvote = normalized equal or token Jaccard >= %.2f (stated rule %.2f)", LABEL, args.seed,
                 args.sessions, len(held_out), args.contexts, info.name, info.model_version, path, args.threshold,
                 PARAPHRASE_JACCARD)
        tallies = simulate(targets, held_out, sessions=args.sessions, start=args.start, seed=args.seed,
                           share=args.canary_share, concurrency=args.concurrency, rate=args.rate,
                           threshold=args.threshold, timeout=args.timeout)
    except Unusable as error:
        print(f"{LABEL}: {error}", file=sys.stderr)
        return 1
    summary = {"simulation": True, "seed": args.seed, "sessions": args.sessions, "start": args.start,
               "contexts": args.contexts, "threshold": args.threshold,
               "targets": {arm: {"address": targets[arm], **t.to_json()} for arm, t in tallies.items()}}
    print(f"{LABEL} (SIMULATION, seed {args.seed}, {args.contexts} half of the held-out contexts):")
    for arm, t in tallies.items():
        n = t.upvotes + t.downvotes
        ratio = f"{t.upvotes / n:.3f}" if n else "-"
        errors = sum(t.errors.values())
        print(f"  {arm:<7} {targets[arm]:<22} reactions {n:>6}  upvotes {t.upvotes:>6}  ratio {ratio}"
              f"  duplicates {t.duplicates}  errors {errors}  versions {', '.join(t.versions) or '-'}")
    if args.summary_json:
        from ..atomic import write_text

        write_text(args.summary_json, json.dumps(summary, indent=2) + "\n")
    failed = sum(sum(t.errors.values()) for t in tallies.values())
    return 1 if failed else 0
