"""The notebook panel driven as a user would (no browser), on both backends.

``local``: an in-process TrainingManager; ``remote``: a real ``jupyter server`` subprocess
with the extension. Training is the real LaBraM on tiny configs. What the form and the panel do
with a status, and no trainer is needed for, runs on :class:`support.FakeClient` (the service's
own status shapes, validated by its pydantic models).
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading

import numpy as np
import pytest
import requests
from configs import TINY
from support import FakeClient, wait_for

from eegtrain_jupyter.client import (
    AlreadyTrainingError,
    ConfigError,
    ConnectionFailed,
    LocalClient,
    RemoteClient,
    TrainingClient,
    connect,
)
from eegtrain_jupyter.config.training import default_config
from eegtrain_jupyter.service.manager import TrainingManager
from eegtrain_jupyter.testing import ServerProcess
from eegtrain_jupyter.widgets import TrainingPanel
from eegtrain_jupyter.widgets.form import CUSTOM_PRESET

LONG = {**TINY, "freeze_backbone": False, "n_epochs": 100}
"""A fine-tuning run that is still going when stopped (a frozen backbone runs 100 epochs of cached
features in under a second)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("server-root")) as srv:
        yield srv


@pytest.fixture(params=["local", "remote"])
def client(request, tmp_path):
    if request.param == "local":
        manager = TrainingManager(tmp_path)
        yield LocalClient(manager)
        manager.shutdown()
    else:
        srv = request.getfixturevalue("server")
        remote = RemoteClient(srv.url, srv.token)
        yield remote
        remote.stop()
        remote.wait(60)


@pytest.fixture
def make_panel():
    panels = []

    def make(client, **kwargs):
        panel = TrainingPanel(client, poll_interval=0.2, **kwargs)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.close()


def test_out_of_range_value_is_shown_and_blocks_start(make_panel):
    client = FakeClient()
    panel = make_panel(client)
    assert not panel.start_button.disabled and panel.stop_button.disabled
    assert panel.start_hint.value == ""
    panel.fields["n_epochs"].value = 500  # not clamped: kept as typed
    assert panel.fields["n_epochs"].value == "500" and panel.form.value("n_epochs") == 500
    assert "between 1 and 100" in panel.form.errors["n_epochs"].value
    assert "eegtrain-invalid" in panel.fields["n_epochs"]._dom_classes  # the red mark
    assert panel.start_button.disabled
    panel.fields["learning_rate"].value = 0.5
    assert "between 0.0001 and 0.01" in panel.form.errors["learning_rate"].value
    panel.fields["save_dir"].value = ""
    assert "must not be empty" in panel.form.errors["save_dir"].value
    # every problem at once, on the button's tooltip and beside it
    for title in ("Epochs", "Learning rate", "Save folder"):
        assert title in panel.start_button.tooltip and title in panel.start_hint.value
    panel.start_button.click()  # a programmatic click on a disabled button still must not start
    assert client.started == [] and panel.last_status["state"] == "idle"
    panel.fields["n_epochs"].value = 3
    panel.fields["learning_rate"].value = 0.001
    assert panel.start_button.disabled  # save_dir still empty
    panel.fields["save_dir"].value = "out"
    assert panel.form.errors["n_epochs"].value == ""
    assert "eegtrain-invalid" not in panel.fields["n_epochs"]._dom_classes
    assert not panel.start_button.disabled and panel.start_hint.value == ""
    panel.start_button.click()  # Start sends the form, as typed, once it is valid
    assert client.started == [{**default_config().model_dump(mode="json"), "n_epochs": 3, "save_dir": "out"}]
    assert panel.last_status["state"] == "preparing" and "preparing" in panel.badge.value
    assert panel.start_button.disabled and not panel.stop_button.disabled


