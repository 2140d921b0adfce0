"""The Benchmark tab: a real benchmark (two baselines, synthetic subjects) started from the view,
its progress, table and per-fold lines as the service reports them; bad input on the message line."""

from __future__ import annotations

import numpy as np
import pytest
from configs import TINY
from support import FakeClient

from eegtrain_jupyter.client import LocalClient
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.widgets.benchmark import BenchmarkView, fold_lines
from eegtrain_jupyter.widgets.panel import TAB_TITLES


def test_the_view_runs_a_benchmark_and_shows_its_table(tmp_path):
    manager = TrainingManager(tmp_path, thread_settings=None)
    client = LocalClient(manager)
    base = {**TINY, "save_dir": "models", "data": {"n_subjects": 3}}
    view = BenchmarkView(client, base_config=lambda: base, follow=False)
    try:
        assert "no benchmark yet" in view.message.value and not view.running
        view.models.value = "csp_lda, nope"
        assert view.start() is None and "models.1.config.model" in view.message.value
        view.models.value = "csp_lda, bandpower_lda"
        view.protocol.value, view.n_folds.value = "cross_subject", 3
        started = view.start()
        assert started is not None and view.running and view.start_button.disabled
        assert view.progress.max == 6
        client.benchmark.wait(300)
        status = view.refresh()
        assert status["state"] == "completed" and not view.running and not view.start_button.disabled
        assert view.progress.value == 6
        for m in status["summary"]["models"]:
            assert (
                f"{m['label']} (baseline)" in view.table.value
                and f"{m['mean']:.1f} ± {m['sd']:.1f}" in view.table.value
            )
        labels, rows = fold_lines(status)
        assert labels == ["csp_lda", "bandpower_lda"] and rows.shape == (3, 2) and not np.isnan(rows).any()
        assert list(view.lines.x) == labels and np.allclose(np.asarray(view.lines.y), rows)
        by_run = {
            r["run_id"]: r["test_report"]["balanced_accuracy"]
            for r in client.runs(job=status["benchmark_id"])
        }
        assert sorted(rows.ravel().tolist()) == pytest.approx(sorted(by_run.values()))
    finally:
        manager.shutdown(60)


def test_the_panel_has_a_benchmark_tab():
    from eegtrain_jupyter.widgets.panel import TrainingPanel

    panel = TrainingPanel(FakeClient())
    try:
        assert TAB_TITLES[-1] == "Benchmark" and panel.pages[-1] is panel.benchmark_view.widget
        panel.tabs.selected_index = len(TAB_TITLES) - 1  # put on the page when first chosen
        assert panel.tabs.children[-1].children == (panel.benchmark_view.widget,)
        assert panel.benchmark_view.status["state"] == "idle"
    finally:
        panel.close()
