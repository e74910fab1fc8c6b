"""Local mode's pure parts: which stages run, the MiniLM fallback, status rows, progress lines."""

from __future__ import annotations

from pathlib import Path

from rejoinder.api import load_dialog_model, parse_dialog_model
from rejoinder.api.status import DialogModelStatus, Phase, TrainingProgress
from rejoinder.local import display
from rejoinder.local.commands import Endpoint, stage_argv
from rejoinder.local.fallback import effective_model
from rejoinder.pipeline.stages import Done, Stage, pending
from rejoinder.progress_lines import ProgressLine, format_metrics, format_progress, last_metrics, last_progress

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


def _spec(task: str, **extra):
    return parse_dialog_model({"metadata": {"name": "m"}, "spec": {"task": task, "data": {"preset": "chatterbot"}, **extra}}).spec


def test_retrieval_runs_train_index_serve_and_reuses_finished_stages() -> None:
    spec = _spec("retrieval")
    assert pending(spec, Done(False, False)) == [Stage.train, Stage.build_index, Stage.serve]
    assert pending(spec, Done(True, False)) == [Stage.build_index, Stage.serve]
    assert pending(spec, Done(True, True)) == [Stage.serve]
    # an index without a finished training of this version is not trusted
    assert pending(spec, Done(False, True)) == [Stage.train, Stage.build_index, Stage.serve]


def test_other_tasks_have_no_index_and_pretraining_is_not_served() -> None:
    assert pending(_spec("reranking"), Done(False, False)) == [Stage.train, Stage.serve]
    assert pending(_spec("pretraining", serving={"enabled": False}), Done(False, False)) == [Stage.train]


def test_train_runs_under_horovodrun_only_when_available() -> None:
    endpoint = Endpoint("127.0.0.1", 8500, 9090)
    plain = stage_argv(Stage.train, Path("m.yaml"), version="v-1", endpoint=endpoint, horovodrun=None)
    assert plain[-4:] == ["rejoinder", "train", "-f", "m.yaml"]
    hvd = stage_argv(Stage.train, Path("m.yaml"), version="v-1", endpoint=endpoint, horovodrun="/x/horovodrun")
    assert hvd[:3] == ["/x/horovodrun", "-np", "2"] and "--gloo" in hvd and hvd[-4:] == plain[-4:]
    serve = stage_argv(Stage.serve, Path("m.yaml"), version="v-1", endpoint=endpoint, horovodrun=None)
    assert serve[serve.index("--version") + 1] == "v-1" and serve[serve.index("--port") + 1] == "8500"


def test_quickstart_falls_back_to_a_small_scratch_bert_without_minilm() -> None:
    model = load_dialog_model(QUICKSTART)
    same, why = effective_model(model, minilm_available=True)
    assert same is model and why is None
    small, why = effective_model(model, minilm_available=False)
    assert why and "from scratch" in why
    assert small.spec.model.init is None and small.spec.tokenizer.kind.value == "bpe"
    assert small.spec.model.bert.layers < model.spec.model.bert.layers
    assert small.spec.data == model.spec.data and small.spec.serving == model.spec.serving


def test_status_row_reads_like_kubectl_get_dm() -> None:
    status = DialogModelStatus(phase=Phase.Training, latest_version="v-abc",
                               training=TrainingProgress(step=30, total_steps=300, loss=1.25),
                               metrics={"recall@5": 0.61, "map": 0.47}, message="training step 30 of 300")
    text = display.table([display.row("quickstart", "retrieval", status)])
    header, line = text.splitlines()
    assert header.split()[:4] == ["NAME", "TASK", "PHASE", "VERSION"]
    assert "Training" in line and "30/300 loss=1.250" in line and "recall@5=0.610" in line


def test_progress_and_metrics_lines_round_trip_through_log_prefixes() -> None:
    p = ProgressLine(step=12, total=100, loss=0.5, examples_per_sec=80.0)
    lines = ["noise", "[1,0]<stdout>:" + format_progress(p), "12:00:01 INFO " + format_metrics({"recall@5": 0.6})]
    assert last_progress(lines) == p
    assert last_metrics(lines) == {"recall@5": 0.6}
    assert last_progress(["REJOINDER_PROGRESS step=x total=1"]) is None


def test_status_row_shows_the_gain_over_the_untrained_start() -> None:
    status = DialogModelStatus(phase=Phase.Serving, metrics={"recall@5": 0.812, "init_recall@5": 0.753,
                                                            "gain_recall@5": 0.059, "map": 0.7})
    line = display.table([display.row("quickstart", "retrieval", status)]).splitlines()[1]
    assert "recall@5=0.812(+0.059)" in line and "map=0.700" in line and "map=0.700(" not in line
