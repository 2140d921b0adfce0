"""Honest evaluation benchmark: LaBraM vs a band-power + LDA baseline on held-out
synthetic subjects, the same subject-wise split for both, scored once on the test split.

    python -m bench.honest [--preset default|fine-tune|quick] [--n-per-class N]
    python -m bench.honest --recipe [--n-per-class N] [--epochs E]

Prints one markdown row per model: test accuracy, balanced accuracy, macro F1, ROC AUC.
``--recipe`` trains the ``fine-tune`` preset three times on the same data and split: recipe off
(constant lr, no label smoothing, no layer decay), with :data:`RECIPE`, and with :data:`RECIPE`
plus :data:`AUGMENTATION`; ``python -m bench`` rows 13-15 are this comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.signal import welch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eegtrain_jupyter.config.training import TrainingConfig, parse_config
from eegtrain_jupyter.data import synthetic
from eegtrain_jupyter.data.splits import Split, split_for
from eegtrain_jupyter.data.windows import Windows
from eegtrain_jupyter.engine import evaluation
from eegtrain_jupyter.engine.training import train

BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))
"""theta, alpha, beta: 8 channels x 3 bands = 24 features."""

RECIPE_OFF = {"lr_schedule": "constant", "label_smoothing": 0.0, "layer_decay": 1.0}
"""The ``fine-tune`` preset as shipped (the config's defaults)."""
RECIPE = {"lr_schedule": "warmup_cosine", "warmup_epochs": 1, "label_smoothing": 0.1, "layer_decay": 0.65}
"""LaBraM's fine-tuning recipe (its paper: warmup + cosine, smoothing 0.1, layer decay 0.65)."""
AUGMENTATION = {
    "augmentation": ["sign_flip", "time_reverse", "ft_surrogate", "channels_dropout"],
    "augmentation_p": 0.5,
}
"""Label-preserving for power-spectrum classes: each keeps every channel's power spectrum (the
dropout zeroes a channel)."""
VARIANTS = {
    "recipe off": RECIPE_OFF,
    "recipe": RECIPE,
    "recipe + augmentation": {**RECIPE, **AUGMENTATION},
}


def bandpower(X: np.ndarray, sfreq: float) -> np.ndarray:
    """Log band power per channel and band; ``(n, n_chans, n_times)`` -> ``(n, n_chans * 3)``."""
    freqs, psd = welch(X, fs=sfreq, nperseg=int(sfreq), axis=-1)
    feats = [np.log(psd[..., (freqs >= lo) & (freqs < hi)].mean(-1)) for lo, hi in BANDS]
    return np.concatenate(feats, axis=1)


def setup(config: TrainingConfig, n_per_class: int) -> tuple[Windows, Split]:
    """The synthetic windows and the split every model of one comparison uses."""
    data = synthetic.generate(n_per_class, seed=config.seed, n_subjects=config.data.n_subjects)
    split = split_for(data, config)
    return data, split


def lda(data: Windows, split: Split) -> dict[str, Any]:
    """Band power + LDA fitted on train + validation (it has no epochs to choose), scored on test."""
    t0 = time.perf_counter()
    fit = np.concatenate([split.train, split.val])
    model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis())
    F = bandpower(np.asarray(data.X, np.float64), data.sfreq)
    model.fit(F[fit], data.y[fit])
    report = evaluation.report(data.y[split.test], model.predict_proba(F[split.test]), data.class_names)
    return {"report": report, "seconds": time.perf_counter() - t0}


def labram(config: TrainingConfig, data: Windows) -> dict[str, Any]:
    """One ``engine.train`` run; its test report (best validation epoch's weights)."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = train(config, data, out)
        seconds = time.perf_counter() - t0
    assert result.test_report is not None
    return {
        "report": result.test_report,
        "seconds": seconds,
        "epochs": result.epochs_completed,
        "precision": result.precision,
    }


def compare_recipe(
    n_per_class: int, epochs: int, log: Callable[[str], None] = print, **overrides: Any
) -> dict[str, Any]:
    """The ``fine-tune`` preset under each of :data:`VARIANTS`, and the LDA, on one data set and split."""
    base = {
        "device": "cpu",
        "test_split": 0.2,
        "split_by": "subject",
        "n_epochs": epochs,
        "n_samples_per_class": max(100, n_per_class),  # the data below has n_per_class
        **overrides,
    }
    config = parse_config(base, preset="fine-tune")
    data, split = setup(config, n_per_class)
    out: dict[str, Any] = {"split": split.describe(), "n_per_class": n_per_class, "epochs": epochs}
    out["lda"] = lda(data, split)
    for name, variant in VARIANTS.items():
        log(f"recipe: fine-tune, {name}, 2x{n_per_class} windows, {epochs} epochs")
        out[name] = labram(parse_config({**base, **variant}, preset="fine-tune"), data)
    return out


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a report worth keeping in the raw results."""
    keys = ("n", "accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "epoch")
    return {k: r["report"][k] for k in keys if k in r["report"]} | {"seconds": r["seconds"]}


def brief(results: dict[str, Any]) -> dict[str, Any]:
    return {k: (_brief(v) if isinstance(v, dict) else v) for k, v in results.items()}


def table(results: dict[str, Any]) -> str:
    lines = [
        "| model | test acc | test balanced acc | test macro F1 | test ROC AUC | time |",
        "|---|---|---|---|---|---|",
    ]
    for name in (*VARIANTS, "lda"):
        r = results[name]
        rep = r["report"]
        label = "band power (24) + LDA" if name == "lda" else f"LaBraM `fine-tune`, {name}"
        if name != "lda":
            label += f" (best epoch {rep['epoch']} of {r['epochs']})"
        lines.append(
            f"| {label} | {rep['accuracy']:.1f} % | {rep['balanced_accuracy']:.1f} % | "
            f"{rep['macro_f1']:.1f} % | {rep['roc_auc']:.1f} % | {r['seconds']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--n-per-class", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--recipe", action="store_true", help="fine-tune: recipe off / on / + augmentation")
    args = parser.parse_args()
    if args.recipe:
        results = compare_recipe(args.n_per_class, args.epochs or 10)
        print(f"synthetic, 2x{args.n_per_class} windows, {results['split']}")
        print(table(results))
        return
    overrides = {
        "n_samples_per_class": args.n_per_class,
        "device": "cpu",
        "test_split": 0.2,
        "split_by": "subject",
    }
    if args.epochs:
        overrides["n_epochs"] = args.epochs
    config = parse_config(overrides, preset=args.preset)
    data, split = setup(config, config.n_samples_per_class)
    print(f"synthetic, {len(data)} windows, {split.describe()}")
    base = lda(data, split)
    result = labram(config, data)
    rep = result["report"]
    print("| model | test acc | test balanced acc | test macro F1 | test ROC AUC | time |")
    print("|---|---|---|---|---|---|")
    for name, r in (
        (f"LaBraM `{args.preset}` (epoch {rep['epoch']} of {result['epochs']})", result),
        ("band power (24) + LDA", base),
    ):
        rep = r["report"]
        print(
            f"| {name} | {rep['accuracy']:.1f} % | {rep['balanced_accuracy']:.1f} % | {rep['macro_f1']:.1f} % | "
            f"{rep['roc_auc']:.1f} % | {r['seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
