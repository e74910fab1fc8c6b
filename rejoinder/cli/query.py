"""`rejoinder query "Let's go to an early movie"`: ask a running model server, print the answer.

Each positional argument is one turn, oldest first. The method follows what the server serves
(ModelInfo): Respond for retrieval, Rerank (needs --response) for reranking, ScoreSession for
session scoring; --method picks one explicitly.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from ..constants import LOCAL_TARGET

METHODS = ("respond", "retrieve", "rerank", "score-session", "info")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="query a running model server (pretty output)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("turns", nargs="*", metavar="TURN", help="dialog turns, oldest first")
    parser.add_argument("--target", default=LOCAL_TARGET, help=f"server address (default {LOCAL_TARGET})")
    parser.add_argument("--method", choices=METHODS, help="default: follows the served task")
    parser.add_argument("-k", "--top-k", type=int, default=0, help="candidates to return (0 = server default)")
    parser.add_argument("-r", "--response", action="append", default=[], help="a candidate response (rerank); repeat")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.add_argument("--json", action="store_true", help="print the response as JSON")
    parser.set_defaults(run=run)


def _default_method(info) -> str:
    if "Respond" in info.methods:
        return "respond"
    if "ScoreSession" in info.methods:
        return "score-session"
    if "Rerank" in info.methods:
        return "rerank"
    return "info"


def _print_candidates(candidates, reranked: bool) -> None:
    width = max((len(c.id) for c in candidates), default=2)
    header = f"{'#':>3}  {'score':>8}  {'cosine':>8}  {'id':<{width}}  text"
    print(header)
    print("-" * len(header))
    for c in candidates:
        text = textwrap.shorten(c.text, width=100, placeholder=" …")
        print(f"{c.rank:>3}  {c.score:>8.4f}  {c.retrieval_score:>8.4f}  {c.id:<{width}}  {text}")
    if reranked:
        print("(score: reranker; cosine: retrieval)")


def run(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf import json_format

    from rejoinder.modelserver.protos import dialog_service_pb2 as pb
    from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.DialogServiceStub(channel)
        try:
            info = stub.ModelInfo(pb.ModelInfoRequest(), timeout=args.timeout)
            method = args.method or _default_method(info)
            if method != "info" and not args.turns:
                print("give the dialog turns to send, e.g. rejoinder query \"Let's go to an early movie\"", file=sys.stderr)
                return 2
            if method == "respond":
                reply = stub.Respond(pb.RespondRequest(context=args.turns, top_k=args.top_k), timeout=args.timeout)
            elif method == "retrieve":
                reply = stub.Retrieve(pb.RetrieveRequest(context=args.turns, top_k=args.top_k), timeout=args.timeout)
            elif method == "rerank":
                if not args.response:
                    print("rerank needs candidate responses: -r TEXT [-r TEXT ...]", file=sys.stderr)
                    return 2
                reply = stub.Rerank(pb.RerankRequest(context=args.turns, responses=args.response), timeout=args.timeout)
            elif method == "score-session":
                reply = stub.ScoreSession(pb.ScoreSessionRequest(turns=args.turns), timeout=args.timeout)
            else:
                reply = info
        except grpc.RpcError as error:
            print(f"{args.target}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1

    if args.json:
        print(json.dumps(json_format.MessageToDict(reply, preserving_proto_field_name=True), indent=2, ensure_ascii=False))
        return 0
    print(f"{info.name or 'model'} {info.model_version} ({info.task}) at {args.target}")
    if args.turns and method != "info":
        for turn in args.turns:
            print(f"  > {turn}")
    if method == "respond":
        print(f"\nbest: {reply.best.text}")
        if reply.response_id:
            print(f"response id: {reply.response_id}  (rejoinder feedback --id {reply.response_id} --up|--down)")
        print()
        _print_candidates(reply.candidates, reply.reranked)
    elif method == "retrieve":
        _print_candidates(reply.candidates, False)
        if reply.candidates and reply.candidates[0].response_id:
            print("response ids (rejoinder feedback --id ID --up|--down):")
            for c in reply.candidates:
                print(f"{c.rank:>3}  {c.response_id}")
    elif method == "rerank":
        for score, text in sorted(zip(reply.scores, args.response), key=lambda p: -p[0]):
            print(f"{score:>8.4f}  {text}")
    elif method == "score-session":
        print(f"session score: {reply.score:.4f}")
    else:
        print(json_format.MessageToJson(reply, preserving_proto_field_name=True))
    return 0
