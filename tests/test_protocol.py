"""The worker protocol without a worker process: every event through the worker's encoder
(:class:`~eegtrain_jupyter.runtime.relay.Relay`) and the supervisor's decoder (``_Dispatch``),
over a real :func:`multiprocessing.Pipe`; the answers; the run's spec as JSON; and refusals of
what is not part of the protocol."""

from __future__ import annotations

import inspect
import json
import threading
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import pytest
import torch

from eegtrain_jupyter.config.training import TrainingConfig
from eegtrain_jupyter.engine.artifacts import CHECKPOINT_NAME
from eegtrain_jupyter.engine.events import EpochResult, StopRequested, TrainingListener, TrainingResult
from eegtrain_jupyter.models.info import BackboneInfo
from eegtrain_jupyter.runtime.launcher import WorkerSession
from eegtrain_jupyter.runtime.protocol import (
    EVENTS,
    LOG_NAME,
    PLAIN,
    Abort,
    Ack,
    Close,
    LazyCheckpoint,
    ProtocolError,
    RunMode,
    Stop,
    Train,
    WorkerError,
    WorkerSpec,
    decode_event,
    decode_to_worker,
    encode,
)
from eegtrain_jupyter.runtime.relay import Aborted, Relay
from eegtrain_jupyter.runtime.supervisor import _Dispatch

BACKBONE = BackboneInfo(
    "pretrained",
    weights_path="weights/labram.pth",
    missing_keys=["head.weight"],
    unexpected_keys=[],
    load={"loaded": 0.98, "source": "file"},
)
EPOCH = EpochResult(epoch=2, train_loss=0.61, train_acc=71.5, val_loss=0.66, val_acc=68.0, duration=1.25)
HISTORY = {"train_losses": [0.7, 0.61], "val_losses": [0.69, 0.66], "val_accs": [55.0, 68.0]}
RESULT = TrainingResult(
    history=HISTORY,
    best_val_acc=68.0,
    best_epoch=2,
    epochs_completed=2,
    stopped=False,
    device="cpu",
    precision="fp32",
    backbone=BACKBONE,
    files={"checkpoint": "runs/x/best_synthetic_model.pth"},
    split="by subject: 14 train, 5 val, 5 test",
    test_report={"accuracy": 66.0, "confusion": [[3, 1], [2, 4]], "classes": ["left", "right"]},
    precision_reason="cpu: no bf16 support",
)

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    # one call of every listener method, as the engine makes it (positional or keyword)
    ("on_phase", ("loading data",), {}),
    ("on_split", ("by subject: 14 train, 5 val, 5 test",), {}),
    ("on_model", (), {"name": "labram", "n_parameters": 5_800_000, "n_trainable": 1_540}),
    (
        "on_setup",
        (),
        {
            "device": "cpu",
            "precision": "fp32",
            "backbone": BACKBONE,
            "n_train": 160,
            "n_val": 40,
            "precision_reason": "cpu: no bf16 support",
        },
    ),
    ("on_batch", (), {"epoch": 0, "batch": 1, "n_batches": 7, "phase": "caching features"}),
    ("on_batch", (), {"epoch": 1, "batch": 3, "n_batches": 5, "phase": "train", "loss": 0.7, "acc": 50.0}),
    ("on_best", (EPOCH, {"state_dict": {}}), {}),
    ("on_epoch_end", (EPOCH, HISTORY), {}),
    ("on_test", ({"accuracy": 66.0, "classes": ["left", "right"]},), {}),
    ("on_end", (RESULT,), {}),
]


