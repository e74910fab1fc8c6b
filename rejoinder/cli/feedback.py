"""`rejoinder feedback --id ID --up`: tell a model server what a user thought of an answer.

By response id (what `rejoinder query` prints; known only to the server that answered, for a
limited time), or by the context and the response text (`--context T ... --response TEXT`),
which any server of the model accepts. Exit 2 with the server's message when it refuses.
"""

from __future__ import annotations

import argparse
import sys

from ..constants import LOCAL_TARGET


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feedback", help="send a user's reaction (upvote/downvote) to a served answer", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--id", dest="response_id", default="", help="the response id of the answer")
    parser.add_argument("--context", nargs="+", default=[], metavar="TURN",
                        help="the dialog turns answered, oldest first (instead of --id)")
    parser.add_argument("--response", default="", help="the response text the user saw (with --context)")
    reaction = parser.add_mutually_exclusive_group(required=True)
    reaction.add_argument("--up", dest="reaction", action="store_const", const="UPVOTE", help="upvote")
    reaction.add_argument("--down", dest="reaction", action="store_const", const="DOWNVOTE", help="downvote")
    parser.add_argument("--session", default="", help="the user's conversation id (optional)")
    parser.add_argument("--target", default=LOCAL_TARGET, help=f"server address (default {LOCAL_TARGET})")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import grpc

    from rejoinder.modelserver.protos import dialog_service_pb2 as pb
    from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

    if not args.response_id and not (args.context and args.response):
        print("give --id ID, or --context TURN ... --response TEXT", file=sys.stderr)
        return 2
    request = pb.FeedbackRequest(response_id=args.response_id, context=args.context, response=args.response,
                                 reaction=pb.Reaction.Value(args.reaction), session_id=args.session)
    with grpc.insecure_channel(args.target) as channel:
        try:
            reply = pb_grpc.DialogServiceStub(channel).Feedback(request, timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"{args.target}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2
    served = reply.model_version + (f" + reranker {reply.reranker_version}" if reply.reranker_version else "")
    verb = "already recorded (counted once)" if reply.duplicate else "recorded"
    print(f"{args.reaction.lower()} {verb}: answer of {served}")
    return 0
