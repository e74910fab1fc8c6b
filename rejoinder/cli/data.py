"""`rejoinder data …`: dialog data on disk (see docs/data.md).

    rejoinder data import-chatterbot -o DIR       the chatterbot-corpus English dialogs as
                                                  DIR/pairs.jsonl + DIR/candidates.jsonl
    rejoinder data import-chitchat -o DIR         the BYU Chit-Chat corpus by its fixed split:
                                                  pairs-{train,dev,test}.jsonl, candidates.jsonl,
                                                  sessions-*.jsonl, messages-*.jsonl, provenance.json
    rejoinder data synthetic -o DIR --responses N synthetic (labelled "source": "synthetic") data
                                                  for scale tests: candidates, pairs, reactions, sessions
    rejoinder data check FILE --kind KIND         strict read; exit 1 with file:line: reason
    rejoinder data reactions (-f SPEC | --from DIR) --out FILE [--until T] [--version V] [--json]
                                                  compact a served model's reaction log into
                                                  reranker reactions (docs/feedback.md)
    rejoinder data pretokenize -f SPEC --input FILE --tokenizer DIR -o SHARDS
                                                  featurize over all cores into training shards
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ._times import rfc3339

log = logging.getLogger(__name__)

KINDS = ("pairs", "reactions", "sessions", "candidates")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="import, generate, check and pre-tokenize dialog data")
    verbs = parser.add_subparsers(dest="data_verb", metavar="DATA_VERB", required=True)

    p = verbs.add_parser("import-chatterbot", help="chatterbot-corpus English → pairs.jsonl + candidates.jsonl")
    p.add_argument("-o", "--output", type=Path, required=True, help="directory to write into")
    p.set_defaults(run=run_import_chatterbot)

    p = verbs.add_parser("import-chitchat", help="the Chit-Chat corpus (chitchat-dataset package) by its fixed split")
    p.add_argument("-o", "--output", type=Path, required=True, help="directory to write into")
    p.add_argument("--context-turns", type=int, default=8,
                   help="newest turns kept in each pair's context (default 8; models read data.maxContextTurns)")
    p.set_defaults(run=run_import_chitchat)

    p = verbs.add_parser("synthetic", help="synthetic data for scale tests (every record says source: synthetic)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--responses", type=int, default=100_000, help="candidate responses (default 100000)")
    p.add_argument("--pairs", type=int, default=10_000)
    p.add_argument("--reactions", type=int, default=0)
    p.add_argument("--sessions", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_synthetic)

    p = verbs.add_parser("check", help="read a JSONL file strictly; report the first bad line")
    p.add_argument("file", type=Path)
    p.add_argument("--kind", choices=KINDS, required=True)
    p.set_defaults(run=run_check)

    p = verbs.add_parser("reactions", help="compact a served model's reaction log into reranker reactions JSONL")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--filename", type=Path,
                        help="a DialogModel: its own reaction log, or for a reranker with data.reactionsFrom that "
                             "model's log up to its until (what its training uses)")
    source.add_argument("--from", dest="reactions_dir", type=Path, help="a reactions directory of segment files")
    p.add_argument("--out", type=Path, required=True, help="reactions JSONL to write (atomically)")
    p.add_argument("--until", type=rfc3339, help="only reactions acknowledged before this RFC 3339 time")
    p.add_argument("--version", dest="versions", action="append",
                   help="only answers of this served version (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(run=run_reactions)

    p = verbs.add_parser("pretokenize", help="featurize a JSONL file for a spec into training shards")
    p.add_argument("-f", "--filename", type=Path, required=True, help="DialogModel YAML")
    p.add_argument("--input", type=Path, required=True, help="JSONL records for the spec's task")
    p.add_argument("--kind", choices=KINDS, help="record kind (default: the task's)")
    p.add_argument("--tokenizer", type=Path, required=True,
                   help="tokenizer directory; built from the spec and the input when it holds none")
    p.add_argument("-o", "--output", type=Path, required=True, help="shards directory")
    p.add_argument("--shards", type=int, default=1, help="number of shards (one per training process)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--skip-invalid", action="store_true", help="skip (and log) bad lines instead of failing")
    p.set_defaults(run=run_pretokenize)


def run_import_chatterbot(args: argparse.Namespace) -> int:
    from ..datasets import chatterbot
    from ..text.formats import write_records

    pairs, candidates = chatterbot.load_corpus()
    n_pairs = write_records(args.output / "pairs.jsonl", pairs)
    n_cands = write_records(args.output / "candidates.jsonl", candidates)
    print(f"wrote {n_pairs} pairs to {args.output / 'pairs.jsonl'} and {n_cands} responses to {args.output / 'candidates.jsonl'}")
    return 0


def run_import_chitchat(args: argparse.Namespace) -> int:
    from .. import atomic
    from ..datasets import corpus
    from ..datasets.presets import corpus_messages, corpus_pairs, corpus_sessions
    from ..text.formats import write_records

    if args.context_turns < 1:
        print("--context-turns must be at least 1", file=sys.stderr)
        return 2
    chitchat = corpus("chitchat")
    out: Path = args.output
    written: dict[str, int] = {}
    pairs, sessions, messages = corpus_pairs(chitchat, args.context_turns), corpus_sessions(chitchat), corpus_messages(chitchat)
    for prefix, preset in (("pairs", pairs), ("sessions", sessions), ("messages", messages)):
        for split, records in (("train", preset.records), ("dev", preset.held), ("test", preset.test)):
            if records is not None:
                written[f"{prefix}-{split}.jsonl"] = write_records(out / f"{prefix}-{split}.jsonl", records)
    written["candidates.jsonl"] = write_records(out / "candidates.jsonl", pairs.candidates)
    atomic.write_json(out / "provenance.json", {"pairs": pairs.provenance, "sessions": {**(sessions.provenance or {}),
                      "labels": sessions.labels}, "messages": messages.provenance})
    width = max(len(name) for name in written)
    for name, count in written.items():
        print(f"{name.ljust(width)}  {count:>7}")
    import_counts = chitchat.counts().to_json()
    print(f"skipped in import: {import_counts['skipped']}")
    print(f"wrote {out / 'provenance.json'} (package, sha256, split rule, counts)")
    return 0


def run_synthetic(args: argparse.Namespace) -> int:
    from ..datasets import synthetic
    from ..text.formats import write_records

    plan = [
        ("synthetic-candidates.jsonl", args.responses, synthetic.candidates),
        ("synthetic-pairs.jsonl", args.pairs, synthetic.pairs),
        ("synthetic-reactions.jsonl", args.reactions, synthetic.reactions),
        ("synthetic-sessions.jsonl", args.sessions, synthetic.sessions),
    ]
    for name, count, make in plan:
        if count > 0:
            written = write_records(args.output / name, make(count, seed=args.seed))
            print(f"wrote {written} synthetic records to {args.output / name}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..text.formats import DataFormatError, read_records

    if not args.file.is_file():
        print(f"{args.file}: no such file", file=sys.stderr)
        return 1
    try:
        count = sum(1 for _ in read_records(args.file, args.kind))
    except DataFormatError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.file}: {count} valid {args.kind} records")
    return 0


def run_reactions(args: argparse.Namespace) -> int:
    from ..feedback.compaction import NoReactions, compact_dir, format_summary, write_reactions
    from ..feedback.records import RecordError
    from ..feedback.segments import reactions_dir
    from ..constants import DEFAULT_NAMESPACE
    from ._load import dialog_model_or_exit

    directory, until = args.reactions_dir, args.until
    if args.filename is not None:
        model = dialog_model_or_exit(args.filename)
        source, name = model.spec.data.reactions_from, model.metadata.name
        if source is not None:  # a reranker: the log it trains on, up to its cutoff unless told otherwise
            name, until = source.dialog_model, until or source.until
        directory = reactions_dir(model.spec.storage.path, model.metadata.namespace or DEFAULT_NAMESPACE, name)
    try:
        compacted = compact_dir(directory, until, set(args.versions) if args.versions else None)
    except (NoReactions, RecordError) as error:
        print(error, file=sys.stderr)
        return 1
    if not compacted.reactions:
        print(f"{directory}: no reactions left to write after the cutoff and version filter "
              f"({compacted.summary.records_read} records read)", file=sys.stderr)
        return 1
    write_reactions(args.out, compacted)
    if args.json:
        print(json.dumps({"reactionsDir": str(directory), "out": str(args.out), **compacted.summary.to_json()}, indent=2))
    else:
        print(format_summary(compacted.summary))
        print(f"wrote {len(compacted.reactions)} reactions from {directory} to {args.out}")
    return 0


def run_pretokenize(args: argparse.Namespace) -> int:
    from ..api import InvalidDialogModel, load_dialog_model
    from ..text.features import SequenceConfig, pretraining_texts
    from ..text.formats import DataFormatError, read_records
    from ..text.from_spec import tokenizer_for_spec
    from ..tasks import task_module
    from ..text.pretokenize import featurize_parallel
    from ..text.tokenizer import CONFIG_FILE, load_tokenizer

    try:
        spec = load_dialog_model(args.filename).spec
    except InvalidDialogModel as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    task, architecture = spec.task, spec.model.architecture
    kind = args.kind or (task_module(spec.task).record_kind or "pairs")  # pretraining reads any kind
    try:
        records = list(read_records(args.input, kind, skip_invalid=args.skip_invalid))
    except DataFormatError as error:
        print(error, file=sys.stderr)
        return 1
    if not (args.tokenizer / CONFIG_FILE).is_file():
        log.info("no tokenizer in %s: building the spec's %s tokenizer", args.tokenizer, spec.tokenizer.kind.value)
        tokenizer_for_spec(spec, args.tokenizer, pretraining_texts(records), base_dir=spec.storage.path)
    tokenizer = load_tokenizer(args.tokenizer)
    sequence = SequenceConfig.from_spec(spec)
    features = featurize_parallel(args.tokenizer, sequence, task, architecture, records, workers=args.workers)

    from ..training import shards  # the training stage's shard format: one format in the project

    written = shards.write_shards(
        args.output, features, args.shards,
        {"tokenizer": tokenizer.kind, "vocab": tokenizer.vocab_size, "sequence": sequence.to_json()},
    )
    rows = sum(written.rows)
    print(f"wrote {rows} {task} examples into {written.count} shard(s) in {args.output}")
    return 0
