"""Fold statistics: one model's spread and two models compared pair by pair, checked against scipy
(and a hand enumeration of every sign flip) on fixed inputs, and the verdict in words."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from eegtrain_jupyter.engine.statistics import MIN_FOLDS_WILCOXON, compare_paired, summarize

EEGNET = [71.0, 64.5, 80.2, 58.9, 75.3, 69.8, 62.4, 77.7, 66.1, 73.0]
TANGENT = [73.5, 63.0, 84.0, 61.2, 77.1, 72.9, 66.0, 79.5, 70.3, 73.8]


def test_summary_matches_scipy():
    s = summarize(EEGNET, "EEGNet")
    x = np.array(EEGNET)
    assert s.n == 10 and s.mean == pytest.approx(x.mean()) and s.sd == pytest.approx(x.std(ddof=1))
    low, high = stats.t.interval(0.95, 9, loc=x.mean(), scale=stats.sem(x))
    assert (s.ci_low, s.ci_high) == pytest.approx((low, high))
    assert s.sentence == (
        f"EEGNet: {x.mean():.1f} ± {x.std(ddof=1):.1f} % balanced accuracy "
        f"(mean ± SD; 95 % CI {low:.1f} … {high:.1f}) over 10 folds"
    )
    assert summarize(EEGNET, confidence=0.9).ci_high < s.ci_high


def test_ten_paired_folds_use_wilcoxon_and_a_t_interval_of_the_differences():
    c = compare_paired(EEGNET, TANGENT, "EEGNet", "tangent_space_lr")
    assert c.test == "wilcoxon" and c.n == 10
    assert c.p_value == pytest.approx(stats.wilcoxon(EEGNET, TANGENT).pvalue)
    ci = stats.ttest_rel(EEGNET, TANGENT).confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    d = np.subtract(EEGNET, TANGENT)
    assert c.mean_difference == pytest.approx(d.mean()) and c.differences == pytest.approx(tuple(d))
    assert c.significant  # tangent space wins 9 of 10 folds
    assert c.verdict == (
        f"EEGNet vs tangent_space_lr: −{-d.mean():.1f} points balanced accuracy "
        f"(95 % CI −{-ci.low:.1f} … −{-ci.high:.1f}), p = {c.p_value:.3g} over 10 folds "
        "(Wilcoxon signed-rank): tangent_space_lr is better than EEGNet"
    )


def test_no_evidence_is_said_plainly():
    rng = np.random.default_rng(7)
    a = 70 + rng.normal(0, 3, 10)
    b = a + rng.normal(0, 3, 10)
    c = compare_paired(a, b, "EEGNet", "csp_lda")
    assert not c.significant and c.p_value == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert c.verdict.endswith("(Wilcoxon signed-rank): no evidence of a difference")
    assert c.ci_low < 0 < c.ci_high


def _sign_flip_p(d):
    """The exact two-sided sign-flip p-value, by enumeration."""
    observed = abs(np.mean(d))
    flips = [abs(np.mean(np.multiply(d, signs))) for signs in itertools.product((1, -1), repeat=len(d))]
    return np.mean([f >= observed - 1e-12 for f in flips])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([70.0, 65.0, 80.0, 60.0, 75.0], [68.0, 66.0, 77.0, 57.0, 71.0]),
        ([70.0, 65.0, 80.0], [60.0, 66.0, 79.0]),
        ([50.0, 52.0, 51.0, 49.0, 53.0], [55.0, 58.0, 56.5, 53.0, 60.0]),
    ],
)
def test_fewer_than_six_folds_use_the_exact_permutation_test(a, b):
    c = compare_paired(a, b, "A", "B")
    assert len(a) < MIN_FOLDS_WILCOXON and c.test == "permutation"
    assert c.p_value == pytest.approx(_sign_flip_p(np.subtract(a, b)))
    assert c.min_p == 2 / 2 ** len(a)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    # five folds can never reach p < 0.05 with a sign-flip test: the verdict says why
    assert not c.significant and "too few folds for the test to show a difference" in c.verdict
    assert c.verdict.endswith(f"(the smallest possible p is {c.min_p:.3g})")
    excludes_zero = c.ci_low > 0 or c.ci_high < 0
    assert ("the interval leaves out no difference" in c.verdict) == excludes_zero
    assert ("no evidence of a difference" in c.verdict) == (not excludes_zero)


def test_an_interval_that_leaves_out_zero_is_said_even_when_the_exact_test_cannot_decide():
    a, b = [70.0, 72.0, 71.0, 74.0, 73.0], [60.0, 61.0, 63.0, 62.0, 60.5]
    c = compare_paired(a, b, "A", "B")
    assert c.test == "permutation" and c.p_value == pytest.approx(0.0625) and c.ci_low > 0
    assert c.verdict.endswith(
        ": the interval leaves out no difference (A ahead), but too few folds for the test to show "
        "a difference (the smallest possible p is 0.0625)"
    )


def test_the_first_fold_count_with_wilcoxon_can_show_a_difference():
    a = [60.0, 61.0, 62.0, 63.0, 64.0, 65.0]
    b = [55.0, 57.5, 56.0, 58.5, 60.0, 61.0]
    c = compare_paired(a, b, "bandpower_lda", "eegnet")
    assert c.test == "wilcoxon" and c.p_value == pytest.approx(2 / 64) and c.significant
    assert c.verdict.endswith(": bandpower_lda is better than eegnet")


def test_identical_scores_and_bad_input():
    c = compare_paired(EEGNET, EEGNET)
    assert c.p_value == 1.0 and c.mean_difference == 0 and c.verdict.startswith("A vs B: 0.0 points")
    with pytest.raises(ValueError, match="same folds"):
        compare_paired(EEGNET, TANGENT[:9])
    with pytest.raises(ValueError, match="at least 2 folds"):
        summarize([70.0])
    with pytest.raises(ValueError, match="finite"):
        compare_paired([70.0, float("nan"), 60.0], [1.0, 2.0, 3.0])
