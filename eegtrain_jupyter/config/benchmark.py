"""What a benchmark asks for: several models, each trained on every fold of one evaluation protocol,
``n_repeats`` times, on the same windows (``POST /training/benchmark``).

Every model starts from the same base ``config``; an entry of ``models`` is a model name
(``"eegnet"``) or a labelled config of its own (``{"label": "labram_ft", "config": {"model":
"labram", "freeze_backbone": false}}``), merged over the base (a base option that the entry's model
does not take is dropped). The base config's ``evaluation`` says the protocol and ``n_repeats``;
repeat ``r`` of every model runs with seed ``seed + r``, so fold ``k`` of repeat ``r`` is the same
split for every model and their scores pair up.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError, FieldError
from .names import CLASSICAL_MODELS, MODEL_NAMES, ModelName
from .search import _drop_model_only
from .training import TrainingConfig, _field_errors, validate_config

__all__ = ["BenchmarkModel", "BenchmarkRequest", "fold_config", "parse_benchmark"]


class BenchmarkModel(BaseModel):
    """One contender: its label in the tables and its config over the base."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+\-]+$")
    config: dict[str, Any] = Field(default_factory=dict, description="Partial config over the base config")

    @property
    def model(self) -> str:
        return str(self.config.get("model", "labram"))

    @property
    def baseline(self) -> bool:
        """A classical baseline (the statistics compare every model with the best of these)."""
        return self.model in CLASSICAL_MODELS


class BenchmarkRequest(BaseModel):
    """Body of ``POST /training/benchmark``: a new benchmark, or ``resume`` one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Partial config every model starts from; its evaluation section sets the "
        "protocol, n_folds and n_repeats",
    )
    models: list[BenchmarkModel | ModelName] = Field(
        default_factory=list,
        max_length=20,
        description="Model names, or {label, config} entries (at least one unless resuming)",
    )
    resume: str | None = Field(
        None, description="Resume this (stopped or interrupted) benchmark: its finished folds are kept"
    )

    @property
    def entries(self) -> list[BenchmarkModel]:
        """``models``, each a :class:`BenchmarkModel` (a name ``m`` reads ``{label: m, config: {model: m}}``)."""
        return [
            m if isinstance(m, BenchmarkModel) else BenchmarkModel(label=m, config={"model": m})
            for m in self.models
        ]

    @model_validator(mode="before")
    @classmethod
    def _names_are_entries(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            data = {
                **data,
                "models": [
                    {"label": m, "config": {"model": m}} if isinstance(m, str) else m for m in data["models"]
                ],
            }
        return data


def parse_benchmark(body: dict[str, Any] | None) -> BenchmarkRequest:
    """Validate the request and every model's config against the schema (before any data is read).

    Raises
    ------
    ConfigError
        Every bad part named: ``models``, ``models.1.config.model``, ``config.evaluation.protocol``...
    """
    try:
        request = BenchmarkRequest.model_validate(body or {})
    except ValidationError as exc:
        raise ConfigError(_field_errors(exc)) from None
    if request.resume is not None:
        if request.models or request.config:
            raise ConfigError.field(
                "resume", "resume takes no models or config: the benchmark's own are used"
            )
        return request
    errors = [FieldError(f"config.{e.field}", e.message) for e in validate_config(request.config).errors]
    evaluation = request.config.get("evaluation")
    if isinstance(evaluation, dict) and "fold" in evaluation:
        errors.append(FieldError("config.evaluation.fold", "a benchmark runs every fold: leave fold unset"))
    if not request.models:
        errors.append(FieldError("models", "name at least one model"))
    labels = [m.label for m in request.entries]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        errors.append(FieldError("models", f"labels {', '.join(repeated)} appear more than once"))
    base_bad = {e.field for e in validate_config(request.config).errors}
    for i, entry in enumerate(request.entries):
        if entry.model not in MODEL_NAMES:
            errors.append(
                FieldError(f"models.{i}.config.model", f"unknown model; choose one of {list(MODEL_NAMES)}")
            )
            continue
        if "evaluation" in entry.config:
            errors.append(
                FieldError(f"models.{i}.config.evaluation", "set the evaluation in the base config")
            )
            continue
        if "seed" in entry.config:
            errors.append(
                FieldError(
                    f"models.{i}.config.seed", "set the seed in the base config (folds pair up by seed)"
                )
            )
            continue
        for err in validate_config(_merged(request.config, entry)).errors:
            if err.field not in base_bad:
                errors.append(FieldError(f"models.{i}.config.{err.field}", err.message))
    if errors:
        raise ConfigError(errors)
    return request


def _merged(base: dict[str, Any], entry: BenchmarkModel) -> dict[str, Any]:
    return {**_drop_model_only(base, entry.config), **entry.config}


def fold_config(request: BenchmarkRequest, entry: BenchmarkModel, fold: int, repeat: int) -> TrainingConfig:
    """The config of ``entry``'s run on ``fold`` of ``repeat`` (seed: the base seed + ``repeat``)."""
    merged = _merged(request.config, entry)
    base = validate_config(merged)
    if not base.valid:
        raise ConfigError(base.errors)
    assert base.config is not None
    evaluation = {**base.config.evaluation.model_dump(), "fold": fold}
    result = validate_config({**merged, "evaluation": evaluation, "seed": base.config.seed + repeat})
    if not result.valid:
        raise ConfigError(result.errors)
    assert result.config is not None
    return result.config