def test_text_that_is_not_a_number_is_reported_not_reverted(make_panel):
    client = FakeClient()
    panel = make_panel(client)
    panel.fields["n_epochs"].value = "abc"
    panel.fields["batch_size"].value = ""
    panel.fields["learning_rate"].value = "1e-3"  # a number in any notation is fine
    panel.fields["seed"].value = "7.5"
    assert panel.fields["n_epochs"].value == "abc"  # what the user typed stays in the box
    assert panel.form.check() == {
        "n_epochs": "must be a number, not 'abc'",
        "batch_size": "required: enter a number",
        "seed": "must be a whole number",
    }
    assert panel.form.value("learning_rate") == pytest.approx(0.001)
    assert all("eegtrain-invalid" in panel.fields[n]._dom_classes for n in ("n_epochs", "batch_size", "seed"))
    assert panel.start_button.disabled
    panel.start_button.click()
    assert panel.last_status["state"] == "idle"
    panel._on_start()  # the handler itself (as a stale click would) says what to fix
    assert "Epochs, Batch size, Seed." in panel.error.value and client.started == []


def test_preset_fills_the_form(make_panel):
    client = FakeClient()
    panel = make_panel(client)
    assert panel.preset.value == "default"  # the defaults are the "default" preset, not "(custom)"
    panel.fields["save_dir"].value = "mine"
    assert panel.preset.value == "default"  # paths are not part of a preset
    panel.preset.value = "fine-tune"
    assert panel.fields["freeze_backbone"].value is False
    assert panel.form.value("learning_rate") == pytest.approx(0.0003)
    assert panel.form.value("n_epochs") == 10
    assert panel.fields["save_dir"].value == "mine"  # presets keep paths
    panel.preset.value = "quick"
    assert (panel.form.value("n_epochs"), panel.form.value("n_samples_per_class")) == (2, 100)
    assert panel.fields["freeze_backbone"].value is True
    panel.fields["seed"].value = 7  # editing a field makes it a custom config
    assert panel.preset.value == CUSTOM_PRESET
    panel.fields["seed"].value = "42"  # ... and editing it back names the preset again
    assert panel.preset.value == "quick"
    assert make_panel(client, preset="quick").form.value("n_epochs") == 2


def test_augmentation_is_a_multiple_choice_sent_as_a_list(make_panel):
    client = FakeClient()
    panel = make_panel(client)
    field = panel.fields["augmentation"]
    assert list(field.options) == client.schema()["properties"]["augmentation"]["items"]["enum"]
    field.value = ("sign_flip", "ft_surrogate")
    panel.start_button.click()  # the default frozen backbone: refused, next to the field
    assert "freeze_backbone: false" in panel.form.errors["augmentation"].value and not client.started
    assert panel.start_button.disabled
    # the refusal is about two fields: unfreezing the backbone alone clears it and allows Start
    panel.fields["freeze_backbone"].value = False
    assert not panel.form.errors["augmentation"].value and not panel.start_button.disabled
    panel.start_button.click()
    assert client.started[-1]["augmentation"] == ["sign_flip", "ft_surrogate"]


def test_labels_and_help_come_from_the_schema(make_panel):
    client = FakeClient(backend="local")
    panel = make_panel(client)
    schema = client.schema()
    for name, prop in schema["properties"].items():
        if name in panel.form.sections:  # a nested section (data) is passed through, not a field
            continue
        assert panel.fields[name].description == prop["title"], name
        assert html.escape(prop["description"]) in panel.form.helps[name].value, (
            name
        )  # every field, not only numbers
    help_line = panel.form.helps["n_epochs"].value
    assert "1–100" in help_line and "default 15" in help_line
    assert panel.backend.value.count("local") == 1
    assert "epoch 0 / 0" not in panel.progress_label.value and panel.progress_label.value == "no run yet"


