"""A benchmark through the service: every (model, fold) an ordinary run listed with the benchmark's
id and fold, the outputs' numbers equal to what the run records say, statistics from
engine/statistics.py, stop, bad requests refused before any run, and resume after a restart."""

from __future__ import annotations

import csv
import json
import math
import statistics as pystats
from pathlib import Path

import pytest
from configs import TINY

from eegtrain_jupyter.engine import statistics
from eegtrain_jupyter.errors import AlreadyTrainingError, ConfigError
from eegtrain_jupyter.files import read_json, write_json
from eegtrain_jupyter.service.benchmark import BenchmarkManager
from eegtrain_jupyter.service.manager import TrainingManager

BASE = {
    **TINY,
    "save_dir": "models",
    "data": {"n_subjects": 3},
    "evaluation": {"protocol": "cross_subject", "n_folds": 3},
}
"""Three synthetic subjects, leave one subject out: three folds."""


def managers(root: Path) -> tuple[TrainingManager, BenchmarkManager]:
    manager = TrainingManager(root, thread_settings=None)
    return manager, BenchmarkManager(manager)


@pytest.fixture
def bench(tmp_path):
    manager, benchmark = managers(tmp_path)
    yield manager, benchmark
    benchmark.shutdown(120)
    manager.shutdown(60)


