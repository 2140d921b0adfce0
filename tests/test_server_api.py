"""REST API of the server extension, on a real Jupyter server: every read endpoint,
per-field validation, body errors, save_dir confinement, the OpenAPI document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import training_threads

from eegtrain_jupyter.config.training import TrainingConfig, json_schema
from eegtrain_jupyter.schemas import RESPONSE_MODELS

SCHEMA_PROPS = json_schema()["properties"]


def just_outside() -> list[tuple[str, object]]:
    """For every bounded numeric field, the values just below its minimum and above its maximum."""
    cases = []
    for name, prop in SCHEMA_PROPS.items():
        step = 1 if prop.get("type") == "integer" else 1e-6
        if "minimum" in prop:
            cases.append((name, prop["minimum"] - step))
        if "maximum" in prop:
            cases.append((name, prop["maximum"] + step))
    return cases


def assert_idle(manager, root: Path) -> None:
    assert not manager.is_active()
    assert manager.status().state == "idle"
    assert not training_threads()
    assert not (root / "models").exists()


async def test_extension_loaded_with_manager(jp_serverapp, manager, jp_root_dir):
    assert "eegtrain_jupyter" in jp_serverapp.extension_manager.extension_apps
    assert manager.root_dir == Path(jp_root_dir).resolve()
    assert manager.paths.confine is True


async def test_read_endpoints(api, manager, jp_root_dir, jp_base_url):
    code, status = await api("GET", "status")
    assert code == 200 and status["state"] == "idle" and status["run_id"] is None
    RESPONSE_MODELS["Status"].model_validate(status)

    code, history = await api("GET", "history")
    assert code == 200 and history["train_losses"] == []
    RESPONSE_MODELS["History"].model_validate(history)

    assert await api("GET", "runs") == (200, {"runs": []})

    assert await api("GET", "config") == (200, TrainingConfig().model_dump())

    code, schema = await api("GET", "config/schema")
    assert code == 200
    assert schema["properties"]["n_epochs"]["minimum"] == 1
    assert schema["properties"]["n_epochs"]["maximum"] == 100
    assert schema["properties"]["n_epochs"]["default"] == 15
    assert set(schema["presets"]) == {"quick", "default", "fine-tune"}
    assert schema == json_schema()

    code, doc = await api("GET", "openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": jp_base_url}]
    assert {p.removeprefix("/training/") for p in doc["paths"]} == {
        "start",
        "stop",
        "status",
        "history",
        "runs",
        "config",
        "config/schema",
        "config/validate",
        "openapi.json",
        "compare",
        "search",
        "benchmark",
        "runs/{run_id}",
        "runs/{run_id}/files/{name}",
        "runs/{run_id}/predict",
        "runs/{run_id}/evaluate",
        "runs/{run_id}/export",
    }
    props = doc["components"]["schemas"]["TrainingConfig"]["properties"]
    assert props["batch_size"]["minimum"] == 16 and props["batch_size"]["maximum"] == 128
    assert_idle(manager, Path(jp_root_dir))


async def test_stop_when_idle_is_a_noop(api, manager, jp_root_dir):
    for _ in range(2):
        code, status = await api("POST", "stop")
        assert code == 200 and status["state"] == "idle"
    assert_idle(manager, Path(jp_root_dir))


@pytest.mark.parametrize(("field", "value"), just_outside())
async def test_out_of_range_is_400_naming_the_field(api, manager, jp_root_dir, field, value):
    code, body = await api("POST", "start", {field: value})
    assert code == 400, body
    assert [e["field"] for e in body["errors"]] == [field]
    assert field in body["error"]
    code, result = await api("POST", "config/validate", {field: value})
    assert code == 200 and result["valid"] is False and result["config"] is None
    assert [e["field"] for e in result["errors"]] == [field]
    assert_idle(manager, Path(jp_root_dir))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (name, prop[bound])
        for name, prop in SCHEMA_PROPS.items()
        for bound in ("minimum", "maximum")
        if bound in prop
    ],
)
async def test_range_boundaries_are_valid(api, field, value):
    # fields with a rule across fields get the companions that rule asks for
    companions = {
        "nnodes": {"rdzv_endpoint": "127.0.0.1:29500"},
        "node_rank": {"nnodes": 64, "rdzv_endpoint": "127.0.0.1:29500"},
    }
    payload = {**companions.get(field, {}), field: value}
    code, result = await api("POST", "config/validate", payload)
    assert code == 200 and result["valid"] is True, result
    assert result["config"][field] == value


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"n_epochs": "15"}, ["n_epochs"]),
        ({"n_epochs": 2.5}, ["n_epochs"]),
        ({"freeze_backbone": "yes"}, ["freeze_backbone"]),
        ({"learning_rate": None}, ["learning_rate"]),
        ({"device": "tpu"}, ["device"]),
        ({"save_dir": ""}, ["save_dir"]),
        ({"nonsense": 1}, ["nonsense"]),
        ({"n_epochs": 0, "batch_size": 1000, "oops": True}, ["n_epochs", "batch_size", "oops"]),
        ({"augmentation": ["sign_flip"]}, ["augmentation"]),  # frozen backbone (the default)
        ({"augmentation": ["flip"], "freeze_backbone": False}, ["augmentation.0"]),
        ({"augmentation": "sign_flip", "freeze_backbone": False}, ["augmentation"]),
    ],
)
async def test_wrong_type_and_unknown_fields(api, manager, jp_root_dir, payload, fields):
    code, body = await api("POST", "start", payload)
    assert code == 400
    assert sorted(e["field"] for e in body["errors"]) == sorted(fields)
    assert all(e["message"] for e in body["errors"])
    code, result = await api("POST", "config/validate", payload)
    assert code == 200 and result["valid"] is False
    assert sorted(e["field"] for e in result["errors"]) == sorted(fields)
    if "nonsense" in fields:
        assert result["errors"][0]["message"] == "unknown field"
    if payload.get("augmentation") == ["sign_flip"]:
        assert "requires freeze_backbone: false" in result["errors"][0]["message"]
    assert_idle(manager, Path(jp_root_dir))


async def test_validate_valid_partial_config(api):
    code, result = await api("POST", "config/validate", {"n_epochs": 3, "save_dir": "a/b"})
    assert code == 200 and result == {
        "valid": True,
        "errors": [],
        "config": TrainingConfig(n_epochs=3, save_dir="a/b").model_dump(),
        "data_summary": None,
    }
    RESPONSE_MODELS["ValidationBody"].model_validate(result)
    # an empty body means "all defaults"
    code, result = await api("POST", "config/validate")
    assert code == 200 and result["valid"] is True


@pytest.mark.parametrize("endpoint", ["start", "config/validate"])
@pytest.mark.parametrize(
    ("body", "ctype", "code"),
    [
        (b'{"n_epochs": 2', "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"learning_rate": NaN}', "application/json", 400),
        (b'{"n_epochs": \xff}', "application/json", 400),
        (b"[" * 50000 + b"]" * 50000, "application/json", 413),
        (b'{"save_dir": "' + b"x" * 70000 + b'"}', "application/json", 413),
        (b'{"n_epochs": 2}', "text/plain", 415),
        (b'{"n_epochs": 2}', "application/x-www-form-urlencoded", 415),
        (b'{"n_epochs": 2}', "", 415),
        (b'{"n_epochs": 2}', "application/json; charset=latin-1", 415),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    ],
)
async def test_bad_bodies_are_4xx_json(api, manager, jp_root_dir, endpoint, body, ctype, code):
    headers = {"Content-Type": ctype} if ctype else {}
    resp = await api.raw("POST", endpoint, body, headers=headers)
    assert resp.code == code, resp.body[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    err = RESPONSE_MODELS["ErrorBody"].model_validate_json(resp.body)
    assert err.error and err.errors[0].field == "body"
    assert b"Traceback" not in resp.body
    assert_idle(manager, Path(jp_root_dir))


async def test_json_with_charset_is_accepted(api):
    resp = await api.raw(
        "POST",
        "config/validate",
        b'{"n_epochs": 2}',
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert resp.code == 200


async def test_unknown_path_and_method_are_json(api):
    code, body = await api("GET", "nope")
    assert code == 404 and "nope" in body["error"]
    for path in ("training", "training/", "training/config/nope"):
        code, body = await api("GET", path, prefix="")
        assert code == 404 and body["error"].startswith("no such endpoint"), path
    resp = await api.raw("GET", "trainingfoo", prefix="")  # not ours: Jupyter's own 404
    assert resp.code == 404 and not resp.headers["Content-Type"].startswith("application/json")
    code, body = await api("DELETE", "status")
    assert code == 405 and body["error"]
    code, body = await api("GET", "start")
    assert code == 405 and body["error"]


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / "outside"
    path.mkdir()
    return path


def save_dir_escapes(root: Path, outside: Path) -> list[str]:
    (root / "link").symlink_to(outside, target_is_directory=True)
    return [
        "../outside",
        "../outside/models",
        str(outside),
        str(outside / "deep"),
        "link",
        "link/models",
        "models/../../outside",
        "~",
    ]


async def test_save_dir_escapes_are_refused(api, manager, jp_root_dir, outside):
    root = Path(jp_root_dir)
    for save_dir in save_dir_escapes(root, outside):
        code, body = await api("POST", "start", {"save_dir": save_dir, "n_epochs": 1})
        assert code == 400, (save_dir, body)
        assert [e["field"] for e in body["errors"]] == ["save_dir"]
        code, result = await api("POST", "config/validate", {"save_dir": save_dir})
        assert code == 200 and result["valid"] is False, save_dir
        assert [e["field"] for e in result["errors"]] == ["save_dir"]
    assert list(outside.iterdir()) == []
    assert not manager.is_active() and not training_threads()
    assert manager.status().state == "idle"
    # inside the root is fine, including through a link that stays inside
    (root / "inner").mkdir()
    (root / "inner_link").symlink_to(root / "inner", target_is_directory=True)
    for save_dir in ["models", "inner_link/models", str(root / "abs")]:
        code, result = await api("POST", "config/validate", {"save_dir": save_dir})
        assert result["valid"] is True, (save_dir, result)


@pytest.mark.parametrize("server_config_extra", [{"TrainingExtension": {"min_free_memory_mb": 1e9}}])
async def test_not_enough_memory_is_503(api, manager, jp_root_dir):
    code, body = await api("POST", "start", {"n_epochs": 1, "n_samples_per_class": 100})
    assert code == 503 and "memory" in body["error"], body
    assert_idle(manager, Path(jp_root_dir))


def test_extension_list_shows_enabled():
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    out = subprocess.run(
        [str(jupyter), "server", "extension", "list"], capture_output=True, text=True, timeout=120, env=env
    )
    text = out.stdout + out.stderr
    lines = [line for line in text.splitlines() if "eegtrain_jupyter" in line]
    assert any("enabled" in line for line in lines), text
    assert any("OK" in line for line in lines), text


async def test_non_finite_numbers_go_out_as_null(api, manager, monkeypatch):
    history = manager.history().to_json()
    history["val_losses"] = [0.5, float("nan"), float("inf")]
    with monkeypatch.context() as patch:
        patch.setattr(manager, "history", lambda: history)
        resp = await api.raw("GET", "history")
    assert resp.code == 200 and b"NaN" not in resp.body and b"Infinity" not in resp.body
    assert json.loads(resp.body)["val_losses"] == [0.5, None, None]


async def test_unexpected_error_is_json_500_without_traceback(api, manager, monkeypatch):
    def broken():
        raise RuntimeError("secret internal detail")

    with monkeypatch.context() as patch:  # undone before the fixtures' teardown
        patch.setattr(manager, "status", broken)
        resp = await api.raw("GET", "status")
    assert resp.code == 500 and resp.headers["Content-Type"].startswith("application/json")
    body = json.loads(resp.body)
    assert body["error"].startswith("Internal server error") and body["errors"] == []
    assert b"secret" not in resp.body and b"Traceback" not in resp.body
