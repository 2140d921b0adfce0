"""Any eegtrain model as a scikit-learn classifier: :class:`EEGTrainClassifier`.

The estimator takes windows ``(n_windows, n_chans, n_times)`` in microvolts (numpy; what MOABB's
paradigms and ``mne.Epochs.get_data(units="uV")`` give; ``scale`` converts other units) and trains through the same engine as a run
(:func:`eegtrain_jupyter.engine.training.train`, in this process, no files), so scikit-learn's
``clone``, ``cross_val_score``, ``GridSearchCV`` and MOABB's evaluations work on it::

    from sklearn.model_selection import cross_val_score
    from eegtrain_jupyter.sklearn import EEGTrainClassifier

    clf = EEGTrainClassifier(model="tangent_space_lr", sfreq=128.0, ch_names=["C3", "Cz", "C4"])
    cross_val_score(clf, X, y, cv=5, scoring="balanced_accuracy")

Its parameters are the training config's fields (:class:`~eegtrain_jupyter.config.TrainingConfig`)
that make sense for arrays handed in (not ``data``, ``save_dir``, ``n_samples_per_class`` or the
several-process fields), plus the arrays' ``sfreq`` and ``ch_names``. A parameter left ``None``
takes the trainer's default, or the inert value for a model it does not apply to (so
``EEGTrainClassifier(model="csp_lda")`` is valid as it is). ``test_split`` defaults to 0: the
caller's cross-validation is the test; ``fit`` still holds out ``val_split`` of its windows to pick
the best epoch.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .config.training import TrainingConfig, parse_config
from .data.windows import Windows
from .engine.events import EpochResult, TrainingListener, TrainingResult
from .engine.training import train
from .serving.predict import TrainedModel

__all__ = ["CONFIG_PARAMS", "EEGTrainClassifier"]

_NOT_PARAMS = ("data", "save_dir", "n_samples_per_class", "devices", "nnodes", "node_rank", "rdzv_endpoint")
CONFIG_PARAMS: tuple[str, ...] = tuple(
    name for name in TrainingConfig.model_fields if name not in _NOT_PARAMS
)
"""The config fields :class:`EEGTrainClassifier` takes as parameters."""
_SIGNAL_PARAMS = ("sfreq", "ch_names", "scale")


class _Best(TrainingListener):
    """Keeps the latest best checkpoint (the engine's snapshot)."""

    def __init__(self) -> None:
        self.checkpoint: dict[str, Any] | None = None

    def on_best(self, result: EpochResult, checkpoint: dict[str, Any]) -> None:
        self.checkpoint = checkpoint


class EEGTrainClassifier(ClassifierMixin, BaseEstimator):
    """An eegtrain model (any ``model``: LaBraM, a braindecode network or a classical baseline) with
    scikit-learn's estimator interface.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the windows, Hz (required to fit).
    ch_names : sequence of str, optional
        Names of the windows' channels, in order; default ``EEG001``, ``EEG002``, ... (LaBraM
        needs 10-20 names).
    scale : float, optional
        Factor that turns ``X`` into microvolts, applied in ``fit`` and ``predict``: ``1e6`` for
        windows in volts (``mne.Epochs.get_data()``); default 1 (``X`` in µV, as MOABB's paradigms
        give it).
    **config
        Training config fields (:data:`CONFIG_PARAMS`), e.g. ``model="eegnet"``, ``n_epochs=5``;
        unset ones take the trainer's default (``test_split``: 0).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels seen in ``fit``, sorted; column ``i`` of :meth:`predict_proba` is ``classes_[i]``.
    model_ : TrainedModel
        The best epoch's model (by validation accuracy), as :func:`eegtrain_jupyter.load_model` gives.
    result_ : TrainingResult
        The run's outcome: history, best epoch, device, precision.
    config_ : TrainingConfig
        The validated config the model was trained with.
    """

    def __init__(
        self,
        *,
        sfreq: float | None = None,
        ch_names: Sequence[str] | None = None,
        scale: float | None = None,
        **config: Any,
    ):
        unknown = sorted(set(config) - set(CONFIG_PARAMS))
        if unknown:
            raise TypeError(
                f"EEGTrainClassifier got unknown parameters {', '.join(unknown)}; "
                f"it takes {', '.join(_SIGNAL_PARAMS)} and {', '.join(CONFIG_PARAMS)}"
            )
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.scale = scale
        for name in CONFIG_PARAMS:
            setattr(self, name, config.get(name))

    def training_config(self) -> TrainingConfig:
        """The config these parameters give (``None`` left out; ``test_split`` 0 unless set).

        Raises
        ------
        eegtrain_jupyter.errors.ConfigError
            A bad value, naming the field.
        """
        values = {name: getattr(self, name) for name in CONFIG_PARAMS if getattr(self, name) is not None}
        values.setdefault("test_split", 0.0)
        return parse_config(values)

    def fit(self, X: Any, y: Any, subjects: Sequence[Any] | None = None) -> EEGTrainClassifier:
        """Train on windows ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_chans, n_times), µV
        y : array-like, shape (n_windows,)
            Any labels (strings, integers ...).
        subjects : sequence, shape (n_windows,), optional
            The subject of each window: then the validation split holds out whole subjects
            (``split_by``).

        Returns
        -------
        self
        """
        if self.sfreq is None:
            raise ValueError("EEGTrainClassifier needs sfreq (the windows' sampling rate, Hz) to fit")
        config = self.training_config()
        windows = self._microvolts(X)
        if windows.ndim != 3:
            raise ValueError(f"X must be 3-D (n_windows, n_chans, n_times), not shape {windows.shape}")
        labels = np.asarray(y)
        if len(labels) != len(windows):
            raise ValueError(f"{len(labels)} labels for {len(windows)} windows")
        self.classes_, codes = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("fit needs windows of at least 2 classes")
        n_chans = windows.shape[1]
        names = [f"EEG{i + 1:03d}" for i in range(n_chans)] if self.ch_names is None else list(self.ch_names)
        if len(names) != n_chans:
            raise ValueError(f"{len(names)} ch_names for {n_chans} channels")
        data = Windows(
            windows,
            codes.astype(np.int64),
            tuple(names),
            float(self.sfreq),
            tuple(str(c) for c in self.classes_),
            None if subjects is None else np.asarray([str(s) for s in subjects]),
        )
        best = _Best()
        result: TrainingResult = train(config, data, listeners=[best])
        if best.checkpoint is None:
            raise RuntimeError(f"training ended without a model (stopped: {result.stopped})")
        import torch

        with tempfile.TemporaryDirectory(prefix="eegtrain-sklearn-") as tmp:
            path = Path(tmp) / "model.pth"
            torch.save(best.checkpoint, path)
            self.model_ = TrainedModel.from_checkpoint(path)
        self.model_.path = None  # the file was only the way back in
        self.result_, self.config_ = result, config
        self.n_features_in_ = n_chans
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_windows, n_classes)``, columns in :attr:`classes_` order."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._microvolts(X))

    def _microvolts(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64 if self.scale not in (None, 1) else np.float32)
        if self.scale not in (None, 1):
            X = X * float(self.scale)
        return np.ascontiguousarray(X, dtype=np.float32)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each window, shape ``(n_windows,)``."""
        return self.classes_[self.predict_proba(X).argmax(1)]


# scikit-learn reads an estimator's parameters (get_params, clone, repr) from its __init__ signature:
# state the keywords __init__ takes, each defaulting to None
EEGTrainClassifier.__init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
            for name in (*_SIGNAL_PARAMS, *CONFIG_PARAMS)
        ),
    ]
)
