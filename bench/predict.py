"""Benchmarks for using a trained model, written to ``bench/PREDICT_RESULTS.md``.

``python -m bench.predict [--quick]``:

* P1/P2: ONNX Runtime vs torch eager, windows/s at batch 1 and batch 64 on the CPU: the same tiny
  trained run, the same windows, the same number of intra-op threads for both, calls alternated
  (median of per-pair ratios). Goal at batch 64: ONNX Runtime >= 1.5x torch.
* P3: ``POST training/runs/{id}/predict`` with 32 windows (JSON, ~1.6 MB) through a real
  ``jupyter server``: p50/p99 latency idle, then while a fine-tune runs in the same server.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _pairs(fa, fb, n: int) -> tuple[list[float], list[float]]:
    """Alternate ``fa``/``fb`` ``n`` times (rotating which goes first); seconds of each call."""
    ta, tb = [], []
    for i in range(n):
        for f, out in ((fa, ta), (fb, tb)) if i % 2 == 0 else ((fb, tb), (fa, ta)):
            t0 = time.perf_counter()
            f()
            out.append(time.perf_counter() - t0)
    return ta, tb


def runtime_throughput(root: Path, quick: bool = False, threads: int = 1) -> dict:
    """Windows/s of ONNX Runtime and torch eager at batch 1 and 64 (same model, windows, threads).

    ``threads`` intra-op threads for both (default 1: on a shared 2-core machine, two spinning
    OpenMP threads per runtime measure the neighbours' load more than the runtime).
    """
    import onnxruntime as ort
    import torch

    from eegtrain_jupyter import load_model
    from eegtrain_jupyter.service.manager import TrainingManager
    from eegtrain_jupyter.service.serving.export import export_model, parity_windows

    manager = TrainingManager(root, thread_settings=None)
    manager.start({"n_epochs": 1, "n_samples_per_class": 100, "device": "cpu", "save_dir": "models"})
    manager.wait()
    model = load_model(manager.status().run_id, root)
    result = export_model(model, "onnx", root / "export")
    torch.set_num_threads(threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(result.path, opts, providers=["CPUExecutionProvider"])
    X = parity_windows(model, 64, seed=1)
    out: dict = {"threads": threads, "parity_max_abs_diff": result.parity.max_abs_diff}
    for batch, n in ((1, 20 if quick else 60), (64, 3 if quick else 8)):
        xb = X[:batch]
        xt = torch.from_numpy(xb)

        def run_ort(xb=xb):
            session.run(None, {"windows": xb})

        def run_torch(xt=xt):
            with torch.inference_mode():
                torch.softmax(model.module(xt), 1)

        run_ort(), run_torch()  # warm-up
        t_ort, t_torch = _pairs(run_ort, run_torch, n)
        ratios = [b / a for a, b in zip(t_ort, t_torch, strict=True)]
        out[f"batch{batch}"] = {
            "ort_windows_s": batch / float(np.median(t_ort)),
            "torch_windows_s": batch / float(np.median(t_torch)),
            "ratio": float(np.median(ratios)),
            "n": n,
        }
    return out


def predict_latency(quick: bool = False) -> dict:
    """p50/p99 ms of POST predict (32 windows) idle, then during a fine-tune, through a real server."""
    import requests

    from eegtrain_jupyter.data.synthetic import generate
    from eegtrain_jupyter.testing import ServerProcess

    n = 15 if quick else 60
    body = {"windows": generate(16, seed=5).X[:32].tolist()}
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(tmp, extra_args=["--TrainingExtension.max_body_bytes=8000000"]) as server,
    ):
        s = requests.Session()
        s.headers["Authorization"] = f"token {server.token}"
        base = server.url + "training/"
        tiny = {"n_epochs": 1, "n_samples_per_class": 100, "device": "cpu", "save_dir": "models"}
        s.post(base + "start", json=tiny, timeout=30).raise_for_status()
        while s.get(base + "status", timeout=30).json()["is_training"]:
            time.sleep(0.5)
        run_id = s.get(base + "status", timeout=30).json()["run_id"]
        url = base + f"runs/{run_id}/predict"

        def lat(k: int) -> np.ndarray:
            out = np.empty(k)
            for i in range(k):
                t0 = time.perf_counter()
                r = s.post(url, json=body, timeout=120)
                out[i] = time.perf_counter() - t0
                r.raise_for_status()
            return out * 1000

        lat(2)  # warm-up: model load and cache
        idle = lat(n)
        busy_cfg = {**tiny, "n_epochs": 100, "freeze_backbone": False, "n_samples_per_class": 100}
        s.post(base + "start", json=busy_cfg, timeout=30).raise_for_status()
        while not s.get(base + "status", timeout=30).json().get("batch"):
            time.sleep(0.2)
        busy = lat(n)
        state = s.get(base + "status", timeout=30).json()["state"]
        s.post(base + "stop", timeout=30)
    pct = lambda a, q: float(np.percentile(a, q))  # noqa: E731
    return {
        "n": n,
        "idle_p50": pct(idle, 50),
        "idle_p99": pct(idle, 99),
        "busy_p50": pct(busy, 50),
        "busy_p99": pct(busy, 99),
        "busy_state_after": state,
        "body_bytes": len(json.dumps(body)),
    }


def main(argv: list[str] | None = None) -> int:
    import os
    import platform

    parser = argparse.ArgumentParser(prog="python -m bench.predict")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both runtimes (P1/P2)")
    args = parser.parse_args(argv)
    started, load0 = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        thr = runtime_throughput(Path(tmp), args.quick, args.threads)
    lat = predict_latency(args.quick)
    b1, b64 = thr["batch1"], thr["batch64"]
    rows = [
        (
            "P1",
            "ONNX Runtime vs torch eager, batch 1",
            f"{b1['ort_windows_s']:.1f} win/s",
            f"{b1['torch_windows_s']:.1f} win/s",
            f"{b1['ratio']:.2f}",
            "-",
            "-",
        ),
        (
            "P2",
            "ONNX Runtime vs torch eager, batch 64",
            f"{b64['ort_windows_s']:.1f} win/s",
            f"{b64['torch_windows_s']:.1f} win/s",
            f"{b64['ratio']:.2f}",
            ">= 1.5x",
            "yes" if b64["ratio"] >= 1.5 else "no",
        ),
        (
            "P3",
            "POST predict, 32 windows, p50 / p99 (ratio: busy p99 / idle p99)",
            f"{lat['busy_p50']:.0f} / {lat['busy_p99']:.0f} ms (training)",
            f"{lat['idle_p50']:.0f} / {lat['idle_p99']:.0f} ms (idle)",
            f"{lat['busy_p99'] / lat['idle_p99']:.2f}",
            "-",
            "-",
        ),
    ]
    lines = [
        "# Prediction benchmarks",
        "",
        f"Generated by `python -m bench.predict{' --quick' if args.quick else ''} "
        f"--threads {args.threads}` in "
        f"{time.time() - started:.0f} s; python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
        f"{thr['threads']} intra-op threads for both runtimes; CPU; tiny run (random backbone).",
        "",
        "| # | measure | candidate | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "<details><summary>raw numbers</summary>",
        "",
        "```json",
        json.dumps({"throughput": thr, "latency": lat}, indent=1),
        "```",
        "",
        "</details>",
        "",
    ]
    (HERE / "PREDICT_RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
