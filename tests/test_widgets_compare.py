"""RunsView and SearchView on an in-process client: selected runs overlay their curves (one line
per run, labelled with its id) with their config differences; a search from the view finishes and
its best config is applied."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from configs import QUICK
from support import require, wait_for

from eegtrain_jupyter.client import LocalClient
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.widgets.runs import RunsView
from eegtrain_jupyter.widgets.search import SearchView, best_so_far, rounded

pytestmark = pytest.mark.slow  # trains four tiny runs (a few seconds each on a busy CPU)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    client = LocalClient(TrainingManager(tmp_path_factory.mktemp("widgets"), thread_settings=None))
    yield client
    client.manager.shutdown(60)
    torch.set_num_threads(before)


def test_runs_view_overlays_selected_runs(client):
    ids = []
    for extra in ({"model": "shallow_fbcsp"}, {"model": "eegnet", "n_epochs": 1}):
        ids.append(client.start({**QUICK, **extra})["run_id"])
        assert client.wait(120)["state"] == "completed"
    loaded = []
    chosen = []
    view = RunsView(client, on_load_config=loaded.append, on_choose=chosen.append)
    assert [r["run_id"] for r in view.shown] == ids[::-1]  # newest first
    figure, _ = view.figures["val_accs"]
    x_axis = figure.axes[0]
    assert list(x_axis.tick_values) == [1.0, 2.0] and x_axis.scale.min == 1.0  # whole epochs, empty too
    view.select(ids)
    _, lines = view.figures["val_accs"]
    assert list(x_axis.tick_values) == [1.0, 2.0] and x_axis.scale.max == 2.0  # the longest run's epochs
    assert list(lines.labels) == [f"shallow_fbcsp · {ids[0]}", f"eegnet · {ids[1]}"]  # model and run
    assert len(set(lines.colors)) == 2 and chosen == [ids[1]]  # the run checked last is the one chosen
    legend = view.legends["val_accs"].value
    assert (
        f"shallow_fbcsp · {ids[0]}" in legend and lines.display_legend is False
    )  # above, not over, the plot
    y_axis = figure.axes[1]
    values = np.asarray(lines.y)[~np.isnan(np.asarray(lines.y))]
    assert y_axis.scale.min <= values.min() and values.max() <= y_axis.scale.max  # fitted to the curves
    assert y_axis.scale.max - y_axis.scale.min < 100 or values.max() - values.min() > 80
    y = np.asarray(lines.y)
    assert y.shape == (2, 2) and np.isnan(y[1, 1]) and not np.isnan(y[0]).any()
    diff = view.diff.value
    assert "model" in diff and "n_epochs" in diff and "batch_size" not in diff
    view.load_button.click()
    assert loaded and loaded[0]["model"] == "shallow_fbcsp"
    view.filter.value = "eegnet"
    assert [r["run_id"] for r in view.shown] == [ids[1]]
    view.filter.value = ""
    view.sort_by("model", descending=False)
    assert [r["run_id"] for r in view.shown] == [ids[1], ids[0]]  # eegnet < shallow_fbcsp
    view.headers["model"].click()  # the same column again: the other way
    assert [r["run_id"] for r in view.shown] == [ids[0], ids[1]] and view.headers[
        "model"
    ].description.endswith("▼")
    # the table: a check box and one cell per column, by row
    n = 1 + len(view.headers)
    row = view.table.children[n : 2 * n]
    assert row[0].value is True and "shallow_fbcsp" in row[1].value  # checked above
    view.select([])
    assert list(x_axis.tick_values) == [1.0, 2.0] and x_axis.scale.max == 2.0


def test_search_view_runs_a_search_and_applies_the_best(client):
    require("optuna")
    applied = []
    base = {**QUICK, "model": "eegnet", "n_epochs": 1}
    view = SearchView(client, base_config=base, on_apply=applied.append)
    assert view.status["state"] == "idle" and view.apply_button.disabled
    view.space.value = "{not json"
    assert view.start() is None and "not JSON" in view.message.value
    view.space.value = json.dumps({"learning_rate": {"low": 0.00001, "high": 0.001}})
    assert view.start() is None and "space.learning_rate" in view.message.value
    view.space.value = json.dumps({"learning_rate": {"low": 0.0003, "high": 0.003, "log": True}})
    view.n_trials.value = 2
    assert view.start()["state"] == "running"
    wait_for(lambda: (view.refresh() or {}).get("state") == "completed", timeout=180, what="the search")
    assert view.progress.value == 2 and not view.apply_button.disabled
    x, best = best_so_far(view.status["trials"])
    assert len(x) == len(best) >= 1 and list(best) == sorted(best)
    view.apply_button.click()
    assert applied and applied[0]["learning_rate"] == rounded(view.status["best"]["params"]["learning_rate"])
