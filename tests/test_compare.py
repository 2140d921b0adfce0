"""Runs side by side (service level): filter and sort of the run list, aligned histories and
config differences, and each bad query argument named."""

from __future__ import annotations

import pytest
import torch
from configs import QUICK

from eegtrain_jupyter.errors import ConfigError, NotFound
from eegtrain_jupyter.service.manager import TrainingManager


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two finished runs on one root: ShallowFBCSPNet for 2 epochs, EEGNet for 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("compare")
    manager = TrainingManager(root, thread_settings=None)
    ids = []
    for extra in ({"model": "shallow_fbcsp"}, {"model": "eegnet", "n_epochs": 1, "learning_rate": 0.003}):
        ids.append(manager.start({**QUICK, **extra}).run_id)
        assert manager.wait(120)
        assert manager.status().state.value == "completed", manager.status().error
    torch.set_num_threads(before)
    return manager, ids


@pytest.mark.slow  # shares two trained runs (a few seconds each)
def test_runs_filter_and_sort(trained):
    manager, (shallow, eegnet) = trained
    assert [r.run_id for r in manager.runs()] == [eegnet, shallow]  # newest first, as before
    assert [r.run_id for r in manager.runs({"model": "eegnet"})] == [eegnet]
    assert [r.run_id for r in manager.runs({"state": "failed"})] == []
    assert [r.run_id for r in manager.runs({"sort": "started_at", "order": "asc"})] == [shallow, eegnet]
    by_acc = manager.runs({"sort": "best_val_acc", "order": "desc"})
    assert [r.best_val_acc for r in by_acc] == sorted((r.best_val_acc for r in by_acc), reverse=True)
    assert len(manager.runs({"sort": "duration", "limit": "1"})) == 1
    records = {r.run_id: r for r in manager.runs()}
    assert records[shallow].model == "shallow_fbcsp" and records[eegnet].n_parameters > 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"sort": "accuracy"}, "sort"),
        ({"state": "done"}, "state"),
        ({"model": "resnet"}, "model"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_query_arguments_are_named(tmp_path, query, field):
    manager = TrainingManager(tmp_path)
    with pytest.raises(ConfigError) as info:
        manager.runs(query)
    assert [e.field for e in info.value.errors] == [field]


@pytest.mark.slow  # shares two trained runs (a few seconds each)
def test_compare_aligns_histories_and_diffs_configs(trained):
    manager, (shallow, eegnet) = trained
    cmp = manager.compare(f"{shallow},{eegnet}")
    assert cmp.run_ids == [shallow, eegnet] and cmp.epochs == [1, 2]
    assert len(cmp.histories[shallow].val_accs) == 2 and None not in cmp.histories[shallow].val_accs
    assert cmp.histories[eegnet].val_accs[1] is None  # one epoch, padded to the longest run
    assert cmp.histories[eegnet].val_accs[0] == manager.compare(eegnet).histories[eegnet].val_accs[0]
    assert cmp.config_diff == {
        "model": {shallow: "shallow_fbcsp", eegnet: "eegnet"},
        "n_epochs": {shallow: 2, eegnet: 1},
        "learning_rate": {shallow: 0.001, eegnet: 0.003},
    }
    assert cmp.config_common["batch_size"] == QUICK["batch_size"] and "model" not in cmp.config_common
    assert [r.model for r in cmp.runs] == ["shallow_fbcsp", "eegnet"]


@pytest.mark.slow  # shares two trained runs (a few seconds each)
def test_compare_names_unknown_runs_and_empty_lists(trained):
    manager, (shallow, _) = trained
    with pytest.raises(NotFound) as info:
        manager.compare(f"{shallow},nope")
    assert [(e.field, "nope" in e.message) for e in info.value.errors] == [("runs", True)]
    for empty in (None, "", " , "):
        with pytest.raises(ConfigError) as bad:
            manager.compare(empty)
        assert [e.field for e in bad.value.errors] == ["runs"]
