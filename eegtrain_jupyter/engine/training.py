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
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..config.training import CLASSICAL_MODELS, TrainingConfig
from ..data.splits import split_for
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
    chosen = resolve_precision(config.precision, device, fine_tune=not config.freeze_backbone)
    precision = chosen.name
    loop = Loop(device, precision, events, should_stop, group)
    history: dict[str, list[Any]] = empty_history()
    result = TrainingResult(
        history,
        None,
        None,
        0,
        False,
        str(device),
        precision,
        BackboneInfo("random"),
        precision_reason=chosen.reason,
    )
    try:
        split = split_for(data, config)
        train_idx, val_idx = split.train, split.val
        result.split = split.describe()
        events.on_split(result.split)
        weight = None
        if config.class_weight == "balanced":
            weights = evaluation.balanced_class_weights(data.y[train_idx], data.n_classes)
            weight = torch.tensor(weights, dtype=torch.float32, device=device)
        for key in evaluation.EPOCH_KEYS.values():
            history[key] = []
        events.on_phase("building model")
        model, backbone = build(config, data.ch_names, data.n_times, data.sfreq, data.n_classes)
        result.backbone = backbone
        n_params, n_trainable = models.count_parameters(model)
        events.on_model(name=config.model, n_parameters=n_params, n_trainable=n_trainable)
        model.to(device)
        X = torch.from_numpy(data.X)
        y = torch.from_numpy(data.y)
        if loop.pin:
            X, y = X.pin_memory(), y.pin_memory()
        events.on_setup(
            device=str(device),
            precision=precision,
            backbone=backbone,
            n_train=len(train_idx),
            n_val=len(val_idx),
            precision_reason=chosen.reason,
        )
        loop.check_stop()

        eval_bs = inference_batch_size(config, device)
        head: StandardizedHead | None = None
        # only a model with a backbone/head split (the foundation models) has the frozen-feature path
        if config.freeze_backbone and models.get(config.model).has_backbone:
            split_model = cast(BackboneClassifier, model)
            events.on_phase("caching features")
            feats = _features(loop, split_model, data, X, eval_bs, feature_cache)
            tr_feats = feats[torch.from_numpy(train_idx).to(device)]
            head = StandardizedHead(split_model.head, tr_feats.mean(0), tr_feats.std(0))
            step_module: nn.Module = head.linear  # trained on features standardised once, here
            inputs, labels = head.standardize(feats), y.to(device, non_blocking=loop.pin)
            loop = Loop(device, "fp32", events, should_stop, group)  # the linear head: fp32, nothing to gain
            eval_bs = max(len(feats), 1)  # the head evaluates a whole split at once: no backbone to fit
        else:
            step_module, inputs, labels = model, X, y
        step_module = loop.group.wrap(step_module, device)  # DDP with several processes
        tr, va = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        loop.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
        loop.augment = make_augmenter(  # config refuses it with a frozen backbone: never on features
            config.augmentation, config.augmentation_p, data.X, train_idx, data.sfreq, config.seed, group.rank
        )

        events.on_phase("training")
        optimizer = make_optimizer(step_module, config, device)
        loop.schedule = make_schedule(optimizer, config, math.ceil(len(train_idx) / config.batch_size))
        shuffle = torch.Generator().manual_seed(config.seed)
        best_state: dict[str, torch.Tensor] | None = None
        for epoch in range(1, config.n_epochs + 1):
            t0 = time.perf_counter()
            order = tr[torch.randperm(len(tr), generator=shuffle)]
            train_loss, train_acc = loop.run_epoch(
                step_module, inputs, labels, order, config.batch_size, epoch, optimizer
            )
            val_proba: list[torch.Tensor] = []
            val_loss, val_acc = loop.run_epoch(
                step_module, inputs, labels, va, eval_bs, epoch, collect=val_proba
            )
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
            if not math.isfinite(val_loss):  # else the history (strict JSON) could not be written
                raise FloatingPointError(f"validation loss became {val_loss} in epoch {epoch}")
            res = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
            for key, value in zip(empty_history(), (train_loss, val_loss, train_acc, val_acc), strict=True):
                history[key].append(value)
            scores = evaluation.epoch_scores(data.y[val_idx], torch.cat(val_proba).numpy())
            for name, key in evaluation.EPOCH_KEYS.items():
                history[key].append(scores[name])
            result.epochs_completed = epoch
            if result.best_val_acc is None or val_acc > result.best_val_acc:
                result.best_val_acc, result.best_epoch = val_acc, epoch
                best_state = {k: v.detach().clone() for k, v in step_module.state_dict().items()}
                if loop.group.leader:
                    events.on_best(
                        res, _checkpoint(model, data, config, backbone, res, history, head, chosen)
                    )
            events.on_epoch_end(res, {k: list(v) for k, v in history.items()})
            if (
                config.early_stopping_patience
                and result.best_epoch is not None
                and epoch - result.best_epoch >= config.early_stopping_patience
            ):
                result.early_stopped = True
                break
        if len(split.test) and best_state is not None:
            events.on_phase("testing")
            step_module.load_state_dict(best_state)
            test_proba: list[torch.Tensor] = []
            loop.run_epoch(
                step_module,
                inputs,
                labels,
                torch.from_numpy(split.test),
                eval_bs,
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
            events.on_test(result.test_report)
    except StopRequested:
        result.stopped = True
    events.on_end(result)
    return result


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
