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


# -- the test report: the field's scores, each against scikit-learn on fixed inputs ------------------
Y3 = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
P3 = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.5, 0.4, 0.1],
        [0.2, 0.5, 0.3],
        [0.6, 0.1, 0.3],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.4, 0.3, 0.3],
        [0.1, 0.1, 0.8],
        [0.2, 0.3, 0.5],
        [0.3, 0.2, 0.5],
        [0.1, 0.6, 0.3],
        [0.2, 0.2, 0.6],
    ]
)
Y2 = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
P2_POS = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.6, 0.7, 0.3, 0.9, 0.65])


def test_report_matches_sklearn_on_three_classes() -> None:
    from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

    sheet = report(Y3, P3, ("a", "b", "c"))
    pred = P3.argmax(1)
    assert pred.tolist() == [0, 0, 1, 0, 1, 1, 0, 2, 2, 2, 1, 2]
    assert sheet["balanced_accuracy"] == pytest.approx(100 * balanced_accuracy_score(Y3, pred))
    assert sheet["balanced_accuracy"] == pytest.approx(100 * (3 / 4 + 2 / 3 + 4 / 5) / 3)  # by hand
    assert sheet["cohen_kappa"] == pytest.approx(cohen_kappa_score(Y3, pred))
    assert sheet["macro_f1"] == pytest.approx(100 * f1_score(Y3, pred, average="macro"))
    assert sheet["weighted_f1"] == pytest.approx(100 * f1_score(Y3, pred, average="weighted"))
    assert sheet["weighted_f1"] != pytest.approx(sheet["macro_f1"])  # unequal supports: they differ
    assert sheet["roc_auc"] == pytest.approx(100 * roc_auc_score(Y3, P3, multi_class="ovr"))
    assert sheet["average_precision"] is None  # AUC-PR: binary tasks only
    p, r, f, s = precision_recall_fscore_support(Y3, pred)
    for i, name in enumerate("abc"):
        scores = sheet["per_class"][name]
        assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx(
            (100 * p[i], 100 * r[i], 100 * f[i])
        )
        assert scores["support"] == s[i]
        assert scores["roc_auc"] == pytest.approx(100 * roc_auc_score(i == Y3, P3[:, i]))


def test_report_matches_sklearn_on_a_binary_task() -> None:
    from sklearn.metrics import average_precision_score, cohen_kappa_score

    proba = np.column_stack([1 - P2_POS, P2_POS])
    sheet = report(Y2, proba, ("relaxed", "anxious"))
    pred = proba.argmax(1)
    assert sheet["cohen_kappa"] == pytest.approx(cohen_kappa_score(Y2, pred))
    assert sheet["roc_auc"] == pytest.approx(100 * roc_auc_score(Y2, P2_POS))
    assert sheet["average_precision"] == pytest.approx(100 * average_precision_score(Y2, P2_POS))
    assert sheet["per_class"]["anxious"]["roc_auc"] == pytest.approx(sheet["roc_auc"])
    assert sheet["per_class"]["relaxed"]["roc_auc"] == pytest.approx(sheet["roc_auc"])  # 1 - p mirrors it


def test_report_scores_left_undefined_are_none_and_the_report_fits_its_schema() -> None:
    from eegtrain_jupyter import schemas

    y = np.zeros(6, dtype=int)  # one class present: ROC AUC and AUC-PR undefined
    proba = np.column_stack([np.full(6, 0.8), np.full(6, 0.2)])  # every prediction right
    sheet = report(y, proba, ("relaxed", "anxious"))
    assert sheet["roc_auc"] is None and sheet["average_precision"] is None
    assert (
        sheet["per_class"]["relaxed"]["roc_auc"] is None and sheet["per_class"]["anxious"]["roc_auc"] is None
    )
    assert sheet["cohen_kappa"] is None  # one label on both sides: kappa is 0/0
    schemas.TestReport.model_validate({**sheet, "epoch": 1, "split": "by window"})
    # a report recorded before these scores existed still reads
    old = {k: v for k, v in sheet.items() if k not in ("cohen_kappa", "weighted_f1", "average_precision")}
    old["per_class"] = {
        n: {k: v for k, v in c.items() if k != "roc_auc"} for n, c in old["per_class"].items()
    }
    assert schemas.TestReport.model_validate({**old, "epoch": 1, "split": "by window"}).cohen_kappa is None
