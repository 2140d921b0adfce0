"""Use a trained model: :class:`TrainedModel`, scikit-learn style (:func:`eegtrain_jupyter.load_model` finds
one by path or run id).

The model takes what a user has at hand and repeats the training's preprocessing on it:

* a numpy array of windows, shape ``(n_windows, n_chans, n_times)`` in microvolts, channels in the
  model's order (or in any order when ``ch_names`` names them);
* :class:`mne.Epochs` or a continuous :class:`mne.io.Raw` (windowed as in training): channels
  renamed/picked/ordered, band-passed, resampled and scaled as the checkpoint's
  ``preprocessing`` record says (:mod:`~eegtrain_jupyter.data.preprocess`). A checkpoint without that
  record (written before it existed) is described by its ``ch_names``, ``sfreq`` and ``n_times``.

Input the model cannot take (a missing channel, another window length, NaN) is refused with a
:class:`~eegtrain_jupyter.errors.ConfigError` that says what is wrong, never silently adapted.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, FieldError

if TYPE_CHECKING:
    import torch
    from sklearn.pipeline import Pipeline

    from ..data.preprocess import Preprocessing
    from ..schemas import Evaluation

__all__ = [
    "RECORDING_HINT",
    "TrainedModel",
    "read_recording",
    "window_starts",
]

RECORDING_HINT = (
    "a recording MNE reads (.fif, .edf, .bdf, .set, .vhdr, ...), epochs (*-epo.fif) "
    "or a .npy array of windows (n_windows, n_chans, n_times) in microvolts"
)


def _bad(field: str, message: str) -> ConfigError:
    """Input the model cannot take: 400 naming ``field``, the message as it is."""
    return ConfigError([FieldError(field, message)], message)


class TrainedModel:
    """A trained classifier (a torch network or a classical baseline) with scikit-learn's prediction
    interface.

    Attributes
    ----------
    classes_ : ndarray of str, shape (n_classes,)
        Class names; column ``i`` of :meth:`predict_proba` is ``classes_[i]``.
    ch_names : list of str
        The model's input channels, in order.
    sfreq : float
        Sampling rate of the model's input, Hz.
    n_times : int
        Samples per window.
    checkpoint : dict
        The loaded checkpoint (config, metrics, history, backbone, ...).
    path : Path or None
        The checkpoint file.
    module : torch.nn.Module or None
        The torch module (CPU, eval mode); ``module(x)`` gives logits for ``x`` in µV. None for a
        classical baseline.
    estimator : sklearn.pipeline.Pipeline or None
        A classical baseline's fitted pipeline (:mod:`~eegtrain_jupyter.models.classical`); None for
        a torch network.
    """

    def __init__(
        self,
        module: torch.nn.Module | Pipeline,
        checkpoint: dict[str, Any],
        path: Path | None = None,
        batch_size: int = 64,
    ):
        from sklearn.pipeline import Pipeline

        self.estimator = module if isinstance(module, Pipeline) else None
        self.module = None if isinstance(module, Pipeline) else module.eval()
        self.checkpoint = checkpoint
        self.path = path
        self.batch_size = int(batch_size)
        self.classes_ = np.asarray(checkpoint["class_names"], dtype=str)
        self.ch_names = list(checkpoint["ch_names"])
        self.sfreq = float(checkpoint["sfreq"])
        self.n_times = int(checkpoint["n_times"])

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, batch_size: int = 64) -> TrainedModel:
        """Rebuild from a checkpoint file; an unreadable file is a :class:`ConfigError` naming it.

        A classical baseline's pipeline is read from the checkpoint's skops bytes
        (:func:`~eegtrain_jupyter.models.classical.loads`: only trusted types load)."""
        from ..models import classical
        from ..models.labram import load_checkpoint

        path = Path(path)
        try:
            ckpt = _read_checkpoint(path)
            if "classifier_skops" in ckpt:
                module: Any = classical.loads(ckpt["classifier_skops"])
            else:
                module, ckpt = load_checkpoint(path)
        except classical.UntrustedModel as exc:
            raise _bad("model", f"{path.name}: {exc}") from None
        except (OSError, RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise _bad(
                "model", f"{path.name} is not a readable checkpoint: {type(exc).__name__}: {exc}"
            ) from None
        return cls(module, ckpt, path, batch_size)

    def __repr__(self) -> str:
        return (
            f"TrainedModel(classes={self.classes_.tolist()}, channels={self.ch_names}, "
            f"sfreq={self.sfreq:g}, n_times={self.n_times}, path={str(self.path)!r})"
        )

    @property
    def preprocessing(self) -> Preprocessing:
        """What training did to the signal: the checkpoint's record, or one derived from its shape."""
        from ..data.preprocess import Preprocessing

        record = self.checkpoint.get("preprocessing")
        if record:
            return Preprocessing.model_validate(record)
        return Preprocessing(ch_names=self.ch_names, sfreq=self.sfreq, window_s=self.n_times / self.sfreq)

    # -- input -------------------------------------------------------------------------------
    def windows(
        self, data: Any, ch_names: Sequence[str] | None = None, step_s: float | None = None
    ) -> np.ndarray:
        """``data`` as model input, checked.

        Parameters
        ----------
        data : ndarray (n_windows, n_chans, n_times) in µV, mne.Epochs or mne.io.Raw
        ch_names : sequence of str, optional
            For an array: the names of its channels (any order, extra channels ignored).
            Without it the array must hold exactly the model's channels in the model's order.
        step_s : float, optional
            For a Raw: seconds between window starts (default: one window, no overlap).

        Returns
        -------
        ndarray, shape (n_windows, n_chans, n_times), float32, µV
        """
        import mne

        if isinstance(data, mne.BaseEpochs):
            from ..data.preprocess import epochs_to_windows

            X = epochs_to_windows(data, self.preprocessing)
        elif isinstance(data, mne.io.BaseRaw):
            from ..data.preprocess import raw_to_windows

            X = raw_to_windows(data, self.preprocessing, step_s=step_s)
            if len(X) == 0:
                raise _bad(
                    "data",
                    f"the recording ({data.times[-1] + 1 / data.info['sfreq']:.2f} s) "
                    f"is shorter than one {self.n_times / self.sfreq:g} s window",
                )
        else:
            X = self._array(data, ch_names)
        self.check(X)
        return X

    def _array(self, data: Any, ch_names: Sequence[str] | None) -> np.ndarray:
        try:
            X = np.asarray(data, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise _bad("windows", f"not a numeric array: {exc}") from None
        if X.ndim != 3:
            hint = " (one window? pass X[None])" if X.ndim == 2 else ""
            raise _bad("windows", f"must be 3-D (n_windows, n_chans, n_times), not shape {X.shape}{hint}")
        if ch_names is not None:
            names = [str(n).upper() for n in ch_names]
            if len(names) != X.shape[1]:
                raise _bad("ch_names", f"{len(names)} names for {X.shape[1]} channels")
            missing = [c for c in self.ch_names if c.upper() not in names]
            if missing:
                raise _bad(
                    "ch_names",
                    f"missing channels {', '.join(missing)} (the model needs {', '.join(self.ch_names)})",
                )
            X = X[:, [names.index(c.upper()) for c in self.ch_names]]
        return np.ascontiguousarray(X)

    def check(self, X: np.ndarray) -> None:
        """Raise :class:`ConfigError` unless ``X`` is ``(n, n_chans, n_times)`` finite µV for this model."""
        errors = []
        if X.ndim != 3:
            errors.append(FieldError("windows", f"must be 3-D (n_windows, n_chans, n_times), not {X.shape}"))
        else:
            if X.shape[1] != len(self.ch_names):
                errors.append(
                    FieldError(
                        "windows",
                        f"{X.shape[1]} channels; the model takes {len(self.ch_names)} "
                        f"({', '.join(self.ch_names)}); name them with ch_names",
                    )
                )
            if X.shape[2] != self.n_times:
                errors.append(
                    FieldError(
                        "windows",
                        f"windows of {X.shape[2]} samples; the model takes "
                        f"{self.n_times} ({self.n_times / self.sfreq:g} s at "
                        f"{self.sfreq:g} Hz)",
                    )
                )
        if not errors and X.size and not np.isfinite(X).all():
            bad = np.flatnonzero(~np.isfinite(X).reshape(len(X), -1).all(1))
            shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
            errors.append(FieldError("windows", f"NaN or infinite values in {len(bad)} window(s): {shown}"))
        if errors:
            raise ConfigError(errors, "; ".join(e.message for e in errors))

    # -- prediction --------------------------------------------------------------------------
    def predict_proba(
        self, data: Any, ch_names: Sequence[str] | None = None, step_s: float | None = None
    ) -> np.ndarray:
        """Class probabilities, shape ``(n_windows, n_classes)`` (columns in :attr:`classes_` order)."""
        return self.probabilities(self.windows(data, ch_names, step_s))

    def predict(
        self, data: Any, ch_names: Sequence[str] | None = None, step_s: float | None = None
    ) -> np.ndarray:
        """Class names, shape ``(n_windows,)``."""
        return self.classes_[self.predict_proba(data, ch_names, step_s).argmax(1)]

    def score(
        self,
        data: Any,
        y: Sequence[Any] | np.ndarray | None = None,
        *,
        subjects: Sequence[str] | np.ndarray | None = None,
        ch_names: Sequence[str] | None = None,
        root: str | os.PathLike | None = None,
        **request: Any,
    ) -> Evaluation:
        """The held-out test report's scores on new labelled data
        (:func:`~eegtrain_jupyter.engine.evaluation.report`): balanced accuracy, Cohen's kappa,
        F1, ROC AUC, per class and per subject.

        Parameters
        ----------
        data : path, glob, list of them, ndarray, or mne.Epochs
            Recordings (paths or globs, relative to ``root``) labelled by their annotations and
            windowed as the run's were (:mod:`~eegtrain_jupyter.serving.evaluate`); or windows
            as :meth:`windows` takes them, with their labels ``y``.
        y : sequence, optional
            For windows: each window's class, a name from :attr:`classes_` or its index.
        subjects : sequence of str, optional
            For windows: each window's subject (adds the scores per subject).
        ch_names : sequence of str, optional
            For an array: its channels' names (see :meth:`windows`).
        root : path, optional
            Where relative recording paths start (default: the working directory).
        **request
            For recordings, what replaces the run's labelling: ``labels``, ``subject_pattern``
            (``""``: no subjects), ``subjects`` (file name -> subject), ``channel_map``,
            ``sliding``, ``step_s`` (:class:`~eegtrain_jupyter.schemas.EvaluateRequest`).

        Returns
        -------
        Evaluation
            ``model_dump()`` gives the report as a dict.

        Examples
        --------
        >>> model.score("new/*.edf").balanced_accuracy  # doctest: +SKIP
        87.5
        """
        from .evaluate import evaluate_files, evaluate_request, evaluate_windows

        if isinstance(data, (str, os.PathLike)) or (
            isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data)
        ):
            from ..data.paths import PathPolicy

            files = [os.fspath(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
            return evaluate_files(
                self, evaluate_request({"files": files, **request}), PathPolicy(root or ".")
            )
        if request:
            raise _bad(next(iter(request)), "only for recordings given by path")
        if y is None:
            raise _bad("y", "give each window's class (a name from classes_ or its index)")
        X = self.windows(data, ch_names)
        labels = np.asarray(y)
        if labels.shape != (len(X),):
            raise _bad("y", f"{labels.shape[0] if labels.ndim else 0} labels for {len(X)} windows")
        if len(X) == 0:
            raise _bad("data", "no windows to score")
        classes = self.classes_.tolist()
        bad: list[Any]
        if labels.dtype.kind in "iu":
            bad = sorted({int(v) for v in labels if not 0 <= v < len(classes)})
            index = labels.astype(np.int64)
        else:
            bad = sorted({str(v) for v in labels if str(v) not in classes})
            index = np.asarray([classes.index(str(v)) if str(v) in classes else -1 for v in labels], np.int64)
        if bad:
            raise _bad(
                "y", f"{', '.join(map(repr, bad))} not among the model's classes ({', '.join(classes)})"
            )
        groups = None if subjects is None else np.asarray(subjects).astype(str)
        if groups is not None and groups.shape != (len(X),):
            raise _bad("subjects", f"{groups.shape[0] if groups.ndim else 0} subjects for {len(X)} windows")
        return evaluate_windows(self, X, index, groups)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for windows already prepared by :meth:`windows`, shape ``(n, n_classes)``."""
        import torch

        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        if self.estimator is not None:
            from ..models import classical

            return classical.predict_proba(self.estimator, X, len(self.classes_)).astype(np.float32)
        assert self.module is not None
        out = []
        with torch.inference_mode():
            for start in range(0, len(X), self.batch_size):
                logits = self.module(torch.from_numpy(X[start : start + self.batch_size]))
                out.append(torch.softmax(logits.float(), dim=1).numpy())
        return np.concatenate(out)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict, its tensors memory-mapped (not read): enough to tell the model's kind."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"holds a {type(ckpt).__name__}, not a checkpoint dict")
    return ckpt


def read_recording(path: str | os.PathLike) -> Any:
    """Open a recording file: ``mne.io.Raw`` (any format MNE reads), ``mne.Epochs`` (``*-epo.fif``)
    or a ``.npy`` array of windows. Unreadable files raise :class:`ConfigError` on ``path``."""
    import mne

    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if name.endswith(("-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")):
            return mne.read_epochs(path, preload=True, verbose="error")
        return mne.io.read_raw(path, preload=False, verbose="error")
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise _bad("path", f"cannot read {path.name} as {RECORDING_HINT}: {exc}") from None


def window_starts(
    data: Any, n_windows: int, model: TrainedModel, step_s: float | None = None
) -> list[float] | None:
    """Start time in seconds of each window cut from a Raw (``None`` for arrays and epochs)."""
    import mne

    if not isinstance(data, mne.io.BaseRaw):
        return None
    step = step_s or model.n_times / model.sfreq
    return [round(i * step, 6) for i in range(n_windows)]
