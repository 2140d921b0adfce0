"""Classical baselines: scikit-learn pipelines on the same windows the neural models train on.

Each takes windows ``(n_windows, n_chans, n_times)`` in microvolts, as the engine's
:class:`~eegtrain_jupyter.data.windows.Windows` hold them (after the run's preprocessing), and ends in
a linear classifier with ``predict_proba``:

* ``bandpower_lda``: log band power per channel and band (:class:`BandPower`, Welch's method from
  :func:`scipy.signal.welch`), standardised, then shrinkage LDA.
* ``csp_lda``: MNE's common spatial patterns (:class:`mne.decoding.CSP`, log-variance of the
  components), then shrinkage LDA.
* ``tangent_space_lr``: pyriemann's covariance matrices (OAS shrinkage) mapped to the tangent
  space at their Riemannian mean, then logistic regression.

A fitted pipeline is stored with skops (:func:`dumps`, :func:`loads`), not pickle: loading refuses
every type outside scikit-learn's, numpy's and :data:`TRUSTED_TYPES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from ..config.training import CLASSICAL_MODELS

__all__ = [
    "BANDS",
    "LABELS",
    "TRUSTED_TYPES",
    "BandPower",
    "UntrustedModel",
    "build",
    "describe",
    "dumps",
    "loads",
    "n_parameters",
    "predict_proba",
]

BANDS: tuple[tuple[str, float, float], ...] = (
    ("delta", 1.0, 4.0),
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 13.0),
    ("beta", 13.0, 30.0),
    ("gamma", 30.0, 45.0),
)
"""The bands of ``bandpower_lda``: ``(name, low Hz, high Hz)``, each ``[low, high)``."""

LABELS = {
    "bandpower_lda": "log band power + LDA",
    "csp_lda": "CSP + LDA",
    "tangent_space_lr": "Riemannian tangent space + logistic regression",
}
"""Human names of the baselines."""
assert tuple(LABELS) == CLASSICAL_MODELS, "the baselines and the config's classical model names must agree"

TRUSTED_TYPES: tuple[str, ...] = (
    "eegtrain_jupyter.models.classical.BandPower",
    "mne.decoding.csp.CSP",
    "pyriemann.estimation.Covariances",
    "pyriemann.tangentspace.TangentSpace",
)
"""The types :func:`loads` trusts besides skops' defaults (scikit-learn's estimators, numpy arrays and
scalars, builtins): the pipelines' own steps. Anything else in a file is refused."""


