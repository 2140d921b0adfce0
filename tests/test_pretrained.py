"""Pretrained weights as researchers have them: braindecode snapshot folders, hub ids, safe loading.

Snapshots are written by braindecode's own ``save_pretrained`` from seeded LaBraMs; the hub is a
stand-in on 127.0.0.1 (:mod:`tests.hub`) answering ``huggingface_hub``'s real requests. Hub ids
given as ``pretrained_weights`` run in a fresh interpreter, where ``HF_ENDPOINT``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` take effect as they do for a server (``huggingface_hub`` reads them at import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hub import StandInHub

from eegtrain_jupyter.data.synthetic import CH_NAMES, generate
from eegtrain_jupyter.models.labram import (
    HEAD_NAME,
    BackboneInfo,
    build_classifier,
    check_weights_file,
)
from eegtrain_jupyter.models.pretrained import HubId, PretrainedWeightsError, fetch, locate
from eegtrain_jupyter.models.registry import check_pretrained
from eegtrain_jupyter.schemas.run import Backbone

N_TIMES = 800
REPO = "braindecode/labram-pretrained"


@pytest.fixture(scope="module")
def x():
    return torch.from_numpy(generate(4, seed=0).X)


def build(**kwargs):
    return build_classifier(CH_NAMES, N_TIMES, 200.0, **{"seed": 0, **kwargs})


def features(model, x):
    model.eval()
    with torch.inference_mode():
        return model.features(x)


@pytest.fixture(scope="module")
def donor():
    """A seeded LaBraM classifier (3 classes) whose network braindecode saved as a snapshot."""
    model, _ = build_classifier(CH_NAMES, N_TIMES, 200.0, n_outputs=3, seed=9)
    return model


@pytest.fixture(scope="module")
def snapshot(donor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("snapshot") / "labram-pretrained"
    donor.labram.save_pretrained(folder)
    return folder


def test_a_braindecode_snapshot_folder_loads_the_whole_backbone(snapshot, donor, x):
    assert {"config.json", "model.safetensors", "pytorch_model.bin"} <= {p.name for p in snapshot.iterdir()}
    model, info = build(pretrained_weights=str(snapshot))
    load = info.load
    assert load is not None and load["format"] == "safetensors"
    assert load["matched"] == load["backbone_keys"] == len(donor.labram.state_dict()) - 2
    assert (load["missing"], load["unexpected"], load["adapted"]) == ([], [], [])
    assert (load["head_keys"], load["n_outputs"]) == (2, 2)  # the head is new: 2 classes, not 3
    assert info.message == (
        f"pretrained: {load['matched']}/{load['matched']} backbone keys from {snapshot} (head new: 2 classes)"
    )
    assert torch.equal(features(model, x), features(donor, x))
    fresh = build()[0].labram.state_dict()[f"{HEAD_NAME}.weight"]
    assert torch.equal(model.labram.state_dict()[f"{HEAD_NAME}.weight"], fresh)
    # the report travels as the status's and run record's backbone (a JSON shape that forbids extras)
    shape = Backbone.model_validate(info.to_dict())
    assert shape.load is not None and shape.load.summary == info.message


def test_backbone_info_survives_the_worker_pipe(snapshot):
    """The worker sends ``asdict(info)`` as JSON; the supervisor rebuilds it with ``BackboneInfo(**d)``."""
    from dataclasses import asdict

    _, info = build(pretrained_weights=str(snapshot))
    again = BackboneInfo(**json.loads(json.dumps(asdict(info))))
    assert again == info and again.message == info.message


def test_a_snapshot_with_only_pytorch_model_bin_loads(snapshot, donor, x, tmp_path):
    folder = tmp_path / "bin-only"
    folder.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        (folder / name).write_bytes((snapshot / name).read_bytes())
    model, info = build(pretrained_weights=str(folder))
    assert info.load is not None and info.load["format"] == "torch"
    assert torch.equal(features(model, x), features(donor, x))


def test_weights_for_longer_windows_have_their_temporal_embedding_cut(snapshot, tmp_path):
    """Published LaBraM weights come from longer windows; LaBraM reads only the leading rows."""
    long, _ = build_classifier(CH_NAMES, 1600, 200.0, seed=3)
    long.labram.save_pretrained(tmp_path / "long")
    model, info = build(pretrained_weights=str(tmp_path / "long"))
    assert info.load is not None and info.load["adapted"] == ["temporal_embedding"]
    assert "1 cut to this model's window length or channels" in info.message
    given = long.labram.temporal_embedding.detach()
    assert given.shape[1] == 9 and model.labram.temporal_embedding.shape[1] == 5
    assert torch.equal(model.labram.temporal_embedding.detach(), given[:, :5])
    # weights for shorter windows than the data's cannot be stretched: refused, the tensor named
    with pytest.raises(PretrainedWeightsError, match=r"temporal_embedding: file \(1, 5, 200\) vs model"):
        build_classifier(CH_NAMES, 1600, 200.0, seed=0, pretrained_weights=str(snapshot))


def test_the_snapshot_of_another_model_is_refused(tmp_path):
    """braindecode's from_pretrained once matched 0 of 99 keys silently: here that is a 400."""
    from braindecode.models import EEGNet

    EEGNet(n_chans=len(CH_NAMES), n_times=N_TIMES, n_outputs=2, sfreq=200.0).save_pretrained(
        tmp_path / "eegnet"
    )
    with pytest.raises(
        PretrainedWeightsError, match=r"matches only 0 of the \d+ tensors of LaBraM's backbone"
    ):
        build(pretrained_weights=str(tmp_path / "eegnet"))
    with pytest.raises(PretrainedWeightsError, match="matches only 0"):
        check_weights_file(tmp_path / "eegnet")


