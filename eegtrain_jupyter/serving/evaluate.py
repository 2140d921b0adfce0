"""Score a trained model on labelled data it was not trained on: the run's held-out test report
(:func:`~eegtrain_jupyter.engine.evaluation.report`) for new recordings or windows.

Recordings are labelled, windowed and preprocessed as the run's were: the checkpoint's config says
which annotations are which class and how windows are placed (a ``files`` run: its ``labels``,
``tmin``, ``sliding``, ``step_s``, ``subject_pattern``; any other run: each class is the annotation
of its own name), and its ``preprocessing`` record says which channels, filters and rate
(:class:`~eegtrain_jupyter.data.preprocess.Preprocessing`). An :class:`EvaluateRequest`'s fields
replace the run's where the new recordings differ. Every problem is a
:class:`~eegtrain_jupyter.errors.ConfigError` naming the request's field (``files[i]``,
``labels``, ``subject_pattern``, ``subjects``) and the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from ..config.data import FilesData
from ..errors import ConfigError, FieldError
from ..schemas import EvaluateRequest, Evaluation

if TYPE_CHECKING:
    from ..data.paths import PathPolicy
    from ..data.preprocess import Preprocessing
    from .predict import TrainedModel

__all__ = ["evaluate_files", "evaluate_request", "evaluate_windows"]

_FIELDS = {
    "data.labels": "labels",
    "data.subject_pattern": "subject_pattern",
    "data.subjects": "subjects",
    "data.ch_names": "files",
    "data.channel_map": "channel_map",
}
"""The files source's fields as an evaluation request names them."""


def _request_error(errors: Sequence[FieldError]) -> ConfigError:
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ConfigError(list(errors), f"Invalid evaluation request: {detail}")


def evaluate_request(body: Any) -> EvaluateRequest:
    """``body`` as an :class:`EvaluateRequest`; a :class:`ConfigError` naming each bad field."""
    try:
        return EvaluateRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise _validation_error(exc) from None


def _validation_error(exc: Any) -> ConfigError:
    return _request_error(
        [
            FieldError(".".join(map(str, e["loc"])) or "body", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
    )


def _source(model: TrainedModel, request: EvaluateRequest) -> FilesData:
    """The files source that reads ``request.files`` as the run read its own recordings."""
    data = dict((model.checkpoint.get("config") or {}).get("data") or {})
    classes = model.classes_.tolist()
    subjects: dict[str, str]
    if data.get("source") == "files":
        labels = dict(data.get("labels") or {})
        # a subjects table names the run's own files: new files need their own
        subject_pattern, subjects = data.get("subject_pattern"), {}
        windowing = {k: data[k] for k in ("tmin", "sliding", "step_s") if k in data}
    else:  # synthetic or epochs: the classes' own names (or the epochs' event names) label them
        labels = dict(data.get("labels") or {}) or {c: c for c in classes}
        subject_pattern, subjects, windowing = None, {}, {}
    if request.labels is not None:
        labels = request.labels
    if not labels:
        raise _request_error([FieldError("labels", "give at least one annotation name -> class")])
    unknown = sorted({c for c in labels.values() if c not in classes})
    if unknown:
        raise _request_error(
            [
                FieldError(
                    "labels",
                    f"class {', '.join(map(repr, unknown))} is not one of the run's classes "
                    f"({', '.join(classes)})",
                )
            ]
        )
    if request.subjects is not None:
        subjects, subject_pattern = request.subjects, None
    if request.subject_pattern is not None:
        subject_pattern = request.subject_pattern or None
    if request.sliding is not None:
        windowing["sliding"] = request.sliding
    if request.step_s is not None:
        windowing["step_s"] = request.step_s
    prep = model.preprocessing
    try:
        return FilesData(
            source="files",
            paths=request.files,
            labels=labels,
            subject_pattern=subject_pattern,
            subjects=subjects,
            ch_names=list(prep.ch_names),
            channel_map=request.channel_map if request.channel_map is not None else prep.channel_map,
            l_freq=prep.l_freq,
            h_freq=prep.h_freq,
            window_s=prep.window_s,
            **windowing,
        )
    except ValidationError as exc:  # a subject pattern that does not compile
        raise _validation_error(exc) from None


def _seen(model: TrainedModel, policy: PathPolicy, found: set[Path]) -> list[str]:
    """Which of ``found`` the run's own ``files`` source named (those that still resolve)."""
    data = (model.checkpoint.get("config") or {}).get("data") or {}
    if data.get("source") != "files":
        return []
    try:
        trained = {path for path, _ in policy.files(list(data.get("paths") or []), "data.paths")}
    except ConfigError:  # moved, deleted, outside this root: none to compare with
        return []
    return sorted(policy.shown(p) for p in found & trained)


def evaluate_files(
    model: TrainedModel,
    request: EvaluateRequest,
    policy: PathPolicy,
    on_file: Callable[[str], None] | None = None,
) -> Evaluation:
    """Read, label and window ``request.files`` as the run did and score ``model`` on them.

    Parameters
    ----------
    model : TrainedModel
    request : EvaluateRequest
        The recordings (paths or globs) and what replaces the run's labelling.
    policy : PathPolicy
        Resolves (and, for a server, confines) the paths.
    on_file : callable, optional
        Called with each file's root-relative name just before it is read.

    Raises
    ------
    ConfigError
        A file that cannot be read, has no labelled annotation or lacks one of the model's
        channels; a label naming a class the run does not have; a subject pattern that does
        not match a file name.
    """
    from ..data.recordings import load_files
    from ..data.windows import open_recordings

    cfg = _source(model, request)
    name = str((model.checkpoint.get("config") or {}).get("model", "labram"))
    try:
        recordings = open_recordings(policy, cfg.paths, "files", on_file)
        windows, summary = load_files(
            cfg, recordings, on_file, name, prep=_prep(model, cfg), every_class=False
        )
    except ConfigError as exc:
        raise _request_error(
            [FieldError(_FIELDS.get(e.field, e.field), e.message) for e in exc.errors]
        ) from None
    classes = model.classes_.tolist()
    y = np.asarray([classes.index(c) for c in windows.class_names], np.int64)[windows.y]
    report = evaluate_windows(model, windows.X, y, windows.subjects)
    return report.model_copy(
        update={
            "split": f"evaluation: {len(recordings)} file{'s' * (len(recordings) != 1)}, {len(y)} windows",
            "files": summary.files,
            "seen_in_training": _seen(model, policy, {r.path for r in recordings}),
        }
    )


def _prep(model: TrainedModel, cfg: FilesData) -> Preprocessing:
    """The checkpoint's preprocessing, with the request's channel map."""
    prep = model.preprocessing
    if cfg.channel_map != prep.channel_map:
        prep = prep.model_copy(update={"channel_map": dict(cfg.channel_map)})
    return prep


def evaluate_windows(
    model: TrainedModel,
    X: np.ndarray,
    y: np.ndarray,
    subjects: np.ndarray | None = None,
) -> Evaluation:
    """Score ``model`` on windows ``X`` (model input, :meth:`TrainedModel.windows`) with true class
    indices ``y`` (into ``model.classes_``); ``subjects`` adds the scores per subject."""
    from ..engine.evaluation import report

    model.check(X)
    proba = model.probabilities(X)
    scores = report(y, proba, model.classes_.tolist(), subjects)
    return Evaluation(
        **scores,
        epoch=model.checkpoint.get("epoch"),
        split=f"evaluation: {len(y)} windows",
        subjects=[] if subjects is None else sorted({str(s) for s in subjects}),
    )
