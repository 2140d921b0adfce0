"""Run folders, downloads and errors that can be trusted, in process (the REST side is in
``test_server_run_safety.py``).

A run's folder is derived from its ``save_dir`` and a checked run id, never taken from the run
index or from ``run.json``; a folder that is a symlink, or (confined) one outside the root, is
not a run. A full disk at the checkpoint fails the run naming the file; a missing optional
package is a 501 saying what to install; the route table and the OpenAPI paths are one list.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from configs import TINY

from eegtrain_jupyter import files
from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine import tensorboard as tensorboard_writer
from eegtrain_jupyter.errors import (
    ERROR_TYPES,
    InsufficientStorage,
    MissingDependency,
    NotFound,
    from_response,
)
from eegtrain_jupyter.runtime.supervisor import describe_exit, fork_server_end
from eegtrain_jupyter.schemas import TrainingState
from eegtrain_jupyter.server.handlers import NotFoundHandler, route_table
from eegtrain_jupyter.server.openapi import openapi_document
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.service.progress import build_status
from eegtrain_jupyter.service.runs import Run, RunStore, check_run_id
from eegtrain_jupyter.service.search import SearchManager
from eegtrain_jupyter.service.serving import load_model

RUN_A, RUN_B = "20240131-142501-3f9a2c", "20240131-142502-0b1c2d"


def recorded_run(save_dir: Path, run_id: str) -> Path:
    """A completed run's folder (its ``run.json`` and one more file) under ``save_dir``."""
    run = Run(run_id, parse_config({}), save_dir)
    run.outcome.state = TrainingState.COMPLETED
    run.run_dir.mkdir(parents=True)
    run.save()
    (run.run_dir / "notes.txt").write_text("mine")
    return run.run_dir


def write_index(root: Path, entries: list[dict[str, str]]) -> None:
    (root / ".eegtrain").mkdir(exist_ok=True)
    (root / ".eegtrain" / "runs.json").write_text(json.dumps(entries))


