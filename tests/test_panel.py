"""The notebook panel driven as a user would (no browser), on both backends.

``local``: an in-process TrainingManager; ``remote``: a real ``jupyter server`` subprocess
with the extension. Training is the real LaBraM on tiny configs.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from eegtrain_jupyter.client import (
    AlreadyTraining,
    ConnectionFailed,
    LocalClient,
    RemoteClient,
    ValidationFailed,
    connect,
)
from eegtrain_jupyter.service import TrainingManager
from eegtrain_jupyter.testing import ServerProcess
from eegtrain_jupyter.widgets import TrainingPanel
from eegtrain_jupyter.widgets.form import CUSTOM_PRESET

TINY = {"n_samples_per_class": 100, "batch_size": 32, "freeze_backbone": True}


def wait_for(condition, timeout=90.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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


def test_out_of_range_value_is_shown_and_blocks_start(client, make_panel):
    panel = make_panel(client)
    assert not panel.start_button.disabled and panel.stop_button.disabled
    panel.fields["n_epochs"].value = 500  # IntText: not clamped, kept as typed
    assert panel.fields["n_epochs"].value == 500
    assert "between 1 and 100" in panel.form.errors["n_epochs"].value
    assert panel.start_button.disabled
    panel.fields["learning_rate"].value = 0.5
    assert "between 0.0001 and 0.01" in panel.form.errors["learning_rate"].value
    panel.fields["save_dir"].value = ""
    assert "must not be empty" in panel.form.errors["save_dir"].value
    panel.start_button.click()  # a programmatic click on a disabled button still must not start
    assert client.status()["is_training"] is False
    panel.fields["n_epochs"].value = 3
    panel.fields["learning_rate"].value = 0.001
    assert panel.start_button.disabled  # save_dir still empty
    panel.fields["save_dir"].value = "out"
    assert panel.form.errors["n_epochs"].value == ""
    assert not panel.start_button.disabled


def test_preset_fills_the_form(client, make_panel):
    panel = make_panel(client)
    panel.fields["save_dir"].value = "mine"
    panel.preset.value = "fine-tune"
    assert panel.fields["freeze_backbone"].value is False
    assert panel.fields["learning_rate"].value == pytest.approx(0.0003)
    assert panel.fields["n_epochs"].value == 10
    assert panel.fields["save_dir"].value == "mine"  # presets keep paths
    panel.preset.value = "quick"
    assert (panel.fields["n_epochs"].value, panel.fields["n_samples_per_class"].value) == (2, 100)
    assert panel.fields["freeze_backbone"].value is True
    panel.fields["seed"].value = 7  # editing a field makes it a custom config
    assert panel.preset.value == CUSTOM_PRESET
    assert make_panel(client, preset="quick").fields["n_epochs"].value == 2


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
    panel.form.set_values({**TINY, "freeze_backbone": False, "n_epochs": 100, "save_dir": "panel-run"})
    panel.start_button.click()
    assert panel.error.value == ""
    started = panel.last_status
    assert started["state"] in ("preparing", "training") and started["run_id"]
    assert panel.start_button.disabled and not panel.stop_button.disabled
    assert all(f.disabled for f in panel.fields.values())
    assert "preparing" in panel.badge.value or "training" in panel.badge.value
    with pytest.raises(AlreadyTraining):
        client.start(TINY)

    wait_for(lambda: min(len(panel.loss_curves.shown[0]), len(panel.acc_curves.shown[0])) >= 2, 150,
             what="two epochs drawn")
    status = panel.last_status
    assert status["run_id"] == started["run_id"]
    assert panel.progress.max == 100 and panel.progress.value >= 2
    assert panel.progress_label.value.startswith("epoch ") and panel.progress_label.value.endswith("/ 100")
    assert panel.metrics["train_loss"].value not in ("", "—")
    assert panel.metrics["val_acc"].value.endswith("%")
    assert panel.metrics["best_val_acc"].value.endswith("%")
    assert panel.metrics["elapsed"].value != "—"
    assert "random" in panel.backbone.value
    assert started["run_id"] in panel.run_info.value
    (train_loss, val_loss), (train_acc, val_acc) = panel.loss_curves.shown, panel.acc_curves.shown
    hist = client.history()  # only grows: what is drawn must be its prefix
    for drawn, key in ((train_loss, "train_losses"), (val_loss, "val_losses"),
                       (train_acc, "train_accs"), (val_acc, "val_accs")):
        assert len(drawn) >= 2 and drawn == pytest.approx(hist[key][: len(drawn)]), key

    # a second panel opened mid-run (as after a kernel restart) shows the run and its history
    other = make_panel(client)
    assert other.last_status["run_id"] == started["run_id"]
    assert len(other.loss_curves.shown[0]) >= 2
    assert other.start_button.disabled and not other.stop_button.disabled

    other.stop_button.click()
    assert other.last_status["state"] in ("stopping", "stopped")
    final = wait_for(lambda: panel.last_status["state"] == "stopped" and panel.last_status, 60,
                     what="stopped")
    assert "stopped" in panel.badge.value
    assert not panel.start_button.disabled and panel.stop_button.disabled
    assert not any(f.disabled for f in panel.fields.values())
    assert final["current_epoch"] < 100
    wait_for(lambda: len(panel.loss_curves.shown[0]) == final["current_epoch"], 5, what="final curve")
    assert panel.progress.value == final["current_epoch"]


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
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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
    with pytest.raises(ValidationFailed) as info:
        client.start({"n_epochs": 0, "batch_size": 8})
    assert {e.field for e in info.value.errors} == {"n_epochs", "batch_size"}
    result = client.validate({"n_epochs": 0})
    assert result["valid"] is False and result["errors"][0]["field"] == "n_epochs"
    assert client.validate({"n_epochs": 3})["valid"] is True
    schema = client.schema()
    assert schema["properties"]["n_epochs"]["maximum"] == 100 and "quick" in schema["presets"]
    assert client.default_config()["n_epochs"] == 15


def test_close_stops_the_poller(tmp_path):
    panel = TrainingPanel(LocalClient(TrainingManager(tmp_path)), poll_interval=0.05)
    assert panel.polling
    panel.close()
    assert not panel.polling