def test_a_labram_of_another_shape_is_refused_with_its_first_mismatches(tmp_path):
    from braindecode.models import Labram

    torch.manual_seed(0)
    Labram(n_chans=2, n_times=N_TIMES, n_outputs=2, sfreq=200.0, mlp_ratio=2.0).save_pretrained(
        tmp_path / "s"
    )
    with pytest.raises(PretrainedWeightsError) as info:
        build(pretrained_weights=str(tmp_path / "s"))
    reason = info.value.reason
    assert reason.startswith("'s' does not fit LaBraM's backbone: 36 tensors have another shape")
    assert "blocks.0.mlp.0.weight: file (400, 200) vs model (800, 200)" in reason and reason.endswith(
        "; ...)"
    )
    assert info.value.status == 400 and info.value.errors[0].field == "pretrained_weights"


def test_too_few_matching_keys_are_refused_and_enough_are_reported(donor, tmp_path):
    state = donor.labram.state_dict()
    backbone = [k for k in state if not k.startswith(HEAD_NAME + ".")]
    keep = int(len(backbone) * 0.85)
    torch.save({k: state[k] for k in backbone[:keep]}, tmp_path / "partial.pth")
    with pytest.raises(PretrainedWeightsError, match=rf"matches only {keep} of the {len(backbone)} .*90%"):
        build(pretrained_weights=str(tmp_path / "partial.pth"))


