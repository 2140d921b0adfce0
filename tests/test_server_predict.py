"""REST for trained runs (issue 12), end to end through a real Jupyter server: GET/DELETE
``runs/{id}``, ``runs/{id}/files/{name}``, ``runs/{id}/predict``, ``runs/{id}/export``, the OpenAPI
entries, and the clients' matching methods.

The module shares one server root (``jp_root_dir`` is module-scoped here) holding one real tiny run
trained once; each test's server finds it in the root's run index.
"""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest
from support import train_tiny

from eegtrain_jupyter import load_model
from eegtrain_jupyter.client import LocalClient, RemoteClient
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.errors import NotFound
from eegtrain_jupyter.schemas import RESPONSE_MODELS
from eegtrain_jupyter.service.manager import TrainingManager


@pytest.fixture(scope="module")
def jp_root_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("server-root")


@pytest.fixture(scope="module")
def run(jp_root_dir):
    return train_tiny(jp_root_dir)


@pytest.fixture(scope="module")
def fresh():
    return generate(5, seed=77)


async def test_run_detail_files_and_404(api, run, jp_root_dir):
    code, detail = await api("GET", f"runs/{run.run_id}")
    assert code == 200, detail
    RESPONSE_MODELS["RunDetail"].model_validate(detail)
    assert detail["state"] == "completed" and detail["history"]["val_accs"] == [run.best_val_acc]
    assert detail["checkpoint_metrics"]["val_acc"] == run.best_val_acc
    assert {
        "best_synthetic_model.pth",
        "training_history.json",
        "training_curves.png",
        "model_card.json",
        "model_card.md",
        "run.json",
    } <= set(detail["downloads"])

    resp = await api.raw("GET", f"runs/{run.run_id}/files/training_history.json")
    assert resp.code == 200 and "attachment" in resp.headers["Content-Disposition"]
    assert json.loads(resp.body)["val_accs"] == [run.best_val_acc]
    ckpt = await api.raw("GET", f"runs/{run.run_id}/files/best_synthetic_model.pth")
    assert (
        ckpt.body == (jp_root_dir / "models" / "runs" / run.run_id / "best_synthetic_model.pth").read_bytes()
    )

    for path in (
        f"runs/{run.run_id}/files/..%2F..%2F.eegtrain%2Fruns.json",
        f"runs/{run.run_id}/files/..",
        f"runs/{run.run_id}/files/nope.txt",
        "runs/no-such-run/files/run.json",
    ):
        code, body = await api("GET", path)
        assert code == 404 and body["type"] == "NotFound", (path, body)
    code, body = await api("GET", "runs/no-such-run")
    assert code == 404 and "no run 'no-such-run'" in body["error"]
    code, _ = await api("GET", f"runs/{run.run_id}/files/x", token="wrong")
    assert code == 403


async def test_predict_windows_and_recording_path(api, run, fresh, jp_root_dir):
    model = load_model(run.run_id, jp_root_dir)
    expected = model.predict_proba(fresh.X[:3])
    body = {"windows": fresh.X[:3].tolist()}
    assert len(json.dumps(body)) > 64 * 1024  # over max_body_bytes: predict has a limit of its own
    code, pred = await api("POST", f"runs/{run.run_id}/predict", body)
    assert code == 200, pred
    RESPONSE_MODELS["Prediction"].model_validate(pred)
    assert pred["classes"] == ["relaxed", "anxious"] and pred["n_windows"] == 3
    assert np.abs(np.array(pred["probabilities"]) - expected).max() < 1e-5
    assert pred["labels"] == model.classes_[expected.argmax(1)].tolist()

    # a recording inside the root, windowed as in training (4 s windows, no overlap)
    data = fresh.X[:3].transpose(1, 0, 2).reshape(8, -1) * 1e-6
    raw = mne.io.RawArray(data, mne.create_info(list(fresh.ch_names), 200.0, "eeg"), verbose="error")
    raw.save(jp_root_dir / "rec_raw.fif", overwrite=True, verbose="error")
    code, pred = await api("POST", f"runs/{run.run_id}/predict", {"path": "rec_raw.fif"})
    assert code == 200, pred
    assert pred["window_starts_s"] == [0.0, 4.0, 8.0] and pred["source"] == "rec_raw.fif"
    assert np.abs(np.array(pred["probabilities"]) - expected).max() < 1e-4


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({}, 400, "body", "either windows or path"),
        ({"windows": [[[0.0] * 800] * 8], "path": "x.fif"}, 400, "body", "either windows or path"),
        ({"windows": [[[0.0] * 400] * 8]}, 400, "windows", "windows of 400 samples; the model takes 800"),
        ({"windows": [[[0.0] * 800] * 7]}, 400, "windows", "7 channels"),
        (
            {"windows": [[[0.0] * 800] * 7], "ch_names": ["FP1", "FP2", "C3", "C4", "P7", "P8", "O1"]},
            400,
            "ch_names",
            "missing channels O2",
        ),
        ({"windows": [[[0.0] * 800] * 8, [[0.0] * 799] * 8]}, 400, "windows", ""),
        ({"windows": [[["a"] * 800] * 8]}, 400, "windows.0.0.0", "valid number"),
        ({"path": "../outside.fif"}, 400, "path", "inside the server root"),
        ({"path": "missing.edf"}, 400, "path", "no such file"),
        ({"path": ".eegtrain/runs.json"}, 400, "path", "cannot read runs.json"),
        ({"windows": [], "nonsense": 1}, 400, "nonsense", "unknown field"),
    ],
)
async def test_predict_bad_input_names_the_field(api, run, body, status, field, message):
    code, err = await api("POST", f"runs/{run.run_id}/predict", body)
    assert code == status, err
    assert err["errors"][0]["field"] == field and message in err["errors"][0]["message"], err


