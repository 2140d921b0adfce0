"""Scores of a classifier on one split (scikit-learn's metrics) and the class weights of the loss.

Per epoch the validation split gets balanced accuracy, macro F1 and ROC AUC (its history keys
``val_balanced_accs``, ``val_macro_f1s``, ``val_roc_aucs``); the test split gets the full
:func:`report` once, at the end, with the best checkpoint: the field's usual scores for EEG
decoding, with balanced accuracy the primary one (:data:`PRIMARY_METRIC`; chance is 100 / n_classes
whatever the class balance), then Cohen's kappa, macro and weighted F1, ROC AUC, AUC-PR (binary)
and per-class scores, and per subject when the windows' subjects are known.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..data.splits import Split

__all__ = [
    "EPOCH_KEYS",
    "PRIMARY_METRIC",
    "balanced_class_weights",
    "epoch_scores",
    "per_subject",
    "report",
    "test_report",
]

PRIMARY_METRIC = "balanced_accuracy"
"""The score a model is judged by (the test report's key): mean recall over the classes."""

EPOCH_KEYS = {
    "balanced_accuracy": "val_balanced_accs",
    "macro_f1": "val_macro_f1s",
    "roc_auc": "val_roc_aucs",
}
"""Per-epoch validation scores -> their history key (percent, like the accuracies)."""


def _auc(y: np.ndarray, proba: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:  # undefined with one class present
        return None
    try:
        if proba.shape[1] == 2:  # the Mann-Whitney U statistic (ties: average ranks), as roc_auc_score
            from scipy.stats import rankdata

            positive = np.asarray(y) == 1
            n_pos, n_neg = int(positive.sum()), int((~positive).sum())
            ranks = rankdata(proba[:, 1])
            return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        return float(roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1])))
    except ValueError:
        return None


def epoch_scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """Balanced accuracy, macro F1 and ROC AUC in percent (ROC AUC None where undefined).

    Balanced accuracy and macro F1 come from one confusion matrix, with scikit-learn's
    definitions (``balanced_accuracy_score``: mean recall over the classes present in ``y``;
    ``f1_score(average="macro", labels=all classes, zero_division=0)``); a test holds them equal.
    They run every epoch, where scikit-learn's input checks cost more than a head epoch on cached
    features (~3.5 ms against ~0.1 ms). A binary ROC AUC is the Mann-Whitney U statistic (what
    ``roc_auc_score`` computes, ties included); a multi-class one is scikit-learn's (one-vs-rest).

    Parameters
    ----------
    y : ndarray, shape (n,)
        True class indices.
    proba : ndarray, shape (n, n_classes)
        Predicted class probabilities.
    """
    k = proba.shape[1]
    cm = np.bincount(np.asarray(y, dtype=np.int64) * k + proba.argmax(1), minlength=k * k).reshape(k, k)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    present = support > 0
    bal = float((tp[present] / support[present]).mean()) if present.any() else 0.0
    denominator = support + predicted  # 2tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    auc = _auc(y, proba)
    return {
        "balanced_accuracy": 100.0 * bal,
        "macro_f1": 100.0 * float(f1.mean()),
        "roc_auc": 100.0 * auc if auc is not None else None,
    }


def per_subject(y: np.ndarray, proba: np.ndarray, subjects: np.ndarray) -> dict[str, dict[str, Any]]:
    """Scores of each subject's windows: ``{subject: {n, accuracy, balanced_accuracy, macro_f1}}``
    (percent; :func:`epoch_scores`' definitions on that subject's windows), subjects sorted."""
    subjects = np.asarray(subjects).astype(str)
    out: dict[str, dict[str, Any]] = {}
    for subject in np.unique(subjects):
        mask = subjects == subject
        scores = epoch_scores(y[mask], proba[mask])
        out[str(subject)] = {
            "n": int(mask.sum()),
            "accuracy": 100.0 * float((proba[mask].argmax(1) == y[mask]).mean()),
            "balanced_accuracy": scores["balanced_accuracy"],
            "macro_f1": scores["macro_f1"],
        }
    return out


