"""Fitting a classical baseline (:mod:`~eegtrain_jupyter.models.classical`) as a run: one "epoch".

The same split (:func:`~eegtrain_jupyter.data.splits.split_for`), the same scores
(:func:`~.evaluation.epoch_scores` on validation, :func:`~.evaluation.test_report` on test) and the
same events as the neural loop, in this order: split, phase ``building model``, setup, phase
``training``, one train and one val batch, model (its learned coefficients, known once fitted), best
(the checkpoint), epoch end, phase ``testing`` and test (with a test split), end. The losses are the
cross-entropy of the predicted probabilities, weighted per class as the neural loss is with
``class_weight: balanced``. The pipeline is fitted once, on CPU, in float64.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config.training import TrainingConfig
from ..data.splits import split_for
from ..data.windows import Windows
from ..models import classical
from ..models.labram import BackboneInfo
from ..schemas import empty_history
from . import artifacts, evaluation
from .events import EpochResult, Events, StopRequested, TrainingResult

__all__ = ["DEVICE", "PRECISION", "PRECISION_REASON", "fit_baseline"]

DEVICE = "cpu"
PRECISION = "fp64"
PRECISION_REASON = "fp64 (scikit-learn on CPU)"


def _loss(y: np.ndarray, proba: np.ndarray, weight: np.ndarray | None) -> float:
    """Mean cross-entropy of ``proba`` ``(n, n_classes)`` at labels ``y`` ``(n,)``, as torch's
    ``CrossEntropyLoss(weight=weight)`` averages it (by the weights of the labels)."""
    nll = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))
    w = np.ones(len(y)) if weight is None else weight[y]
    return float((w * nll).sum() / w.sum()) if len(y) else 0.0


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return 100.0 * float((proba.argmax(1) == y).mean()) if len(y) else 0.0


def fit_baseline(
    config: TrainingConfig, data: Windows, events: Events, should_stop: Callable[[], bool]
) -> TrainingResult:
    """Fit ``config.model`` (a classical baseline) on the training split and score it.

    Parameters
    ----------
    config : TrainingConfig
        ``model`` one of :data:`~eegtrain_jupyter.config.training.CLASSICAL_MODELS`; ``class_weight``,
        the split fields and the data section apply (the gradient-descent fields do not).
    data : Windows
        Windows ``(n_windows, n_chans, n_times)`` µV and their labels.
    events : Events
        The listeners (the artifact writer among them when the run has an output folder).
    should_stop : callable
        Polled before the fit and before the test; true ends the run (``stopped``).

    Returns
    -------
    TrainingResult
        One epoch; ``test_report`` when the split has a test part.
    """
    history: dict[str, list[Any]] = empty_history()
    for key in evaluation.EPOCH_KEYS.values():
        history[key] = []
    backbone = BackboneInfo("random")
    result = TrainingResult(
        history, None, None, 0, False, DEVICE, PRECISION, backbone, precision_reason=PRECISION_REASON
    )
    try:
        split = split_for(data, config)
        tr, va, te = split.train, split.val, split.test
        result.split = split.describe()
        events.on_split(result.split)
        events.on_phase("building model")
        y = np.asarray(data.y, dtype=np.int64)
        weight = None
        if config.class_weight == "balanced":
            weight = evaluation.balanced_class_weights(y[tr], data.n_classes)
        pipeline = classical.build(
            config.model,
            sfreq=data.sfreq,
            n_chans=len(data.ch_names),
            n_classes=len(np.unique(y[tr])),
            class_weight=config.class_weight,
        )
        events.on_setup(
            device=DEVICE,
            precision=PRECISION,
            backbone=backbone,
            n_train=len(tr),
            n_val=len(va),
            precision_reason=PRECISION_REASON,
        )
        if should_stop():
            raise StopRequested
        events.on_phase("training")
        t0 = time.perf_counter()
        classical.fit(pipeline, data.X[tr], y[tr])
        train_proba = classical.predict_proba(pipeline, data.X[tr], data.n_classes)
        train_loss, train_acc = _loss(y[tr], train_proba, weight), _accuracy(y[tr], train_proba)
        events.on_batch(epoch=1, batch=1, n_batches=1, phase="train", loss=train_loss, acc=train_acc)
        val_proba = classical.predict_proba(pipeline, data.X[va], data.n_classes)
        val_loss, val_acc = _loss(y[va], val_proba, weight), _accuracy(y[va], val_proba)
        events.on_batch(epoch=1, batch=1, n_batches=1, phase="val", loss=val_loss, acc=val_acc)
        res = EpochResult(1, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
        for key, value in zip(empty_history(), (train_loss, val_loss, train_acc, val_acc), strict=True):
            history[key].append(value)
        scores = evaluation.epoch_scores(y[va], val_proba)
        for name, key in evaluation.EPOCH_KEYS.items():
            history[key].append(scores[name])
        n_coef = classical.n_parameters(pipeline)
        events.on_model(name=config.model, n_parameters=n_coef, n_trainable=n_coef)
        result.epochs_completed, result.best_val_acc, result.best_epoch = 1, val_acc, 1
        events.on_best(res, _checkpoint(pipeline, data, config, res, history))
        events.on_epoch_end(res, {k: list(v) for k, v in history.items()})
        if len(te):
            if should_stop():
                raise StopRequested
            events.on_phase("testing")
            test_proba = classical.predict_proba(pipeline, data.X[te], data.n_classes)
            subjects = None if data.subjects is None else data.subjects[te]
            result.test_report = evaluation.test_report(
                y[te], test_proba, data.class_names, 1, split, subjects
            )
            events.on_test(result.test_report)
    except StopRequested:
        result.stopped = True
    events.on_end(result)
    return result


def _checkpoint(
    pipeline: Any, data: Windows, config: TrainingConfig, res: EpochResult, history: dict[str, list[Any]]
) -> dict[str, Any]:
    """The checkpoint dict of a fitted baseline: the neural checkpoint's facts, with the pipeline as
    skops bytes under ``classifier_skops`` instead of a ``model_state_dict`` (``torch.load`` with
    ``weights_only=True`` reads bytes; :func:`~.models.classical.loads` checks the types in them)."""
    return {
        "model": config.model,
        "classifier_skops": classical.dumps(pipeline),
        "model_class": "sklearn.pipeline.Pipeline",
        "model_kwargs": {"steps": classical.describe(pipeline)},
        **artifacts.checkpoint_facts(config, data, res, history),
        "precision": PRECISION,
        "precision_reason": PRECISION_REASON,
    }
