from __future__ import annotations


import pytest

from rejoinder.text.formats import (
    Candidate,
    DataFormatError,
    DialogPair,
    Reaction,
    RecordKind,
    Session,
    read_records,
    split_records,
    write_records,
)


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_round_trip_every_kind(tmp_path):
    records = {
        RecordKind.pairs: [DialogPair(("hi", "how are you?"), "fine, thanks", "test")],
        RecordKind.reactions: [Reaction(("hi",), "hello!", True), Reaction(("hi",), "go away", False)],
        RecordKind.sessions: [Session(("a", "b", "c"), False)],
        RecordKind.candidates: [Candidate("r1", "hello there")],
    }
    for kind, recs in records.items():
        path = tmp_path / f"{kind.value}.jsonl"
        assert write_records(path, recs) == len(recs)
        assert list(read_records(path, kind)) == recs


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"context": ["hi"], "response": "yo", "extra": 1}', "unknown field(s) ['extra']"),
        ('{"context": ["hi"]}', "missing field(s) ['response']"),
        ('{"context": "hi", "response": "yo"}', "'context' must be a non-empty list"),
        ('{"context": ["hi"], "response": ""}', "'response' must not be empty"),
        ('{"context": ["hi"], "response": "yo"', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_line_names_file_line_and_reason(tmp_path, line, reason):
    path = _write(tmp_path / "pairs.jsonl", ['{"context": ["hi"], "response": "hello"}', "", line])
    with pytest.raises(DataFormatError) as err:
        list(read_records(path, "pairs"))
    assert err.value.line == 3
    assert err.value.path == str(path)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:3: ")


def test_bad_choice_and_non_utf8(tmp_path):
    path = _write(tmp_path / "r.jsonl", ['{"context": ["hi"], "response": "yo", "reaction": "meh"}'])
    with pytest.raises(DataFormatError, match=r"r.jsonl:1: field 'reaction' must be one of"):
        list(read_records(path, "reactions"))
    raw = tmp_path / "c.jsonl"
    raw.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "\xff"}\n')
    with pytest.raises(DataFormatError, match="c.jsonl:2: not UTF-8"):
        list(read_records(raw, "candidates"))


def test_skip_invalid_only_when_asked_and_logged(tmp_path, caplog):
    path = _write(tmp_path / "c.jsonl", ['{"id": "1", "text": "a"}', '{"id": 2, "text": "b"}', '{"id": "3", "text": "c"}'])
    with pytest.raises(DataFormatError):
        list(read_records(path, "candidates"))
    got = list(read_records(path, "candidates", skip_invalid=True))
    assert [c.id for c in got] == ["1", "3"]
    assert "c.jsonl:2" in caplog.text and "skipped 1 invalid line" in caplog.text


def test_split_is_deterministic_and_order_free():
    records = [Candidate(str(i), f"text {i}") for i in range(2000)]
    train, held = split_records(records, 0.1)
    assert len(train) + len(held) == 2000
    assert 150 < len(held) < 250
    train2, held2 = split_records(list(reversed(records)), 0.1)
    assert sorted(c.id for c in held) == sorted(c.id for c in held2)
    _, other = split_records(records, 0.1, salt="other")
    assert {c.id for c in other} != {c.id for c in held}


def test_chatterbot_pairs_are_distinct_so_seeds_hold_out_similar_shares(chatterbot_corpus):
    # the corpus repeats one exchange ~120 times; kept, a hash split moved such blocks whole
    pairs, candidates = chatterbot_corpus
    keys = [(p.context, p.response) for p in pairs]
    assert len(set(keys)) == len(keys)
    assert {p.response for p in pairs} == {c.text for c in candidates}
    sizes = [len(split_records(pairs, 0.2, salt=str(seed))[1]) for seed in range(42, 47)]
    assert all(abs(n - 0.2 * len(pairs)) < 0.05 * len(pairs) for n in sizes), sizes


def test_pairs_split_by_context_so_no_held_out_context_was_trained_on():
    pairs = [DialogPair((f"question {i % 300}",), f"answer {i}") for i in range(1500)]  # 5 replies each
    train, held = split_records(pairs, 0.2, salt="7")
    assert held and {p.context for p in held}.isdisjoint({p.context for p in train})
    assert len(held) % 5 == 0