def test_server_side_validation_is_shown_next_to_the_field(client, make_panel, tmp_path):
    panel = make_panel(client)
    if isinstance(client, LocalClient):
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        bad_dir, expected = str(blocker), "not a directory"
    else:
        bad_dir, expected = "/", "inside the server root"
    panel.fields["save_dir"].value = bad_dir
    assert not panel.start_button.disabled  # nothing the schema alone can tell
    panel.start_button.click()
    assert expected in panel.form.errors["save_dir"].value
    assert "refused" in panel.error.value
    assert panel.start_button.disabled
    assert client.status()["is_training"] is False
    panel.fields["save_dir"].value = "ok"
    assert panel.form.errors["save_dir"].value == "" and not panel.start_button.disabled


def test_start_follow_and_stop(client, make_panel):
    panel = make_panel(client)
    # a trainable backbone: with a frozen one, 100 epochs on cached features take < 1 s
    panel.form.set_values({**LONG, "save_dir": "panel-run"})
    panel.start_button.click()
    assert panel.error.value == ""
    started = panel.last_status
    assert started["state"] in ("preparing", "training") and started["run_id"]
    assert panel.start_button.disabled and not panel.stop_button.disabled
    assert "while a run is active" in panel.start_button.tooltip
    assert all(f.disabled for f in panel.fields.values())
    assert "preparing" in panel.badge.value or "training" in panel.badge.value
    with pytest.raises(AlreadyTrainingError):
        client.start(TINY)

    # one epoch numbering: the progress line names the epoch the batch line is in
    def in_epoch_two():
        s = panel.last_status
        b = s.get("batch") or {}
        return (
            b.get("epoch", 0) >= 2
            and b.get("phase") == "train"
            and (s, panel.progress_label.value, panel.batch_label.value)
        )

    status, progress_text, batch_text = wait_for(in_epoch_two, 150, what="epoch 2 training")
    epoch = status["batch"]["epoch"]
    assert progress_text == f"epoch {epoch} / 100", (progress_text, batch_text)
    assert batch_text.startswith(f"epoch {epoch} train: batch ")

    wait_for(
        lambda: min(len(panel.loss_curves.shown[0]), len(panel.acc_curves.shown[0])) >= 2,
        150,
        what="two epochs drawn",
    )
    status = panel.last_status
    assert status["run_id"] == started["run_id"]
    assert panel.progress.max == 100 and panel.progress.value >= 2
    assert panel.progress_label.value.startswith("epoch ") and "/ 100" in panel.progress_label.value
    assert panel.metrics["train_loss"].value not in ("", "—")
    assert panel.metrics["val_acc"].value.endswith("%")
    assert panel.metrics["best_val_acc"].value.endswith("%")
    assert panel.metrics["elapsed"].value != "—"
    assert "random" in panel.backbone.value
    assert started["run_id"] in panel.run_info.value
    assert "best checkpoint so far: epoch" in panel.outputs.value
    (train_loss, val_loss), (train_acc, val_acc) = panel.loss_curves.shown, panel.acc_curves.shown
    hist = client.history()  # only grows: what is drawn must be its prefix
    for drawn, key in (
        (train_loss, "train_losses"),
        (val_loss, "val_losses"),
        (train_acc, "train_accs"),
        (val_acc, "val_accs"),
    ):
        assert len(drawn) >= 2 and drawn == pytest.approx(hist[key][: len(drawn)]), key
    # the accuracy axis fits the data drawn (not a fixed 0-100 %)
    lo, hi = panel.acc_curves.y_range
    assert lo <= min(train_acc + val_acc) and hi >= max(train_acc + val_acc)
    assert (lo, hi) != (0.0, 100.0) and hi - lo < 100

    # a panel opened mid-run (a re-run cell, a kernel restart) shows the run and its history;
    # it replaces the earlier panel of this kernel
    other = make_panel(client)
    assert not panel.polling and other.polling
    assert other.last_status["run_id"] == started["run_id"]
    assert len(other.loss_curves.shown[0]) >= 2
    assert other.start_button.disabled and not other.stop_button.disabled

    other.stop_button.click()
    assert other.last_status["state"] in ("stopping", "stopped")
    final = wait_for(
        lambda: other.last_status["state"] == "stopped" and other.last_status, 60, what="stopped"
    )
    assert "stopped" in other.badge.value
    assert not other.start_button.disabled and other.stop_button.disabled
    assert not any(f.disabled for f in other.fields.values())
    assert final["current_epoch"] < 100
    wait_for(lambda: len(other.loss_curves.shown[0]) == final["current_epoch"], 5, what="final curve")
    assert other.progress.value == final["current_epoch"]
    assert other.progress_label.value == f"epoch {final['current_epoch']} / 100 · stopped"
    # what the stopped run left: its checkpoint's epoch and score, and its folder
    hist = client.history()
    best = hist["val_accs"].index(max(hist["val_accs"])) + 1
    assert f"checkpoint: epoch {best}, val acc {max(hist['val_accs']):.1f}%" in other.outputs.value
    assert final["run_dir"] in other.outputs.value
    # the files it wrote, by path; a stopped run leaves the top-level files alone, and says so
    assert final["files"] and final["published"] == {}
    for path in final["files"].values():
        assert path in other.outputs.value
    assert "are unchanged" in other.outputs.value