class BandPower(TransformerMixin, BaseEstimator):
    """Log band power of every channel in every band, from Welch's periodogram.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the windows, Hz.
    bands : sequence of (str, float, float)
        ``(name, low, high)`` in Hz, each band ``[low, high)``. A band with no frequency bin below
        the Nyquist frequency at this window length is left out when fitting (``bands_``).

    Attributes
    ----------
    nperseg_ : int
        Welch segment length: one second of signal, or the whole window when shorter.
    bands_ : tuple of (str, float, float)
        The bands used.
    n_times_ : int
        The window length fitted on; other lengths are refused.
    """

    def __init__(self, sfreq: float = 200.0, bands: Sequence[tuple[str, float, float]] = BANDS):
        self.sfreq = sfreq
        self.bands = bands

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> BandPower:
        """Choose the segment length and the bands for windows like ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_chans, n_times)
        y : ignored
        """
        from scipy.signal import welch

        n_times = int(np.shape(X)[-1])
        self.n_times_ = n_times
        self.nperseg_ = min(n_times, max(8, round(float(self.sfreq))))
        freqs, _ = welch(np.zeros(n_times), fs=self.sfreq, nperseg=self.nperseg_)
        self.bands_ = tuple(
            (str(name), float(lo), float(hi))
            for name, lo, hi in self.bands
            if ((freqs >= lo) & (freqs < hi)).any()
        )
        if not self.bands_:
            raise ValueError(
                f"no band has a frequency bin at {self.sfreq:g} Hz with {n_times}-sample windows"
            )
        self.n_features_in_ = int(np.shape(X)[1])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Log10 band powers.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_chans, n_times), µV

        Returns
        -------
        ndarray, shape (n_windows, n_chans * n_bands)
            Channel-major: the bands of channel 0, then of channel 1, ...; log10 of µV².
        """
        from scipy.signal import welch

        X = np.asarray(X)
        if X.shape[-1] != self.n_times_:
            raise ValueError(f"windows of {X.shape[-1]} samples; fitted on {self.n_times_}")
        freqs, psd = welch(X, fs=self.sfreq, nperseg=self.nperseg_, axis=-1)
        df = float(freqs[1] - freqs[0])
        powers = np.stack(
            [psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) * df for _, lo, hi in self.bands_], axis=-1
        )
        # a flat channel has zero power: floor it so the log stays finite
        return np.log10(np.maximum(powers, np.finfo(np.float64).tiny)).reshape(len(X), -1)


def _lda(n_classes: int, balanced: bool) -> Any:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    priors = np.full(n_classes, 1.0 / n_classes) if balanced else None
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors)


def build(name: str, *, sfreq: float, n_chans: int, n_classes: int, class_weight: str = "none") -> Pipeline:
    """An unfitted baseline pipeline.

    Parameters
    ----------
    name : str
        One of :data:`~eegtrain_jupyter.config.training.CLASSICAL_MODELS`.
    sfreq : float
        Sampling rate of the windows, Hz.
    n_chans : int
        Channels per window (caps the number of CSP components).
    n_classes : int
        Classes in the training split (LDA's uniform priors when ``class_weight`` is balanced).
    class_weight : {"none", "balanced"}
        ``balanced``: every class counts the same (LDA: uniform priors; logistic regression:
        scikit-learn's ``class_weight="balanced"``).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``fit(X, y)`` on windows ``(n, n_chans, n_times)`` µV, labels ``(n,)``.
    """
    from sklearn.preprocessing import StandardScaler

    balanced = class_weight == "balanced"
    if name == "bandpower_lda":
        return Pipeline(
            [("bandpower", BandPower(sfreq)), ("scale", StandardScaler()), ("lda", _lda(n_classes, balanced))]
        )
    if name == "csp_lda":
        from mne.decoding import CSP

        csp = CSP(n_components=min(6, n_chans), reg="ledoit_wolf", log=True)
        return Pipeline([("csp", csp), ("lda", _lda(n_classes, balanced))])
    if name == "tangent_space_lr":
        from pyriemann.estimation import Covariances
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression

        return Pipeline(
            [
                ("covariances", Covariances(estimator="oas")),
                ("tangent_space", TangentSpace(metric="riemann")),
                ("lr", LogisticRegression(max_iter=1000, class_weight="balanced" if balanced else None)),
            ]
        )
    raise ValueError(f"unknown classical model {name!r}; choose one of {', '.join(CLASSICAL_MODELS)}")


def fit(pipeline: Pipeline, X: np.ndarray, y: np.ndarray) -> Pipeline:
    """``pipeline.fit(X, y)`` with MNE's progress messages silenced (CSP logs every fit).

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times), µV
    y : ndarray, shape (n_windows,), int
    """
    import mne

    with mne.utils.use_log_level("error"):
        return pipeline.fit(np.asarray(X, dtype=np.float64), y)


def predict_proba(pipeline: Pipeline, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities of every class, shape ``(n_windows, n_classes)``.

    A class the pipeline never saw in training (absent from its training split) gets probability 0.

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_chans, n_times), µV
    n_classes : int
    """
    out = np.zeros((len(X), n_classes))
    if len(X):
        import mne

        with mne.utils.use_log_level("error"):
            proba = pipeline.predict_proba(np.asarray(X, dtype=np.float64))
        out[:, np.asarray(pipeline.classes_, dtype=np.int64)] = proba
    return out


def n_parameters(pipeline: Pipeline) -> int:
    """The fitted classifier's learned coefficients (``coef_`` and ``intercept_``); 0 before fitting."""
    last = pipeline.steps[-1][1]
    return sum(int(np.size(getattr(last, name, ()))) for name in ("coef_", "intercept_"))


def describe(pipeline: Pipeline) -> str:
    """The steps, e.g. ``BandPower → StandardScaler → LinearDiscriminantAnalysis``."""
    return " → ".join(type(step).__name__ for _, step in pipeline.steps)


class UntrustedModel(ValueError):
    """A stored pipeline holds a type outside the trusted ones (the names are in ``types``)."""

    def __init__(self, types: Sequence[str]):
        self.types = list(types)
        super().__init__(f"the stored pipeline holds types that are not trusted: {', '.join(self.types)}")


def dumps(pipeline: Pipeline) -> bytes:
    """The fitted pipeline as skops bytes (no pickle)."""
    import skops.io

    return bytes(skops.io.dumps(pipeline))


def loads(data: bytes) -> Pipeline:
    """A pipeline from :func:`dumps`' bytes, refusing any type outside :data:`TRUSTED_TYPES` and skops'
    defaults (:class:`UntrustedModel`)."""
    import skops.io

    untrusted = [t for t in skops.io.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
    if untrusted:
        raise UntrustedModel(untrusted)
    pipeline = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    if not isinstance(pipeline, Pipeline):
        raise UntrustedModel([type(pipeline).__module__ + "." + type(pipeline).__qualname__])
    return pipeline
