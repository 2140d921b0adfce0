"""Honest evaluation benchmark (issue 11): LaBraM vs a band-power + LDA baseline on held-out
synthetic subjects, the same subject-wise split for both, scored once on the test split.

    python -m bench.honest [--preset default|fine-tune|quick] [--n-per-class N]

Prints one markdown row per model: test accuracy, balanced accuracy, macro F1, ROC AUC.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from scipy.signal import welch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eegtrain_jupyter import evaluation, synthetic
from eegtrain_jupyter.config import parse_config
from eegtrain_jupyter.engine import train
from eegtrain_jupyter.splits import split_windows

BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))
"""theta, alpha, beta: 8 channels x 3 bands = 24 features."""


def bandpower(X: np.ndarray, sfreq: float) -> np.ndarray:
    """Log band power per channel and band; ``(n, n_chans, n_times)`` -> ``(n, n_chans * 3)``."""
    freqs, psd = welch(X, fs=sfreq, nperseg=int(sfreq), axis=-1)
    feats = [np.log(psd[..., (freqs >= lo) & (freqs < hi)].mean(-1)) for lo, hi in BANDS]
    return np.concatenate(feats, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--n-per-class", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    overrides = {
        "n_samples_per_class": args.n_per_class,
        "device": "cpu",
        "test_split": 0.2,
        "split_by": "subject",
    }
    if args.epochs:
        overrides["n_epochs"] = args.epochs
    config = parse_config(overrides, preset=args.preset)
    data = synthetic.generate(config.n_samples_per_class, seed=config.seed, n_subjects=config.data.n_subjects)
    split = split_windows(
        data,
        val_split=config.val_split,
        test_split=config.test_split,
        split_by=config.split_by,
        seed=config.seed,
    )
    print(f"synthetic, {len(data)} windows, {split.describe()}")
    t0 = time.perf_counter()
    fit = np.concatenate([split.train, split.val])  # the baseline has no epochs to choose
    lda = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis())
    F = bandpower(np.asarray(data.X, np.float64), data.sfreq)
    lda.fit(F[fit], data.y[fit])
    base = evaluation.report(data.y[split.test], lda.predict_proba(F[split.test]), data.class_names)
    t_lda = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = train(config, data, out)
        t_labram = time.perf_counter() - t0
    rep = result.test_report
    assert rep is not None
    print("| model | test acc | test balanced acc | test macro F1 | test ROC AUC | time |")
    print("|---|---|---|---|---|---|")
    for name, r, t in (
        (f"LaBraM `{args.preset}` (epoch {rep['epoch']} of {result.epochs_completed})", rep, t_labram),
        ("band power (24) + LDA", base, t_lda),
    ):
        print(
            f"| {name} | {r['accuracy']:.1f} % | {r['balanced_accuracy']:.1f} % | {r['macro_f1']:.1f} % | "
            f"{r['roc_auc']:.1f} % | {t:.1f} s |"
        )


if __name__ == "__main__":
    main()
