"""The training loop: a plain function of a config, an output folder and listeners.

No threads and no global state. The caller (the service, a test, a script) passes
``should_stop`` (checked before every batch, so a stop takes effect within one batch)
and listeners that receive progress events. With a frozen backbone the backbone runs
once over all windows (``torch.inference_mode``) and the head trains on cached features.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import artifacts, synthetic
from .config import TrainingConfig
from .model import HEAD_NAME, INPUT_SCALE, BackboneInfo, LabramClassifier, build_classifier

__all__ = [
    "TrainingListener",
    "EpochResult",
    "TrainingResult",
    "StopRequested",
    "resolve_device",
    "resolve_precision",
    "empty_history",
    "stratified_split",
    "StandardizedHead",
    "train",
    "CURVES_MIN_INTERVAL",
    "inference_batch_size",
]


CURVES_MIN_INTERVAL = 2.0
"""Seconds between curve-PNG writes (one costs 0.1-0.5 s on CPU; frozen-backbone epochs take
milliseconds). The first and last epoch, and a stopped run's last epoch, always write it."""


class TrainingListener:
    """Receives engine events; override what you need (all default to no-ops)."""

    def on_phase(self, phase: str) -> None:
        """A set-up phase began: ``generating data``, ``building model``, ``caching features``, ``training``."""

    def on_setup(self, *, device: str, precision: str, backbone: BackboneInfo, n_train: int, n_val: int) -> None:
        """Data and model are ready."""

    def on_batch(self, *, epoch: int, batch: int, n_batches: int, phase: str) -> None:
        """A batch finished (``phase`` is ``train``, ``val`` or ``caching features``; ``epoch`` is 1-based)."""

    def on_epoch_end(self, result: EpochResult, history: dict[str, list[float]]) -> None:
        """An epoch finished; checkpoint and history are on disk (the PNG at most ``CURVES_MIN_INTERVAL`` behind)."""

    def on_best(self, result: EpochResult, checkpoint_path: Path) -> None:
        """A new best validation accuracy was checkpointed."""


class StopRequested(Exception):
    """Raised inside the loop when ``should_stop()`` turns true."""


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    duration: float


@dataclass
class TrainingResult:
    """What a run produced; ``stopped`` is true when ``should_stop`` ended it early."""

    history: dict[str, list[float]]
    best_val_acc: float | None
    best_epoch: int | None
    epochs_completed: int
    stopped: bool
    device: str
    precision: str
    backbone: BackboneInfo
    output_dir: Path
    files: dict[str, str] = field(default_factory=dict)


def empty_history() -> dict[str, list[float]]:
    """The seed's history shape, empty."""
    return {"train_losses": [], "val_losses": [], "train_accs": [], "val_accs": []}


def resolve_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but no CUDA GPU is available")
    return torch.device(requested)


