"""``python -m bench.evaluation_bench [--quick]``: what a benchmark costs (rows 22-25).

Everything goes through the service as a user's runs do (:class:`TrainingManager`, one worker
process per run, :class:`BenchmarkManager`), on synthetic data with 5 subjects, in one temporary
root. A warm-up run first starts the worker machinery (fork server, imports), so no measured side
pays for it. Then, in rotating order, ``repeats`` times:

- ``holdout``: one frozen-LaBraM run of the default config (``evaluation: holdout``);
- ``cross_subject``: a benchmark of that same config over a 5-fold ``cross_subject`` protocol
  (5 runs, the outputs written after each fold);
- each classical baseline (``bandpower_lda``, ``csp_lda``, ``tangent_space_lr``): one holdout run.

Every measurement starts with an empty feature cache (``.eegtrain/features`` removed), so the
holdout run and the benchmark each compute the backbone's features once; that the benchmark's
folds share them is what row 22 measures (the number of cache entries after the benchmark is
reported). Wall time is from the start call to the run's (or benchmark's) end.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASELINES = ("bandpower_lda", "csp_lda", "tangent_space_lr")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.evaluation_bench")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-per-class", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    n = args.n_per_class or (100 if args.quick else 500)
    repeats = args.repeats or (1 if args.quick else 2)

    from eegtrain_jupyter.service.benchmark import BenchmarkManager
    from eegtrain_jupyter.service.manager import TrainingManager

    base = {
        "device": "cpu",
        "n_samples_per_class": n,
        "data": {"n_subjects": 5},
        "save_dir": "models",
    }
    if args.quick:
        base["n_epochs"] = 2
    root = Path(tempfile.mkdtemp(prefix="eegtrain-bench-eval-"))
    manager = TrainingManager(root)
    benchmark = BenchmarkManager(manager)
    features = root / ".eegtrain" / "features"

    def cold() -> None:
        shutil.rmtree(features, ignore_errors=True)

    def run(config: dict) -> float:
        cold()
        t0 = time.perf_counter()
        manager.start(config)
        manager.wait()
        seconds = time.perf_counter() - t0
        state = manager.status().state.value
        if state != "completed":
            raise SystemExit(f"run {config.get('model', 'labram')} ended {state}: {manager.status().error}")
        return seconds

    entries: list[int] = []

    def bench() -> float:
        cold()
        t0 = time.perf_counter()
        benchmark.start(
            {
                "config": {**base, "evaluation": {"protocol": "cross_subject", "n_folds": 5}},
                "models": ["labram"],
            }
        )
        benchmark.wait()
        seconds = time.perf_counter() - t0
        status = benchmark.status()
        if status.state.value != "completed":
            raise SystemExit(f"benchmark ended {status.state.value}: {status.error}")
        entries.append(len(list(features.glob("*.npy"))))
        return seconds

    neutral = {k: v for k, v in base.items() if k != "n_epochs"}
    times: dict[str, list[float]] = {"holdout": [], "cross_subject": [], **{b: [] for b in BASELINES}}
    steps = {
        "holdout": lambda: run(base),
        "cross_subject": bench,
        # a baseline takes no n_epochs (the gradient-descent fields are refused for it)
        **{b: (lambda b=b: run({**neutral, "model": b})) for b in BASELINES},
    }
    try:
        run({**base, "n_samples_per_class": 100, "n_epochs": 1})  # warm-up: fork server, imports
        names = list(steps)
        for r in range(repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                print(f"[evaluation_bench] {name}, repeat {r + 1}/{repeats}", file=sys.stderr, flush=True)
                times[name].append(steps[name]())
    finally:
        benchmark.shutdown(120)
        manager.shutdown(60)
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio_bench = statistics.median(
        b / h for b, h in zip(times["cross_subject"], times["holdout"], strict=True)
    )
    ratio_baselines = {
        b: statistics.median(x / h for x, h in zip(times[b], times["holdout"], strict=True))
        for b in BASELINES
    }
    print(
        json.dumps(
            {
                "n_per_class": n,
                "n_subjects": 5,
                "n_folds": 5,
                "repeats": repeats,
                "times": times,
                "median_s": med,
                "ratio_benchmark": ratio_bench,
                "ratio_baselines": ratio_baselines,
                "feature_cache_entries_after_benchmark": entries,
                "load_avg": os.getloadavg(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
