"""Rows 11 and 12: what the training worker process costs and what it saves.

Each measurement runs in a fresh interpreter (``python -m bench.process TASK CONFIG_JSON``, one
JSON line out), so one side's imports, allocator caches or fork server never flatter the other.

* ``startup``: seconds from ``start`` to the first batch event, through the worker (the first
  run, which also starts the fork server, and then warm runs) and in a thread of this process
  (training in the calling process: ``load_windows`` + ``engine.train``, imports already done, as in
  a server that had imported the package).
* ``rss``: this process's RSS before and after one run, through the worker or in a thread.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time

__all__ = ["rss_after_run", "startup"]


def _first_batch_listener():
    from eegtrain_jupyter.engine.events import TrainingListener

    class First(TrainingListener):
        def __init__(self):
            self.at: float | None = None
            self.seen = threading.Event()

        def on_batch(self, **_):
            if self.at is None:
                self.at = time.perf_counter()
                self.seen.set()

    return First()


def _in_thread(config, out: str, listeners, should_stop=lambda: False) -> threading.Thread:
    from eegtrain_jupyter.data.windows import load_windows
    from eegtrain_jupyter.engine.training import train

    def work():
        train(config, load_windows(config), out, listeners=listeners, should_stop=should_stop)

    thread = threading.Thread(target=work, name="bench-in-thread")
    thread.start()
    return thread


def startup(cfg: dict, repeats: int) -> dict:
    """Seconds to the first batch: worker (cold, then warm) and in-thread, alternating."""
    import braindecode.models  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401
    import torch._dynamo  # noqa: F401

    import eegtrain_jupyter.engine.training  # noqa: F401 - the in-thread path's imports, paid before timing
    from eegtrain_jupyter.config.training import parse_config
    from eegtrain_jupyter.service.manager import TrainingManager

    config = parse_config(cfg)
    root = tempfile.mkdtemp(prefix="bench-startup-")
    out: dict = {"worker_cold": None, "worker": [], "thread": []}
    for r in range(repeats + 1):
        first = _first_batch_listener()
        manager = TrainingManager(root, listeners=[first])
        t0 = time.perf_counter()
        manager.start(config)
        first.seen.wait(600)
        manager.stop()
        manager.wait(120)
        if r == 0:
            out["worker_cold"] = first.at - t0
            continue
        out["worker"].append(first.at - t0)
        first, stop = _first_batch_listener(), threading.Event()
        t0 = time.perf_counter()
        thread = _in_thread(config, f"{root}/thread", [first], stop.is_set)
        first.seen.wait(600)
        stop.set()
        thread.join()
        out["thread"].append(first.at - t0)
    return out


def rss_after_run(cfg: dict, path: str) -> dict:
    """RSS (MB) of this process before and after one run through ``path`` (``worker`` or ``thread``)."""
    import psutil

    from eegtrain_jupyter.config.training import parse_config
    from eegtrain_jupyter.service.manager import TrainingManager

    config = parse_config(cfg)
    root = tempfile.mkdtemp(prefix="bench-rss-")
    me = psutil.Process()
    if path == "worker":
        manager = TrainingManager(root)
        manager.start({**cfg, "n_epochs": 1, "n_samples_per_class": 100, "freeze_backbone": True})
        manager.wait()  # the fork server is up: the server's state between runs
        before = me.memory_info().rss
        manager.start(config)
        manager.wait()
        state = manager.status().state.value
    else:
        import eegtrain_jupyter.engine.training  # noqa: F401 - imported by the server before this change

        before = me.memory_info().rss
        _in_thread(config, root, []).join()
        state = "completed"
    after = me.memory_info().rss
    return {"before_mb": before / 2**20, "after_mb": after / 2**20, "state": state}


def main(argv: list[str]) -> None:
    task, cfg = argv[0], json.loads(argv[1])
    result = startup(cfg, int(argv[2])) if task == "startup" else rss_after_run(cfg, argv[2])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
