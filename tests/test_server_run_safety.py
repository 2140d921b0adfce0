"""Run folders, downloads and error bodies through a real Jupyter server.

A run index entry naming a folder outside the root, a run folder that is a symlink, a symlinked
file: refused with a JSON 404, nothing outside the root deleted or served. The common 4xx
answers never show the server root's absolute path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from configs import TINY
from test_run_safety import RUN_A, RUN_B, recorded_run, write_index


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outside")


async def test_delete_of_an_index_entry_outside_the_root_deletes_nothing(api, jp_root_dir, outside):
    victim = recorded_run(outside, RUN_A)
    write_index(Path(jp_root_dir), [{"run_id": RUN_A, "run_dir": str(victim)}])
    code, body = await api("DELETE", f"runs/{RUN_A}")
    assert code == 404 and body["type"] == "NotFound", body
    code, body = await api("GET", f"runs/{RUN_A}/files/notes.txt")
    assert code == 404 and body["type"] == "NotFound", body
    assert (victim / "run.json").is_file() and (victim / "notes.txt").read_text() == "mine"
    code, listed = await api("GET", "runs")
    assert code == 200 and listed["runs"] == []


async def test_a_symlinked_run_folder_or_file_serves_nothing_outside(api, jp_root_dir, outside):
    root = Path(jp_root_dir)
    victim = recorded_run(outside / "models", RUN_A)
    runs = root / "models" / "runs"
    runs.mkdir(parents=True)
    (runs / RUN_A).symlink_to(victim, target_is_directory=True)
    real = recorded_run(root / "models", RUN_B)
    (outside / "secret.txt").write_text("not yours")
    (real / "secret.txt").symlink_to(outside / "secret.txt")
    write_index(
        root,
        [{"run_id": RUN_A, "run_dir": str(runs / RUN_A)}, {"run_id": RUN_B, "run_dir": str(real)}],
    )
    for method, path in (
        ("GET", f"runs/{RUN_A}"),
        ("GET", f"runs/{RUN_A}/files/notes.txt"),
        ("GET", f"runs/{RUN_A}/files/run.json"),
        ("DELETE", f"runs/{RUN_A}"),
        ("GET", f"runs/{RUN_B}/files/secret.txt"),
    ):
        code, body = await api(method, path)
        assert code == 404 and body["type"] == "NotFound", (path, body)
    assert (victim / "notes.txt").read_text() == "mine" and (runs / RUN_A).is_symlink()
    code, detail = await api("GET", f"runs/{RUN_B}")
    assert code == 200 and "secret.txt" not in detail["downloads"] and "notes.txt" in detail["downloads"]
    resp = await api.raw("GET", f"runs/{RUN_B}/files/notes.txt")
    assert resp.code == 200 and resp.body == b"mine"


async def test_error_bodies_never_show_the_server_root(api, manager, jp_root_dir, outside):
    root = Path(jp_root_dir)
    folder = recorded_run(root / "models", RUN_A)
    write_index(root, [{"run_id": RUN_A, "run_dir": str(folder)}])
    (root / "notes.txt").write_text("not a recording")
    recordings = {"source": "files", "labels": {"rest": "relaxed", "task": "anxious"}}
    requests = [
        ("GET", "runs/no-such-run", None),
        ("GET", f"runs/{RUN_B}", None),
        ("DELETE", f"runs/{RUN_B}", None),
        ("GET", f"runs/{RUN_A}/files/nope.txt", None),
        ("GET", f"runs/{RUN_A}/files/..%2F..%2F.eegtrain%2Fruns.json", None),
        ("POST", f"runs/{RUN_A}/predict", {"windows": [[[0.0] * 800] * 8]}),
        ("POST", f"runs/{RUN_A}/predict", {"path": "missing.edf"}),
        ("POST", f"runs/{RUN_A}/export", {"format": "onnx"}),
        ("GET", f"compare?runs={RUN_A},{RUN_B}", None),
        ("POST", "start", {**TINY, "save_dir": str(outside)}),
        ("POST", "start", {**TINY, "save_dir": "notes.txt"}),
        ("POST", "start", {**TINY, "save_dir": "../elsewhere"}),
        ("POST", "start", {**TINY, "pretrained_weights": "missing.pth"}),
        ("POST", "start", {**TINY, "data": {**recordings, "paths": ["missing/*.edf"]}}),
        ("POST", "start", {**TINY, "data": {**recordings, "paths": ["notes.txt"]}}),
        ("GET", "no/such/endpoint", None),
    ]
    seen = set()
    for method, path, payload in requests:
        code, body = await api(method, path, payload)
        seen.add(code)
        assert 400 <= code < 500 and body["error"], (path, code, body)
        text = json.dumps(body)
        for shown in {str(root), str(root.resolve())}:
            assert shown not in text, (path, text)
    code, body = await api(
        "POST", "config/validate", {**TINY, "save_dir": str(outside), "pretrained_weights": "x.pth"}
    )
    assert code == 200 and {e["field"] for e in body["errors"]} == {"save_dir", "pretrained_weights"}, body
    assert str(root) not in json.dumps(body) and str(root.resolve()) not in json.dumps(body), body
    assert {400, 404, 409} <= seen, seen
    assert not manager.is_active()
