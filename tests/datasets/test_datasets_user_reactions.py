"""A reranker trained on users' reactions (data.reactionsFrom): the data it prepares, the mixing with
a preset's proxy reactions, the refusals, and one real tiny training run from a reaction log."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.constants import RFC3339
from rejoinder.feedback.compaction import USERS_SOURCE, NoReactions
from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.feedback.segments import reactions_dir, segment_name
from rejoinder.datasets import chatterbot
from rejoinder.training.data_prep import prepare_data
from rejoinder.training.pipeline import TrainOptions, train
from rejoinder.datasets.proxy import RANDOM_NEGATIVES
from rejoinder.text.formats import Reaction
from rejoinder.datasets.user_reactions import ReactionsNotReady, mix

from tests.training.training_support import metrics_of, tiny_model

NOW = datetime.now(timezone.utc).replace(microsecond=0)
START = NOW - timedelta(hours=2)


def write_log(storage: Path, model: str, count: int, seed: int = 0) -> None:
    """What a served model's users might say: per chatterbot pair an upvote for its reply and a
    downvote for a reply drawn from another pair, over two server instances, one record a minute."""
    pairs, _ = chatterbot.load_corpus()
    rng = random.Random(seed)
    lines: dict[str, list[bytes]] = {"pod-a": [], "pod-b": []}
    for i in range(count):
        pair = pairs[i // 2]
        response = pair.response if i % 2 == 0 else rng.choice(pairs).response
        reaction = ReactionKind.upvote if i % 2 == 0 else ReactionKind.downvote
        instance = "pod-a" if i % 3 else "pod-b"
        record = ReactionRecord(f"r{i}", reaction, tuple(pair.context), response, ServedBy("v-1", "i-1", "", instance),
                                START + timedelta(seconds=10 * i))
        lines[instance].append(record.to_line())
    directory = reactions_dir(storage, "default", model)
    directory.mkdir(parents=True, exist_ok=True)
    for instance, data in lines.items():
        (directory / segment_name(instance, START, 0)).write_bytes(b"".join(data))


def reranker(storage: Path, until: datetime = NOW, min_reactions: int = 10, **data):
    source = {"dialogModel": "chat", "until": until.strftime(RFC3339), "minReactions": min_reactions}
    return parse_dialog_model(tiny_model("rr", storage, task="reranking",
                                         data={"preset": None, "reactionsFrom": source, **data}))


def _prepare(storage: Path, model, now: datetime = NOW):
    return prepare_data(model.spec, storage / "prepared", None, lambda name: reactions_dir(storage, "default", name), now)


def test_users_reactions_are_the_training_data_held_out_by_context(storage):
    write_log(storage, "chat", 300)
    prepared = _prepare(storage, reranker(storage, until=START + timedelta(seconds=10 * 200)))
    train_records, held = prepared.train(), prepared.eval()
    assert len(train_records) + len(held) == 200 and held  # the cutoff: 200 records acknowledged before it
    assert {r.source for r in train_records + held} == {USERS_SOURCE}
    assert not {r.context for r in train_records} & {r.context for r in held}
    users = prepared.labels["userReactions"]
    assert prepared.labels["proxy"] is False and prepared.labels["reactionsFrom"] == "chat"
    assert (users["train"], users["eval"], users["upvotes"], users["downvotes"]) == (len(train_records), len(held), 100, 100)
    assert users["upvoteRatio"] == 0.5 and users["byVersion"] == {"v-1": {"upvotes": 100, "downvotes": 100, "upvoteRatio": 0.5}}
    assert prepared.labels["proxyExamples"] == {"train": 0, "eval": 0, "dropped": 0}
    manifest = json.loads((storage / "prepared" / "data.json").read_text())
    assert manifest["labels"] == prepared.labels and manifest["source"] == "reactions of chat"


def test_mixed_with_the_preset_all_of_both_go_in_marked_by_source(storage):
    write_log(storage, "chat", 120)
    prepared = _prepare(storage, reranker(storage, preset="chatterbot"))
    train_records, held = prepared.train(), prepared.eval()
    by_source = lambda records: {s: sum(r.source == s for r in records) for s in (USERS_SOURCE, RANDOM_NEGATIVES)}  # noqa: E731
    labels = prepared.labels
    assert labels["proxy"] is True and labels["source"] == f"{USERS_SOURCE}+{RANDOM_NEGATIVES}"
    assert "user reactions" in labels["description"] and "proxy" in labels["description"]
    users, proxy = labels["userReactions"], labels["proxyExamples"]
    assert by_source(train_records) == {USERS_SOURCE: users["train"], RANDOM_NEGATIVES: proxy["train"]}
    assert by_source(held) == {USERS_SOURCE: users["eval"], RANDOM_NEGATIVES: proxy["eval"]}
    assert users["total"] == 120 and proxy["train"] > 1000
    # the users' split decides for their contexts: no context is trained on and held out
    assert not {r.context for r in train_records} & {r.context for r in held}
    assert proxy["dropped"] == 0  # the same seed: the proxy's split of a context is the users' split of it


def test_where_the_splits_disagree_the_users_split_decides_and_the_proxy_records_are_dropped():
    r = lambda context, up=True, source="users": Reaction((context,), "reply", up, source)  # noqa: E731
    user_train, user_held = [r("a"), r("b", False)], [r("c")]
    proxy_train = [r("c", source="proxy"), r("d", source="proxy")]  # "c" is held out by the users' split
    proxy_held = [r("a", source="proxy"), r("e", source="proxy")]  # "a" is trained on by the users' reactions
    train_records, held, dropped = mix(user_train, user_held, proxy_train, proxy_held)
    assert train_records == [r("d", source="proxy"), *user_train] and held == [r("e", source="proxy"), *user_held]
    assert dropped == 2


def test_training_data_is_refused_before_the_cutoff_has_passed_or_with_too_few_reactions(storage):
    write_log(storage, "chat", 40)
    with pytest.raises(ReactionsNotReady, match="in the future"):
        _prepare(storage, reranker(storage, until=NOW + timedelta(minutes=5)))
    with pytest.raises(ReactionsNotReady, match="40 reactions .* fewer than minReactions 50"):
        _prepare(storage, reranker(storage, min_reactions=50))
    with pytest.raises(NoReactions, match="no reaction segments"):
        prepare_data(reranker(storage).spec, storage / "p2", None, lambda name: storage / "nowhere", NOW)
    assert not (storage / "prepared").exists() and not (storage / "p2").exists()


@pytest.mark.slow
def test_a_tiny_reranker_trains_from_a_reaction_log(storage):
    write_log(storage, "chat", 160)
    model = reranker(storage, until=NOW - timedelta(seconds=1), preset="chatterbot")
    report = train(model, TrainOptions(artifacts=storage, namespace="default", use_horovod=False))
    assert report is not None and 0.0 <= report["metrics"]["accuracy"] <= 1.0
    labels = metrics_of(storage, "rr")["labels"]
    assert labels["userReactions"]["total"] == 160 and labels["userReactions"]["upvoteRatio"] == 0.5
    assert labels["proxyExamples"]["train"] > 0 and labels["reactionsFrom"] == "chat"
    by_origin = report["metricsByOrigin"]  # the users' held-out reactions scored on their own as well
    assert set(by_origin) == {"users", "proxy"} and 0.0 <= by_origin["users"]["accuracy"] <= 1.0