class Recorder(TrainingListener):
    """Records every listener call as it arrives (method, positional, keyword)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))
        return super().__getattribute__(name)


def _checkpoint_file(run_dir: Path) -> dict[str, Any]:
    """A real checkpoint where the worker would have written it (``on_best``'s is not sent)."""
    checkpoint = {"epoch": 2, "weights": torch.arange(4.0)}
    torch.save(checkpoint, run_dir / CHECKPOINT_NAME)
    return checkpoint


def _same_call(sent: tuple[str, tuple, dict], got: tuple[str, tuple, dict], run_dir: Path) -> None:
    """``got`` is ``sent`` as a listener here receives it: equal values of the same types, and
    ``on_best``'s checkpoint the file in the run folder, read on first use."""
    assert got[0] == sent[0]
    if sent[0] == "on_best":
        (result, _), (got_result, checkpoint) = sent[1], got[1]
        assert got_result == result and type(got_result) is EpochResult
        assert isinstance(checkpoint, LazyCheckpoint) and checkpoint.path == run_dir / CHECKPOINT_NAME
        assert checkpoint["epoch"] == 2 and torch.equal(checkpoint["weights"], torch.arange(4.0))
        return
    assert got[1:] == sent[1:]
    for value, got_value in [
        *zip(sent[1], got[1], strict=True),
        *((v, got[2][k]) for k, v in sent[2].items()),
    ]:
        assert type(got_value) is type(value)  # rich objects come back as themselves, not dicts
    if sent[0] == "on_end":
        assert type(got[1][0].backbone) is BackboneInfo


def test_the_table_covers_every_listener_method_and_every_call_above():
    methods = {name for name, _ in inspect.getmembers(TrainingListener) if name.startswith("on_")}
    assert {event.method for event in EVENTS.values()} == methods
    assert {method for method, _, _ in CALLS} == methods
    assert all(getattr(Relay, method) is not getattr(TrainingListener, method) for method in methods)


@pytest.mark.parametrize(
    ("method", "args", "kwargs"), CALLS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(CALLS)]
)
def test_every_event_round_trips_through_its_entry(tmp_path, method, args, kwargs):
    """Encoded with its entry as JSON, decoded with the same entry: the same call, rebuilt."""
    _checkpoint_file(tmp_path)
    event = next(e for e in EVENTS.values() if e.method == method)
    raw = event.encode(args, kwargs)
    message = json.loads(raw)
    assert message["event"] == event.name and "checkpoint" not in message  # plain JSON, no local values
    recorder = Recorder()
    delivery = decode_event(raw, tmp_path)
    delivery.to(recorder)
    assert len(recorder.calls) == 1
    _same_call((method, args, kwargs), recorder.calls[0], tmp_path)


def _dispatching(conn: Any, listeners: list[TrainingListener], run_dir: Path, stop: threading.Event):
    """``_Dispatch`` answering every message on ``conn`` in a thread, as :func:`supervise` does."""
    dispatch = _Dispatch(conn, listeners, stop, run_dir)

    def serve() -> None:
        while True:
            try:
                raw = conn.recv_bytes()
            except (EOFError, OSError):
                return
            dispatch.handle(raw)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return dispatch, thread


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_relay_and_a_dispatch_deliver_every_call_in_order(tmp_path, pipelined):
    """The worker's Relay and the supervisor's _Dispatch over a real pipe: every listener call,
    in order, with its values, and the run's result from its last event."""
    _checkpoint_file(tmp_path)
    worker_end, supervisor_end = Pipe(duplex=True)
    recorder = Recorder()
    dispatch, thread = _dispatching(supervisor_end, [recorder], tmp_path, threading.Event())
    relay = Relay(worker_end, pipelined=pipelined)
    for method, args, kwargs in CALLS:
        getattr(relay, method)(*args, **kwargs)
    assert relay._unanswered == 0  # the last event waits for every answer, pipelined or not
    assert [call[0] for call in recorder.calls] == [method for method, _, _ in CALLS]
    for sent, got in zip(CALLS, recorder.calls, strict=True):
        _same_call(sent, got, tmp_path)
    assert dispatch.result == RESULT and dispatch.error is None and dispatch.listener_error is None
    assert not relay.should_stop()
    worker_end.close()
    thread.join(5)


def test_a_throttled_relay_leaves_out_batches_within_its_interval(tmp_path):
    worker_end, supervisor_end = Pipe(duplex=True)
    recorder = Recorder()
    _dispatching(supervisor_end, [recorder], tmp_path, threading.Event())
    relay = Relay(worker_end, batch_interval=3600.0)
    for batch in (1, 2, 3):
        relay.on_batch(epoch=1, batch=batch, n_batches=3, phase="train", loss=0.5, acc=50.0)
    relay.on_phase("training")  # not throttled
    assert [(name, kwargs.get("batch")) for name, _, kwargs in recorder.calls] == [
        ("on_batch", 1),
        ("on_phase", None),
    ]
    worker_end.close()