def check_outputs(status: dict, records: list[dict]) -> None:
    """The CSV, markdown and JSON say what the run records say."""
    by_run = {r["run_id"]: r for r in records}
    files = status["summary"]["files"]
    assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in files.values())
    assert Path(files["figure"]).read_bytes()[:4] == b"\x89PNG"
    with open(files["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    completed = [r for r in status["results"] if r["state"] == "completed"]
    assert len(rows) == len(completed)
    for row in rows:
        report = by_run[row["run_id"]]["test_report"]
        assert float(row["balanced_accuracy"]) == pytest.approx(report["balanced_accuracy"])
        assert float(row["score"]) == pytest.approx(report["balanced_accuracy"] / 100)
        assert float(row["cohen_kappa"]) == pytest.approx(report["cohen_kappa"])
        assert int(row["n_test"]) == report["n"]
        record = by_run[row["run_id"]]
        assert (
            row["pipeline"] == record["config"]["model"]
            and int(row["fold"]) == record["config"]["evaluation"]["fold"]
        )
        assert row["subject"] == "+".join(report["subjects"])  # the held-out subject
        train = int(record["split"].split(": ")[1].split(" / ")[0])
        assert int(row["samples"]) == train and int(row["channels"]) == 8
    markdown = Path(files["markdown"]).read_text()
    saved = json.loads(Path(files["json"]).read_text())
    assert saved["benchmark_id"] == status["benchmark_id"] and len(saved["rows"]) == len(rows)
    for model in status["summary"]["models"]:
        scores = [
            by_run[r["run_id"]]["test_report"]["balanced_accuracy"]
            for r in completed
            if r["label"] == model["label"]
        ]
        expected = statistics.summarize(scores)
        assert model["mean"] == pytest.approx(pystats.mean(scores)) and model["sd"] == pytest.approx(
            pystats.stdev(scores)
        )
        assert model["ci_low"] == pytest.approx(expected.ci_low)
        assert f"| {model['label']} |" in markdown and f"{model['mean']:.1f} ± {model['sd']:.1f}" in markdown
    for comparison in status["summary"]["comparisons"]:
        assert comparison["verdict"] in markdown


@pytest.mark.slow  # nine runs, three of them a network
def test_a_benchmark_runs_every_model_on_every_fold(bench):
    manager, benchmark = bench
    status = benchmark.start({"config": BASE, "models": ["csp_lda", "bandpower_lda", "eegnet"]})
    bench_id = status.benchmark_id
    assert status.state.value == "running" and status.n_runs == 9 and status.n_folds == 3
    with pytest.raises(AlreadyTrainingError):
        manager.start(TINY)
    assert benchmark.wait(600)
    status = benchmark.status().to_json()
    assert status["state"] == "completed", status
    assert {(r["label"], r["fold"]) for r in status["results"]} == {
        (m, f) for m in ("csp_lda", "bandpower_lda", "eegnet") for f in range(3)
    }
    assert all(r["state"] == "completed" for r in status["results"])
    records = [r.to_json() for r in manager.runs({"job": bench_id})]
    assert len(records) == 9 and all(r["job"] == bench_id for r in records)
    assert manager.runs({"job": "bench-none"}) == []
    # each fold tests one subject, the same one for every model
    held = {(r["config"]["evaluation"]["fold"], tuple(r["test_report"]["subjects"])) for r in records}
    assert sorted(held) == [(0, ("0",)), (1, ("1",)), (2, ("2",))]
    summary = status["summary"]
    assert summary["best"] == max(summary["models"], key=lambda m: m["mean"])["label"]
    assert summary["best_baseline"] in ("csp_lda", "bandpower_lda")
    assert {(c["a"], c["against"]) for c in summary["comparisons"]} >= {("eegnet", "best_baseline")}
    check_outputs(status, records)


def test_bad_requests_are_refused_before_any_run(bench, tmp_path):
    manager, benchmark = bench
    cases = [
        ({"models": ["nope"]}, "models.0.config.model"),
        ({"models": []}, "models"),
        ({"models": ["csp_lda", "csp_lda"]}, "models"),
        (
            {"config": {**BASE, "evaluation": {"protocol": "cross_session"}}, "models": ["csp_lda"]},
            "config.evaluation.protocol",
        ),
        (
            {"config": {**BASE, "data": {"n_subjects": 1}}, "models": ["csp_lda"]},
            "config.evaluation.protocol",
        ),
        (
            {"config": BASE, "models": [{"label": "x", "config": {"model": "csp_lda", "seed": 3}}]},
            "models.0.config.seed",
        ),
        (
            {"config": BASE, "models": [{"label": "x", "config": {"model": "eegnet", "n_epochs": 0}}]},
            "models.0.config.n_epochs",
        ),
        ({"config": {**BASE, "n_epochs": 0}, "models": ["eegnet"]}, "config.n_epochs"),
        ({"resume": "bench-20240101-000000-abcdef"}, "resume"),
        (
            {
                "config": {
                    **BASE,
                    "data": {"source": "files", "paths": ["nothing/*.edf"], "labels": {"a": "b"}},
                },
                "models": ["csp_lda"],
            },
            "config.data.paths[0]",
        ),
    ]
    for body, field in cases:
        with pytest.raises(ConfigError) as info:
            benchmark.start(body)
        assert field in {e.field for e in info.value.errors}, (body, info.value.errors)
    assert benchmark.status().state.value == "idle" and manager.runs() == []
    assert not (tmp_path / "models").exists()


def test_stop_ends_it_and_resume_after_a_restart_keeps_finished_folds(tmp_path):
    manager, benchmark = managers(tmp_path)
    models = ["csp_lda", "bandpower_lda"]
    status = benchmark.start({"config": BASE, "models": models})
    bench_id = status.benchmark_id
    while not any(r.state == "completed" for r in benchmark.status().results):
        benchmark.wait(0.2)
    manager.stop()  # POST /training/stop: ends the running fold and the benchmark
    assert benchmark.wait(120)
    stopped = benchmark.status()
    assert stopped.state.value == "stopped" and len(stopped.results) < 6
    kept = {r.run_id for r in stopped.results if r.state == "completed"}
    assert kept and not manager.is_active()
    manager.shutdown(60)
    # a crash while the benchmark ran: its record still says running, its owner gone
    record = read_json(benchmark.record_path)
    record["state"] = "running"
    record["results"].append({**record["results"][0], "fold": 2, "run_id": None, "state": "running"})
    write_json(benchmark.record_path, record)

    manager, benchmark = managers(tmp_path)  # the restarted server
    try:
        recovered = benchmark.status()
        assert recovered.state.value == "interrupted" and recovered.benchmark_id == bench_id
        assert "interrupted" in {r.state for r in recovered.results}
        resumed = benchmark.start({"resume": bench_id})
        assert resumed.benchmark_id == bench_id and resumed.state.value == "running"
        assert benchmark.wait(300)
        done = benchmark.status().to_json()
        assert done["state"] == "completed", done
        assert len(done["results"]) == 6 and all(r["state"] == "completed" for r in done["results"])
        assert kept <= {r["run_id"] for r in done["results"]}  # finished folds were not run again
        records = [r.to_json() for r in manager.runs({"job": bench_id}) if r.state.value == "completed"]
        assert {r["run_id"] for r in records} >= {r["run_id"] for r in done["results"]}
        check_outputs(done, records)
        with pytest.raises(ConfigError):
            benchmark.start({"resume": bench_id})  # completed: nothing left
    finally:
        benchmark.shutdown(60)
        manager.shutdown(60)


def test_each_run_config_is_the_base_with_its_fold_and_repeat_seed():
    from eegtrain_jupyter.config.benchmark import fold_config, parse_benchmark

    base = {**BASE, "seed": 7, "freeze_backbone": False, "evaluation": {**BASE["evaluation"], "n_repeats": 2}}
    entry = {"label": "net_fast", "config": {"model": "eegnet", "learning_rate": 0.005}}
    request = parse_benchmark({"config": base, "models": ["csp_lda", entry]})
    assert [m.label for m in request.entries] == ["csp_lda", "net_fast"]
    for m in request.entries:
        for repeat in range(2):
            for fold in range(3):
                config = fold_config(request, m, fold, repeat)
                assert config.seed == 7 + repeat and config.evaluation.fold == fold
                assert config.evaluation.protocol == "cross_subject" and config.evaluation.n_folds == 3
    net = fold_config(request, request.entries[1], 0, 0)
    assert net.model == "eegnet" and net.learning_rate == 0.005 and net.freeze_backbone is False
    lda = fold_config(request, request.entries[0], 0, 0)
    assert lda.model == "csp_lda" and lda.n_epochs == 1  # labram's and the networks' options dropped
    with pytest.raises(ConfigError) as info:
        parse_benchmark(
            {
                "config": {**base, "evaluation": {"protocol": "cross_subject", "fold": 1}},
                "models": ["csp_lda"],
            }
        )
    assert info.value.errors[0].field == "config.evaluation.fold"


def test_summary_statistics_pair_folds(tmp_path):
    """The summary on fixed rows: means, SD and paired verdicts from engine/statistics.py."""
    from eegtrain_jupyter.engine.benchmark import summarize_rows

    a = [70.0, 75.0, 80.0, 72.0]
    b = [60.0, 66.0, 71.0, 65.0]
    rows = [
        {"pipeline": label, "fold": f, "repeat": 0, "balanced_accuracy": s}
        for label, scores in (("net", a), ("lda", b))
        for f, s in enumerate(scores)
    ]
    summary = summarize_rows(rows, [("net", "eegnet", False), ("lda", "csp_lda", True)])
    assert summary["best"] == "net" and summary["best_baseline"] == "lda"
    net = summary["models"][0]
    assert net["mean"] == pytest.approx(pystats.mean(a)) and net["sd"] == pytest.approx(pystats.stdev(a))
    expected = statistics.compare_paired(b, a, "lda", "net")
    vs_best = next(c for c in summary["comparisons"] if c["against"] == "best")
    assert vs_best["p_value"] == pytest.approx(expected.p_value) and vs_best["verdict"] == expected.verdict
    vs_base = next(c for c in summary["comparisons"] if c["against"] == "best_baseline")
    assert vs_base["a"] == "net" and math.isclose(
        vs_base["mean_difference"], pystats.mean(a) - pystats.mean(b)
    )


def test_local_client_and_cli(tmp_path, monkeypatch, capsys):
    from eegtrain_jupyter.cli import main
    from eegtrain_jupyter.client import LocalClient

    manager = TrainingManager(tmp_path, thread_settings=None)
    client = LocalClient(manager)
    try:
        assert client.benchmark_status()["state"] == "idle"
        with pytest.raises(ConfigError):
            client.start_benchmark(resume="bench-20240101-000000-abcdef")
        started = client.start_benchmark(["bandpower_lda"], BASE)
        assert started["state"] == "running" and started["n_runs"] == 3
        client.benchmark.wait(300)
        done = client.benchmark_status()
        assert done["state"] == "completed" and [r["fold"] for r in done["results"]] == [0, 1, 2]
    finally:
        manager.shutdown(60)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.json").write_text(json.dumps({**TINY, "save_dir": "cli", "data": {"n_subjects": 3}}))
    code = main(
        [
            "benchmark",
            "--models",
            "csp_lda,bandpower_lda",
            "--config",
            "base.json",
            "--protocol",
            "cross_subject",
            "--n-folds",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "cross_subject, 3 fold(s), 6 runs" in out
    for label in ("csp_lda", "bandpower_lda"):
        for fold in range(3):
            assert f"  {label} fold {fold} repeat 0: completed balanced accuracy" in out
        assert f"| {label} | yes | 3 |" in out  # the final table
    assert "## Statistics" in out and (tmp_path / "cli" / "benchmarks").is_dir()
    assert main(["benchmark", "--models", "nope"]) == 2
    assert "models.0.config.model" in capsys.readouterr().err


def test_a_cross_session_benchmark_on_recordings(tmp_path):
    """Two subjects × two sessions written as EDF: each fold tests one session of each subject, and
    the CSV's session column says which."""
    from recordings import LABELS, make_raw, write

    for subject in (1, 2):
        for session in (1, 2):
            write(
                make_raw(subject, seed=session), tmp_path / "rec", f"sub-{subject:02d}_ses-{session}", "edf"
            )
    config = {
        "save_dir": "models",
        "evaluation": {"protocol": "cross_session"},
        "data": {
            "source": "files",
            "paths": ["rec/*.edf"],
            "labels": LABELS,
            "sliding": True,
            "subject_pattern": r"sub-(?P<subject>\d+)",
            "session_pattern": r"ses-(?P<session>\d+)",
        },
    }
    manager, benchmark = managers(tmp_path)
    try:
        status = benchmark.start({"config": config, "models": ["csp_lda"]})
        assert status.n_folds == 2 and status.n_runs == 2
        assert benchmark.wait(300)
        done = benchmark.status().to_json()
        assert done["state"] == "completed", done
        with open(done["summary"]["files"]["csv"]) as fh:
            rows = list(csv.DictReader(fh))
        assert sorted(r["session"] for r in rows) == ["01/1+02/1", "01/2+02/2"]
        records = {r.run_id: r for r in manager.runs({"job": done["benchmark_id"]})}
        for row in rows:
            split = records[row["run_id"]].split
            assert f"cross_session fold {int(row['fold']) + 1} of 2 (tests sessions 01/" in split
    finally:
        benchmark.shutdown(60)
        manager.shutdown(60)
