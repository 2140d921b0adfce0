"""A job's runs (a search's trials) share one worker process, on the real LaBraM, no mocks.

The worker keeps the windows, the built model and the feature keys between runs
(:class:`~eegtrain_jupyter.runtime.workbench.Workbench`); every run must still train exactly as it would
in a fresh worker. A run that fails ends the shared worker and the next run gets a fresh one; the
job's end ends the worker.
"""

from __future__ import annotations

import os

import psutil
import pytest
from configs import TINY
from support import require

from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.runtime.supervisor import LOG_NAME
from eegtrain_jupyter.runtime.worker import FAULT_ENV
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.service.search import WARMUP_EPOCHS

pytestmark = pytest.mark.slow  # every test trains several runs


class WorkerPids(TrainingListener):
    """The worker pid each run reported its setup from."""

    def __init__(self) -> None:
        self.manager: TrainingManager | None = None
        self.pids: list[int | None] = []

    def on_setup(self, **_: object) -> None:
        assert self.manager is not None
        self.pids.append(self.manager.worker_pid)


def _manager(tmp_path, **kwargs) -> tuple[TrainingManager, WorkerPids]:
    pids = WorkerPids()
    manager = TrainingManager(tmp_path, listeners=[pids], **kwargs)
    pids.manager = manager
    return manager, pids


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_search_trials_share_one_worker_and_train_as_fresh_runs(tmp_path):
    require("optuna")
    from eegtrain_jupyter.service.search import SearchManager

    manager, pids = _manager(tmp_path)
    search = SearchManager(manager)
    space = {
        "learning_rate": {"low": 0.0003, "high": 0.01, "log": True},
        "batch_size": {"choices": [16, 64]},
    }
    base = {**TINY, "n_epochs": 3, "save_dir": "out"}
    search.start({"config": base, "space": space, "n_trials": 3, "pruner": "none"})
    assert search.wait(300)
    status = search.status()
    assert status.state.value == "completed", status.error
    assert [t.state for t in status.trials] == ["complete"] * 3
    assert len(pids.pids) == 3 and pids.pids[0] is not None
    assert len(set(pids.pids)) == 1, pids.pids  # one worker process for every trial
    assert _gone(pids.pids[0])  # ... ended with the search
    trials = {t.run_id: t for t in status.trials}
    for run in manager.runs():
        assert os.path.exists(os.path.join(run.run_dir, LOG_NAME))  # each run its own log
        assert not os.path.exists(os.path.join(run.run_dir, artifacts.CURVES_NAME))  # drawn on request
        checkpoint = artifacts.SYNTHETIC_CHECKPOINT_NAME
        assert os.path.exists(os.path.join(run.run_dir, checkpoint)), run.run_id

    # a trial trains exactly as a plain run of its config in a fresh worker: same weights from
    # the kept model's copy, same features from the memoised key
    for number in (1, 2):
        trial = status.trials[number]
        run_id = trial.run_id
        assert run_id in trials
        trial_history = manager.run(run_id).history
        config = {**base, **trial.params}
        manager.start(config)
        assert manager.wait(120) and manager.status().state.value == "completed"
        plain = manager.history()
        assert plain.val_accs == trial_history.val_accs
        assert plain.train_losses == pytest.approx(trial_history.train_losses, rel=1e-6)
    assert pids.pids[-1] != pids.pids[0] and pids.pids[-2] != pids.pids[-1]  # plain runs: own workers


def test_a_failed_run_ends_the_shared_worker_and_the_next_gets_a_fresh_one(tmp_path, monkeypatch):
    manager, pids = _manager(tmp_path)
    config = {**TINY, "n_epochs": 2, "save_dir": "out"}
    manager.reserve("job", lambda: None)
    try:
        manager.start(config, owner="job")
        assert manager.wait(120) and manager.status().state.value == "completed"
        monkeypatch.setenv(FAULT_ENV, "exit:3@train:1")
        manager.start(config, owner="job")
        assert manager.wait(120)
        failed = manager.status()
        assert failed.state.value == "failed" and "exited with code 3" in (failed.error or ""), failed.error
        monkeypatch.delenv(FAULT_ENV)
        manager.start(config, owner="job")
        assert manager.wait(120) and manager.status().state.value == "completed", manager.status().error
        manager.start(config, owner="job")
        assert manager.wait(120) and manager.status().state.value == "completed"
    finally:
        manager.release("job")
    first, crashed, fresh, again = pids.pids
    assert crashed == first  # the second run went to the kept worker, which then died
    assert fresh != first and again == fresh  # a fresh worker, kept in turn
    assert _gone(fresh)


def test_the_median_pruner_stops_trials_that_fall_behind(tmp_path):
    """The search's default pruner, through pipelined trials: a pruned trial's run is stopped after
    its warm-up epoch with its finished epochs kept; Optuna holds its per-epoch reports up to the
    one it was pruned at (the rule itself: tests/test_search_pruner.py)."""
    require("optuna")
    import optuna

    from eegtrain_jupyter.service.search import SearchManager

    manager = TrainingManager(tmp_path)
    search = SearchManager(manager)
    space = {"learning_rate": {"low": 0.0001, "high": 0.01, "log": True}}
    base = {**TINY, "n_epochs": 6, "n_samples_per_class": 150, "save_dir": "out"}
    search.start({"config": base, "space": space, "n_trials": 8})  # pruner: median (the default)
    assert search.wait(300)
    status = search.status()
    assert status.state.value == "completed", status.error
    pruned = [t for t in status.trials if t.state == "pruned"]
    assert pruned, [(t.state, t.value) for t in status.trials]
    study = optuna.load_study(study_name=status.search_id, storage=search._get_storage(status.storage))
    frozen = {t.number: t for t in study.get_trials()}
    for trial in pruned:
        run = manager.run(trial.run_id)
        assert run.state.value == "stopped" and run.error is None, run
        reported = sorted(frozen[trial.number].intermediate_values)
        # judged from the first epoch after the warm-up; no report after the one it was pruned at
        assert reported == list(range(1, len(reported) + 1)) and len(reported) > WARMUP_EPOCHS
        # the run kept the epochs it finished: at least those Optuna judged it on, at most one more
        assert len(reported) <= len(run.history.val_accs) <= len(reported) + 1 < base["n_epochs"] + 1
    assert status.best is not None and status.best.number not in {t.number for t in pruned}
