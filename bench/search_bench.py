"""``python -m bench.search_bench [--trials 20]``: a head-only hyper-parameter search (learning rate,
weight decay, batch size over a frozen LaBraM backbone) against one frozen run of the same config.

Both go through a :class:`~eegtrain_jupyter.service.manager.TrainingManager` on a fresh root (so the feature
cache starts empty): the baseline is one run, the candidate a search of ``--trials`` trials whose
first trial computes the backbone features and the rest reuse them
(:class:`~eegtrain_jupyter.engine.feature_cache.FeatureCache`) and every trial trains in the same worker
process (:class:`~eegtrain_jupyter.runtime.launcher.WorkerSession`). Goal: the search costs <= 2x the run.
One search per ``--pruners`` entry: ``median`` (the search's default: trials that fall behind the
median of earlier ones at an epoch stop there) and ``none`` (every trial runs every epoch).

Before either is timed, a tiny run (2x100 windows, one epoch, its own root) starts the process's
worker fork server (it imports torch, braindecode and the engine once, seconds): without it the
baseline, measured first, would carry that one-off start and the search would not. The machine
may be shared: the baseline run is measured before and after the search and the ratio uses their
mean, so load that comes or goes during the search weighs on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.service.search import SearchManager

SPACE = {
    "learning_rate": {"low": 0.0001, "high": 0.01, "log": True},
    "weight_decay": {"low": 0.0, "high": 0.001},
    "batch_size": {"choices": [16, 32, 64, 128]},
}


def warm_up() -> float:
    """Start the worker fork server with a tiny run (not part of either measurement)."""
    return one_run({"n_samples_per_class": 100, "n_epochs": 1, "device": "cpu", "freeze_backbone": True})


def one_run(config: dict) -> float:
    with tempfile.TemporaryDirectory() as root:
        manager = TrainingManager(root, thread_settings=None)
        t0 = time.perf_counter()
        manager.start(config)
        manager.wait()
        elapsed = time.perf_counter() - t0
        assert manager.status().state.value == "completed", manager.status().error
        return elapsed


def search(config: dict, n_trials: int, pruner: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as root:
        manager = TrainingManager(root, thread_settings=None)
        searcher = SearchManager(manager)
        t0 = time.perf_counter()
        searcher.start({"config": config, "space": SPACE, "n_trials": n_trials, "pruner": pruner})
        searcher.wait()
        elapsed = time.perf_counter() - t0
        status = searcher.status()
        assert status.state.value == "completed", status.error
        states = [t.state for t in status.trials]
        durations = [r.duration or 0.0 for r in reversed(manager.runs())]  # oldest first
        return (
            elapsed,
            {
                "first_trial_s": round(durations[0], 2),  # computes the features
                "median_later_trial_s": round(statistics.median(durations[1:]), 2) if durations[1:] else None,
                "trials": len(states),
                "complete": states.count("complete"),
                "pruned": states.count("pruned"),
                "best_val_acc": status.best.value if status.best else None,
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--n-samples-per-class", type=int, default=1500)
    parser.add_argument("--n-epochs", type=int, default=15)
    parser.add_argument(
        "--pruners",
        nargs="+",
        default=["median", "none"],
        choices=["median", "none"],
        help="one search per pruner (median: the search's default; none: every trial runs every epoch)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    warm_s = warm_up()
    load_before = os.getloadavg()
    config = {
        "n_samples_per_class": args.n_samples_per_class,
        "n_epochs": args.n_epochs,
        "device": "cpu",
        "freeze_backbone": True,
    }
    run_before = one_run(config)
    searches = {pruner: search(config, args.trials, pruner) for pruner in args.pruners}
    run_after = one_run(config)
    run_s = (run_before + run_after) / 2
    load_after = os.getloadavg()
    rows = {
        pruner: {
            "search_s": round(search_s, 2),
            "ratio": round(search_s / run_s, 2),
            "met": search_s / run_s <= 2.0,
            **facts,
        }
        for pruner, (search_s, facts) in searches.items()
    }
    print(
        json.dumps(
            {
                "one_frozen_run_s": round(run_s, 2),
                "frozen_run_before_after_s": [round(run_before, 2), round(run_after, 2)],
                "goal": "<= 2x",
                "by_pruner": rows,
                "warm_up_s": round(warm_s, 2),
                "load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in load_after],
            }
        )
    )


if __name__ == "__main__":
    main()
