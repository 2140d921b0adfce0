"""The training loop on the real LaBraM with tiny configs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.splits import split_for
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import EpochResult, TrainingListener, TrainingResult
from eegtrain_jupyter.engine.precision import resolve_precision
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.models.info import BackboneInfo
from eegtrain_jupyter.models.labram import HEAD_NAME, build_classifier, load_checkpoint


class Recorder(TrainingListener):
    """Records events; checks the files on disk after every epoch; can request a stop."""

    def __init__(self, out_dir=None, stop_after_batches=None):
        self.out_dir, self.stop_after = out_dir, stop_after_batches
        self.phases, self.batches, self.epochs, self.file_checks = [], [], [], []
        self.stop_requested = False

    def should_stop(self):
        return self.stop_requested

    def on_phase(self, phase):
        self.phases.append(phase)

    def on_batch(self, **event):
        self.batches.append(event)
        if self.stop_after is not None and len(self.batches) >= self.stop_after:
            self.stop_requested = True

    def on_epoch_end(self, result, history):
        self.epochs.append(result)
        if self.out_dir is not None:
            doc = json.loads((self.out_dir / artifacts.HISTORY_NAME).read_text())
            _, ckpt = load_checkpoint(self.out_dir / artifacts.SYNTHETIC_CHECKPOINT_NAME)
            curves = self.out_dir / artifacts.CURVES_NAME  # throttled: maybe not drawn yet
            png = curves.read_bytes()[:8] if curves.exists() else None
            self.file_checks.append((len(doc["train_losses"]), ckpt["epoch"], png))


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory, tiny):
    out = tmp_path_factory.mktemp("frozen")
    config = parse_config({**tiny, "n_epochs": 2, "save_dir": str(out)})
    rec = Recorder(out)
    result = train(config, generate(100, seed=config.seed), out, listeners=[rec])
    return config, out, rec, result


def test_frozen_run_reports_every_epoch_and_batch(frozen_run):
    config, _out, rec, result = frozen_run
    assert not result.stopped and result.epochs_completed == 2
    assert rec.phases == ["building model", "caching features", "training", "testing"]
    data = generate(100, seed=config.seed)
    n_train = len(split_for(data, config).train)
    train_batches = {b["n_batches"] for b in rec.batches if b["phase"] == "train"}
    assert train_batches == {math.ceil(n_train / config.batch_size)}
    assert [e.epoch for e in rec.epochs] == [1, 2]
    for key in ("train_losses", "val_losses", "train_accs", "val_accs"):
        assert len(result.history[key]) == 2 and all(math.isfinite(v) for v in result.history[key])
    assert all(0 <= a <= 100 for a in result.history["val_accs"])
    auto = resolve_precision("auto", torch.device("cpu"))  # bf16 on CPUs with native bf16 (test_precision)
    assert result.device == "cpu" and result.precision == auto.name and result.backbone.origin == "random"
    assert result.precision_reason == auto.reason


def test_outputs_valid_after_each_epoch(frozen_run):
    _, out, rec, _result = frozen_run
    assert [c[0] for c in rec.file_checks] == [1, 2]
    assert all(c[1] in (1, 2) for c in rec.file_checks)
    assert all(c[2] in (None, b"\x89PNG\r\n\x1a\n") for c in rec.file_checks)  # whole or absent
    assert (out / artifacts.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the run's end drew it
    assert not list(out.glob(".*.tmp"))  # no temp file left behind


@pytest.mark.parametrize(("interval", "drawn_after"), [(0.0, [1, 2, 3]), (3600.0, [])])
def test_curves_throttled_from_the_start_and_drawn_at_the_end(tmp_path, tiny, interval, drawn_after):
    """A PNG per epoch only once ``curves_interval`` has passed (counted from the writer's start);
    the end always draws one with every epoch, a run shorter than the interval only that one."""
    config = parse_config({**tiny, "n_epochs": 3})
    writer = artifacts.ArtifactWriter(tmp_path, config, curves_interval=interval)
    curves, drawn, history = tmp_path / artifacts.CURVES_NAME, [], {}
    for epoch in range(1, 4):
        for key in ("train_losses", "val_losses", "train_accs", "val_accs"):
            history.setdefault(key, []).append(float(epoch))
        mtime = curves.stat().st_mtime_ns if curves.exists() else None
        writer.on_epoch_end(EpochResult(epoch, 1.0, 50.0, 1.0, 50.0, 0.01), dict(history))
        if curves.exists() and curves.stat().st_mtime_ns != mtime:
            drawn.append(epoch)
    assert drawn == drawn_after
    result = TrainingResult(history, 50.0, 1, 3, False, "cpu", "fp32", BackboneInfo("random"))
    writer.on_end(result)
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.files["curves"] == str(curves)
    assert writer._curves_epoch == 3  # the PNG on disk shows the last epoch


@pytest.mark.parametrize("light", [False, True])
def test_a_light_writer_throttles_the_checkpoint_and_draws_no_curves(tmp_path, tiny, light):
    """A plain run writes every new best at once; a search trial's (``light``) writes the best it
    has when the interval from its start has passed, else once at its end, and draws no PNG."""
    config = parse_config({**tiny, "n_epochs": 3})
    writer = artifacts.ArtifactWriter(tmp_path, config, light=light)
    ckpt, history = tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME, {}
    on_disk = []
    for epoch in range(1, 4):
        for key in ("train_losses", "val_losses", "train_accs", "val_accs"):
            history.setdefault(key, []).append(float(epoch))
        result = EpochResult(epoch, 1.0, 50.0 + epoch, 1.0, 50.0 + epoch, 0.01)
        writer.on_best(result, {"epoch": epoch, "model_state_dict": {"w": torch.full((2,), float(epoch))}})
        writer.on_epoch_end(result, dict(history))
        on_disk.append(torch.load(ckpt, weights_only=True)["epoch"] if ckpt.exists() else None)
    assert on_disk == ([None, None, None] if light else [1, 2, 3])
    writer.on_end(TrainingResult(history, 53.0, 3, 3, False, "cpu", "fp32", BackboneInfo("random")))
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 3 and torch.equal(saved["model_state_dict"]["w"], torch.full((2,), 3.0))
    assert (tmp_path / artifacts.CURVES_NAME).exists() is not light
    if light:  # the PNG is drawn on request from the history the writer left
        assert artifacts.curves_from_history(tmp_path) == tmp_path / artifacts.CURVES_NAME
        assert (tmp_path / artifacts.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_checkpoint_given_to_listeners_is_a_snapshot(tmp_path, tiny):
    """on_best's checkpoint does not change as training goes on (a light writer keeps it)."""

    class Keep(TrainingListener):
        def __init__(self):
            self.first = None

        def on_best(self, result, checkpoint):
            if self.first is None:
                self.first = {k: v.clone() for k, v in checkpoint["model_state_dict"].items()}
                self.kept = checkpoint["model_state_dict"]

    keep = Keep()
    config = parse_config({**tiny, "n_epochs": 2, "freeze_backbone": False, "batch_size": 16})
    train(config, generate(60, seed=0), listeners=[keep])
    assert keep.first is not None
    assert all(torch.equal(keep.kept[k], v) for k, v in keep.first.items())


def test_frozen_training_leaves_backbone_unchanged(frozen_run):
    config, out, _, _result = frozen_run
    _, ckpt = load_checkpoint(out / artifacts.SYNTHETIC_CHECKPOINT_NAME)
    initial = build_classifier(ckpt["ch_names"], ckpt["n_times"], ckpt["sfreq"], seed=config.seed)[0]
    init_state = initial.labram.state_dict()
    saved = ckpt["model_state_dict"]
    backbone = [k for k in saved if not k.startswith(HEAD_NAME + ".")]
    assert backbone and all(torch.equal(saved[k], init_state[k]) for k in backbone)
    assert not torch.equal(saved[f"{HEAD_NAME}.weight"], init_state[f"{HEAD_NAME}.weight"])


def test_checkpoint_reproduces_best_val_accuracy(frozen_run):
    """The saved model (head folded from standardised features) scores what training reported."""
    config, out, _, result = frozen_run
    model, ckpt = load_checkpoint(out / artifacts.SYNTHETIC_CHECKPOINT_NAME)
    data = generate(config.n_samples_per_class, seed=config.seed)
    val_idx = split_for(data, config).val
    with torch.inference_mode():
        pred = model(torch.from_numpy(data.X[val_idx])).argmax(1).numpy()
    acc = 100 * (pred == data.y[val_idx]).mean()
    assert abs(acc - ckpt["metrics"]["val_acc"]) <= 100 / len(val_idx) + 1e-9
    assert ckpt["metrics"]["val_acc"] == result.best_val_acc
    assert ckpt["config"] == config.model_dump() and ckpt["class_names"] == ["relaxed", "anxious"]


def test_checkpoint_loads_with_plain_torch_and_braindecode(frozen_run):
    _, out, _, _ = frozen_run
    from braindecode.models import Labram

    ckpt = torch.load(out / artifacts.SYNTHETIC_CHECKPOINT_NAME, weights_only=True)
    model = Labram(**ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model_state_dict"])
    x = torch.randn(2, 8, 800) * 20
    model.eval()
    with torch.inference_mode():
        assert model(x * ckpt["input_scale"], ch_names=ckpt["ch_names"]).shape == (2, 2)


def test_stop_takes_effect_within_one_batch(tmp_path, tiny):
    """Fine-tuning: a stop requested during batch k means no batch k+1 runs."""
    config = parse_config({**tiny, "freeze_backbone": False, "batch_size": 16, "save_dir": str(tmp_path)})
    rec = Recorder(stop_after_batches=2)
    result = train(
        config, generate(100, seed=config.seed), tmp_path, listeners=[rec], should_stop=rec.should_stop
    )
    assert result.stopped and result.epochs_completed == 0
    n_train = len(split_for(generate(100, seed=config.seed), config).train)
    assert len(rec.batches) == 2 and rec.batches[-1]["batch"] == 2
    assert rec.batches[-1]["n_batches"] == math.ceil(n_train / 16) > 2
    assert not (tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME).exists()


def test_stop_during_feature_caching(tmp_path, tiny):
    config = parse_config({**tiny, "save_dir": str(tmp_path)})
    rec = Recorder(stop_after_batches=1)
    result = train(
        config, generate(100, seed=config.seed), tmp_path, listeners=[rec], should_stop=rec.should_stop
    )
    assert result.stopped and [b["phase"] for b in rec.batches] == ["caching features"]


def test_fine_tune_updates_the_backbone_and_uses_the_learning_rate(tmp_path, tiny):
    config = parse_config(
        {**tiny, "freeze_backbone": False, "batch_size": 128, "val_split": 0.5, "save_dir": str(tmp_path)}
    )
    result = train(config, generate(100, seed=config.seed), tmp_path)
    assert result.epochs_completed == 1
    _, ckpt = load_checkpoint(tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME)
    initial = build_classifier(ckpt["ch_names"], 800, 200.0, seed=config.seed)[0].labram.state_dict()
    changed = [k for k, v in ckpt["model_state_dict"].items() if not torch.equal(v, initial[k])]
    assert any(not k.startswith(HEAD_NAME) for k in changed)


@pytest.mark.slow
def test_learning_rate_and_weight_decay_are_used(tmp_path, tiny):
    data = generate(100, seed=42)
    losses = []
    for lr, wd in ((0.0001, 0.0), (0.01, 0.0), (0.01, 0.001)):
        config = parse_config({**tiny, "learning_rate": lr, "weight_decay": wd, "save_dir": str(tmp_path)})
        losses.append(train(config, data, tmp_path / f"{lr}-{wd}").history["train_losses"][0])
    assert len(set(losses)) == 3