def resolve_precision(requested: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA, ``fp32`` on CPU."""
    if requested == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return requested


def stratified_split(y: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train/val indices with ``val_split`` of each class in validation."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = max(1, int(round(len(idx) * val_split)))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(val_idx))


class _Events:
    """Fan-out of events to several listeners."""

    def __init__(self, listeners: Iterable[TrainingListener]):
        self.listeners = list(listeners)

    def __getattr__(self, name: str) -> Callable[..., None]:
        def emit(*args: Any, **kwargs: Any) -> None:
            for listener in self.listeners:
                getattr(listener, name)(*args, **kwargs)

        return emit


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None):
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield (order[start:stop] if order is not None else slice(start, stop))


def train(
    config: TrainingConfig,
    output_dir: str | Path,
    *,
    listeners: Sequence[TrainingListener] = (),
    should_stop: Callable[[], bool] = lambda: False,
    data: synthetic.SyntheticEEG | None = None,
) -> TrainingResult:
    """Train LaBraM on synthetic EEG per ``config``; write outputs to ``output_dir``.

    Parameters
    ----------
    config : TrainingConfig
        Validated parameters (learning_rate, batch_size and weight_decay are all used).
    output_dir : path
        Where ``best_synthetic_model.pth``, ``training_history.json`` and
        ``training_curves.png`` are written (atomically, after every epoch; the PNG
        at most every ``CURVES_MIN_INTERVAL`` seconds, and always for the last epoch).
    listeners : sequence of TrainingListener
        Progress receivers.
    should_stop : callable
        Polled before every batch; when true the run ends, keeping finished epochs.
    data : SyntheticEEG, optional
        Pre-made data (else generated from ``config.seed``).

    Returns
    -------
    TrainingResult
    """
    events = _Events(listeners)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    )
    history = empty_history()
    curves_epoch = 0
    result = TrainingResult(history, None, None, 0, False, str(device), precision, BackboneInfo("random"), output_dir)

    def check_stop() -> None:
        if should_stop():
            raise StopRequested

    try:
        events.on_phase("generating data")
        if data is None:
            data = synthetic.generate(config.n_samples_per_class, seed=config.seed)
        check_stop()
        train_idx, val_idx = stratified_split(data.y, config.val_split, config.seed)

        events.on_phase("building model")
        model, backbone = build_classifier(
            data.ch_names, data.X.shape[-1], data.sfreq, seed=config.seed,
            pretrained_weights=config.pretrained_weights, freeze_backbone=config.freeze_backbone,
        )
        result.backbone = backbone
        model.to(device)
        pin = device.type == "cuda"
        X = torch.from_numpy(data.X)
        y = torch.from_numpy(data.y)
        if pin:
            X, y = X.pin_memory(), y.pin_memory()
        events.on_setup(device=str(device), precision=precision, backbone=backbone,
                        n_train=len(train_idx), n_val=len(val_idx))
        check_stop()

        if config.freeze_backbone:
            events.on_phase("caching features")
            feats = _cache_features(model, X, device, autocast, inference_batch_size(config, device),
                                    events, check_stop)
            tr_feats = feats[torch.from_numpy(train_idx).to(device)]
            step_module = StandardizedHead(model.head, tr_feats.mean(0), tr_feats.std(0))
            inputs = feats
        else:
            inputs, step_module = X, model
        labels = y.to(device, non_blocking=pin) if config.freeze_backbone else y
        tr = torch.from_numpy(train_idx)
        va = torch.from_numpy(val_idx)

        events.on_phase("training")
        params = [p for p in step_module.parameters() if p.requires_grad]
        # fused: one kernel over all tensors (CPU and CUDA); ~3x faster steps than the per-tensor loop
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                      fused=device.type in ("cpu", "cuda"))
        loss_fn = nn.CrossEntropyLoss()
        shuffle = torch.Generator().manual_seed(config.seed)
        best_val = -math.inf
        curves_at, curves_epoch = None, 0  # last curves PNG write: time and epoch
        for epoch in range(1, config.n_epochs + 1):
            t0 = time.perf_counter()
            order = tr[torch.randperm(len(tr), generator=shuffle)]
            train_loss, train_acc = _run_epoch(
                step_module, inputs, labels, order, config.batch_size, device, autocast,
                loss_fn, optimizer, epoch, events, check_stop,
            )
            val_loss, val_acc = _run_epoch(
                step_module, inputs, labels, va, inference_batch_size(config, device), device, autocast,
                loss_fn, None, epoch, events, check_stop,
            )
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
            if not math.isfinite(val_loss):  # else the history (strict JSON) could not be written
                raise FloatingPointError(f"validation loss became {val_loss} in epoch {epoch}")
            res = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
            for key, value in zip(history, (train_loss, val_loss, train_acc, val_acc)):
                history[key].append(value)
            result.epochs_completed = epoch
            if val_acc > best_val:
                best_val = val_acc
                result.best_val_acc, result.best_epoch = val_acc, epoch
                path = artifacts.save_checkpoint(
                    output_dir / artifacts.CHECKPOINT_NAME,
                    _checkpoint(model, data, config, backbone, res, history,
                                head=step_module if config.freeze_backbone else None),
                )
                result.files["checkpoint"] = str(path)
                events.on_best(res, path)
            _write_history(output_dir, history, result, config)
            if (epoch == config.n_epochs or curves_at is None
                    or time.perf_counter() - curves_at >= CURVES_MIN_INTERVAL):
                _write_curves(output_dir, history, result, config)
                curves_at, curves_epoch = time.perf_counter(), epoch
            events.on_epoch_end(res, {k: list(v) for k, v in history.items()})
    except StopRequested:
        result.stopped = True
        if result.epochs_completed and curves_epoch != result.epochs_completed:
            _write_curves(output_dir, history, result, config)
    return result


class StandardizedHead(nn.Module):
    """The linear head trained on standardised cached features (a faster, better-conditioned fit).

    ``folded()`` returns the equivalent weights for raw features, so the saved checkpoint is a
    plain ``Labram`` state_dict: ``W' = W / sd``, ``b' = b - W' @ mu``.
    """

    def __init__(self, linear: nn.Linear, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.linear = linear
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clamp_min(1e-6))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)

    @torch.no_grad()
    def folded(self) -> dict[str, torch.Tensor]:
        weight = self.linear.weight / self.std
        return {"weight": weight.clone(), "bias": self.linear.bias - weight @ self.mean}


def inference_batch_size(config: TrainingConfig, device: torch.device) -> int:
    """Batch size of the no-grad feature pass: the training batch on CPU, at least 256 on CUDA.

    On CPU LaBraM's per-window cost grows with the batch beyond ~32 (measured with 1-2 threads:
    6.1 ms/window at 16-32, 7.5-8.3 at 64): activations fall out of cache. A GPU wants large batches.
    """
    return max(config.batch_size, 256) if device.type == "cuda" else config.batch_size


def _cache_features(model: LabramClassifier, X, device, autocast, batch_size, events, check_stop):
    """One no-grad backbone pass over every window -> ``(n_windows, embed_dim)`` float32 on ``device``."""
    model.eval()
    bs = batch_size
    n_batches = math.ceil(len(X) / bs)
    out = []
    with torch.inference_mode(), autocast:
        for i, sl in enumerate(_batches(len(X), bs)):
            check_stop()
            out.append(model.features(X[sl].to(device, non_blocking=True)).float())
            events.on_batch(epoch=0, batch=i + 1, n_batches=n_batches, phase="caching features")
    return torch.cat(out)


def _run_epoch(module, inputs, labels, order, batch_size, device, autocast, loss_fn, optimizer,
               epoch, events, check_stop) -> tuple[float, float]:
    """One pass over ``order``; trains when ``optimizer`` is given, else evaluates. Returns (loss, acc %)."""
    training = optimizer is not None
    module.train(training)
    n_batches = math.ceil(len(order) / batch_size)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    grad = nullcontext() if training else torch.inference_mode()
    with grad:
        for i, idx in enumerate(_batches(len(order), batch_size, order)):
            check_stop()
            xb = inputs[idx].to(device, non_blocking=True)
            yb = labels[idx].to(device, non_blocking=True)
            with autocast:
                logits = module(xb)
                loss = loss_fn(logits.float(), yb)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            events.on_batch(epoch=epoch, batch=i + 1, n_batches=n_batches, phase="train" if training else "val")
    n = len(order)
    return float(total_loss) / n, 100.0 * float(correct) / n


def _checkpoint(model: LabramClassifier, data, config: TrainingConfig, backbone: BackboneInfo,
                res: EpochResult, history, head: StandardizedHead | None = None) -> dict[str, Any]:
    """Everything needed to reload and use the model with plain torch + braindecode."""
    state = {k: v.detach().cpu() for k, v in model.labram.state_dict().items()}
    if head is not None:
        state.update({f"{HEAD_NAME}.{k}": v.cpu() for k, v in head.folded().items()})
    return {
        "model_state_dict": state,
        "model_class": "braindecode.models.Labram",
        "model_kwargs": {"n_chans": len(model.ch_names), "n_times": model.n_times,
                         "n_outputs": 2, "sfreq": model.sfreq},
        "config": config.model_dump(),
        "ch_names": list(data.ch_names),
        "sfreq": float(data.sfreq),
        "n_times": int(data.X.shape[-1]),
        "class_names": list(data.class_names),
        "input_scale": INPUT_SCALE,
        "epoch": res.epoch,
        "metrics": {"train_loss": res.train_loss, "train_acc": res.train_acc,
                    "val_loss": res.val_loss, "val_acc": res.val_acc},
        "history": {k: list(v) for k, v in history.items()},
        "backbone": backbone.to_dict(),
    }


def _write_history(output_dir: Path, history, result: TrainingResult, config: TrainingConfig) -> None:
    doc = {
        **history,
        "best_val_acc": result.best_val_acc,
        "best_epoch": result.best_epoch,
        "epochs_completed": result.epochs_completed,
        "config": config.model_dump(),
    }
    result.files["history"] = str(artifacts.write_json(output_dir / artifacts.HISTORY_NAME, doc))


def _write_curves(output_dir: Path, history, result: TrainingResult, config: TrainingConfig) -> None:
    result.files["curves"] = str(artifacts.save_curves(
        output_dir / artifacts.CURVES_NAME, history,
        title=f"LaBraM, {'frozen' if config.freeze_backbone else 'fine-tuned'} backbone",
    ))
