"""The training loop: a plain function of a config, the data and listeners.

No threads, no global state, no data of its own and no files: the caller (the service, a
test, a script) passes the :class:`~eegtrain_jupyter.data.windows.Windows` to train on,
``should_stop`` (checked before every batch, so a stop takes effect within one batch) and
listeners that receive progress events; the outputs are written by one of them
(:class:`~eegtrain_jupyter.engine.artifacts.ArtifactWriter`, added when ``output_dir`` is given).
With a frozen backbone the backbone runs once over all windows (``torch.inference_mode``)
and the head trains on cached features.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..config.training import CLASSICAL_MODELS, TrainingConfig
from ..data.splits import Split, split_for
from ..data.windows import Windows
from ..models import registry as models
from ..models.info import BackboneInfo
from ..models.registry import BackboneClassifier
from ..schemas import empty_history
from . import distributed, evaluation
from .artifacts import ArtifactWriter, checkpoint_facts
from .augmentation import make_augmenter
from .classical import fit_baseline
from .events import EpochResult, Events, StopRequested, TrainingListener, TrainingResult
from .feature_cache import FeatureCache
from .loop import Loop, PinnedStaging, StandardizedHead, inference_batch_size
from .precision import Precision, resolve_precision
from .recipe import make_optimizer, make_schedule

__all__ = [
    "PinnedStaging",
    "StandardizedHead",
    "inference_batch_size",
    "resolve_device",
    "resolve_precision",
    "train",
]


def resolve_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but no CUDA GPU is available")
    return torch.device(requested)


def train(
    config: TrainingConfig,
    data: Windows,
    output_dir: str | Path | None = None,
    *,
    listeners: Sequence[TrainingListener] = (),
    should_stop: Callable[[], bool] = lambda: False,
    feature_cache: FeatureCache | None = None,
    build: models.ModelBuilder = models.build,
    light_outputs: bool = False,
) -> TrainingResult:
    """Train ``config.model`` (LaBraM by default) on ``data`` per ``config``; a classical baseline is
    fitted once instead (:func:`~.classical.fit_baseline`, one epoch, the same events and outputs).

    Parameters
    ----------
    config : TrainingConfig
        Validated parameters (learning_rate, batch_size and weight_decay are all used).
    data : Windows
        The windows to split into training and validation; the number of classes, channel
        names, window length and sampling rate all come from it.
    output_dir : path, optional
        When given, an :class:`~eegtrain_jupyter.engine.artifacts.ArtifactWriter` writes the
        checkpoint, history and curves there (listed in ``TrainingResult.files``).
    listeners : sequence of TrainingListener
        Progress receivers, called in order after the writer.
    should_stop : callable
        Polled before every batch; when true the run ends, keeping finished epochs.
    feature_cache : FeatureCache, optional
        With a frozen backbone, reuse (or store) the backbone features of these windows.
    build : callable
        Builds the model (:func:`~.models.build`; a worker serving several runs passes a
        memoised one, :meth:`~.workbench.Workbench.build`).
    light_outputs : bool
        Outputs for a short run looked at later if at all (a search's trial): no curves PNG
        (drawn on request, see :meth:`~.serving.RunServing.file`) and the best checkpoint
        throttled from the run's start (see :class:`~.artifacts.ArtifactWriter`).

    Returns
    -------
    TrainingResult
    """
    group = distributed.current()  # several processes under torchrun: only the leader reports
    if output_dir is not None and group.leader:
        listeners = [ArtifactWriter(output_dir, config, light=light_outputs), *listeners]
    events = Events(listeners if group.leader else [])
    if config.model in CLASSICAL_MODELS:  # a scikit-learn pipeline, fitted once on CPU
        return fit_baseline(config, data, events, should_stop)
    device = distributed.device_for_rank(resolve_device(config.device))
    precision = resolve_precision(config.precision, device, fine_tune=not config.freeze_backbone)
    loop = Loop(device, precision.name, events, should_stop, group)
    result = _empty_result(device, precision)
    try:
        split = _split(data, config, events, result)
        weight = _class_weight(config, data, split, device)
        model = _build_model(config, data, build, loop, result)
        fit = _prepare_fit(config, data, model, split, loop, result, feature_cache)
        optimizer = _set_up_recipe(config, data, split, fit, weight)
        best_state = _train_epochs(config, data, model, split, fit, optimizer, precision, result)
        if len(split.test) and best_state is not None:
            _test(data, split, fit, best_state, result)
    except StopRequested:
        result.stopped = True
    events.on_end(result)
    return result


@dataclass
class _Fit:
    """What the epochs step and score.

    Attributes
    ----------
    loop : Loop
        The passes' device, precision, events and stop check (an fp32 one for a frozen head).
    module : nn.Module
        The module the optimizer steps: the whole model, or the linear head on cached features
        (wrapped in DDP with several processes).
    inputs, labels : torch.Tensor
        What ``module`` reads (the windows, or their standardised features) and the labels.
    eval_batch_size : int
        Batch size of the validation and test passes.
    head : StandardizedHead, optional
        The frozen backbone's head on standardised features (folded into the checkpoint).
    """

    loop: Loop
    module: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    eval_batch_size: int
    head: StandardizedHead | None = None


def _empty_result(device: torch.device, precision: Precision) -> TrainingResult:
    """The result of a run that has done nothing yet: an empty history (training and per-epoch
    score keys), no best epoch, a random backbone until the model is built."""
    history: dict[str, list[Any]] = empty_history()
    for key in evaluation.EPOCH_KEYS.values():
        history[key] = []
    return TrainingResult(
        history,
        None,
        None,
        0,
        False,
        str(device),
        precision.name,
        BackboneInfo("random"),
        precision_reason=precision.reason,
    )


def _split(data: Windows, config: TrainingConfig, events: Events, result: TrainingResult) -> Split:
    """Split the windows into training, validation and test (:func:`~.splits.split_for`) and
    report how (``on_split``, ``result.split``)."""
    split = split_for(data, config)
    result.split = split.describe()
    events.on_split(result.split)
    return split


def _class_weight(
    config: TrainingConfig, data: Windows, split: Split, device: torch.device
) -> torch.Tensor | None:
    """The loss's class weights: inverse class frequencies of the training split with
    ``class_weight: balanced``, else none."""
    if config.class_weight != "balanced":
        return None
    weights = evaluation.balanced_class_weights(data.y[split.train], data.n_classes)
    return torch.tensor(weights, dtype=torch.float32, device=device)


def _build_model(
    config: TrainingConfig, data: Windows, build: models.ModelBuilder, loop: Loop, result: TrainingResult
) -> nn.Module:
    """Build ``config.model`` for these windows' channels, length, rate and classes, report its
    size (``on_model``) and move it to the device; its backbone goes to ``result.backbone``."""
    models.fetch_pretrained(config.pretrained_weights, loop.events.on_phase)  # a hub id's download
    loop.events.on_phase("building model")
    model, backbone = build(config, data.ch_names, data.n_times, data.sfreq, data.n_classes)
    result.backbone = backbone
    n_params, n_trainable = models.count_parameters(model)
    loop.events.on_model(name=config.model, n_parameters=n_params, n_trainable=n_trainable)
    model.to(loop.device)
    return model


def _prepare_fit(
    config: TrainingConfig,
    data: Windows,
    model: nn.Module,
    split: Split,
    loop: Loop,
    result: TrainingResult,
    feature_cache: FeatureCache | None,
) -> _Fit:
    """The windows as tensors (pinned on CUDA), ``on_setup``, a stop check, then what the epochs
    train: the linear head on cached backbone features (a frozen foundation model) or the whole
    model on the windows."""
    X = torch.from_numpy(data.X)
    y = torch.from_numpy(data.y)
    if loop.pin:
        X, y = X.pin_memory(), y.pin_memory()
    loop.events.on_setup(
        device=result.device,
        precision=loop.precision,
        backbone=result.backbone,
        n_train=len(split.train),
        n_val=len(split.val),
        precision_reason=result.precision_reason,
    )
    loop.check_stop()
    # only a model with a backbone/head split (the foundation models) has the frozen-feature path
    if config.freeze_backbone and models.get(config.model).has_backbone:
        fit = _frozen_head_fit(
            config, data, cast(BackboneClassifier, model), split, loop, X, y, feature_cache
        )
    else:
        fit = _Fit(loop, model, X, y, inference_batch_size(config, loop.device))
    fit.module = fit.loop.group.wrap(fit.module, loop.device)  # DDP with several processes
    return fit


def _frozen_head_fit(
    config: TrainingConfig,
    data: Windows,
    model: BackboneClassifier,
    split: Split,
    loop: Loop,
    X: torch.Tensor,
    y: torch.Tensor,
    feature_cache: FeatureCache | None,
) -> _Fit:
    """A frozen backbone runs once over every window (or its features come from
    ``feature_cache``); the linear head then trains in fp32 on features standardised with the
    training split's mean and standard deviation, each split scored in one pass."""
    loop.events.on_phase("caching features")
    feats = _features(loop, model, data, X, inference_batch_size(config, loop.device), feature_cache)
    tr_feats = feats[torch.from_numpy(split.train).to(loop.device)]
    head = StandardizedHead(model.head, tr_feats.mean(0), tr_feats.std(0))
    return _Fit(
        Loop(
            loop.device, "fp32", loop.events, loop.should_stop, loop.group
        ),  # a linear head: nothing to gain
        head.linear,
        head.standardize(feats),
        y.to(loop.device, non_blocking=loop.pin),
        max(len(feats), 1),  # no backbone to fit: a whole split at once
        head,
    )


def _set_up_recipe(
    config: TrainingConfig, data: Windows, split: Split, fit: _Fit, weight: torch.Tensor | None
) -> torch.optim.Optimizer:
    """The loss (class weights, label smoothing), the augmentations of training batches, the
    optimizer and its learning-rate schedule; announces the ``training`` phase."""
    loop = fit.loop
    loop.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    loop.augment = make_augmenter(  # config refuses it with a frozen backbone: never on features
        config.augmentation,
        config.augmentation_p,
        data.X,
        split.train,
        data.sfreq,
        config.seed,
        loop.group.rank,
    )
    loop.events.on_phase("training")
    optimizer = make_optimizer(fit.module, config, loop.device)
    loop.schedule = make_schedule(optimizer, config, math.ceil(len(split.train) / config.batch_size))
    return optimizer


def _train_epochs(
    config: TrainingConfig,
    data: Windows,
    model: nn.Module,
    split: Split,
    fit: _Fit,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    result: TrainingResult,
) -> dict[str, torch.Tensor] | None:
    """Up to ``n_epochs`` epochs (fewer with early stopping): each trains, validates, extends
    ``result.history``, emits ``on_best`` with a checkpoint when validation accuracy improved and
    ``on_epoch_end``. Returns the best epoch's weights of ``fit.module`` (none before the first)."""
    events, history = fit.loop.events, result.history
    tr = torch.from_numpy(split.train)
    shuffle = torch.Generator().manual_seed(config.seed)
    best_state: dict[str, torch.Tensor] | None = None
    for epoch in range(1, config.n_epochs + 1):
        res, scores = _epoch(
            config, data, fit, tr[torch.randperm(len(tr), generator=shuffle)], split, optimizer, epoch
        )
        _record(history, res, scores)
        result.epochs_completed = epoch
        if result.best_val_acc is None or res.val_acc > result.best_val_acc:
            result.best_val_acc, result.best_epoch = res.val_acc, epoch
            best_state = {k: v.detach().clone() for k, v in fit.module.state_dict().items()}
            if fit.loop.group.leader:
                checkpoint = _checkpoint(
                    model, data, config, result.backbone, res, history, fit.head, precision
                )
                events.on_best(res, checkpoint)
        events.on_epoch_end(res, {k: list(v) for k, v in history.items()})
        if (
            config.early_stopping_patience
            and result.best_epoch is not None
            and epoch - result.best_epoch >= config.early_stopping_patience
        ):
            result.early_stopped = True
            break
    return best_state


def _record(history: dict[str, list[Any]], res: EpochResult, scores: dict[str, float | None]) -> None:
    """Append one epoch to the history: its losses and accuracies, then its validation scores."""
    for key, value in zip(
        empty_history(), (res.train_loss, res.val_loss, res.train_acc, res.val_acc), strict=True
    ):
        history[key].append(value)
    for name, key in evaluation.EPOCH_KEYS.items():
        history[key].append(scores[name])


def _epoch(
    config: TrainingConfig,
    data: Windows,
    fit: _Fit,
    order: torch.Tensor,
    split: Split,
    optimizer: torch.optim.Optimizer,
    epoch: int,
) -> tuple[EpochResult, dict[str, float | None]]:
    """One training pass over ``order`` and one validation pass over ``split.val``: the epoch's
    losses and accuracies, and the validation scores (:func:`~.evaluation.epoch_scores`).
    A non-finite loss is an error (the history, strict JSON, could not hold it)."""
    t0 = time.perf_counter()
    loop = fit.loop
    train_loss, train_acc = loop.run_epoch(
        fit.module, fit.inputs, fit.labels, order, config.batch_size, epoch, optimizer
    )
    val_proba: list[torch.Tensor] = []
    val_loss, val_acc = loop.run_epoch(
        fit.module,
        fit.inputs,
        fit.labels,
        torch.from_numpy(split.val),
        fit.eval_batch_size,
        epoch,
        collect=val_proba,
    )
    if not math.isfinite(train_loss):
        raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
    if not math.isfinite(val_loss):
        raise FloatingPointError(f"validation loss became {val_loss} in epoch {epoch}")
    res = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
    return res, evaluation.epoch_scores(data.y[split.val], torch.cat(val_proba).numpy())


def _test(
    data: Windows, split: Split, fit: _Fit, best_state: dict[str, torch.Tensor], result: TrainingResult
) -> None:
    """Score the test split once with the best epoch's weights: ``result.test_report`` and ``on_test``."""
    fit.loop.events.on_phase("testing")
    fit.module.load_state_dict(best_state)
    test_proba: list[torch.Tensor] = []
    fit.loop.run_epoch(
        fit.module,
        fit.inputs,
        fit.labels,
        torch.from_numpy(split.test),
        fit.eval_batch_size,
        result.best_epoch or 0,
        collect=test_proba,
        phase="test",
    )
    result.test_report = evaluation.test_report(
        data.y[split.test],
        torch.cat(test_proba).numpy(),
        data.class_names,
        result.best_epoch,
        split,
        None if data.subjects is None else data.subjects[split.test],
    )
    fit.loop.events.on_test(result.test_report)


def _features(
    loop: Loop,
    model: BackboneClassifier,
    data: Windows,
    X: torch.Tensor,
    batch_size: int,
    cache: FeatureCache | None,
) -> torch.Tensor:
    """The backbone features of every window: from ``cache`` when it holds them, else computed
    (and stored there)."""
    if cache is None:
        return loop.cache_features(model, X, batch_size)
    key = cache.key(
        data.X, model.net, head=model.head_name, precision=loop.precision, device=loop.device.type
    )
    cached = cache.get(key)
    if cached is not None:
        return torch.from_numpy(np.array(cached)).to(loop.device)
    feats = loop.cache_features(model, X, batch_size)
    if loop.group.leader:  # under torchrun every rank holds the same gathered features
        cache.put(key, feats.cpu().numpy())
    return feats


def _checkpoint(
    model: Any,
    data: Windows,
    config: TrainingConfig,
    backbone: BackboneInfo,
    res: EpochResult,
    history: dict[str, list[float]],
    head: StandardizedHead | None = None,
    precision: Precision | None = None,
) -> dict[str, Any]:
    """Everything needed to reload and use the model with plain torch + braindecode.

    ``model`` is a registry classifier: ``net`` (the braindecode network), ``model_class``,
    ``model_kwargs``, ``input_scale``, ``ch_names``; with a trained ``head``, its ``head_key``. The weights are fp32 whatever the run's
    precision (autocast keeps parameters in fp32); ``precision``/``precision_reason`` record what
    the run computed in.
    """
    # a snapshot: a listener may keep it (ArtifactWriter writes a throttled best later) while
    # training goes on, so tensors that training changes are copied (``.cpu()`` of a CPU tensor
    # is the tensor itself); a frozen backbone's are not (they never change)
    frozen = {name for name, p in model.net.named_parameters() if not p.requires_grad}
    state = {
        k: v.detach().cpu() if k in frozen or v.device.type != "cpu" else v.detach().clone()
        for k, v in model.net.state_dict().items()
    }
    if head is not None:
        state.update({f"{model.head_key}.{k}": v.cpu() for k, v in head.folded().items()})
    return {
        "model": config.model,
        "model_state_dict": state,
        "model_class": model.model_class,
        "model_kwargs": dict(model.model_kwargs),
        **checkpoint_facts(config, data, res, history),
        "input_scale": model.input_scale,
        "backbone": backbone.to_dict(),
        "precision": precision.name if precision else None,
        "precision_reason": precision.reason if precision else None,
    }
