"""Hyper-parameter search and run comparison over REST, on a real Jupyter server: a search's
trials run one after another (409 for start/search meanwhile), stop ends it with the running trial
marked stopped, bad spaces are 400s naming the field, and a search killed with its process is
shown as interrupted after a restart, its finished trials kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from configs import QUICK
from support import require, wait_for, wait_for_async

from eegtrain_jupyter.schemas import RESPONSE_MODELS

require("optuna")

BASE = {**QUICK, "model": "shallow_fbcsp"}
SPACE = {"learning_rate": {"low": 0.0003, "high": 0.003, "log": True}}
N_EPOCHS = 25


async def search_state(api):
    code, body = await api("GET", "search")
    assert code == 200, body
    RESPONSE_MODELS["SearchStatus"].model_validate(body)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"space": {"colour": {"choices": ["red"]}}}, "space.colour"),
        ({"space": {"learning_rate": {"low": 0.00001, "high": 0.001}}}, "space.learning_rate"),
        ({"space": {"batch_size": {"low": 16, "high": 512}}}, "space.batch_size"),
        ({"space": {"model": {"choices": []}}}, "space.model"),
        ({"space": SPACE, "n_trials": 0}, "n_trials"),
        ({"space": SPACE, "config": {"batch_size": 8}}, "config.batch_size"),
        ({"space": {"save_dir": {"choices": ["a", "b"]}}}, "space.save_dir"),
        ({"space": {"augmentation": {"choices": [[], ["sign_flip"]]}}}, "space.augmentation"),
    ],
)
async def test_bad_search_requests_are_400_naming_the_field(api, body, field):
    code, err = await api("POST", "search", body)
    assert code == 400, err
    assert field in [e["field"] for e in err["errors"]], err
    assert (await search_state(api))["state"] == "idle"


async def test_search_runs_trials_blocks_other_jobs_and_stops(api, manager):
    code, started = await api(
        "POST",
        "search",
        # trials of a few seconds, so that the stop below lands inside one (trials share a worker
        # and relay pipelined: 3 epochs of this model end faster than a poll and a stop)
        {"config": {**BASE, "n_epochs": N_EPOCHS}, "space": SPACE, "n_trials": 3, "pruner": "none"},
    )
    assert code == 200, started
    assert started["state"] == "running"
    assert started["storage"].endswith(".eegtrain/optuna-journal.log")

    # one active job: neither a run nor another search may start meanwhile
    code, body = await api("POST", "start", QUICK)
    assert code == 409 and "search" in body["error"], body
    code, body = await api("POST", "search", {"space": SPACE})
    assert code == 409, body

    async def first_done_second_running():
        s = await search_state(api)
        assert s["state"] == "running", s
        return (
            len(s["trials"]) >= 2
            and s["trials"][0]["state"] == "complete"
            and s["trials"][-1]["state"] == "running"
        )

    await wait_for_async(first_done_second_running, timeout=300, what="trial 0 done, the next running")
    code, _ = await api("POST", "stop")
    assert code == 200

    async def ended():
        return (await search_state(api))["state"] not in ("running", "stopping")

    await wait_for_async(ended, timeout=120, what="the search to end")
    s = await search_state(api)
    assert s["state"] == "stopped", s
    *finished, last = s["trials"]
    assert last["state"] == "stopped" and last["run_id"], last
    assert finished and all(t["state"] == "complete" and t["value"] is not None for t in finished)
    assert s["best"]["number"] in [t["number"] for t in finished]
    assert s["best"]["config"]["learning_rate"] == s["best"]["params"]["learning_rate"]
    assert len(s["trials"]) < 3 or last["number"] == 2
    # trials keep their files in their run folders: the top-level set is a plain run's to replace
    trial_runs = [
        r for r in (await api("GET", "runs"))[1]["runs"] if r["run_id"] in {t["run_id"] for t in finished}
    ]
    assert trial_runs and all(r["state"] == "completed" and r["published"] == {} for r in trial_runs)
    # a trial draws no curves PNG while it trains; its run lists one and draws it on request
    first = trial_runs[0]
    png = os.path.join(first["run_dir"], "training_curves.png")
    assert not os.path.exists(png)
    code, detail = await api("GET", f"runs/{first['run_id']}")
    assert code == 200 and "training_curves.png" in detail["downloads"], detail["downloads"]
    resp = await api.raw("GET", f"runs/{first['run_id']}/files/training_curves.png")
    assert resp.code == 200 and resp.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.exists(png)
    # every trial is an ordinary run: listed, filterable, comparable
    code, runs = await api("GET", "runs?model=shallow_fbcsp&sort=started_at&order=asc")
    assert code == 200
    assert [r["run_id"] for r in runs["runs"]] == [t["run_id"] for t in s["trials"]]
    assert runs["runs"][-1]["state"] == "stopped"
    ids = ",".join(t["run_id"] for t in s["trials"])
    code, cmp = await api("GET", f"compare?runs={ids}")
    assert code == 200, cmp
    RESPONSE_MODELS["Comparison"].model_validate(cmp)
    assert set(cmp["config_diff"]) == {"learning_rate"}
    assert cmp["epochs"] == list(range(1, N_EPOCHS + 1))
    # the trainer is free again
    code, body = await api("POST", "start", {**QUICK, "n_epochs": 1})
    assert code == 200, body


async def test_compare_and_runs_query_errors_over_rest(api):
    code, body = await api("GET", "compare")
    assert code == 400 and body["errors"][0]["field"] == "runs"
    code, body = await api("GET", "compare?runs=nope")
    assert code == 404 and body["errors"][0]["field"] == "runs"
    code, body = await api("GET", "runs?sort=colour")
    assert code == 400 and body["errors"][0]["field"] == "sort"


@pytest.fixture
def killed_search(jp_root_dir):
    """``eegtrain search`` in the server's root, killed (SIGKILL) while its second trial runs,
    before the server starts."""
    root = Path(jp_root_dir)
    (root / "space.json").write_text('{"learning_rate": {"low": 0.0003, "high": 0.003, "log": true}}')
    (root / "base.json").write_text(
        '{"model": "shallow_fbcsp", "n_epochs": 30, "n_samples_per_class": 100, '
        '"device": "cpu", "save_dir": "models"}'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eegtrain_jupyter.cli",
            "search",
            "--space",
            "space.json",
            "--config",
            "base.json",
            "--n-trials",
            "3",
            "--pruner",
            "none",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: any("trial 0:" in line for line in lines) or proc.poll() is not None,
            timeout=300,
            what="the CLI's first trial",
        )
        assert proc.poll() is None, "".join(lines)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return lines


async def test_a_search_killed_with_its_process_is_interrupted_after_restart(killed_search, api):
    assert any("trial 0: complete" in line for line in killed_search), killed_search
    s = await search_state(api)
    assert s["state"] == "interrupted" and "ended before it finished" in s["error"]
    first, *rest = s["trials"]
    assert first["state"] == "complete" and first["value"] is not None
    assert rest and all(t["state"] == "interrupted" for t in rest), rest
    assert s["best"]["number"] == 0
    # the trainer is not held by the dead search
    body = {"config": {**BASE, "n_epochs": 1}, "space": SPACE, "n_trials": 1}
    code, body = await api("POST", "search", body)
    assert code == 200, body
    await wait_for_async(lambda: _ended(api), timeout=120, what="the new search")


async def _ended(api):
    return (await search_state(api))["state"] == "completed"
