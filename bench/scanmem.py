"""Benchmark 21: the memory a scan of one large recording costs, against the windows it yields.

``python -m bench.scanmem [--quick] [--minutes M] [--channels C] [--sfreq F] [--spans N]`` writes
an EDF (default 64 channels x 60 min at 256 Hz, 118 MB; ``--quick``: 2 min, 4 MB) with ``N``
labelled 60 s spans (``--quick``: 20 s) spread over it, then scans it in a fresh interpreter
(``data.windows.scan(config, PathPolicy(root), cache_dir=None)``: band-pass 0.5-45 Hz, resample to
200 Hz, 4 s windows sliding by 1 s inside each span) and prints one JSON line: the scanning
process's peak RSS over its RSS before the scan (``VmHWM`` minus ``VmRSS`` from
``/proc/self/status``, the peak reset by writing ``5`` to ``/proc/self/clear_refs``), and the
windows' ``X.nbytes``. Before that baseline the scanning process
scans a small EDF once, so the imports (MNE's readers and filters, braindecode's channel list)
are not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LABELS = {"eyes_closed": "relaxed", "task": "anxious"}


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith(f"{key}:"))
    return kb / 1024


def write_edf(path: Path, minutes: float, n_channels: int, sfreq: float, spans: int, span_s: float) -> None:
    """An EDF of ``n_channels`` LaBraM channels: 10 Hz alpha plus noise, ``spans`` labelled spans."""
    import mne

    from eegtrain_jupyter.data.preprocess import labram_channel_names

    names = list(labram_channel_names()[:n_channels])
    n = int(minutes * 60 * sfreq)
    rng = np.random.default_rng(0)
    data = np.empty((n_channels, n))
    t = np.arange(n) / sfreq
    for i in range(n_channels):  # one channel at a time: the writer's memory stays near the file's
        data[i] = 20e-6 * np.sin(2 * np.pi * (9 + i % 4) * t) + rng.normal(0, 10e-6, n)
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, "eeg"), verbose="error")
    onsets = (np.arange(spans) + 0.5) * (n / sfreq / spans) - span_s / 2
    raw.set_annotations(
        mne.Annotations(onsets, span_s, [("eyes_closed", "task")[i % 2] for i in range(spans)])
    )
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")


def _config(name: str):
    from eegtrain_jupyter.config.training import parse_config

    return parse_config(
        {
            "data": {
                "source": "files",
                "paths": [name],
                "labels": LABELS,
                "sliding": True,
                "step_s": 1.0,
                "l_freq": 0.5,
                "h_freq": 45.0,
            }
        }
    )


def scan_peak(root: Path, big: str, small: str) -> dict:
    """In this process: scan ``small`` (imports), then ``big``; its peak RSS over the RSS before."""
    from eegtrain_jupyter.data.paths import PathPolicy
    from eegtrain_jupyter.data.windows import scan

    policy = PathPolicy(root)
    scan(_config(small), policy, cache_dir=None)
    with open(
        "/proc/self/clear_refs", "w"
    ) as fh:  # VmHWM := VmRSS (Linux): the warm-up's peak is not counted
        fh.write("5")
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    windows, _ = scan(_config(big), policy, cache_dir=None)
    wall = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    return {
        "rss_before_mb": before,
        "peak_mb": peak,
        "peak_increase_mb": peak - before,
        "windows_mb": windows.X.nbytes / 1024**2,
        "n_windows": len(windows),
        "scan_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 min, 20 s spans: a few MB")
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--sfreq", type=float, default=256.0)
    parser.add_argument("--spans", type=int, default=6)
    parser.add_argument("--scan", nargs=3, metavar=("ROOT", "BIG", "SMALL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scan:  # the fresh interpreter that measures
        root, big, small = args.scan
        print(json.dumps(scan_peak(Path(root), big, small)))
        return 0
    minutes = args.minutes or (2.0 if args.quick else 60.0)
    span_s = 20.0 if args.quick else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_edf(root / "big.edf", minutes, args.channels, args.sfreq, args.spans, span_s)
        write_edf(root / "small.edf", 1.0, args.channels, args.sfreq, 2, 20.0)
        out = subprocess.run(
            [sys.executable, "-m", "bench.scanmem", "--scan", str(root), "big.edf", "small.edf"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            raise RuntimeError(f"the scan failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result.update(
            file_mb=(root / "big.edf").stat().st_size / 1024**2,
            minutes=minutes,
            channels=args.channels,
            sfreq=args.sfreq,
            spans=args.spans,
            span_s=span_s,
        )
    result["budget_mb"] = 2 * result["windows_mb"] + 300
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