class Payload:
    """A pickle that, if loaded, would create ``path``: what a weights file must never be able to do."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_weights_file_that_needs_pickled_code_is_refused(donor, tmp_path):
    marker = tmp_path / "code-ran"
    state = dict(donor.labram.state_dict())
    torch.save({"model": state, "extra": Payload(marker)}, tmp_path / "pickled.pth")
    with pytest.raises(PretrainedWeightsError, match="pickled Python objects that would run code"):
        build(pretrained_weights=str(tmp_path / "pickled.pth"))
    with pytest.raises(PretrainedWeightsError, match="pickled Python objects"):
        check_weights_file(tmp_path / "pickled.pth")
    assert not marker.exists()
    # the same tensors as a plain state_dict load
    torch.save({"model": state}, tmp_path / "plain.pth")
    assert check_weights_file(tmp_path / "plain.pth").matched == len(state) - 2


def test_damaged_and_missing_weights_are_refused_without_server_paths(snapshot, tmp_path):
    folder = tmp_path / "cut"
    folder.mkdir()
    data = (snapshot / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(PretrainedWeightsError, match="not a readable safetensors file") as info:
        build(pretrained_weights=str(folder))
    assert str(tmp_path) not in info.value.reason
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainedWeightsError, match="'empty' is not a Hugging Face snapshot"):
        locate(tmp_path / "empty")
    with pytest.raises(PretrainedWeightsError, match=r"not found: nothing\.pth") as info:
        locate(tmp_path / "nothing.pth")
    assert str(tmp_path) not in info.value.reason


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("hf://braindecode/labram-pretrained", HubId(REPO)),
        ("hf://braindecode/labram-pretrained@v1.0", HubId(REPO, "v1.0")),
        ("hf://a/b@refs/pr/1", HubId("a/b", "refs/pr/1")),
        ("weights/labram.pth", None),
    ],
)
def test_hub_ids_parse(value, parsed):
    assert HubId.parse(value) == parsed
    if parsed is not None:
        assert str(parsed) == value


@pytest.mark.parametrize("value", ["hf://labram", "hf://a/b/c", "hf://a/b@", "hf:///b"])
def test_malformed_hub_ids_are_a_config_error(value):
    from eegtrain_jupyter.config.training import validate_config

    errors = validate_config({"pretrained_weights": value}).errors
    assert [e.field for e in errors] == ["pretrained_weights"] and "hf://OWNER/NAME" in errors[0].message
    with pytest.raises(PretrainedWeightsError, match="hf://OWNER/NAME"):
        HubId.parse(value)


@pytest.fixture
def hub(snapshot):
    with StandInHub() as hub:
        hub.commit = hub.add(REPO, snapshot)
        yield hub


def test_a_hub_id_is_fetched_into_the_cache_and_pinned_to_its_commit(hub, donor, x, tmp_path):
    source = fetch(f"hf://{REPO}", endpoint=hub.url, cache_dir=tmp_path)
    assert source.label == f"hf://{REPO}@{hub.commit}" and source.format == "safetensors"
    assert {p.name for p in source.path.parent.iterdir()} == {"model.safetensors", "config.json"}
    model, _ = build(pretrained_weights=str(source.path.parent))
    assert torch.equal(features(model, x), features(donor, x))
    # the pinned id is served from the cache, without asking the hub
    asked = len(hub.requests)
    assert fetch(source.label, endpoint=hub.url, cache_dir=tmp_path).path == source.path
    assert len(hub.requests) == asked


def test_check_pretrained_gives_the_value_a_run_records(snapshot, tmp_path, monkeypatch):
    """What the service calls before a run: a local value resolved (its path policy), checked."""
    root = snapshot.parent
    assert check_pretrained(snapshot.name, lambda value: root / value) == str(snapshot)
    assert check_pretrained(str(snapshot)) == str(snapshot)
    (tmp_path / "other").mkdir()
    torch.save({"a.b": torch.zeros(1)}, tmp_path / "other" / "pytorch_model.bin")
    with pytest.raises(PretrainedWeightsError, match="matches only 0"):
        check_pretrained("other", lambda value: tmp_path / value)


def test_a_bin_only_repository_is_fetched(snapshot, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes((snapshot / "pytorch_model.bin").read_bytes())
    with StandInHub() as hub:
        hub.add("someone/labram-bin", folder)
        source = fetch("hf://someone/labram-bin", endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert source.path.name == "pytorch_model.bin" and source.format == "torch"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hf://nobody/nothing", "hf://nobody/nothing: no such repository on the hub"),
        (f"hf://{REPO}@v9", f"hf://{REPO}@v9: no revision 'v9' in {REPO}"),
        ("hf://someone/config-only", "has no weights file (model.safetensors or pytorch_model.bin)"),
    ],
)
def test_what_the_hub_does_not_have_is_a_clear_400(hub, snapshot, tmp_path, value, message):
    folder = tmp_path / "config-only"
    folder.mkdir()
    (folder / "config.json").write_bytes((snapshot / "config.json").read_bytes())
    hub.add("someone/config-only", folder)
    with pytest.raises(PretrainedWeightsError) as info:
        fetch(value, endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert message in info.value.reason
    assert info.value.status == 400 and info.value.errors[0].field == "pretrained_weights"


def test_a_truncated_download_is_refused_and_leaves_no_weights(hub, tmp_path):
    hub.truncated.add("model.safetensors")
    with pytest.raises(PretrainedWeightsError, match=f"hf://{REPO}: the download did not complete"):
        fetch(f"hf://{REPO}", endpoint=hub.url, cache_dir=tmp_path)
    assert not list(tmp_path.rglob("snapshots/*/model.safetensors"))
    hub.truncated.clear()  # the next try downloads it whole
    assert fetch(f"hf://{REPO}", endpoint=hub.url, cache_dir=tmp_path).path.is_file()


@pytest.mark.slow  # huggingface_hub retries a refused connection for about 20 s
def test_an_unreachable_hub_says_how_to_download_elsewhere(tmp_path):
    with StandInHub() as closed:
        url = closed.url  # nothing listens there once it is shut
    with pytest.raises(PretrainedWeightsError) as info:
        fetch(f"hf://{REPO}@v1.0", endpoint=url, cache_dir=tmp_path)
    assert info.value.reason == (
        f"hf://{REPO}@v1.0 could not be fetched (offline?): download it where the hub is reachable with "
        f"`hf download {REPO} --revision v1.0 --local-dir labram-pretrained` (`huggingface-cli download` "
        "in older huggingface_hub), copy the folder here and set pretrained_weights to it"
    )


_BUILD = textwrap.dedent(
    """
    import json, sys
    import torch
    from eegtrain_jupyter.data.synthetic import CH_NAMES, generate
    from eegtrain_jupyter.models.labram import build_classifier
    from eegtrain_jupyter.models.registry import check_pretrained
    from eegtrain_jupyter.errors import ConfigError

    try:  # as a run goes: the service's check pins a hub id, the worker builds from the pinned id
        value = check_pretrained(sys.argv[1])
        model, info = build_classifier(CH_NAMES, 800, 200.0, seed=0, pretrained_weights=value)
    except ConfigError as exc:
        print(json.dumps({"status": exc.status, "errors": [e.to_dict() for e in exc.errors]}))
    else:
        model.eval()
        with torch.inference_mode():
            torch.save(model.features(torch.from_numpy(generate(4, seed=0).X)), sys.argv[2])
        print(json.dumps(info.to_dict()))
    """
)


def _build_in_a_fresh_interpreter(value: str, out: Path, **env: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, value, str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # three fresh interpreters
def test_a_hub_id_as_pretrained_weights_online_then_offline(hub, donor, x, tmp_path):
    """HF_ENDPOINT names the hub; the check pins the id to its commit and the build reads that; once
    fetched, the pinned id builds with HF_HUB_OFFLINE=1, and an id not in the cache is a 400 saying
    how to download it elsewhere."""
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
    info = _build_in_a_fresh_interpreter(f"hf://{REPO}", tmp_path / "f.pt", **env)
    pinned = f"hf://{REPO}@{hub.commit}"
    assert info["weights_path"] == pinned and info["message"].startswith("pretrained: ")
    assert f"backbone keys from {pinned} (head new: 2 classes)" in info["message"]
    assert torch.equal(torch.load(tmp_path / "f.pt"), features(donor, x))

    offline = {**env, "HF_HUB_OFFLINE": "1"}
    again = _build_in_a_fresh_interpreter(pinned, tmp_path / "g.pt", **offline)
    assert again["weights_path"] == pinned
    refused = _build_in_a_fresh_interpreter(
        "hf://braindecode/cbramod-pretrained", tmp_path / "h.pt", **offline
    )
    assert refused["status"] == 400 and refused["errors"][0]["field"] == "pretrained_weights"
    assert refused["errors"][0]["message"].startswith(
        "hf://braindecode/cbramod-pretrained could not be fetched"
    )
    assert (
        "`hf download braindecode/cbramod-pretrained --local-dir cbramod-pretrained`"
        in refused["errors"][0]["message"]
    )


def test_resolve_names_the_commit_without_downloading_and_fetch_reports_progress(
    hub, snapshot, tmp_path, monkeypatch
):
    """What a start does (resolve: HEAD only) and what the run's worker does (fetch, with progress)."""
    from eegtrain_jupyter.models.pretrained import resolve
    from eegtrain_jupyter.models.registry import fetch_pretrained

    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    found = resolve(f"hf://{REPO}", env=env)
    size = (snapshot / "model.safetensors").stat().st_size
    assert (found.label, found.filename, found.size, found.cached) == (
        f"hf://{REPO}@{hub.commit}",
        "model.safetensors",
        size,
        False,
    )
    assert {method for method, _ in hub.requests} == {"HEAD"}
    seen: list[tuple[int, int | None]] = []
    source = fetch(found.label, env=env, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert source.label == found.label and resolve(found.label, env=env).cached
    # the worker's phase lines: the last one is the whole file; a cached file says nothing
    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # the worker's environment: another, empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "worker"))
    lines: list[str] = []
    fetch_pretrained(found.label, lines.append)
    mb = f"{size / 2**20:.1f}"
    assert lines and lines[-1] == f"fetching pretrained weights {found.label}: {mb} of {mb} MB"
    count = len(lines)
    fetch_pretrained(found.label, lines.append)
    fetch_pretrained(None, lines.append)
    assert len(lines) == count


def test_the_hub_settings_handed_over_are_the_ones_used(hub, tmp_path):
    """The data worker gets the server's HF_* settings with each check (its processes outlive them)."""
    from eegtrain_jupyter.models.pretrained import resolve

    with pytest.raises(PretrainedWeightsError, match=r"could not be fetched \(offline\?\)"):
        resolve(f"hf://{REPO}", env={"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert hub.requests == []
    online = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path)}
    assert check_pretrained(f"hf://{REPO}", hub_env=online) == f"hf://{REPO}@{hub.commit}"
    assert not (tmp_path / "hub").exists() or not list((tmp_path / "hub").rglob("*.safetensors"))