def report(
    y: np.ndarray,
    proba: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    subjects: np.ndarray | None = None,
) -> dict[str, Any]:
    """The full score sheet of one split.

    Parameters
    ----------
    y : ndarray, shape (n,)
        True class indices.
    proba : ndarray, shape (n, n_classes)
        Predicted class probabilities; the prediction is the most probable class.
    class_names : sequence of str, length n_classes
    subjects : ndarray, shape (n,), optional
        Each window's subject: adds the scores per subject.

    Returns
    -------
    dict
        Percent unless said otherwise, each with scikit-learn's definition:

        * ``n``, ``accuracy``;
        * ``balanced_accuracy`` (the primary score, ``balanced_accuracy_score``), ``macro_f1``,
          ``weighted_f1`` (``f1_score``, ``average="macro"``/``"weighted"``);
        * ``cohen_kappa``: ``cohen_kappa_score``, a coefficient in [-1, 1] (not percent; 0 is
          chance agreement);
        * ``roc_auc``: binary, or one-vs-rest macro over the classes; ``average_precision``
          (AUC-PR, ``average_precision_score`` of class 1): binary only. Both None where
          undefined (one class present; AUC-PR with more than two classes);
        * ``per_class`` ``{name: {precision, recall, f1, support, roc_auc}}`` (``roc_auc``: that
          class against the rest, None when it is absent or alone);
        * ``confusion_matrix`` (rows: true class, columns: predicted, in ``class_names`` order) and
          ``class_names``;
        * ``per_subject`` (:func:`per_subject`; empty without ``subjects``).
    """
    from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, precision_recall_fscore_support

    pred = proba.argmax(1)
    labels = np.arange(len(class_names))
    scores = epoch_scores(y, proba)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        weighted = f1_score(y, pred, labels=labels, average="weighted", zero_division=0) if len(y) else 0.0
        kappa = float(cohen_kappa_score(y, pred, labels=labels)) if len(y) else math.nan
    return {
        "n": len(y),
        "accuracy": 100.0 * float((pred == y).mean()) if len(y) else math.nan,
        "balanced_accuracy": scores["balanced_accuracy"],
        "cohen_kappa": kappa if math.isfinite(kappa) else None,
        "macro_f1": scores["macro_f1"],
        "weighted_f1": 100.0 * float(weighted),
        "roc_auc": scores["roc_auc"],
        "average_precision": _average_precision(y, proba),
        "per_class": {
            name: {
                "precision": 100.0 * float(p[i]),
                "recall": 100.0 * float(r[i]),
                "f1": 100.0 * float(f[i]),
                "support": int(s[i]),
                "roc_auc": _one_vs_rest_auc(y, proba, i),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "class_names": list(class_names),
        "per_subject": per_subject(y, proba, subjects) if subjects is not None and len(y) else {},
    }


def _average_precision(y: np.ndarray, proba: np.ndarray) -> float | None:
    """AUC-PR of class 1 (binary), percent; None with another number of classes or one class only."""
    from sklearn.metrics import average_precision_score

    if proba.shape[1] != 2 or len(np.unique(y)) < 2:
        return None
    return 100.0 * float(average_precision_score(np.asarray(y) == 1, proba[:, 1]))


def _one_vs_rest_auc(y: np.ndarray, proba: np.ndarray, i: int) -> float | None:
    """ROC AUC of class ``i`` against the others, percent; None when ``y`` has no such window or
    nothing else."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(y) == i
    if positive.all() or not positive.any():
        return None
    return 100.0 * float(roc_auc_score(positive, proba[:, i]))


def test_report(
    y: np.ndarray,
    proba: np.ndarray,
    class_names: tuple[str, ...] | list[str],
    epoch: int | None,
    split: Split,
    subjects: np.ndarray | None,
) -> dict[str, Any]:
    """The test split's :func:`report` with the epoch whose model was tested and the split
    (:class:`~eegtrain_jupyter.schemas.TestReport`); ``subjects``: the test windows' subjects."""
    return {
        **report(y, proba, class_names, subjects),
        "epoch": epoch,
        "split": split.describe(),
        "subjects": split.subjects["test"],
    }


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's ``"balanced"`` weights, ``n / (n_classes * count)``; shape ``(n_classes,)``.

    A class absent from ``y`` gets weight 1 (it contributes no loss anyway)."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights
