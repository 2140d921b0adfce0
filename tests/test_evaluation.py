"""The per-epoch scores agree with scikit-learn's definitions, edge cases included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from eegtrain_jupyter.engine.evaluation import epoch_scores, report


def _proba(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    p = rng.random((n, k))
    return p / p.sum(1, keepdims=True)


def _sklearn(y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    pred = proba.argmax(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bal = balanced_accuracy_score(y, pred)
        f1 = f1_score(y, pred, average="macro", labels=np.arange(proba.shape[1]), zero_division=0)
    return 100.0 * bal, 100.0 * f1


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_epoch_scores_match_sklearn(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    y = rng.integers(0, k, n)
    proba = _proba(rng, n, k)
    scores = epoch_scores(y, proba)
    bal, f1 = _sklearn(y, proba)
    assert scores["balanced_accuracy"] == pytest.approx(bal)
    assert scores["macro_f1"] == pytest.approx(f1)
    if len(np.unique(y)) == k:
        expected = roc_auc_score(y, proba[:, 1]) if k == 2 else roc_auc_score(y, proba, multi_class="ovr")
        assert scores["roc_auc"] == pytest.approx(100.0 * expected)


def test_epoch_scores_edge_cases_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    # a class absent from y but predicted; a class neither true nor predicted; one class only
    cases = [
        (np.array([0, 0, 1, 1, 0]), np.eye(3)[[0, 2, 1, 2, 0]] * 0.9 + 0.05),
        (np.array([0, 1, 0, 1]), np.eye(4)[[0, 1, 1, 0]] * 0.9 + 0.025),
        (np.zeros(7, dtype=int), _proba(rng, 7, 2)),
    ]
    for y, proba in cases:
        scores = epoch_scores(y, proba)
        bal, f1 = _sklearn(y, proba)
        assert scores["balanced_accuracy"] == pytest.approx(bal)
        assert scores["macro_f1"] == pytest.approx(f1)
    assert epoch_scores(np.zeros(7, dtype=int), _proba(rng, 7, 2))["roc_auc"] is None  # one class


def test_binary_roc_auc_with_ties_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p1 = rng.integers(0, 5, 300) / 4  # many ties
    proba = np.column_stack([1 - p1, p1])
    assert epoch_scores(y, proba)["roc_auc"] == pytest.approx(100.0 * roc_auc_score(y, p1))


def test_report_uses_the_same_scores() -> None:
    rng = np.random.default_rng(3)
    y, proba = rng.integers(0, 2, 50), _proba(rng, 50, 2)
    sheet = report(y, proba, ("relaxed", "anxious"))
    assert sheet["balanced_accuracy"] == pytest.approx(_sklearn(y, proba)[0])
    assert sum(map(sum, sheet["confusion_matrix"])) == 50