@pytest.fixture
def roots(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


def test_run_ids_are_checked_everywhere_one_comes_in(roots):
    root, _ = roots
    assert check_run_id(RUN_A) == RUN_A
    for bad in ("no-such-run", "../x", "", "20240131-142501-3F9A2C", RUN_A + "/..", None, "x" * 500):
        with pytest.raises(NotFound) as info:
            check_run_id(bad)
        assert "x" * 100 not in info.value.message
    good = recorded_run(root / "models", RUN_A)
    write_index(
        root,
        [{"run_id": "../../evil", "run_dir": str(good)}, {"run_id": RUN_A, "run_dir": str(good)}],
    )
    store = RunStore(root, confine=True)
    assert [e["run_id"] for e in store.read_index()] == [RUN_A]
    assert [r.run_id for r in store.records()] == [RUN_A]
    with pytest.raises(NotFound):
        store.find("../../evil")
    with pytest.raises(NotFound):
        load_model("not-a-run-id", root)


def test_delete_never_touches_a_folder_the_index_points_outside_the_root(roots):
    root, outside = roots
    victim = recorded_run(outside, RUN_A)  # a real run folder, even with this run's run.json
    write_index(root, [{"run_id": RUN_A, "run_dir": str(victim)}])
    manager = TrainingManager(root, confine_to_root=True)
    with pytest.raises(NotFound):
        manager.delete_run(RUN_A)
    with pytest.raises(NotFound):
        manager.run(RUN_A)
    assert manager.runs() == []
    assert (victim / "run.json").is_file() and (victim / "notes.txt").read_text() == "mine"


def test_a_run_folder_comes_from_save_dir_and_the_id_not_from_run_json(roots):
    root, outside = roots
    victim = recorded_run(outside, RUN_B)
    folder = recorded_run(root / "models", RUN_A)
    record = json.loads((folder / "run.json").read_text())
    record |= {"run_dir": str(victim), "save_dir": str(outside)}  # a run.json that lies
    (folder / "run.json").write_text(json.dumps(record))
    write_index(root, [{"run_id": RUN_A, "run_dir": str(folder)}])
    manager = TrainingManager(root, confine_to_root=True)
    assert manager.run(RUN_A).run_dir == str(folder)
    assert manager.delete_run(RUN_A).deleted is True
    assert not folder.exists() and (victim / "notes.txt").read_text() == "mine"


def test_an_index_entry_of_another_shape_or_a_run_json_of_another_run_is_refused(roots):
    root, _ = roots
    a = recorded_run(root / "models", RUN_A)
    b = recorded_run(root / "models", RUN_B)
    write_index(
        root,
        [
            {"run_id": RUN_A, "run_dir": str(b)},  # another run's folder
            {"run_id": RUN_B, "run_dir": str(root / "models" / "elsewhere" / RUN_B)},  # not runs/<id>
        ],
    )
    manager = TrainingManager(root, confine_to_root=True)
    for run_id in (RUN_A, RUN_B):
        with pytest.raises(NotFound):
            manager.delete_run(run_id)
    assert (a / "run.json").is_file() and (b / "run.json").is_file()


def test_a_symlinked_run_folder_is_not_a_run_even_unconfined(roots):
    root, outside = roots
    victim = recorded_run(outside / "models", RUN_A)
    runs = root / "models" / "runs"
    runs.mkdir(parents=True)
    (runs / RUN_A).symlink_to(victim, target_is_directory=True)
    write_index(root, [{"run_id": RUN_A, "run_dir": str(runs / RUN_A)}])
    for confine in (True, False):
        manager = TrainingManager(root, confine_to_root=confine)
        for call in (manager.run, manager.delete_run):
            with pytest.raises(NotFound):
                call(RUN_A)
        with pytest.raises(NotFound):
            manager.open_run_file(RUN_A, "notes.txt")
    assert (victim / "notes.txt").read_text() == "mine" and (runs / RUN_A).is_symlink()


def test_a_symlinked_file_in_a_run_folder_is_not_served(roots):
    root, outside = roots
    secret = outside / "secret.txt"
    secret.write_text("not yours")
    folder = recorded_run(root / "models", RUN_A)
    (folder / "secret.txt").symlink_to(secret)
    write_index(root, [{"run_id": RUN_A, "run_dir": str(folder)}])
    manager = TrainingManager(root, confine_to_root=True)
    assert "secret.txt" not in manager.run(RUN_A).downloads
    with pytest.raises(NotFound):
        manager.open_run_file(RUN_A, "secret.txt")
    with manager.open_run_file(RUN_A, "notes.txt") as fh:
        assert fh.read() == b"mine"


def test_not_found_messages_name_no_absolute_path(roots):
    root, _ = roots
    manager = TrainingManager(root, confine_to_root=True)
    folder = recorded_run(root / "models", RUN_A)
    write_index(root, [{"run_id": RUN_A, "run_dir": str(folder)}])
    (folder / "run.json").write_text("{damaged")
    for call, args in (
        (manager.run, (RUN_B,)),
        (manager.run, (RUN_A,)),
        (manager.delete_run, ("nope",)),
        (manager.open_run_file, (RUN_B, "x")),
        (manager.compare, (f"{RUN_A},{RUN_B}",)),
    ):
        with pytest.raises(NotFound) as info:
            call(*args)
        assert str(root) not in json.dumps(info.value.body()), info.value.body()


def test_describe_exit_names_the_signal_and_the_log_by_its_name(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("eegtrain worker: injecting fault\nlast words\n")
    killed = describe_exit(-9, 1234, log)
    assert "signal 9 (SIGKILL)" in killed and "out of memory" in killed and "pid 1234" in killed
    assert "last lines of worker.log: eegtrain worker: injecting fault | last words" in killed
    assert str(tmp_path) not in killed
    assert "exited with code 3" in describe_exit(3, 1, log)
    assert fork_server_end() is None  # none started, or it is running: a 255 is the worker's own
    assert "exited with code 255" in describe_exit(255, 1, log)


@pytest.mark.slow  # trains a small EEGNet in this process
def test_a_full_disk_at_the_checkpoint_fails_the_run_naming_the_file(tmp_path, monkeypatch):
    """The checkpoint's temp file is opened on ``/dev/full``: every write to it fails with the
    kernel's ENOSPC, which ``torch.save`` wraps in its own RuntimeError."""
    real_open = open

    def checkpoint_on_a_full_disk(file, mode="r", *args, **kwargs):
        if "w" in mode and Path(file).name.startswith(f".{artifacts.SYNTHETIC_CHECKPOINT_NAME}."):
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", checkpoint_on_a_full_disk, raising=False)
    manager = TrainingManager(tmp_path, thread_settings=None)
    manager.start({**TINY, "model": "eegnet", "save_dir": "out"}, data=generate(100, seed=3))
    assert manager.wait(300)
    status = manager.status()
    expected = f"InsufficientStorage: no space left on device writing {artifacts.SYNTHETIC_CHECKPOINT_NAME}"
    assert status.state is TrainingState.FAILED and status.error == expected, status.error
    record = files.read_json(Path(status.run_dir) / "run.json")
    assert record["state"] == "failed" and record["error"] == expected
    assert not list(Path(status.run_dir).glob(".*.tmp"))  # the temp file is gone


def test_disk_full_and_missing_package_errors_round_trip():
    assert InsufficientStorage.status == 507 and MissingDependency.status == 501
    for cls in (InsufficientStorage, MissingDependency):
        assert ERROR_TYPES[cls.__name__] is cls
        err = cls("message")
        assert type(from_response(cls.status, err.body())) is cls
        assert type(from_response(cls.status, {"error": "x"})) is cls


def test_a_full_disk_under_a_json_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = files.write_json(tmp_path / "x.json", {"old": True})
    real_open = open
    monkeypatch.setattr(
        files,
        "open",
        lambda file, mode="r", *a, **k: real_open("/dev/full" if "w" in mode else file, mode, *a, **k),
        raising=False,
    )
    with pytest.raises(InsufficientStorage, match=r"^no space left on device writing x\.json$"):
        files.write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True} and not list(tmp_path.glob(".*.tmp"))


def test_a_missing_optional_package_says_what_to_install(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "optuna", None)
    search = SearchManager(TrainingManager(tmp_path))
    with pytest.raises(MissingDependency) as info:
        search.start({"config": TINY, "space": {"learning_rate": {"low": 1e-4, "high": 1e-3}}, "n_trials": 2})
    assert info.value.status == 501
    assert info.value.message == (
        "hyper-parameter search needs optuna, which is not installed: pip install 'eegtrain-jupyter[search]'"
    )

    from eegtrain_jupyter.serving import export

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency, match=re.escape("pip install 'eegtrain-jupyter[export]'")):
        export._export_onnx(None, None, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with caplog.at_level("INFO", logger=tensorboard_writer.__name__):
        assert tensorboard_writer.for_run(tmp_path, RUN_A, parse_config({})) is None
    assert "pip install 'eegtrain-jupyter[tensorboard]'" in caplog.text


def _template(pattern: str) -> str:
    """A route's regex as an OpenAPI path template with unnamed parameters (``{}``)."""
    return re.sub(r"\(\[\^/\]\+\)", "{}", pattern)


def test_the_route_table_and_the_openapi_paths_are_one_list():
    doc = openapi_document()
    routes = {
        _template(pattern): handler for pattern, handler in route_table() if handler is not NotFoundHandler
    }
    documented = {re.sub(r"\{[a-z_]+\}", "{}", path): ops for path, ops in doc["paths"].items()}
    assert set(routes) == set(documented)
    for path, handler in routes.items():
        served = {m for m in ("get", "post", "put", "patch", "delete") if m in vars(handler)}
        assert served == set(documented[path]), path


def test_a_distributed_run_records_its_world_size(tmp_path):
    config = parse_config({"devices": "cpu:2", "nnodes": 3, "rdzv_endpoint": "node0:29500"})
    run = Run(RUN_A, config, tmp_path)
    assert run.record().world_size == 6 and build_status(run).world_size == 6
    assert Run(RUN_B, parse_config({}), tmp_path).record().world_size == 1
    assert build_status(None).world_size is None
