"""Training through the REST API on the real LaBraM: a full run to its files on disk,
409 on a second start, stop mid-run, 50 concurrent starts, and server shutdown mid-run
(in-process and a real ``jupyter server`` process stopped with SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import requests
from configs import FINETUNE, QUICK
from support import training_threads, wait_for_async

from eegtrain_jupyter.schemas import RESPONSE_MODELS
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.testing import ServerProcess

OUTPUTS = ("best_synthetic_model.pth", "training_history.json", "training_curves.png")


async def state_is(api, *states: str) -> bool:
    code, status = await api("GET", "status")
    assert code == 200
    return status["state"] in states


async def epochs_done(api, n: int) -> bool:
    _, status = await api("GET", "status")
    assert status["state"] in ("preparing", "training"), status
    return status["current_epoch"] >= n


async def test_full_run_to_completion(api, manager, jp_root_dir):
    root = Path(jp_root_dir)
    code, started = await api("POST", "start", QUICK)
    assert code == 200, started
    assert started["run_id"] and started["is_training"] is True
    assert started["state"] in ("preparing", "training")
    assert started["config"]["n_epochs"] == 2 and started["config"]["save_dir"] == "models"
    assert started["save_dir"] == str(root / "models")
    RESPONSE_MODELS["Status"].model_validate(started)

    code, body = await api("POST", "start", QUICK)
    assert code == 409 and body["error"] == "Training already in progress"
    assert body["run_id"] == started["run_id"]
    assert len(training_threads()) == 1

    latencies = []

    async def done() -> bool:
        t0 = time.perf_counter()
        result = await state_is(api, "completed", "failed", "stopped")
        latencies.append(time.perf_counter() - t0)
        return result

    await wait_for_async(done, timeout=300, what="the run to end")
    # the IO loop kept answering while the model trained in the manager's thread
    assert max(latencies) < 5.0, max(latencies)

    code, status = await api("GET", "status")
    assert status["state"] == "completed", status["error"]
    assert status["run_id"] == started["run_id"] and status["is_training"] is False
    assert status["current_epoch"] == 2 and 0.0 <= status["val_acc"] <= 100.0  # percent
    RESPONSE_MODELS["Status"].model_validate(status)
    for name in OUTPUTS:
        assert (root / "models" / name).stat().st_size > 0, name
    on_disk = json.loads((root / "models" / "training_history.json").read_text())
    assert len(on_disk["train_losses"]) == 2

    code, history = await api("GET", "history")
    assert code == 200 and history["run_id"] == started["run_id"]
    assert history["train_losses"] == on_disk["train_losses"]
    RESPONSE_MODELS["History"].model_validate(history)

    code, runs = await api("GET", "runs")
    assert code == 200 and [r["run_id"] for r in runs["runs"]] == [started["run_id"]]
    assert runs["runs"][0]["state"] == "completed" and runs["runs"][0]["epochs_completed"] == 2
    RESPONSE_MODELS["Runs"].model_validate(runs)
    assert not training_threads()


async def test_stop_mid_run(api, manager, jp_root_dir):
    root = Path(jp_root_dir)
    code, started = await api("POST", "start", FINETUNE)
    assert code == 200, started
    await wait_for_async(lambda: epochs_done(api, 1), timeout=300, what="the first epoch")
    code, status = await api("POST", "stop")
    assert code == 200 and status["state"] in ("stopping", "stopped")
    await wait_for_async(lambda: state_is(api, "stopped"), timeout=120, what="the run to stop")
    assert manager.wait(10) and not training_threads()

    _, status = await api("GET", "status")
    assert status["is_training"] is False and status["run_id"] == started["run_id"]
    assert 1 <= status["current_epoch"] < FINETUNE["n_epochs"]
    run_dir = Path(status["run_dir"])
    on_disk = json.loads((run_dir / "training_history.json").read_text())
    assert len(on_disk["train_losses"]) == status["current_epoch"]
    assert status["files"]["checkpoint"] == str(run_dir / "best_synthetic_model.pth")
    assert Path(status["files"]["checkpoint"]).exists()
    assert status["published"] == {} and not (root / "models" / "best_synthetic_model.pth").exists()
    code, again = await api("POST", "stop")  # idempotent
    assert code == 200 and again["state"] == "stopped"


async def test_concurrent_starts_one_wins(api, manager, jp_root_dir):
    results = await asyncio.gather(*(api("POST", "start", QUICK) for _ in range(50)))
    codes = sorted(code for code, _ in results)
    assert codes == [200] + [409] * 49, codes
    winner = next(body for code, body in results if code == 200)
    assert {body["run_id"] for code, body in results if code == 409} == {winner["run_id"]}
    assert len(training_threads()) == 1
    code, _ = await api("POST", "stop")
    assert code == 200
    await wait_for_async(lambda: not training_threads(), timeout=120, what="the thread to end")
    code, runs = await api("GET", "runs")
    assert len(runs["runs"]) == 1


async def test_server_shutdown_stops_training_and_keeps_history(api, manager, jp_serverapp, jp_root_dir):
    root = Path(jp_root_dir)
    code, started = await api("POST", "start", FINETUNE)
    assert code == 200
    await wait_for_async(lambda: epochs_done(api, 1), timeout=300, what="the first epoch")
    (ext,) = jp_serverapp.extension_manager.extension_apps["eegtrain_jupyter"]
    assert ext.current_activity()  # a running training is server activity

    await jp_serverapp._cleanup()  # what `jupyter server` runs when it stops

    assert not training_threads()
    run_dir = root / "models" / "runs" / started["run_id"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "stopped" and record["epochs_completed"] >= 1
    history = json.loads((run_dir / "training_history.json").read_text())
    assert len(history["train_losses"]) == record["epochs_completed"]
    # a server started later shows that run, stopped, with its history
    later = TrainingManager(root, confine_to_root=True)
    assert later.status().state == "stopped"
    assert later.history().train_losses == history["train_losses"]


def test_sigterm_stops_training_in_a_real_server(tmp_path):
    root = tmp_path / "root"
    server = ServerProcess(
        root, runtime_dir=tmp_path / "runtime", log_path=tmp_path / "server.log", env={"HOME": str(tmp_path)}
    )
    server.start()
    base = server.url + "training/"
    headers = {"Authorization": f"token {server.token}"}
    try:
        r = requests.post(base + "start", json=FINETUNE, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        run_id = r.json()["run_id"]
        deadline = time.monotonic() + 240
        while requests.get(base + "status", headers=headers, timeout=30).json()["state"] != "training":
            assert time.monotonic() < deadline, "training never began"
            time.sleep(0.5)
    finally:
        server.stop(timeout=120)  # SIGTERM, as a service manager would send
    text = (tmp_path / "server.log").read_text()
    assert f"stopping training run {run_id}" in text, text[-3000:]
    record = json.loads((root / "models" / "runs" / run_id / "run.json").read_text())
    assert record["state"] == "stopped", record
