"""Runs with ``pretrained_weights: "hf://braindecode/labram-pretrained"`` through the service, the
hub played by :class:`hub.StandInHub` on 127.0.0.1 (``HF_ENDPOINT``) with a LaBraM snapshot that
braindecode's own ``save_pretrained`` wrote.

The start resolves the id with the hub (no download) and pins it to its commit; the run's worker
downloads the weights, its status showing the download as a phase line, and the status, run
record, checkpoint and model card say what loaded. What the hub does not have, and the hub
offline, are a 400 naming ``pretrained_weights``; a download that ends short fails the run with an
error naming it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from configs import TINY
from hub import StandInHub
from support import wait_for, wait_for_async

from eegtrain_jupyter.config.data import CH_NAMES, N_TIMES
from eegtrain_jupyter.engine.artifacts import SYNTHETIC_CHECKPOINT_NAME
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.models.labram import build_classifier
from eegtrain_jupyter.serving.model_card import MODEL_CARD_JSON, MODEL_CARD_MD

REPO = "braindecode/labram-pretrained"
HUB_ID = f"hf://{REPO}"
FETCHING = re.compile(r"fetching pretrained weights (\S+): (\d+\.\d) of (\d+\.\d) MB")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> tuple[Path, int]:
    """A seeded LaBraM for the synthetic windows, as braindecode saves it; and its backbone's size."""
    model, _ = build_classifier(CH_NAMES, N_TIMES, 200.0, n_outputs=3, seed=9)
    folder = tmp_path_factory.mktemp("published") / "labram-pretrained"
    model.labram.save_pretrained(folder)
    return folder, len(model.labram.state_dict()) - 2  # the head (weight, bias) is not loaded


@pytest.fixture
def hub(snapshot, tmp_path, monkeypatch):
    """The stand-in hub publishing the snapshot as ``braindecode/labram-pretrained``; this process's
    ``HF_*`` settings point at it and at an empty cache."""
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with StandInHub() as hub:
        hub.commit = hub.add(REPO, snapshot[0])
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub


def expected_summary(hub, n_keys: int) -> str:
    return f"pretrained: {n_keys}/{n_keys} backbone keys from {HUB_ID}@{hub.commit} (head new: 2 classes)"


def assert_recorded(run_dir: Path, summary: str) -> None:
    """The run record, the checkpoint and the model card say what loaded."""
    record = json.loads((run_dir / "run.json").read_text())
    assert record["backbone"]["message"] == summary
    assert (
        record["backbone"]["load"]["missing"] == [] and record["backbone"]["load"]["format"] == "safetensors"
    )
    ckpt = torch.load(run_dir / SYNTHETIC_CHECKPOINT_NAME, weights_only=True, map_location="cpu")
    assert ckpt["backbone"]["message"] == summary
    card = json.loads((run_dir / MODEL_CARD_JSON).read_text())
    assert card["backbone"]["message"] == summary
    assert summary in (run_dir / MODEL_CARD_MD).read_text()


class Phases(TrainingListener):
    def __init__(self) -> None:
        self.phases: list[str] = []

    def on_phase(self, phase: str) -> None:
        self.phases.append(phase)


@pytest.mark.slow  # a real run in a worker process
def test_a_run_fetches_the_hub_weights_in_its_worker_and_says_what_loaded(hub, snapshot, tmp_path):
    from eegtrain_jupyter.service.manager import TrainingManager

    hub.body_s = 3.0  # a slow network: the download takes a few seconds
    manager = TrainingManager(tmp_path, thread_settings=None)
    listener = Phases()
    try:
        started = manager.start(
            {**TINY, "save_dir": "models", "pretrained_weights": HUB_ID}, listeners=[listener]
        )
        pinned = f"{HUB_ID}@{hub.commit}"
        assert started.config.pretrained_weights == pinned
        # the start asked the hub which commit and file (HEAD), and downloaded nothing
        assert hub.requests and all(method == "HEAD" for method, _ in hub.requests)
        seen = wait_for(
            lambda: (phase := manager.status().phase) and phase.startswith("fetching") and phase,
            timeout=300,
            what="the download's progress line in the status",
        )
        assert FETCHING.fullmatch(seen) and FETCHING.fullmatch(seen)[1] == pinned
        assert manager.wait(600)
        status = manager.status()
        assert status.state.value == "completed", status.error
    finally:
        manager.shutdown(60)
    assert any(method == "GET" for method, _ in hub.requests)  # the worker downloaded it
    fetching = [FETCHING.fullmatch(p) for p in listener.phases if p.startswith("fetching")]
    assert fetching and all(fetching)
    done, total = fetching[-1][2], fetching[-1][3]
    size = (snapshot[0] / "model.safetensors").stat().st_size
    assert done == total == f"{size / 2**20:.1f}"  # the last line: the whole file
    assert listener.phases[listener.phases.index(seen) :].count("building model") == 1
    summary = expected_summary(hub, snapshot[1])
    assert status.backbone is not None and status.backbone.message == summary
    assert status.backbone.origin == "pretrained" and status.backbone.weights_path == pinned
    assert_recorded(Path(status.run_dir), summary)


async def test_hub_ids_over_rest_load_or_are_refused_naming_the_field(
    api, hub, snapshot, jp_root_dir, monkeypatch
):
    """One run from the hub over REST; a missing repository, the hub offline, and a download that
    ends short."""
    root = Path(jp_root_dir)

    async def ended():
        _, status = await api("GET", "status")
        return status if status["state"] in ("completed", "failed", "stopped") else None

    code, started = await api("POST", "start", {**TINY, "save_dir": "models", "pretrained_weights": HUB_ID})
    assert code == 200, started
    assert started["config"]["pretrained_weights"] == f"{HUB_ID}@{hub.commit}"
    status = await wait_for_async(ended, timeout=600, what="the run to end")
    assert status["state"] == "completed", status["error"]
    summary = expected_summary(hub, snapshot[1])
    assert status["backbone"]["message"] == summary
    code, detail = await api("GET", f"runs/{started['run_id']}")
    assert code == 200 and detail["backbone"]["message"] == summary
    assert detail["model_card"]["backbone"]["message"] == summary
    assert_recorded(Path(status["run_dir"]), summary)

    # what the hub does not have: a 400 at the start, nothing started
    code, body = await api("POST", "start", {**TINY, "pretrained_weights": "hf://nobody/nothing"})
    assert code == 400 and [e["field"] for e in body["errors"]] == ["pretrained_weights"]
    assert "hf://nobody/nothing: no such repository on the hub" in body["errors"][0]["message"]

    # offline, weights not in the cache: a 400 saying how to download them elsewhere
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, body = await api(
        "POST", "start", {**TINY, "pretrained_weights": "hf://braindecode/cbramod-pretrained"}
    )
    assert code == 400 and [e["field"] for e in body["errors"]] == ["pretrained_weights"]
    message = body["errors"][0]["message"]
    assert message.startswith("hf://braindecode/cbramod-pretrained could not be fetched (offline?)")
    assert "`hf download braindecode/cbramod-pretrained --local-dir cbramod-pretrained`" in message
    monkeypatch.delenv("HF_HUB_OFFLINE")

    # a download that ends short (a new commit whose file is not cached): the run fails naming the field
    from safetensors.torch import load_file, save_file

    republished = root / "republished"
    republished.mkdir()
    (republished / "config.json").write_bytes((snapshot[0] / "config.json").read_bytes())
    tensors = load_file(snapshot[0] / "model.safetensors")
    save_file(tensors, republished / "model.safetensors", metadata={"format": "pt", "note": "republished"})
    hub.add(REPO, republished)
    hub.truncated.add("model.safetensors")
    code, started = await api("POST", "start", {**TINY, "save_dir": "cut", "pretrained_weights": HUB_ID})
    assert code == 200, started
    status = await wait_for_async(ended, timeout=600, what="the run to end")
    assert status["state"] == "failed"
    assert "pretrained_weights: hf://braindecode/labram-pretrained@" in status["error"]
    assert "the download did not complete" in status["error"]