def test_a_stop_reaches_the_relay_with_the_next_answer(tmp_path):
    worker_end, supervisor_end = Pipe(duplex=True)
    stop = threading.Event()
    _dispatching(supervisor_end, [Recorder()], tmp_path, stop)
    relay = Relay(worker_end)
    relay.on_phase("training")
    assert not relay.should_stop()
    stop.set()
    relay.on_phase("training")
    assert relay.should_stop()
    worker_end.close()


def test_a_listener_that_raises_aborts_the_worker_run_with_its_error(tmp_path):
    class Failing(TrainingListener):
        def on_split(self, split: str) -> None:
            raise RuntimeError(f"cannot record {split}")

    worker_end, supervisor_end = Pipe(duplex=True)
    dispatch, _ = _dispatching(supervisor_end, [Failing()], tmp_path, threading.Event())
    relay = Relay(worker_end)
    with pytest.raises(Aborted, match="RuntimeError: cannot record by window"):
        relay.on_split("by window")
    assert dispatch.listener_error == "RuntimeError: cannot record by window"
    worker_end.close()


def test_a_listener_stop_ends_the_worker_run_at_once(tmp_path):
    class Pruner(TrainingListener):
        def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
            raise StopRequested

    worker_end, supervisor_end = Pipe(duplex=True)
    dispatch, _ = _dispatching(supervisor_end, [Pruner()], tmp_path, threading.Event())
    relay = Relay(worker_end)
    with pytest.raises(StopRequested):
        relay.on_epoch_end(EPOCH, HISTORY)
    assert dispatch.listener_stop and relay.stop
    worker_end.close()


def test_the_worker_failure_report_is_the_runs_error(tmp_path):
    worker_end, supervisor_end = Pipe(duplex=True)
    dispatch = _Dispatch(supervisor_end, [], threading.Event(), tmp_path)
    Relay(worker_end).fail(WorkerError(error="MemoryError: the worker ran out of memory", traceback="..."))
    dispatch.handle(supervisor_end.recv_bytes())
    assert dispatch.error == "MemoryError: the worker ran out of memory"
    assert not supervisor_end.poll(0.1)  # unanswered: the worker ends after it


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"event": "on_fire", "phase": "x"}', "unknown worker event 'on_fire' (known: phase, model"),
        (b'{"phase": "x"}', "unknown worker event None"),
        (b'{"event": "batch", "epoch": 1}', "worker event 'batch': batch: Field required; n_batches"),
        (b'{"event": "phase", "phase": "x", "colour": "red"}', "colour: Extra inputs are not permitted"),
        (b'{"event": "best", "result": {"epoch": 1}}', "worker event 'best': result.train_loss"),
        (b"[1, 2]", "not a worker message: b'[1, 2]'"),
        (b"\x00garbage", "not a worker message"),
    ],
)
def test_what_the_supervisor_cannot_read_is_refused_by_name(tmp_path, raw, words):
    with pytest.raises(ProtocolError) as caught:
        decode_event(raw, tmp_path)
    assert words in str(caught.value)


def test_a_refused_event_fails_the_run_naming_it(tmp_path):
    """A message the supervisor cannot read is answered with an abort naming it, like a
    listener's error: the worker's run fails, the supervisor lives on."""
    worker_end, supervisor_end = Pipe(duplex=True)
    recorder = Recorder()
    dispatch = _Dispatch(supervisor_end, [recorder], threading.Event(), tmp_path)
    worker_end.send_bytes(b'{"event": "on_fire"}')
    dispatch.handle(supervisor_end.recv_bytes())
    assert dispatch.listener_error is not None
    assert dispatch.listener_error.startswith("ProtocolError: unknown worker event 'on_fire'")
    assert decode_to_worker(worker_end.recv_bytes()) == Abort(error=dispatch.listener_error)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            b'{"kind": "maybe"}',
            "does not match any of the expected tags: 'ack', 'abort', 'stop', 'train', 'close'",
        ),
        (b'{"ack": true, "stop": false}', "Unable to extract tag using discriminator 'kind'"),
        (b'{"kind": "abort"}', "abort.error: Field required"),
        (b'{"kind": "ack", "stop": "soon"}', "ack.stop: Input should be a valid boolean"),
        (b"not json", "not a message to the worker"),
    ],
)
def test_what_the_worker_cannot_read_is_refused_by_name(raw, words):
    with pytest.raises(ProtocolError) as caught:
        decode_to_worker(raw)
    assert words in str(caught.value)


