"""The panel's parts beyond Start/Stop, driven as a user would (no browser): fields that apply to one
model only, the Runs/Search/Model tabs on the panel's client and poller, the test confusion matrix,
"Check data" on real recordings, and data held in Python sent to a real server.

The server is a real ``jupyter server`` subprocess whose root is the test's working directory (the
kernel's, for the panel); training is real on tiny configs.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import mne
import numpy as np
import pytest
from configs import QUICK, TINY
from recordings import LABELS, write, write_set
from support import FakeClient, require, wait_for

from eegtrain_jupyter.client import LocalClient, RemoteClient
from eegtrain_jupyter.config.names import COLLAPSED_SECTIONS, FIELD_SECTIONS
from eegtrain_jupyter.config.training import MODEL_NAMES, MODEL_ONLY_FIELDS
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.testing import ServerProcess
from eegtrain_jupyter.widgets import TrainingPanel
from eegtrain_jupyter.widgets.data_area import INPUTS_DIR, stage_inputs
from eegtrain_jupyter.widgets.panel import TAB_TITLES
from eegtrain_jupyter.widgets.search import rounded

FILES = {
    "source": "files",
    "paths": ["rec/*"],
    "labels": LABELS,
    "sliding": True,
    "subject_pattern": r"sub-(?P<subject>\d+)",
    "channel_map": {"EEG O2-REF": "O2"},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("root")) as srv:
        yield srv


@pytest.fixture
def remote(server, monkeypatch):
    """A client of the server, with the working directory (the kernel's) at the server root."""
    monkeypatch.chdir(server.root_dir)
    client = RemoteClient(server.url, server.token)
    yield client
    client.stop()
    client.wait(60)


@pytest.fixture
def make_panel():
    panels = []

    def make(client, **kwargs):
        panels.append(TrainingPanel(client, poll_interval=0.2, **kwargs))
        return panels[-1]

    yield make
    for panel in panels:
        panel.close()


def in_page_order(root):
    """``root`` and the widgets inside it, in the order the page shows them."""
    yield root
    for child in getattr(root, "children", ()):
        yield from in_page_order(child)


def epochs(n_subjects: int = 6, per_class: int = 10, seed: int = 0) -> mne.EpochsArray:
    """2 s windows at 200 Hz on LaBraM channels, two classes (alpha vs beta), subjects in metadata."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = ["FP1", "FP2", "C3", "C4", "O1", "O2"]
    n = n_subjects * per_class * 2
    t = np.arange(400) / 200.0
    y = np.tile(np.repeat([0, 1], per_class), n_subjects)
    X = rng.normal(0, 10e-6, (n, len(names), 400))
    X[y == 0, 4:] += 20e-6 * np.sin(2 * np.pi * 10 * t)
    X[y == 1, :2] += 12e-6 * np.sin(2 * np.pi * 21 * t)
    events = np.column_stack([np.arange(n) * 400, np.zeros(n, int), y + 1])
    out = mne.EpochsArray(
        X,
        mne.create_info(names, 200.0, "eeg"),
        events,
        event_id={"relaxed": 1, "anxious": 2},
        verbose="error",
    )
    out.metadata = pd.DataFrame({"subject": [f"s{i // (2 * per_class)}" for i in range(n)]})
    return out


# -- model-specific fields -----------------------------------------------------------------------
def test_fields_of_another_model_are_hidden_and_not_sent(make_panel):
    panel = make_panel(FakeClient())
    form = panel.form
    panel.preset.value = "fine-tune"  # sets freeze_backbone False: still a LaBraM-only field
    for model in MODEL_NAMES:
        panel.fields["model"].value = model
        values = form.values()
        for name, models in MODEL_ONLY_FIELDS.items():
            applies = model in models
            assert (name in values) is applies, (model, name)
            assert (form.rows[name].layout.display != "none") is applies, (model, name)
        assert not form.problems(), (model, form.problems())
    panel.fields["model"].value = "labram"
    panel.fields["freeze_backbone"].value = True  # the default that gave non-LaBraM runs a 400
    panel.fields["model"].value = "eegnet"
    panel.start_button.click()
    assert panel.error.value == "", panel.error.value
    assert panel.client.started[-1]["model"] == "eegnet"
    assert panel.client.started[-1]["freeze_backbone"] is False  # the trainer's own default for it
    # a run's config with the field: loading it keeps the field hidden for that model
    panel.client.stop()
    panel.form.set_values({"model": "shallow_fbcsp", "freeze_backbone": False})
    assert panel.form.rows["freeze_backbone"].layout.display == "none"


def test_form_sections_fold_the_rare_ones_and_hide_what_the_source_does_not_use(make_panel):
    panel = make_panel(FakeClient())
    form = panel.form
    assert list(form.grids) == list(FIELD_SECTIONS)
    placed = [n for grid in form.grids.values() for n in form.fields if form.rows[n] in grid.children]
    assert sorted(placed) == sorted(form.fields)  # every field in exactly one section
    assert set(form.folds) == set(COLLAPSED_SECTIONS)
    assert all(fold.selected_index is None for fold in form.folds.values())
    # Start, the cost hint and the data choice come before every field
    train = panel.tabs.children[0]
    order = list(in_page_order(train))
    first_field = min(order.index(f) for f in form.fields.values())
    for part in (panel.start_button, panel.cost_hint, panel.data_area.kind):
        assert order.index(part) < first_field
    # the synthetic generator's size is a field only while the source is synthetic
    assert form.rows["n_samples_per_class"].layout.display != "none"
    panel.data_area.text.value = json.dumps(FILES)
    assert form.rows["n_samples_per_class"].layout.display == "none"
    assert "n_samples_per_class" not in form.values()
    assert form.values()["data"]["source"] == "files"
    panel.data_area.text.value = json.dumps({"source": "synthetic"})
    assert form.rows["n_samples_per_class"].layout.display != "none"
    # a classical baseline: no recipe, no distributed section at all
    panel.fields["model"].value = "csp_lda"
    assert form.folds["Distributed"].layout.display == "none"
    assert form.folds["Advanced (recipe, augmentation)"].layout.display == "none"
    panel.fields["model"].value = "eegnet"
    assert form.folds["Distributed"].layout.display != "none"
    # an error in a folded field unfolds its section
    panel.fields["nnodes"].value = "0"
    assert form.folds["Distributed"].selected_index == 0
    assert "nnodes" in form.problems()


def test_every_model_chosen_in_the_form_validates_and_starts_on_the_server(remote, make_panel):
    panel = make_panel(remote)
    panel.form.set_values({**TINY, "save_dir": "models"})
    for model in MODEL_NAMES:
        panel.fields["model"].value = model
        result = remote.validate(panel.form.values())
        assert result["valid"], (model, result["errors"])
    panel.fields["model"].value = "eegnet"
    panel.start_button.click()
    assert panel.error.value == "", panel.error.value
    assert panel.last_status["config"]["model"] == "eegnet"
    final = panel.wait(180)
    assert final["state"] == "completed", final["error"]


# -- the Runs, Search and Model tabs -------------------------------------------------------------
def test_tabs_share_the_panel_client_and_poller(tmp_path, make_panel):
    require("optuna")
    client = LocalClient(TrainingManager(tmp_path, thread_settings=None))
    try:
        ids = []
        for extra in ({"model": "shallow_fbcsp"}, {"model": "eegnet", "n_epochs": 1, "learning_rate": 0.002}):
            ids.append(client.start({**QUICK, **extra})["run_id"])
            assert client.wait(120)["state"] == "completed"
        panel = make_panel(client)
        assert panel.tabs.titles == TAB_TITLES
        # a tab's content is on the page once chosen (a plot in a hidden tab is drawn with no width)
        assert panel.tabs.children[1].children == ()
        panel.tabs.selected_index = 1
        assert panel.tabs.children[1].children == (panel.runs_view.widget,)
        panel.tabs.selected_index = 0
        runs = panel.runs_view
        assert [r["run_id"] for r in runs.shown] == ids[::-1]
        # the Model tab shows the run the panel shows (the last one), with its test metrics
        assert panel.model_area.run_id == ids[1] and "test" in panel.model_area.metrics.value
        # selecting runs overlays their curves; "Load config" fills the panel's form
        runs.select(ids)
        _, lines = runs.figures["val_accs"]
        assert [label.split(" · ")[1] for label in lines.labels] == ids
        panel.tabs.selected_index = 1
        runs.load_button.click()
        assert panel.tabs.selected_index == 0
        assert panel.form.value("model") == "shallow_fbcsp" and panel.form.value("n_epochs") == 2
        assert "holds the same config" not in panel.run_config.value  # the form differs from the run shown

        # a search from the Search tab, followed by the panel's poller (no thread of its own)
        search = panel.search_view
        panel.fields["model"].value = "eegnet"
        panel.fields["n_epochs"].value = 1
        search.space.value = json.dumps({"learning_rate": {"low": 0.0003, "high": 0.003, "log": True}})
        search.n_trials.value = 2
        search.start_button.click()
        assert search.status["state"] == "running", search.message.value
        assert search.status["request"]["config"]["model"] == "eegnet"  # the form was the base config
        assert not [t for t in threading.enumerate() if t.name == "search-view"]
        wait_for(
            lambda: search.status["state"] == "completed", timeout=180, what="the search, via the poller"
        )
        assert search.progress.value == 2 and not search.apply_button.disabled
        panel.fields["learning_rate"].value = 0.5
        wait_for(lambda: not panel.form.disabled, 30, what="the trainer to be idle")
        search.apply_button.click()
        assert panel.form.value("learning_rate") == pytest.approx(
            rounded(search.status["best"]["params"]["learning_rate"])
        )
        # the trials are marked in the Runs table; the Model tab shows the best one, not the last
        trials = [t["run_id"] for t in search.status["trials"]]
        assert {runs.value(r, "kind") for r in runs.runs if r["run_id"] in trials} == {"trial"}
        assert runs.value(next(r for r in runs.runs if r["run_id"] == ids[0]), "kind") == "run"
        assert panel.model_area.run_id == search.status["best"]["run_id"]
        # a run checked in the table becomes the Model tab's run
        runs.select([ids[1]])
        assert panel.model_area.run_id == ids[1]
        # Delete from the table: the run's folder goes, the table and the panel follow
        runs.select([ids[0]])
        runs.delete_button.click()  # asks first: nothing is deleted until confirmed
        assert runs.confirm.layout.display != "none" and ids[0] in runs.confirm_text.value
        runs.cancel_button.click()
        assert runs.confirm.layout.display == "none" and ids[0] in [r["run_id"] for r in client.runs()]
        runs.delete_button.click()
        runs.confirm_button.click()
        shown = [r["run_id"] for r in runs.shown]
        assert ids[0] not in shown and ids[1] in shown
        assert ids[0] not in [r["run_id"] for r in client.runs()]
        panel.close()
        assert not panel.polling
    finally:
        client.manager.shutdown(60)


# -- the test confusion matrix -------------------------------------------------------------------
def test_confusion_matrix_of_the_test_report(tmp_path, make_panel):
    client = LocalClient(TrainingManager(tmp_path, thread_settings=None))
    try:
        panel = make_panel(client)
        confusion = panel.confusion
        assert confusion.figure.layout.display == "none" and "once a run has" in confusion.caption.value
        panel.form.set_values({**TINY, "save_dir": "models"})
        panel.start_button.click()
        final = panel.wait(180)
        assert final["state"] == "completed", final["error"]
        report = final["test_report"]
        assert report and panel.last_status["test_report"] == report
        assert confusion.figure.layout.display != "none"
        assert np.asarray(confusion.heatmap.color).tolist() == report["confusion_matrix"]
        assert list(confusion.heatmap.row) == list(confusion.heatmap.column) == report["class_names"]
        assert confusion.heatmap.display_format  # the counts are written in the cells
        assert f"{report['n']} windows" in confusion.caption.value
        assert f"accuracy {report['accuracy']:.1f}%" in confusion.caption.value
        # the result leads with the held-out test score, above validation (which chose the epoch)
        card = panel.view.test_card.value
        assert f"<b>{report['balanced_accuracy']:.1f}%</b>" in card and "balanced accuracy" in card
        assert f"macro F1 {report['macro_f1']:.1f}%" in card and f"{report['n']} windows" in card
        assert "used to choose the epoch" in card and report["split"] in card
        rows = panel.view.rows()
        assert rows.index(panel.view.test_card) < rows.index(panel.view.metrics_box)
        assert confusion.figure in confusion.widget.children
        # out of sight (another tab chosen) the matrix waits (a figure first drawn in a hidden tab has
        # no size); the Train tab chosen again draws what came meanwhile
        panel.tabs.selected_index = 1
        panel.view.render({**panel.last_status, "test_report": None})
        assert confusion.figure in confusion.widget.children and confusion.shown == report
        panel.tabs.selected_index = 0
        assert confusion.figure not in confusion.widget.children and confusion.shown is None
        panel.view.render(panel.last_status)
        assert confusion.figure in confusion.widget.children and confusion.shown == report
        # the Model tab leads with the same test card
        assert f"<b>{report['balanced_accuracy']:.1f}%</b>" in panel.model_area.metrics.value
    finally:
        client.manager.shutdown(60)


# -- Check data ----------------------------------------------------------------------------------
def test_check_data_summarises_files_and_names_a_bad_file(remote, server, make_panel):
    root = Path(server.root_dir)
    write_set(root / "rec")
    panel = make_panel(remote)
    n_runs = len(remote.runs())
    area = panel.data_area
    assert area.check_button.disabled  # synthetic: nothing to scan
    area.text.value = "{not json"
    assert "not a JSON object" in area.text_error.value and panel.start_button.disabled
    area.text.value = json.dumps(FILES)
    assert not area.check_button.disabled and not panel.start_button.disabled
    assert panel.form.values()["data"] == FILES
    area.check_button.click()
    assert panel.error.value == "", panel.error.value
    summary = area.summary.value
    assert "relaxed <b>16</b>" in summary and "anxious <b>16</b>" in summary  # windows per class
    for subject in ("01", "02", "03", "04"):
        assert f"{subject} <b>8</b>" in summary  # windows per subject
    assert "EEG O2-REF → O2" in summary  # renamed channels
    assert "<td>250</td>" in summary and "sub-03_task-rest.set" in summary  # rates, files
    assert len(remote.runs()) == n_runs and not panel.last_status["is_training"]  # a check trains nothing

    # bad data: the error line names the file, and the old summary goes
    (root / "bad").mkdir()
    (root / "bad" / "sub-09_broken.edf").write_bytes(b"not an EDF file")
    area.text.value = json.dumps({**FILES, "paths": ["bad/sub-09_broken.edf"]})
    area.check_button.click()
    assert "The data check failed" in area.error.value and "sub-09_broken.edf" in area.error.value
    assert panel.error.value == "" and area.summary.value == ""  # by the button, not above the tabs
    area.text.value = json.dumps({**FILES, "paths": ["rec/missing.edf"]})
    panel.start_button.click()  # Start validates first: the same message, no run
    assert "missing.edf" in area.error.value and "see Data above" in panel.error.value
    assert not panel.last_status["is_training"]


# -- data held in Python, with a server ----------------------------------------------------------
def test_in_memory_data_is_written_under_the_root_for_the_server(
    remote, server, make_panel, tmp_path, monkeypatch
):
    data = epochs()
    panel = make_panel(remote, data=data)
    assert panel.data_area.text.disabled and "held in Python" in panel.data_area.note.value
    panel.form.set_values({**TINY, "save_dir": "models"})
    panel.data_area.check_button.click()
    assert panel.error.value == "", panel.error.value
    assert (
        "relaxed <b>60</b>" in panel.data_area.summary.value
        and "s5 <b>20</b>" in panel.data_area.summary.value
    )
    panel.start_button.click()
    assert panel.error.value == "", panel.error.value
    final = panel.wait(180)
    assert final["state"] == "completed", final["error"]
    source = final["config"]["data"]
    path = Path(source["path"])
    assert source["source"] == "epochs" and path.parent == Path(server.root_dir) / INPUTS_DIR
    assert path.is_file() and not [p for p in path.parent.iterdir() if ".tmp" in p.name]
    assert final["test_report"]["class_names"] == ["relaxed", "anxious"]
    # the same data again is the same file; other data another
    assert stage_inputs(data)["path"] == str(path)
    assert stage_inputs(epochs(seed=1))["path"] != str(path)

    # a kernel working outside the server root: the server's 400 says so (without the server's
    # absolute root), no run starts
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    other = make_panel(remote, data=data)
    other.start_button.click()
    assert "see Data above" in other.error.value  # the data's error is beside the data
    message = other.data_area.error.value
    assert "must stay inside the server root" in message and str(server.root_dir) not in message, message
    assert other.last_status["run_id"] == final["run_id"]  # no new run


def test_staged_numpy_windows_read_back_as_an_epochs_source(tmp_path):
    from eegtrain_jupyter.config.training import parse_config
    from eegtrain_jupyter.data.paths import PathPolicy
    from eegtrain_jupyter.data.windows import load_windows

    rng = np.random.default_rng(0)
    X, y = rng.normal(0, 1e-5, (12, 3, 400)), np.array([0, 1] * 6)
    options = {"ch_names": ["C3", "CZ", "C4"], "sfreq": 200.0, "class_names": ["rest", "task"]}
    source = stage_inputs((X, y), tmp_path / "in", **options)
    path = Path(source["path"])
    assert path.parent == tmp_path / "in" and source == {
        "source": "epochs",
        "path": str(path),
        "window_s": 2.0,
    }
    with np.load(path) as npz:
        assert npz["X"].shape == (12, 3, 400) and list(npz["ch_names"]) == ["C3", "CZ", "C4"]
        assert list(npz["class_names"]) == ["rest", "task"] and float(npz["sfreq"]) == 200.0
    # the server's own reader takes it
    cfg = parse_config({"data": source})
    windows = load_windows(cfg, PathPolicy(tmp_path, confine=True))
    assert windows.X.shape == (12, 3, 400) and list(windows.class_names) == ["rest", "task"]
    np.testing.assert_allclose(windows.X, X * 1e6, rtol=1e-4, atol=1e-3)


# -- a researcher's own recordings, from the form ---------------------------------------------------
RESEARCHER_CHANNELS = ["A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p", "O1", "ECG"]


def test_own_recordings_from_the_form_errors_by_the_button_and_the_suggestion_applied(tmp_path, make_panel):
    from recordings import make_raw, write

    from eegtrain_jupyter.widgets.files_form import LEFT_OUT, NOT_USED

    for subject in (1, 2):
        write(make_raw(subject, names=RESEARCHER_CHANNELS), tmp_path / "rec", f"sub-0{subject}_rest", "edf")
    manager = TrainingManager(tmp_path)
    try:
        panel = make_panel(LocalClient(manager))
        area, files = panel.data_area, panel.data_area.files_form
        area.kind.value = "files"  # the form, not JSON
        assert files.widget.layout.display != "none"
        files.paths.value = "rec/*.edf"
        files.subject_pattern.value = r"sub-(?P<subject>\d+)"
        # the first check finds the annotation names; the message is by the button, not above the tabs
        area.check_button.click()
        assert panel.error.value == "", panel.error.value
        assert "The data check failed" in area.error.value
        assert set(files.labels) == {"eyes_closed", "task"}
        files.classes.value = "relaxed, anxious"
        files.labels["eyes_closed"].value = "relaxed"
        files.labels["task"].value = "anxious"
        assert NOT_USED not in (files.labels["task"].value,)
        data = json.loads(area.text.value)  # the JSON view follows the form
        assert data["labels"] == LABELS and data["paths"] == ["rec/*.edf"]
        assert data["subject_pattern"] == r"sub-(?P<subject>\d+)"
        # the second check trains on O1 only: the six others are listed as left out, with suggestions
        area.check_button.click()
        assert area.error.value == "" and panel.error.value == ""
        assert (
            "left out (7): A1-Cz (could be A1)" in area.summary.value
            and "C3f (could be FC3)" in area.summary.value
        )
        assert files.channels["C3f"].value == LEFT_OUT and files.channels["O1"].value == "O1"
        assert area.apply_button.layout.display != "none"
        area.apply_button.click()
        channel_map = json.loads(area.text.value)["channel_map"]
        assert channel_map == {
            "A1-Cz": "A1",
            "A2-Cz": "A2",
            "C3f": "FC3",
            "C3p": "CP3",
            "C4f": "FC4",
            "C4p": "CP4",
        }
        assert files.channels["C3f"].value == "FC3"
        area.check_button.click()
        assert "channels (7)" in area.summary.value and "left out (1): ECG" in area.summary.value
        # the channel table edits the config: leave C4p out
        files.channels["C4p"].value = LEFT_OUT
        assert "C4p" not in json.loads(area.text.value)["channel_map"]
        area.check_button.click()
        assert "channels (6)" in area.summary.value
        # bad JSON in the advanced view: said under it, and Start is off
        area.text.value = "{not json"
        assert "not a JSON object" in area.text_error.value and panel.start_button.disabled
    finally:
        manager.shutdown()


# -- the Model tab: downloads, prediction table, a bad path ---------------------------------------
def test_model_tab_downloads_lists_windows_and_names_a_missing_file(remote, server):
    import base64
    import re

    import requests

    from eegtrain_jupyter.config.data import CH_NAMES, N_TIMES
    from eegtrain_jupyter.widgets.model_area import ModelArea

    run_id = remote.start({**TINY, "model": "eegnet", "save_dir": "models"})["run_id"]
    assert remote.wait(180)["state"] == "completed"
    area = ModelArea(remote, run_id)
    # a link per file, through the server's run-file URL: it downloads the very file
    links = dict(re.findall(r"href='([^']+)' download='([^']+)'", area.downloads.value))
    checkpoint = next(name for name in links.values() if name.endswith(".pth"))
    url = next(u for u, n in links.items() if n == checkpoint)
    assert url == f"/training/runs/{run_id}/files/{checkpoint}"
    got = requests.get(
        server.url.rstrip("/") + url, headers={"Authorization": f"token {server.token}"}, timeout=30
    )
    assert got.status_code == 200 and got.content == remote.run_file(run_id, checkpoint)
    # a missing recording is said under the box, as such
    area.path.value = "no/such/recording.edf"
    assert area.predict() is None
    assert (
        "recording:" in area.path_error.value
        and "Invalid training configuration" not in area.path_error.value
    )
    assert "eegtrain-invalid" in area.path._dom_classes and area.prediction.value == ""
    # a recording of windows: a table of them and a CSV of every window
    windows = np.random.default_rng(0).normal(0, 20, (25, len(CH_NAMES), N_TIMES)).astype("float32")
    np.save(Path(server.root_dir) / "windows.npy", windows)
    area.path.value = "windows.npy"
    result = area.predict()
    assert result is not None and area.path_error.value == ""
    table = area.prediction.value
    assert table.count("<tr><td>") == 20 and "5 more windows in the CSV" in table
    data = re.search(r"href='data:text/csv;base64,([^']+)'", table).group(1)
    rows = base64.b64decode(data).decode().splitlines()
    assert len(rows) == 26 and rows[0].startswith("window,start_s,label,p_")
    assert rows[1].split(",")[2] == result["labels"][0]
    assert "no annotations of the run's classes" in table  # windows carry no labels to compare with
    # a recording annotated with the run's classes: the agreement with its own annotations
    from eegtrain_jupyter.config.data import CLASS_NAMES, SFREQ

    n_blocks, block_s = 4, 8.0
    signal = np.random.default_rng(1).normal(0, 10e-6, (len(CH_NAMES), int(n_blocks * block_s * SFREQ)))
    raw = mne.io.RawArray(signal, mne.create_info(list(CH_NAMES), SFREQ, "eeg"), verbose="error")
    names = [CLASS_NAMES[b % 2] for b in range(n_blocks)]
    raw.set_annotations(mne.Annotations([b * block_s for b in range(n_blocks)], [block_s] * n_blocks, names))
    labelled = write(raw, Path(server.root_dir), "labelled", "fif").name
    area.path.value = labelled
    assert area.predict() is not None
    scored = remote.evaluate(run_id, [labelled])
    assert scored["n"] > 0 and set(scored["class_names"]) == set(CLASS_NAMES)
    assert (
        f"<b>{scored['balanced_accuracy']:.1f}%</b> balanced accuracy" in area.prediction.value
        and f"of {scored['n']} labelled windows" in area.prediction.value
    )
    # another run shown: the last prediction goes
    area.show(None)
    assert area.prediction.value == "" and area.downloads.value == ""
