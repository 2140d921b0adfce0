"""Benchmarks 18-20: what the extension costs the Jupyter server it is loaded into.

``python -m bench.light [--starts N] [--quick]`` prints one JSON line:

* rows 18-19: a ``jupyter server`` with the extension against the same server with the extension
  disabled (``--ServerApp.jpserver_extensions={'eegtrain_jupyter': False}``), started alternately
  ``N`` times each: seconds from the process start to the first answer of Jupyter's own
  ``/api/status``, and the process's RSS then (medians);
* row 20: the extension's server RSS after it validated a ``files`` config, trained it to the
  end and predicted on a recording, against its RSS idle (after start and one status call).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from eegtrain_jupyter.testing import free_port


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kb / 1024


class Server:
    """A ``jupyter server`` subprocess timed from its start to its first ``/api/status``."""

    def __init__(self, root: Path, extension: bool):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.headers = {"Authorization": f"token {self.token}"}
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--ServerApp.jpserver_extensions={{'eegtrain_jupyter': {extension}}}",
        ]
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / f".runtime-{self.port}")}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while True:
            if self.proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise RuntimeError("jupyter server did not start")
            try:
                if requests.get(self.url + "api/status", headers=self.headers, timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.02)
        self.start_s = time.perf_counter() - t0
        self.rss_mb = _rss_mb(self.proc.pid)

    def call(self, method: str, path: str, body=None):
        resp = requests.request(method, self.url + path, json=body, headers=self.headers, timeout=600)
        return resp.status_code, resp.json()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def startups(starts: int) -> dict:
    """Rows 18-19: start time and RSS, extension enabled vs disabled, alternating."""
    out: dict[str, list[tuple[float, float]]] = {"plain": [], "extension": []}
    with tempfile.TemporaryDirectory() as root:
        for _ in range(starts):
            for kind in ("plain", "extension"):
                server = Server(Path(root), extension=kind == "extension")
                out[kind].append((server.start_s, server.rss_mb))
                server.close()
    med = {
        k: (statistics.median(s for s, _ in v), statistics.median(r for _, r in v)) for k, v in out.items()
    }
    return {
        "starts": starts,
        "plain_start_s": med["plain"][0],
        "extension_start_s": med["extension"][0],
        "plain_rss_mb": med["plain"][1],
        "extension_rss_mb": med["extension"][1],
        "start_delta_s": med["extension"][0] - med["plain"][0],
        "rss_delta_mb": med["extension"][1] - med["plain"][1],
    }


def files_run(quick: bool) -> dict:
    """Row 20: the server's RSS after validate + a ``files`` run + a prediction, over idle."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from recordings import LABELS, write_set

    config = {
        "n_epochs": 1 if quick else 2,
        "batch_size": 16,
        "device": "cpu",
        "save_dir": "models",
        "split_by": "window",
        "data": {
            "source": "files",
            "paths": ["rec/*"],
            "labels": LABELS,
            "sliding": True,
            "channel_map": {"EEG O2-REF": "O2"},
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_set(root / "rec")
        server = Server(root, extension=True)
        try:
            server.call("GET", "training/status")
            idle = _rss_mb(server.proc.pid)
            code, body = server.call("POST", "training/config/validate", config)
            assert code == 200 and body["valid"], body
            code, body = server.call("POST", "training/start", config)
            assert code == 200, body
            while server.call("GET", "training/status")[1]["state"] not in ("completed", "failed", "stopped"):
                time.sleep(0.5)
            status = server.call("GET", "training/status")[1]
            assert status["state"] == "completed", status["error"]
            code, body = server.call(
                "POST", f"training/runs/{status['run_id']}/predict", {"path": "rec/sub-01_task-rest.edf"}
            )
            assert code == 200, body
            after = _rss_mb(server.proc.pid)
        finally:
            server.close()
    return {"idle_rss_mb": idle, "after_run_rss_mb": after, "run_rss_delta_mb": after - idle}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps({**startups(args.starts), **files_run(args.quick)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
