"""Scores over folds, in words: one model's mean with its spread, and two models compared fold by fold.

Scores are per fold (e.g. the test report's ``balanced_accuracy`` of each cross-validation fold), in
percent, so differences are in points. Two models are compared *paired*: fold ``i`` of both was
trained and tested on the same windows, so the comparison looks at the per-fold differences
``a[i] - b[i]``:

* the mean difference with a 95 % t-interval over the folds (``scipy.stats.t``);
* a two-sided p-value: Wilcoxon's signed-rank test (``scipy.stats.wilcoxon``) with 6 folds or more;
  with fewer, the exact paired permutation test (``scipy.stats.permutation_test``: the mean
  difference under all ``2**n`` sign flips), since a rank test on so few folds says little;
* a verdict sentence that says what the numbers allow, e.g. ``EEGNet vs tangent_space_lr: −1.4
  points balanced accuracy (95 % CI −4.1 … +1.3), p = 0.44 over 10 folds (Wilcoxon signed-rank):
  no evidence of a difference``.

A p-value at or above ``alpha`` is no evidence of a difference, not evidence of equality: the
interval says how large a difference the folds still allow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["MIN_FOLDS_WILCOXON", "PairedComparison", "Summary", "compare_paired", "summarize"]

MIN_FOLDS_WILCOXON = 6
"""Fewest folds for the Wilcoxon signed-rank test; fewer get the exact permutation test."""


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _signed(value: float, digits: int = 1) -> str:
    """``+1.3``, ``−4.1``; a value that rounds to zero is ``0.0`` (no sign)."""
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else _minus(text)


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def _scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"{name}: needs the scores of at least 2 folds, as a flat sequence")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: every fold score must be a finite number")
    return array


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    from scipy import stats

    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * float(values.std(ddof=1))
    half /= math.sqrt(len(values))
    return mean - half, mean + half


@dataclass(frozen=True)
class Summary:
    """One model's scores across folds.

    Attributes
    ----------
    name, metric : str
        Who and what, for the sentence.
    n : int
        Folds.
    mean, sd : float
        Mean and sample standard deviation (``ddof=1``) over the folds.
    ci_low, ci_high : float
        The ``confidence`` t-interval of the mean.
    confidence : float
    """

    name: str
    metric: str
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95

    @property
    def sentence(self) -> str:
        """E.g. ``EEGNet: 71.2 ± 4.3 % balanced accuracy (mean ± SD; 95 % CI 68.1 … 74.3) over 10 folds``."""
        level = f"{100 * self.confidence:g} %"
        return (
            f"{self.name}: {self.mean:.1f} ± {self.sd:.1f} % {self.metric} "
            f"(mean ± SD; {level} CI {self.ci_low:.1f} … {self.ci_high:.1f}) over {self.n} folds"
        )


def summarize(
    scores: Sequence[float] | np.ndarray,
    name: str = "model",
    metric: str = "balanced accuracy",
    confidence: float = 0.95,
) -> Summary:
    """Mean ± SD and the t-interval of one model's per-fold scores.

    Parameters
    ----------
    scores : sequence of float, shape (n_folds,)
        One score per fold, percent; at least 2 folds.
    name, metric : str
        For :attr:`Summary.sentence`.
    confidence : float
        Level of the interval.

    Returns
    -------
    Summary
    """
    values = _scores(scores, name)
    low, high = _t_interval(values, confidence)
    return Summary(
        name, metric, len(values), float(values.mean()), float(values.std(ddof=1)), low, high, confidence
    )


@dataclass(frozen=True)
class PairedComparison:
    """Two models' per-fold scores compared pair by pair (``a - b``, points).

    Attributes
    ----------
    a, b, metric : str
        The models and the score.
    n : int
        Folds.
    differences : tuple of float, length n
        ``a[i] - b[i]``.
    mean_difference : float
    ci_low, ci_high : float
        The t-interval of the mean difference.
    p_value : float
        Two-sided.
    test : {"wilcoxon", "permutation"}
        Wilcoxon signed-rank (``n >= 6``) or the exact sign-flip permutation test (``n < 6``).
    min_p : float
        The smallest p-value this test can give with these folds (a permutation test over ``n`` folds:
        ``2 / 2**n``), to tell "no difference seen" from "too few folds to see one".
    alpha : float
        The level the verdict uses.
    confidence : float
    """

    a: str
    b: str
    metric: str
    n: int
    differences: tuple[float, ...]
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: Literal["wilcoxon", "permutation"]
    min_p: float
    alpha: float = 0.05
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        """``p_value < alpha``."""
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """The comparison in one sentence (see the module's docstring)."""
        test = "Wilcoxon signed-rank" if self.test == "wilcoxon" else "exact paired permutation"
        numbers = (
            f"{self.a} vs {self.b}: {_signed(self.mean_difference)} points {self.metric} "
            f"({100 * self.confidence:g} % CI {_signed(self.ci_low)} … {_signed(self.ci_high)}), "
            f"{_p(self.p_value)} over {self.n} folds ({test})"
        )
        if self.significant:
            better, worse = (self.a, self.b) if self.mean_difference > 0 else (self.b, self.a)
            return f"{numbers}: {better} is better than {worse}"
        if self.min_p >= self.alpha:
            few = f"too few folds for the test to show a difference (the smallest possible p is {self.min_p:.3g})"
            if self.ci_low > 0 or self.ci_high < 0:  # the t-interval leaves out 0; the exact test cannot
                better = self.a if self.mean_difference > 0 else self.b
                return f"{numbers}: the interval leaves out no difference ({better} ahead), but {few}"
            return f"{numbers}: no evidence of a difference; {few}"
        return f"{numbers}: no evidence of a difference"


def compare_paired(
    a_scores: Sequence[float] | np.ndarray,
    b_scores: Sequence[float] | np.ndarray,
    a: str = "A",
    b: str = "B",
    metric: str = "balanced accuracy",
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare two models on the same folds.

    Parameters
    ----------
    a_scores, b_scores : sequence of float, shape (n_folds,)
        Per-fold scores (percent) of models ``a`` and ``b``, fold ``i`` the same split for both;
        at least 2 folds.
    a, b, metric : str
        For the verdict.
    alpha : float
        Level below which the p-value counts as evidence of a difference.
    confidence : float
        Level of the interval of the mean difference.

    Returns
    -------
    PairedComparison
    """
    from scipy import stats

    x, y = _scores(a_scores, a), _scores(b_scores, b)
    if len(x) != len(y):
        raise ValueError(f"paired scores need the same folds: {len(x)} for {a}, {len(y)} for {b}")
    d = x - y
    n = len(d)
    low, high = _t_interval(d, confidence)
    test: Literal["wilcoxon", "permutation"] = "wilcoxon" if n >= MIN_FOLDS_WILCOXON else "permutation"
    if not np.any(d):  # identical on every fold: nothing to test
        p = 1.0
    elif test == "wilcoxon":
        p = float(stats.wilcoxon(x, y).pvalue)
    else:
        p = float(
            stats.permutation_test(
                (d,),
                lambda s, axis: np.mean(s, axis=axis),
                permutation_type="samples",  # one sample: the signs of the differences are permuted
                n_resamples=np.inf,  # all 2**n sign flips: exact
                alternative="two-sided",
                vectorized=True,
            ).pvalue
        )
    min_p = 2.0 / 2**n  # every fold's difference of one sign (exact tests, no ties)
    return PairedComparison(
        a,
        b,
        metric,
        n,
        tuple(float(v) for v in d),
        float(d.mean()),
        low,
        high,
        p,
        test,
        min_p,
        alpha,
        confidence,
    )