def test_discovery(server, monkeypatch, tmp_path):
    for key in ("EEGTRAIN_SERVER_URL", "EEGTRAIN_TOKEN", "JPY_PARENT_PID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("EEGTRAIN_ROOT", str(tmp_path))
    local = connect()
    assert isinstance(local, LocalClient) and "not launched by a running Jupyter server" in local.notice
    with pytest.raises(ConnectionFailed):
        connect(require_server=True)

    monkeypatch.setenv("EEGTRAIN_SERVER_URL", server.url)
    monkeypatch.setenv("EEGTRAIN_TOKEN", server.token)
    remote = connect()
    assert isinstance(remote, RemoteClient) and remote.url == server.url

    monkeypatch.setenv("EEGTRAIN_TOKEN", "wrong")
    fallback = connect()
    assert isinstance(fallback, LocalClient) and "refused the token" in fallback.notice
    monkeypatch.delenv("EEGTRAIN_SERVER_URL")
    monkeypatch.delenv("EEGTRAIN_TOKEN")

    # a kernel launched by the server finds it through JPY_PARENT_PID
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.runtime_dir))
    monkeypatch.setenv("JPY_PARENT_PID", str(server.pid))
    found = connect()
    assert isinstance(found, RemoteClient) and found.token == server.token
    panel = TrainingPanel(poll_interval=0.2)
    try:
        assert "server" in panel.backend.value and "survives kernel" in panel.backend.value
    finally:
        panel.close()
    assert not panel.polling


