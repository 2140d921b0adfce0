"""What the data worker (:mod:`.dataworker`) runs: each task is a function of plain values that
reads a user's data and returns a response shape; ``progress(name)`` says which file it reads.

Errors are the product's (:mod:`~eegtrain_jupyter.errors`): they cross the pipe as status and body.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.training import TrainingConfig
from ..data.paths import PathPolicy
from ..engine import artifacts
from ..errors import ConfigError, Conflict
from ..schemas import (
    BENCHMARK_METRICS,
    BenchmarkStatus,
    BenchmarkSummary,
    DataSummary,
    EvaluateRequest,
    Evaluation,
    ExportResult,
    Prediction,
    PredictRequest,
)

__all__ = ["TASKS"]

Report = Callable[[str], None]

_MODELS: OrderedDict[tuple[str, int], Any] = OrderedDict()
_MODELS_KEPT = 2
_MODELS_LOCK = threading.Lock()


def scan(
    *, config: TrainingConfig, root_dir: str, confine: bool, cache_dir: str | None, progress: Report
) -> DataSummary | None:
    """Read ``config.data`` (through the windows cache, which it fills) and check that its split (or
    every fold of its ``evaluation``) can be made; the summary of what it holds."""
    from ..data.splits import check_data_split
    from ..data.windows import scan as scan_windows

    windows, summary = scan_windows(
        config, PathPolicy(root_dir, confine=confine), cache_dir, on_file=progress
    )
    check_data_split(windows, config)
    return summary


def check_weights(
    *,
    value: str,
    root_dir: str,
    confine: bool,
    progress: Report,
    model: str = "labram",
    hub_env: dict[str, str] | None = None,
) -> str:
    """The ``pretrained_weights`` value a run records once its weights check out against ``model``'s
    backbone: a hub id resolved with the hub and pinned to its commit (its download is the run's),
    or a local file or snapshot folder inside the root
    (:func:`~..models.registry.check_pretrained`, with the server's ``HF_*`` settings ``hub_env``);
    a 400 on ``pretrained_weights`` otherwise."""
    from ..models.registry import check_pretrained

    policy = PathPolicy(root_dir, confine=confine)
    progress(value if value.startswith("hf://") else Path(value).name)
    return check_pretrained(value, lambda v: policy.resolve(v, "pretrained_weights"), model, hub_env)


def _model(run_dir: str, run_id: str) -> Any:
    """The run's best checkpoint as a :class:`~..serving.predict.TrainedModel`, the last few kept."""
    from ..serving.predict import TrainedModel

    path = artifacts.find_checkpoint(run_dir)
    try:
        if path is None:
            raise FileNotFoundError(run_dir)
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        raise Conflict(f"run {run_id} has no checkpoint yet (no epoch has finished)") from None
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = TrainedModel.from_checkpoint(path)
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    return model


def predict(
    *, run_dir: str, run_id: str, request: PredictRequest, root_dir: str, confine: bool, progress: Report
) -> Prediction:
    """Probabilities and labels per window of ``request.windows`` or the recording ``request.path``."""
    from ..serving.predict import read_recording, window_starts

    model = _model(run_dir, run_id)
    if request.path is not None:
        policy = PathPolicy(root_dir, confine=confine)
        path = policy.file(request.path, "path")
        policy.check_regular(path, "path")
        name = path.name.lower()
        if not name.endswith((".npy", "-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")):
            from ..data.recordings import open_recording

            open_recording(path, "path", policy, progress)  # its header and every file it names
        else:
            progress(policy.shown(path))
        data: Any = read_recording(path)
        source: str | None = request.path
    else:
        data, source = request.windows, None
    try:
        X = model.windows(data, request.ch_names, request.step_s)
    except ValueError as exc:  # ragged lists, MNE refusing the recording
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError.field("path" if source else "windows", str(exc)) from None
    proba = model.probabilities(X)
    return Prediction(
        run_id=run_id,
        classes=list(model.classes_),
        labels=[str(c) for c in model.classes_[proba.argmax(1)]] if len(proba) else [],
        probabilities=proba.tolist(),
        n_windows=len(X),
        window_starts_s=window_starts(data, len(X), model, request.step_s),
        source=source,
    )


def evaluate(
    *, run_dir: str, run_id: str, request: EvaluateRequest, root_dir: str, confine: bool, progress: Report
) -> Evaluation:
    """The run's model scored on the labelled recordings ``request.files`` (its test report's shape)."""
    from ..serving.evaluate import evaluate_files

    model = _model(run_dir, run_id)
    result = evaluate_files(model, request, PathPolicy(root_dir, confine=confine), progress)
    return result.model_copy(update={"run_id": run_id})


def export(*, run_dir: str, run_id: str, format: str, progress: Report) -> ExportResult:
    """Export the run's model into its folder and check it against torch."""
    from ..serving.export import export_model

    return export_model(_model(run_dir, run_id), format, Path(run_dir), run_id=run_id)


def draw_curves(*, run_dir: str, progress: Report) -> bool:
    """Draw the curves PNG of a run from its history; False when it has none."""
    return artifacts.curves_from_history(run_dir) is not None


def benchmark_folds(
    *, configs: list[TrainingConfig], root_dir: str, confine: bool, cache_dir: str | None, progress: Report
) -> int:
    """Check every config of a benchmark against its data (each model's windows, each repeat's
    seed: every fold of each, :func:`~..data.splits.check_data_split`); the number of folds."""
    from ..data.splits import check_data_split, fold_tests
    from ..data.windows import scan as scan_windows

    policy = PathPolicy(root_dir, confine=confine)
    n_folds = 1
    for config in configs:
        windows, _ = scan_windows(config, policy, cache_dir, on_file=progress)
        check_data_split(windows, config)
        if config.evaluation.folded:
            n_folds = len(fold_tests(windows, config.evaluation, config.seed))
    return n_folds


def benchmark_report(
    *,
    status: BenchmarkStatus,
    configs: list[TrainingConfig],
    folder: str,
    root_dir: str,
    confine: bool,
    cache_dir: str | None,
    progress: Report,
) -> BenchmarkSummary:
    """Write a benchmark's files (:func:`~..engine.benchmark.write_outputs`) from its completed
    runs (``status.results``, ``configs`` the config of each); its summary.

    Each row's MOABB columns (training windows, channels, the subjects and sessions its fold tests)
    come from the run's own split, made again from its windows (the windows cache) and config."""
    from ..data.splits import split_for
    from ..data.windows import scan as scan_windows
    from ..engine.benchmark import summarize_rows, write_outputs

    policy = PathPolicy(root_dir, confine=confine)
    loaded: dict[str, Any] = {}
    rows = []
    dataset = status.request.config.get("data", {}) if status.request else {}
    name = str(dataset.get("source", "synthetic")) if isinstance(dataset, dict) else "synthetic"
    for result, config in zip(status.results, configs, strict=True):
        if result.state != "completed" or result.balanced_accuracy is None:
            continue
        key = config.model_dump_json(include={"model", "data", "seed", "n_samples_per_class"})
        if key not in loaded:
            loaded = {key: scan_windows(config, policy, cache_dir, on_file=progress)[0]}  # one at a time
        windows = loaded[key]
        split = split_for(windows, config)
        held = split.subjects["test"] if split.by in ("cross_subject", "subject") else []
        rows.append(
            {
                "score": result.balanced_accuracy / 100.0,
                "time": result.duration,
                "samples": len(split.train),
                "channels": len(windows.ch_names),
                "subject": "+".join(held),
                "session": "+".join(split.sessions),
                "pipeline": result.label,
                "dataset": name,
                "model": result.model,
                "fold": result.fold,
                "repeat": result.repeat,
                "run_id": result.run_id,
                "n_test": result.n_test,
                **{k: getattr(result, k) for k in BENCHMARK_METRICS},
            }
        )
    request = status.request
    assert request is not None
    models = [(m.label, m.model, m.baseline) for m in request.entries]
    summary = summarize_rows(rows, models)
    paths = write_outputs(folder, status.model_dump(mode="json"), rows, summary)
    return BenchmarkSummary.model_validate({**summary, "files": paths})


TASKS: dict[str, Callable[..., Any]] = {
    "scan": scan,
    "check_weights": check_weights,
    "predict": predict,
    "evaluate": evaluate,
    "export": export,
    "draw_curves": draw_curves,
    "benchmark_folds": benchmark_folds,
    "benchmark_report": benchmark_report,
}
"""The tasks by name, as :class:`.dataworker.Request` names them."""
