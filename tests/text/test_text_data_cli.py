from __future__ import annotations

import json

import numpy as np

from rejoinder.cli import main
from rejoinder.text.formats import read_records


def test_import_chatterbot_writes_pairs_and_responses(tmp_path, capsys):
    assert main(["data", "import-chatterbot", "-o", str(tmp_path)]) == 0
    pairs = list(read_records(tmp_path / "pairs.jsonl", "pairs"))
    candidates = list(read_records(tmp_path / "candidates.jsonl", "candidates"))
    assert len(pairs) > 1200 and len(candidates) > 1000
    assert {p.response for p in pairs} == {c.text for c in candidates}
    assert len({c.id for c in candidates}) == len(candidates)
    assert main(["data", "check", str(tmp_path / "pairs.jsonl"), "--kind", "pairs"]) == 0


def test_synthetic_is_labelled_and_reproducible(tmp_path):
    args = ["data", "synthetic", "--responses", "500", "--pairs", "50", "--reactions", "20", "--sessions", "10"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    for name in ("candidates", "pairs", "reactions", "sessions"):
        a = (tmp_path / "a" / f"synthetic-{name}.jsonl").read_text()
        assert a == (tmp_path / "b" / f"synthetic-{name}.jsonl").read_text()
        assert all(json.loads(line)["source"] == "synthetic" for line in a.splitlines())
    texts = [c.text for c in read_records(tmp_path / "a" / "synthetic-candidates.jsonl", "candidates")]
    assert len(set(texts)) > 450  # varied, not one repeated sentence


def test_check_reports_file_line_reason(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "fine"}\n{"id": "2", "text": "x", "score": 3}\n')
    assert main(["data", "check", str(bad), "--kind", "candidates"]) == 1
    assert f"{bad}:2: unknown field(s) ['score']" in capsys.readouterr().err


def test_pretokenize_builds_tokenizer_and_shards(tmp_path, capsys):
    assert main(["data", "synthetic", "-o", str(tmp_path), "--responses", "0", "--pairs", "0", "--sessions", "300"]) == 0
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: rejoinder.dev/v1alpha1\nkind: DialogModel\nmetadata: {name: s}\n"
        "spec:\n  task: session-scoring\n  data: {train: s.jsonl}\n  tokenizer: {vocabSize: 300}\n"
        "  model: {bert: {maxSeqLength: 40, contextLength: 30, responseLength: 10}}\n"
    )
    code = main(["data", "pretokenize", "-f", str(spec), "--input", str(tmp_path / "synthetic-sessions.jsonl"),
                 "--tokenizer", str(tmp_path / "tok"), "-o", str(tmp_path / "shards"), "--shards", "2", "--workers", "1"])
    assert code == 0
    manifest = json.loads((tmp_path / "shards" / "shards.json").read_text())
    assert sum(manifest["rows"]) == 300 and manifest["arrays"]["input_ids"]["shape"] == [40]
    with np.load(tmp_path / "shards" / manifest["names"][0]) as shard:
        assert shard["input_ids"].dtype == np.int32 and set(np.unique(shard["label"])) == {0.0, 1.0}
    assert (tmp_path / "tok" / "tokenizer.json").is_file()
