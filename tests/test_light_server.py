"""The Jupyter server process stays a router: it never loads torch, MNE, braindecode or
scikit-learn, and a request that reads user data cannot hold it up.

A real ``jupyter server`` with the extension answers every JSON endpoint, validates and trains a
``files`` run on real EDF/BrainVision/EEGLAB/FIF recordings, predicts on a recording, evaluates on
one, runs a benchmark to its table and figure and serves a trial's curves; its memory map (``/proc/<pid>/maps``) must show none of those libraries' shared
objects afterwards. Then untrusted input through REST: a pathological regex, a FIFO, a data task
past its time and memory limits; the server's own ``/api/status`` answers within 100 ms
throughout.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from configs import TINY
from recordings import LABELS, make_raw, write, write_set

from eegtrain_jupyter.testing import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps"),
]

HEAVY = {
    "torch": "libtorch",
    "scipy (MNE's numerics)": "scipy/",
    "scikit-learn": "sklearn/",
    "matplotlib": "matplotlib/",
}
"""What must not be loaded into the server: a library, and a path part of its shared objects."""


def loaded(pid: int) -> dict[str, bool]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: part in maps for name, part in HEAVY.items()}


def files_config(**over):
    return {
        **TINY,
        "n_epochs": 1,
        "save_dir": "models",
        "split_by": "window",
        "data": {
            "source": "files",
            "paths": ["rec/*"],
            "labels": LABELS,
            "sliding": True,
            "subject_pattern": r"sub-(?P<subject>\d+)",
            "channel_map": {"EEG O2-REF": "O2"},
        },
        **over,
    }


class Api:
    def __init__(self, server: ServerProcess):
        self.url, self.headers = server.url, {"Authorization": f"token {server.token}"}

    def __call__(self, method: str, path: str, body=None, timeout: float = 300):
        resp = requests.request(method, self.url + path, json=body, headers=self.headers, timeout=timeout)
        return resp.status_code, (resp.json() if resp.content else None)


class Heartbeat:
    """Polls Jupyter's own ``/api/status`` every 20 ms in a thread; the slowest answer it saw."""

    def __init__(self, api: Api):
        self.api, self.worst, self.failures = api, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                code, _ = self.api("GET", "api/status", timeout=5)
                self.failures += code != 200
            except requests.RequestException:
                self.failures += 1
            self.worst = max(self.worst, time.perf_counter() - t0)
            time.sleep(0.02)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    write_set(root / "rec")
    env = {"EEGTRAIN_DATA_TIMEOUT_S": "20"}
    with ServerProcess(root, env=env) as srv:
        yield srv


def test_the_server_never_loads_torch_mne_or_sklearn(server):
    api = Api(server)
    for path in (
        "training/config",
        "training/config/schema",
        "training/status",
        "training/history",
        "training/runs",
        "training/openapi.json",
    ):
        assert api("GET", path)[0] == 200, path
    code, body = api("POST", "training/config/validate", files_config())
    assert code == 200 and body["valid"], body
    code, body = api("POST", "training/start", files_config())
    assert code == 200, body
    run_id = body["run_id"]
    deadline = time.monotonic() + 300
    while api("GET", "training/status")[1]["state"] not in ("completed", "failed", "stopped"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    status = api("GET", "training/status")[1]
    assert status["state"] == "completed", status["error"]
    code, pred = api("POST", f"training/runs/{run_id}/predict", {"path": "rec/sub-01_task-rest.edf"})
    assert code == 200 and pred["n_windows"] > 0, pred
    code, report = api("POST", f"training/runs/{run_id}/evaluate", {"files": ["rec/sub-02*"]})
    assert code == 200 and report["n"] > 0 and report["subjects"] == ["02"], report
    assert report["seen_in_training"] == [report["files"][0]["path"]]
    # TensorBoard events are written by the worker, not here
    assert any((Path(server.root_dir) / "models" / "tensorboard" / run_id).iterdir())
    # a benchmark: its folds checked, and its table, statistics and figure made, in the data worker
    base = files_config(evaluation={"protocol": "cross_subject", "n_folds": 2})
    code, body = api("POST", "training/benchmark", {"config": base, "models": ["csp_lda", "bandpower_lda"]})
    assert code == 200, body
    while api("GET", "training/benchmark")[1]["state"] == "running":
        assert time.monotonic() < deadline + 300
        time.sleep(0.5)
    bench = api("GET", "training/benchmark")[1]
    assert bench["state"] == "completed" and bench["summary"]["files"], bench
    assert loaded(server.pid) == dict.fromkeys(HEAVY, False)


def _vhdr_reading(folder: Path, data_file: str) -> None:
    """A real BrainVision recording whose header names ``data_file`` as its samples."""
    vhdr = write(make_raw(1), folder, "sub-01_task-rest", "brainvision")
    text = vhdr.read_text()
    start = text.index("DataFile=")
    end = text.index("\n", start)
    vhdr.write_text(text[:start] + f"DataFile={data_file}" + text[end:])


def test_untrusted_input_never_holds_up_the_server(server):
    api = Api(server)
    root = Path(server.root_dir)
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "samples.eeg")
    _vhdr_reading(root / "fifo", "samples.eeg")
    (root / "slow").mkdir()
    (root / "slow" / ("a" * 28 + "!.edf")).write_bytes((root / "rec" / "sub-01_task-rest.edf").read_bytes())
    data = files_config()["data"]
    evil = {
        "regex": {**data, "paths": ["slow/*.edf"], "subject_pattern": "(a+)+$"},
        "nested regex": {**data, "subject_pattern": "(" * 3000 + "a" + ")" * 3000},
        **{f"fifo {i}": {**data, "paths": ["fifo/*.vhdr"]} for i in range(6)},
    }
    results = {}

    def send(name, body):
        results[name] = api("POST", "training/config/validate", files_config(data=body), timeout=250)

    with Heartbeat(api) as beat:
        threads = [threading.Thread(target=send, args=item) for item in evil.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    for name, (code, body) in results.items():
        assert code == 200 and not body["valid"], (name, body)  # refused, every field named
        assert all(e["field"].startswith("data.") for e in body["errors"]), (name, body)
        assert str(root) not in str(body), (name, body)
    assert len(results) == len(evil)
    assert beat.failures == 0 and beat.worst < 0.1, beat.worst
