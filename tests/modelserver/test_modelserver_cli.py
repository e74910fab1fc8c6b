"""The CLI verbs around the server: build-index's output, query and bench against a live server."""

from __future__ import annotations

import json

import pytest

from rejoinder.cli import main as cli

pytestmark = pytest.mark.slow


def test_build_index_publishes_a_complete_index_with_recall(artifacts):
    from rejoinder.api import load_dialog_model
    from rejoinder.modelserver.locate import locate

    manifest = json.loads((artifacts.index / "index.json").read_text())
    where = locate(load_dialog_model(artifacts.retrieval_yaml))
    assert artifacts.index == where.index_dir  # the layout the operator's Job and Deployment use
    assert manifest["format"] == "rejoinder.index/v1" and manifest["params"] == {"kind": "flat"}
    assert manifest["count"] == len(artifacts.candidate_ids) and manifest["recallAt20"] == 1.0
    assert manifest["modelVersion"] == where.model_version and manifest["indexVersion"] == where.index_version
    assert manifest["name"] == "chat" and manifest["namespace"] == "tests"


def test_build_index_approximate_kind_records_its_recall(artifacts, tmp_path, capsys):
    out = tmp_path / "hnsw"
    code = cli(["build-index", "--bundle", str(artifacts.bundle), "--candidates",
                str(artifacts.bundle.parent / "data" / "candidates.jsonl"), "--output", str(out),
                "--kind", "hnsw", "--recall-sample", "40"])
    assert code == 0
    manifest = json.loads((out / "index.json").read_text())
    assert manifest["params"]["kind"] == "hnsw" and manifest["recallSample"] == 40
    assert 0.5 <= manifest["recallAt20"] <= 1.0
    assert "recall@20" in capsys.readouterr().out


def test_build_index_refuses_missing_input(tmp_path, capsys):
    assert cli(["build-index", "--bundle", str(tmp_path)]) == 2
    assert "--candidates" in capsys.readouterr().err


def test_serve_refuses_fewer_than_one_search_thread(tmp_path, capsys):
    assert cli(["serve", "--bundle", str(tmp_path), "--search-threads", "0"]) == 2
    assert "--search-threads must be at least 1" in capsys.readouterr().err


def test_query_prints_the_best_response(server, capsys):
    assert cli(["query", "--target", server.target, "Let's go to an early movie", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "best:" in out and "score" in out and out.count("syn-") >= 3
    assert cli(["query", "--target", server.target, "--method", "retrieve", "--json", "hello"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert len(reply["candidates"]) == 20


def test_query_reports_errors_readably(server, capsys):
    assert cli(["query", "--target", server.target, "--method", "score-session", "hi"]) == 1
    assert "UNIMPLEMENTED" in capsys.readouterr().err


def test_bench_reports_rps_percentiles_and_errors_as_json(server, tmp_path, capsys):
    report_file = tmp_path / "report.json"
    assert cli(["bench", "--target", server.target, "-c", "4", "-n", "40", "--warmup", "2",
                "--json", "-o", str(report_file)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(report_file.read_text())
    assert report["requests"] == 40 and report["ok"] == 40 and report["errors"] == {}
    assert report["rps"] > 0 and 0 < report["p50_ms"] <= report["p90_ms"] <= report["p99_ms"] <= report["max_ms"]