async def test_predict_nan_is_refused(api, run):
    # JSON has no NaN: the server refuses the constant itself (400 naming the body)
    resp = await api.raw(
        "POST",
        f"runs/{run.run_id}/predict",
        '{"windows": [[[NaN]]]}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.code == 400 and json.loads(resp.body)["errors"][0]["field"] == "body"


@pytest.mark.parametrize("server_config_extra", [{"TrainingExtension": {"max_predict_body_bytes": 100_000}}])
async def test_predict_body_over_the_limit_is_413(api, run, fresh):
    code, err = await api("POST", f"runs/{run.run_id}/predict", {"windows": fresh.X[:2].tolist()})
    assert code == 413 and err["type"] == "PayloadTooLarge"
    assert "100000" in err["error"]
    # the other endpoints keep max_body_bytes (64 KiB)
    code, err = await api("POST", "config/validate", {"n_epochs": 2, "pad": "x" * 70_000})
    assert code == 413, err


async def test_export_torch_export_and_download(api, run, fresh, jp_root_dir):
    code, err = await api("POST", f"runs/{run.run_id}/export", {"format": "tensorrt"})
    assert code == 400 and err["errors"][0]["field"] == "format"
    code, err = await api("POST", "runs/no-such-run/export", {"format": "onnx"})
    assert code == 404
    code, result = await api("POST", f"runs/{run.run_id}/export", {"format": "torch_export"})
    assert code == 200, result
    RESPONSE_MODELS["ExportResult"].model_validate(result)
    assert result["parity"]["passed"] and result["parity"]["max_abs_diff"] <= 1e-4
    assert result["parity"]["batch_sizes"] == [1, 64]
    resp = await api.raw("GET", f"runs/{run.run_id}/files/model.pt2")
    assert resp.code == 200 and resp.body[:2] == b"PK" and len(resp.body) == result["size_bytes"]
    code, parity = await api("GET", f"runs/{run.run_id}/files/model.pt2.parity.json")
    assert code == 200 and parity == result["parity"]
    # the file loads without eegtrain and agrees with load_model on fresh windows
    import torch

    loaded = torch.export.load(result["path"]).module()
    with torch.inference_mode():
        got = loaded(torch.from_numpy(fresh.X)).numpy()
    assert np.abs(got - load_model(run.run_id, jp_root_dir).predict_proba(fresh.X)).max() <= 1e-4


async def test_delete_active_run_is_409_and_finished_run_goes(api, manager, run, jp_root_dir):
    manager.start(
        {
            "n_epochs": 20,
            "n_samples_per_class": 100,
            "freeze_backbone": False,
            "device": "cpu",
            "batch_size": 16,
            "save_dir": "models",
        }
    )
    active = manager.status().run_id
    code, err = await api("DELETE", f"runs/{active}")
    assert code == 409 and err["type"] == "Conflict"
    code, err = await api("POST", f"runs/{active}/predict", {"windows": [[[0.0] * 800] * 8]})
    assert code == 409 and "no checkpoint yet" in err["error"]
    manager.stop()
    assert manager.wait(120)
    code, body = await api("DELETE", f"runs/{active}")
    assert code == 200 and body["deleted"] is True
    RESPONSE_MODELS["Deleted"].model_validate(body)
    code, _ = await api("GET", f"runs/{active}")
    assert code == 404
    code, listed = await api("GET", "runs")
    assert [r["run_id"] for r in listed["runs"]] == [run.run_id]
    code, _ = await api("DELETE", "runs/no-such-run")
    assert code == 404


async def test_openapi_lists_the_run_endpoints(api):
    code, doc = await api("GET", "openapi.json")
    assert code == 200
    paths = doc["paths"]
    assert set(paths["/training/runs/{run_id}"]) == {"get", "delete"}
    assert "409" in paths["/training/runs/{run_id}"]["delete"]["responses"]
    assert paths["/training/runs/{run_id}/predict"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/PredictRequest"}
    assert {"404", "409", "413"} <= set(paths["/training/runs/{run_id}/export"]["post"]["responses"])
    assert "/training/runs/{run_id}/files/{name}" in paths
    assert {"RunDetail", "Prediction", "ExportResult", "Parity", "Deleted", "PredictRequest"} <= set(
        doc["components"]["schemas"]
    )


async def test_remote_and_local_clients_match(api, jp_serverapp, run, fresh, jp_root_dir):
    import asyncio

    remote = RemoteClient(api.root, api.token)
    local = LocalClient(TrainingManager(jp_root_dir))
    for client in (remote, local):
        detail = await asyncio.to_thread(client.run, run.run_id)
        assert detail["run_id"] == run.run_id
        body = await asyncio.to_thread(client.run_file, run.run_id, "model_card.json")
        assert json.loads(body)["run_id"] == run.run_id
        pred = await asyncio.to_thread(client.predict, run.run_id, fresh.X[:2])
        assert pred["n_windows"] == 2 and len(pred["labels"]) == 2
        with pytest.raises(NotFound):
            await asyncio.to_thread(client.run, "no-such-run")
        with pytest.raises(NotFound):
            await asyncio.to_thread(client.delete_run, "no-such-run")