def test_a_run_or_close_in_the_middle_of_a_run_is_refused(tmp_path):
    worker_end, supervisor_end = Pipe(duplex=True)
    relay = Relay(worker_end)
    supervisor_end.send_bytes(encode(Close()))
    with pytest.raises(ProtocolError, match="a 'close' message arrived during a run"):
        relay.should_stop()


@pytest.mark.parametrize(
    "message", [Ack(), Ack(stop=True, stop_now=True), Abort(error="E: x"), Stop(), Close()]
)
def test_every_answer_round_trips(message):
    assert decode_to_worker(encode(message)) == message


def _files_config(tmp_path: Path) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "device": "cpu",
            "save_dir": str(tmp_path / "out"),
            "augmentation": ["time_reverse"],
            "freeze_backbone": False,
            "data": {
                "source": "files",
                "paths": [str(tmp_path / "rec" / "*.edf")],
                "labels": {"T1": "left", "T2": "right"},
                "channel_map": {"EEG Fp1-REF": "FP1"},
                "subject_pattern": r"S(?P<subject>\d+)",
                "h_freq": 40.0,
            },
        }
    )


def test_the_spec_round_trips_as_json_with_its_config_typed(tmp_path):
    spec = WorkerSpec(
        config=_files_config(tmp_path),
        run_dir=tmp_path / "out" / "runs" / "r1",
        thread_settings={"num_threads": 2, "nice": None, "switch_interval_ms": 5},
        feature_cache=tmp_path / "cache",
        root_dir=tmp_path,
        confine=True,
        tensorboard_dir=tmp_path / "out" / "tensorboard" / "r1",
        batch_interval=0.1,
        light_outputs=True,
    )
    wire = json.dumps(spec.model_dump(mode="json"))  # what crosses: plain JSON
    back = WorkerSpec.model_validate(json.loads(wire))
    assert back == spec
    assert isinstance(back.config, TrainingConfig) and back.config == spec.config
    assert back.log_path == tmp_path / "out" / "runs" / "r1" / LOG_NAME
    assert isinstance(back.run_dir, Path) and back.windows_cache is None
    assert decode_to_worker(encode(Train(spec=spec))) == Train(spec=spec)  # a session's next run, torchrun's


def test_the_spec_takes_this_process_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EEGTRAIN_WORKER_FAULT", "exit:3@train:1")
    spec = WorkerSpec(config=TrainingConfig(), run_dir=tmp_path)
    assert spec.fault == "exit:3@train:1" and spec.env["EEGTRAIN_WORKER_FAULT"] == "exit:3@train:1"


def test_a_spec_with_an_unknown_field_or_a_bad_config_is_refused(tmp_path):
    good = WorkerSpec(config=TrainingConfig(), run_dir=tmp_path).model_dump(mode="json")
    with pytest.raises(ProtocolError, match=r"train\.spec\.colour: Extra inputs are not permitted"):
        decode_to_worker(json.dumps({"kind": "train", "spec": {**good, "colour": "red"}}).encode())
    bad = {**good, "config": {**good["config"], "n_epochs": 0}}
    with pytest.raises(ProtocolError, match=r"train\.spec\.config\.n_epochs: Input should be greater than"):
        decode_to_worker(json.dumps({"kind": "train", "spec": bad}).encode())


def test_a_trial_is_one_value():
    session = WorkerSession()
    trial = RunMode.trial(session, 0.1)
    assert trial == RunMode(batch_interval=0.1, light_outputs=True, publish=False, session=session)
    assert RunMode(batch_interval=0.0, light_outputs=False, publish=True, session=None) == PLAIN