class FlakyProxy:
    """A TCP relay to the real server that can drop every connection (a network cut)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.up = True
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self):
        self.up = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def restore(self):
        self.up = True


def test_lost_connection_shows_reconnecting_and_recovers(server, make_panel):
    proxy = FlakyProxy(server.port)
    client = RemoteClient(f"http://127.0.0.1:{proxy.port}/", server.token, timeout=2)
    panel = make_panel(client)
    assert panel.error.value == ""
    proxy.cut()
    wait_for(lambda: "reconnecting" in panel.badge.value, 10, what="reconnecting badge")
    assert "Connection lost" in panel.error.value
    assert panel.start_button.disabled and panel.stop_button.disabled
    proxy.restore()
    wait_for(lambda: "reconnecting" not in panel.badge.value, 10, what="recovery")
    assert panel.error.value == "" and not panel.start_button.disabled
    assert panel.polling
    # the REST API itself answers as documented through the same route
    r = requests.get(f"{client.url}training/status", headers={"Authorization": f"token {server.token}"})
    assert r.status_code == 200


def test_client_errors_are_typed(client):
    with pytest.raises(ConfigError) as info:
        client.start({"n_epochs": 0, "batch_size": 8})
    assert {e.field for e in info.value.errors} == {"n_epochs", "batch_size"}
    result = client.validate({"n_epochs": 0})
    assert result["valid"] is False and result["errors"][0]["field"] == "n_epochs"
    assert client.validate({"n_epochs": 3})["valid"] is True
    schema = client.schema()
    assert schema["properties"]["n_epochs"]["maximum"] == 100 and "quick" in schema["presets"]
    assert client.default_config()["n_epochs"] == 15


def test_close_stops_the_poller():
    panel = TrainingPanel(FakeClient(), poll_interval=0.05)
    assert panel.polling
    panel.close()
    assert not panel.polling


def test_rerunning_the_panel_cell_leaves_one_poller_and_no_orphan_widgets():
    from ipywidgets.widgets.widget import _instances

    from eegtrain_jupyter.widgets.panel import POLLER_THREAD_NAME

    def pollers():
        return [t for t in threading.enumerate() if t.name == POLLER_THREAD_NAME and t.is_alive()]

    client = FakeClient()
    before = len(_instances)
    panels = [TrainingPanel(client, poll_interval=0.05)]
    one = len(_instances) - before
    assert one > 100  # a panel is a few hundred models (layouts, styles, plot parts)
    for _ in range(3):  # the cell `panel = TrainingPanel(); panel` run three more times
        panels.append(TrainingPanel(client, poll_interval=0.05))
    assert len(pollers()) == 1
    assert [p.polling for p in panels] == [False, False, False, True]
    assert len(_instances) - before == one  # the replaced panels closed every model they made
    panels[-1].close()
    wait_for(lambda: not pollers(), 5, what="the poller thread to end")
    assert len(_instances) == before
    # two panels on purpose (replace=False) share the one poller
    a = TrainingPanel(client, poll_interval=0.05)
    b = TrainingPanel(client, poll_interval=0.05, replace=False)
    try:
        assert a.polling and b.polling and len(pollers()) == 1
    finally:
        a.close()
        b.close()


def test_stale_message_clears_when_the_state_changes(tmp_path, make_panel):
    client = LocalClient(TrainingManager(tmp_path))
    panel = make_panel(client)
    # the panel shows idle; a run starts elsewhere (curl, the CLI, another notebook) before the next poll
    panel.form.set_values(TINY)
    client.start({**LONG, "save_dir": "elsewhere"})
    panel._on_start()  # pressed before the poller noticed
    assert "already in progress" in panel.error.value
    run_id = client.status()["run_id"]
    assert run_id in panel.error.value and panel.last_status["run_id"] == run_id
    client.stop()
    wait_for(lambda: panel.last_status["state"] == "stopped", 60, what="stopped")
    assert panel.error.value == ""


def test_form_is_the_next_run_and_the_run_line_is_the_shown_run(tmp_path, make_panel):
    client = LocalClient(TrainingManager(tmp_path))
    panel = make_panel(client)
    panel.fields["seed"].value = 3  # the user's draft
    client.start({**TINY, "save_dir": "other"})  # someone else's run
    wait_for(
        lambda: panel.last_status["run_id"] and not panel.last_status["is_training"],
        120,
        what="the other run to end",
    )
    text = panel.run_config.value
    assert "Epochs <b>1</b>" in text and "Windows per class <b>100</b>" in text
    assert "Save folder <b>other</b>" in text
    assert "differs in" in text and "Seed" in text
    assert panel.form.value("seed") == 3  # the draft is kept ...
    assert not panel.use_run_config_button.disabled
    panel.use_run_config_button.click()  # ... until the user asks for the run's config
    assert panel.form.values() == client.status()["config"]
    assert "the form holds the same config" in panel.run_config.value
    assert panel.use_run_config_button.disabled
    # the cost hint comes from the measured run
    assert "on this machine" in panel.cost_hint.value and client.status()["run_id"] in panel.cost_hint.value


RUN = "20250101-000000-abcdef"
RUN_DIR = f"/r/models/runs/{RUN}"


def _finished(**extra):
    """A run's status after 2 of 5 epochs, in the service's shape (validated by ``Status``)."""
    return {
        "state": "stopped",
        "run_id": RUN,
        "current_epoch": 2,
        "total_epochs": 5,
        "best_val_acc": 62.5,
        "best_epoch": 1,
        "device": "cpu",
        "precision": "fp32",
        "started_at": "2025-01-01T00:00:00",
        "finished_at": "2025-01-01T00:01:00",
        "run_dir": RUN_DIR,
        "save_dir": "/r/models",
        "files": {
            "checkpoint": f"{RUN_DIR}/best_synthetic_model.pth",
            "history": f"{RUN_DIR}/training_history.json",
            "curves": f"{RUN_DIR}/training_curves.png",
        },
        "history": {
            "train_losses": [0.7, 0.6],
            "val_losses": [0.69, 0.65],
            "train_accs": [55.0, 66.0],
            "val_accs": [62.5, 60.0],
        },
        **extra,
    }


def test_fake_client_is_a_training_client():
    assert isinstance(FakeClient(), TrainingClient)
    # a shape the service never sends is refused, not shown
    with pytest.raises(ValueError, match="published"):
        FakeClient(**_finished(published={"best_epoch": 1}))


def test_outputs_name_files_epoch_score_and_what_was_published(make_panel):
    # a completed run replaced the top-level files in save_dir
    published = {
        name: f"/r/models/{name}"
        for name in ("best_synthetic_model.pth", "training_history.json", "training_curves.png")
    }
    done = make_panel(FakeClient(**_finished(state="completed", current_epoch=5, published=published)))
    text = done.outputs.value
    for path in _finished()["files"].values():  # by name, the whole path as its tooltip
        name = path.rsplit("/", 1)[1]
        assert f"<code title='{path}'>{name}</code>" in text
        assert f">{path}<" not in text
    assert "checkpoint: epoch 1, val acc 62.5%" in text and "so far" not in text
    assert "replaced the top-level files in <code title='/r/models'>/r/models</code>" in text
    assert "unchanged" not in text
    assert f"<code title='{RUN_DIR}'>…/{'/'.join(RUN_DIR.split('/')[-2:])}</code>" in text
    assert done.backend.value.count("server") == 1  # not "server — server http://..."
    # a stopped run wrote its own files but left the top-level ones alone (published is empty)
    stopped = make_panel(FakeClient(**_finished()))
    assert "checkpoint: epoch 1, val acc 62.5%" in stopped.outputs.value
    assert (
        "the top-level files in <code title='/r/models'>/r/models</code> are unchanged"
        in stopped.outputs.value
    )
    # a run stopped before its first epoch ended wrote no checkpoint
    early = make_panel(
        FakeClient(
            **_finished(
                current_epoch=0,
                best_epoch=None,
                best_val_acc=None,
                files={},
                history={"train_losses": [], "val_losses": [], "train_accs": [], "val_accs": []},
            )
        )
    )
    assert "no epoch finished, so no checkpoint was written" in early.outputs.value
    # while a run is going, the checkpoint is the best so far and nothing is said about publishing
    running = make_panel(FakeClient(**_finished(state="training", is_training=True, phase="training")))
    assert "best checkpoint so far: epoch 1, val acc 62.5%" in running.outputs.value
    assert "top-level" not in running.outputs.value


def test_running_metrics_and_folded_errors(make_panel):
    batch = {
        "epoch": 3,
        "batch": 4,
        "n_batches": 10,
        "phase": "train",
        "train_loss": 0.5123,
        "train_acc": 71.25,
    }
    running = make_panel(
        FakeClient(**_finished(is_training=True, state="training", phase="training", batch=batch))
    )
    assert running.progress_label.value == "epoch 3 / 5"
    assert running.batch_label.value == "epoch 3 train: batch 4 / 10 · running train loss 0.5123, acc 71.2%"
    # scoring the test split with the best checkpoint (epoch 1): the epochs done stay shown
    test_batch = {"epoch": 1, "batch": 2, "n_batches": 3, "phase": "test"}
    testing = make_panel(
        FakeClient(
            **_finished(
                is_training=True, state="training", phase="testing", current_epoch=5, batch=test_batch
            )
        )
    )
    assert testing.progress_label.value == "epoch 5 / 5 · testing"
    assert testing.batch_label.value == "test split, best checkpoint (epoch 1): batch 2 / 3"
    error = "UnpicklingError: Weights only load failed.\nline 2\nline 3 weights_only=False"
    failed = make_panel(FakeClient(**_finished(state="failed", error=error)))
    first, _, rest = failed.error.value.partition("<details>")
    assert "Weights only load failed." in first and "weights_only" not in first
    assert "weights_only=False" in rest


def test_curves_fit_their_data():
    from eegtrain_jupyter.widgets.plots import CurvesFigure, fit_range, nice_ticks

    assert fit_range([], min_span=4, bounds=(0, 100), empty=(0, 100)) == (0, 100)
    lo, hi = fit_range([55.0, 80.0], min_span=4, bounds=(0, 100))
    assert 50 < lo < 55 and 80 < hi < 85
    lo, hi = fit_range([99.0, 100.0], min_span=4, bounds=(0, 100))
    assert hi == 100 and lo < 99
    lo, hi = fit_range([0.69, 0.69], min_span=0.02)
    assert lo < 0.69 < hi and hi - lo == pytest.approx(0.02 * 1.16)
    assert nice_ticks(54.2, 60.4) == ([55, 56, 57, 58, 59, 60], ".0f")
    assert nice_ticks(0.682, 0.706) == ([0.685, 0.69, 0.695, 0.7, 0.705], ".3f")
    fig = CurvesFigure("Accuracy", "accuracy (%)", y_bounds=(0, 100), min_span=4, min_interval=0)
    assert fig.lines.display_legend is False and "validation" in fig.legend.value  # legend outside the plot
    fig.update([55.0, 70.0], [60.0, 80.0], 3)
    lo, hi = fig.y_range
    assert 50 < lo < 55 and 80 < hi < 85
    assert list(fig.y_axis.tick_values) == nice_ticks(lo, hi)[0]


def test_cost_estimate_scales_a_measured_run():
    from eegtrain_jupyter.widgets.panel import estimate_duration

    base = default_config().model_dump()
    runs = [
        {"run_id": "gpu", "config": {**base, "device": "cuda"}, "duration": 1.0, "epoch_times": [0.1]},
        {
            "run_id": "ft",
            "config": {**base, "freeze_backbone": False, "n_samples_per_class": 100, "n_epochs": 2},
            "duration": 22.0,
            "epoch_times": [10.0, 10.0],
        },
    ]
    seconds, rec = estimate_duration(
        {**base, "freeze_backbone": False, "n_samples_per_class": 1500, "n_epochs": 10}, runs
    )
    assert rec["run_id"] == "ft"
    assert seconds == pytest.approx(2.0 * 15 + 10.0 * 15 * 10)  # set-up and epochs, both x15 windows
    assert estimate_duration(base, runs) is None  # no comparable (frozen, auto device) run measured
    stopped = {
        "run_id": "cut",
        "state": "stopped",
        "config": runs[1]["config"],
        "duration": 9.0,
        "epoch_times": [5.0],
    }
    completed = {**runs[1], "state": "completed"}
    assert estimate_duration(runs[1]["config"], [stopped, completed])[1]["run_id"] == "ft"
    assert estimate_duration(runs[1]["config"], [stopped])[1]["run_id"] == "cut"
    # another model is another cost; its form leaves LaBraM's freeze_backbone out (the trainer's
    # default for it, off, is what its past runs recorded)
    eegnet_form = {k: v for k, v in runs[1]["config"].items() if k != "freeze_backbone"} | {"model": "eegnet"}
    assert estimate_duration(eegnet_form, runs) is None
    eegnet_run = {**runs[1], "run_id": "eegnet", "config": {**runs[1]["config"], "model": "eegnet"}}
    assert estimate_duration(eegnet_form, [*runs, eegnet_run])[1]["run_id"] == "eegnet"
    # a foundation model's form that leaves freeze_backbone out means frozen, as its runs record it
    cbramod_run = {
        **runs[1],
        "run_id": "cbramod",
        "config": {**base, "model": "cbramod", "n_samples_per_class": 100},
    }
    cbramod_form = {k: v for k, v in cbramod_run["config"].items() if k != "freeze_backbone"}
    assert estimate_duration(cbramod_form, [*runs, cbramod_run])[1]["run_id"] == "cbramod"
    # a search trial or a benchmark fold is never the measure (a trial may be cut short or pruned)
    trial = {**runs[1], "run_id": "trial", "duration": 0.1, "epoch_times": [0.01]}
    assert estimate_duration(runs[1]["config"], [trial, *runs], trial_ids={"trial"})[1]["run_id"] == "ft"
    fold = {**trial, "run_id": "fold", "job": "bench-20250101-120000-abcdef"}
    assert estimate_duration(runs[1]["config"], [fold, *runs])[1]["run_id"] == "ft"
    # recordings: a past run on the same data section, unscaled; other recordings are not comparable
    files = {"source": "files", "paths": ["rec/*.edf"], "labels": {"T1": "left"}}
    recorded = {**files, "tmin": 0.0, "sliding": False, "subjects": {}}  # a record names every default
    on_files = {**runs[1], "run_id": "files", "config": {**runs[1]["config"], "data": recorded}}
    form = {k: v for k, v in on_files["config"].items() if k != "n_samples_per_class"} | {"data": files}
    seconds, rec = estimate_duration(form, [*runs, on_files])
    assert rec["run_id"] == "files" and seconds == pytest.approx(2.0 + 10.0 * 2)
    other = {**form, "data": {**files, "paths": ["other/*.edf"]}}
    assert estimate_duration(other, [*runs, on_files]) is None


def test_search_tab_idle_running_rounding_and_whole_trial_ticks(make_panel):
    from eegtrain_jupyter.widgets.search import rounded, trial_ticks

    panel = make_panel(FakeClient())
    search = panel.search_view
    assert "None" not in search.message.value and "no search yet" in search.message.value
    assert not search.start_button.disabled and search.stop_button.disabled
    idle = panel.client.search_status()
    trial = {
        "number": 0,
        "state": "complete",
        "value": 0.61234567,
        "params": {"learning_rate": 0.000123456789},
    }
    config = {**default_config().model_dump(mode="json"), "learning_rate": 0.000123456789}
    running = {
        **idle,
        "search_id": "s1",
        "state": "running",
        "request": {"n_trials": 12},
        "trials": [trial, {**trial, "number": 1, "value": 0.7}],
        "n_finished": 2,
        "best": {**trial, "number": 1, "value": 0.7, "config": config},
    }
    search._show(running)
    assert search.start_button.disabled and not search.stop_button.disabled  # one search at a time
    assert "0.000123456789" not in search.trials.value and "0.000123" in search.trials.value
    assert search.figure.axes[0].tick_values.tolist() == [0, 1]  # trials are whole numbers
    search.apply_button.click()
    assert panel.form.value("learning_rate") == pytest.approx(0.000123)
    search.stop_button.click()  # the trainer's Stop; the fake has no search, so it shows idle
    assert not search.start_button.disabled and search.stop_button.disabled
    assert (
        rounded(0.123456) == 0.123
        and rounded(3) == 3
        and trial_ticks(np.arange(0, 95)) == list(range(0, 95, 10))
    )
