"""Benchmarks over REST on real recordings: bad protocols and bad requests are 400s naming the field
with no run started, and a small cross-subject benchmark of two baselines runs to outputs whose
numbers are the run records'."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import mne
import pytest
from configs import TINY
from recordings import LABELS, make_raw, write, write_set
from support import wait_for_async

from eegtrain_jupyter.client import RemoteClient
from eegtrain_jupyter.errors import ConfigError
from eegtrain_jupyter.schemas import RESPONSE_MODELS


def files_config(evaluation: dict | None = None, **data) -> dict:
    return {
        **TINY,
        "save_dir": "models",
        "evaluation": evaluation or {"protocol": "cross_subject", "n_folds": 4},
        "data": {
            "source": "files",
            "paths": ["rec/*"],
            "labels": LABELS,
            "sliding": True,
            "subject_pattern": r"sub-(?P<subject>\d+)",
            "channel_map": {"EEG O2-REF": "O2"},
            **data,
        },
    }


def one_class_recordings(folder: Path) -> None:
    """sub-01 has both classes; sub-02 and sub-03 only ``eyes_closed``: the fold holding sub-01 out
    trains on one class."""
    for subject in (1, 2, 3):
        raw = make_raw(subject)
        if subject > 1:
            ann = raw.annotations
            keep = [i for i, d in enumerate(ann.description) if d == "eyes_closed"]
            raw.set_annotations(mne.Annotations(ann.onset[keep], ann.duration[keep], ann.description[keep]))
        write(raw, folder, f"sub-{subject:02d}_task-rest", "edf")


async def test_bad_protocols_are_400s_before_any_run(api, manager, jp_root_dir):
    root = Path(jp_root_dir)
    write_set(root / "rec")
    one_class_recordings(root / "skewed")
    runs = [
        (files_config(subject_pattern=None), "evaluation.protocol", "no subject ids"),
        (files_config({"protocol": "cross_session"}), "evaluation.protocol", "data.session_pattern"),
        (files_config({"protocol": "cross_subject", "n_folds": 10, "fold": 5}), "evaluation.fold", "4 folds"),
        (
            files_config({"protocol": "cross_subject", "n_folds": 3}, paths=["skewed/*"]),
            "evaluation.protocol",
            "no window of class",
        ),
        ({**files_config(), "model": "resnet"}, "model", ""),
    ]
    for config, field, words in runs:
        for endpoint in ("start", "config/validate"):
            code, body = await api("POST", endpoint, config)
            if endpoint == "start":
                assert code == 400, (config, body)
                RESPONSE_MODELS["ErrorBody"].model_validate(body)
            else:
                assert code == 200 and body["valid"] is False, body
            errors = {e["field"]: e["message"] for e in body["errors"]}
            assert field in errors and words in errors[field], (field, errors)
        # the same through a benchmark: its base config's field
        base = {k: v for k, v in config.items() if k != "model"}
        models = [config["model"]] if "model" in config else ["csp_lda"]
        code, body = await api("POST", "benchmark", {"config": base, "models": models})
        assert code == 400, body
        named = "models.0.config.model" if field == "model" else f"config.{field}"
        assert named in {e["field"] for e in body["errors"]}, body
    for body in ({"models": "csp_lda"}, {"models": ["csp_lda"], "colour": 1}, {"resume": "bench-x"}, [1]):
        code, answer = await api("POST", "benchmark", body)
        assert code == 400 and answer["errors"], (body, answer)
    _, runs_now = await api("GET", "runs")
    assert runs_now["runs"] == [] and not (root / "models").exists()
    code, idle = await api("GET", "benchmark")
    assert code == 200 and idle["state"] == "idle"
    RESPONSE_MODELS["BenchmarkStatus"].model_validate(idle)
    client = RemoteClient(api.root, api.token)  # the REST client: the same answers
    assert await asyncio.to_thread(client.benchmark_status) == idle
    with pytest.raises(ConfigError) as info:
        await asyncio.to_thread(client.start_benchmark, ["csp_lda"], files_config(subject_pattern=None))
    assert "config.evaluation.protocol" in {e.field for e in info.value.errors}


async def test_a_benchmark_over_rest(api, manager, jp_root_dir):
    root = Path(jp_root_dir)
    write_set(root / "rec")
    body = {"config": files_config(), "models": ["csp_lda", "bandpower_lda"]}
    code, started = await api("POST", "benchmark", body)
    assert code == 200, started
    bench_id = started["benchmark_id"]
    assert started["n_runs"] == 8 and started["n_folds"] == 4  # leave one of 4 subjects out
    code, busy = await api("POST", "start", TINY)
    assert code == 409, busy

    async def finished():
        _, status = await api("GET", "benchmark")
        return status["state"] not in ("running", "stopping")

    await wait_for_async(finished, 300, "the benchmark to end")
    _, status = await api("GET", "benchmark")
    RESPONSE_MODELS["BenchmarkStatus"].model_validate(status)
    assert status["state"] == "completed", status
    _, listed = await api("GET", f"runs?job={bench_id}")
    records = {r["run_id"]: r for r in listed["runs"]}
    assert len(records) == 8 and {r["config"]["evaluation"]["fold"] for r in records.values()} == {0, 1, 2, 3}
    files = status["summary"]["files"]
    assert {Path(p).name for p in files.values()} == {
        "benchmark.json",
        "benchmark.csv",
        "benchmark.md",
        "benchmark.png",
    }
    assert all(Path(p).parent == root / "models" / "benchmarks" / bench_id for p in files.values())
    with open(files["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    for row in rows:
        report = records[row["run_id"]]["test_report"]
        assert float(row["balanced_accuracy"]) == report["balanced_accuracy"]
        assert row["subject"] == "+".join(report["subjects"]) and row["dataset"] == "files"
    markdown = Path(files["markdown"]).read_text()
    for model in status["summary"]["models"]:
        scores = [
            records[r["run_id"]]["test_report"]["balanced_accuracy"]
            for r in status["results"]
            if r["label"] == model["label"]
        ]
        assert abs(model["mean"] - sum(scores) / len(scores)) < 1e-9
        assert f"{model['mean']:.1f} ± {model['sd']:.1f}" in markdown
