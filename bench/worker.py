"""Run one measurement in a fresh process: ``python -m bench.worker TASK CONFIG_JSON``.

Prints one JSON line ``{"seconds": ..., "max_rss_mb": ...}`` (``frozen_train`` adds the run's
precision and accuracies, see :func:`bench.cases.train_with_accuracy`); the peak RSS is this process's
``ru_maxrss`` (imports included), so the frozen-train task also gives benchmark 7. One-time
imports are done before the timed part, the same for every task.
"""

from __future__ import annotations

import json
import resource
import sys


def main(argv: list[str]) -> None:
    task, cfg = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    threads = cfg.pop("_threads", None)
    n_per_class = cfg.pop("_n_per_class", None)
    fresh = int(cfg.pop("_fresh_per_class", 0) or 0)
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    from eegtrain_jupyter.config.training import parse_config

    from . import cases

    preset = cfg.pop("_preset", None)
    config = parse_config(cfg, preset=preset)
    # Imports a process pays once (LaBraM's package, torch.optim's lazy torch._dynamo, matplotlib's
    # Agg backend: ~5 s on 2 busy cores) happen before any timing, for every task alike.
    import braindecode.models  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401
    import torch._dynamo

    extra: dict = {}
    if task == "forward":
        seconds = cases.time_forward_all(config, n_per_class)
    elif task == "frozen_train":  # any config (the fine-tune parity row too): timing plus accuracies
        extra = cases.train_with_accuracy(config, n_per_class, fresh)
        seconds = extra.pop("seconds")
    elif task == "naive_epoch":
        seconds = cases.time_naive_epochs(config, n_per_class=n_per_class)
    else:
        raise SystemExit(f"unknown task {task!r}")
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "max_rss_mb": rss_kb / 1024, **extra}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
