"""The median pruner's rule, on Optuna's own study with fixed reports (no training, no timing).

A trial is judged from its first epoch after the warm-up (``search.WARMUP_EPOCHS``), once two
trials have completed, against their median at the same epoch.
"""

from __future__ import annotations

import pytest
from support import require

from eegtrain_jupyter.service.search import WARMUP_EPOCHS, make_pruner


def _study(pruner_name: str):
    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner_name))
    for value in (0.9, 0.8):  # two completed trials, good at every epoch
        trial = study.ask()
        for epoch in range(1, 6):
            trial.report(value, epoch)
        study.tell(trial, value)
    return study


def test_a_trial_behind_is_pruned_at_the_first_epoch_after_warm_up():
    study = _study("median")
    trial = study.ask()
    for epoch in range(1, WARMUP_EPOCHS + 1):
        trial.report(0.1, epoch)  # far behind the median, but inside the warm-up
        assert not trial.should_prune(), epoch
    trial.report(0.1, WARMUP_EPOCHS + 1)
    assert trial.should_prune()


def test_a_trial_at_the_median_is_not_pruned():
    study = _study("median")
    trial = study.ask()
    for epoch in range(1, 6):
        trial.report(0.95, epoch)
        assert not trial.should_prune(), epoch


def test_no_trial_is_judged_before_two_have_completed():
    optuna = require("optuna")
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median"))
    first = study.ask()
    for epoch in range(1, 4):
        first.report(0.9, epoch)
    study.tell(first, 0.9)
    trial = study.ask()
    for epoch in range(1, 4):
        trial.report(0.1, epoch)
        assert not trial.should_prune(), epoch


@pytest.mark.parametrize("epoch", [1, 2, 5])
def test_pruner_none_never_prunes(epoch):
    study = _study("none")
    trial = study.ask()
    trial.report(0.0, epoch)
    assert not trial.should_prune()
