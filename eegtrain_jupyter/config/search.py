"""What a hyper-parameter search asks for: the request, its search space over config fields, and
their validation against the config schema (every bad part named, e.g. ``space.learning_rate``).

A space maps config fields to a range or a list of choices::

    {
        "learning_rate": {"low": 1e-4, "high": 1e-2, "log": true},
        "batch_size": {"low": 16, "high": 64, "step": 16},
        "model": {"choices": ["labram", "shallow_fbcsp", "eegnet"]},
    }

An integer field gets integers, a float field floats; ``choices`` fits any field. Ranges must lie
inside the field's own bounds (:class:`~eegtrain_jupyter.config.training.TrainingConfig`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, FieldError
from .training import MODEL_ONLY_FIELDS, TrainingConfig, _field_errors, field_specs, validate_config

if TYPE_CHECKING:
    import optuna

__all__ = ["NOT_SEARCHABLE", "ParamRange", "SearchRequest", "parse_request", "suggest", "trial_config"]

NOT_SEARCHABLE = frozenset({"save_dir", "pretrained_weights", "device", "augmentation"})
"""Fields a space may not vary (where outputs go, which weights file, which device; ``augmentation``
is a list, and Optuna stores only scalar choices: set it in the base config)."""


class ParamRange(BaseModel):
    """One field's search range: ``low``/``high`` (``log``: log-uniform; ``step``), or ``choices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = None


class SearchRequest(BaseModel):
    """Body of ``POST /training/search``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: dict[str, Any] = Field(
        default_factory=dict, description="Partial config every trial starts from (defaults for the rest)"
    )
    space: dict[str, ParamRange] = Field(description="Config fields to vary, each a range or choices")
    n_trials: int = Field(20, ge=1, le=1000, description="Trials to run, one after another")
    timeout_s: float | None = Field(None, gt=0, description="Start no trial after this many seconds")
    metric: Literal["val_acc", "val_loss"] = Field(
        "val_acc",
        description="Per-epoch validation metric reported for pruning; a trial's value is its best epoch's",
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Default: maximize val_acc, minimize val_loss"
    )
    pruner: Literal["median", "none"] = Field(
        "median",
        description="median: stop a trial whose metric is worse than the median of earlier "
        "trials at the same epoch",
    )
    seed: int | None = Field(None, ge=0, description="Sampler seed (default: the config's seed)")

    @property
    def resolved_direction(self) -> str:
        return self.direction or ("maximize" if self.metric == "val_acc" else "minimize")


def parse_request(body: dict[str, Any] | None) -> SearchRequest:
    """Validate the request, its base config and its space against the schema.

    Raises
    ------
    ConfigError
        Every bad part, named: a request field (``n_trials``), a base-config field
        (``config.batch_size``) or a space entry (``space.learning_rate``).
    """
    try:
        request = SearchRequest.model_validate(body or {})
    except ValidationError as exc:
        raise ConfigError(_field_errors(exc)) from None
    errors = [FieldError(f"config.{e.field}", e.message) for e in validate_config(request.config).errors]
    if not request.space:
        errors.append(FieldError("space", "name at least one config field to search"))
    specs = field_specs()
    for name, rng in request.space.items():
        messages = _range_errors(name, rng, specs, request.config)
        errors += [FieldError(f"space.{name}", msg) for msg in messages]
    if errors:
        raise ConfigError(errors)
    return request


def _range_errors(
    name: str, rng: ParamRange, specs: dict[str, dict[str, Any]], base: dict[str, Any]
) -> list[str]:
    if name not in specs:
        return ["unknown field"]
    if name in NOT_SEARCHABLE:
        return ["cannot be searched"]
    spec = specs[name]
    if rng.choices is not None:
        if rng.low is not None or rng.high is not None:
            return ["give either choices or low/high, not both"]
        if not rng.choices:
            return ["choices must not be empty"]
        errors = []
        base_bad = {e.field for e in validate_config(base).errors}  # reported once, as config.<field>
        for choice in rng.choices:
            base_for_choice = _drop_model_only(base, {name: choice}) if name == "model" else base
            for err in validate_config({**base_for_choice, name: choice}).errors:
                if err.field not in base_bad:
                    errors.append(f"choice {choice!r}: {err.field}: {err.message}")
        return errors
    if spec["type"] not in ("integer", "number"):
        return [f"a {spec['type']} field takes choices, not a range"]
    if rng.low is None or rng.high is None:
        return ["give low and high (or choices)"]
    errors = []
    lo, hi = spec["minimum"], spec["maximum"]
    for label, value in (("low", rng.low), ("high", rng.high)):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            errors.append(f"{label} {value:g} is outside the field's range [{lo:g}, {hi:g}]")
        if spec["type"] == "integer" and not float(value).is_integer():
            errors.append(f"{label} must be an integer")
    if rng.low >= rng.high:
        errors.append("low must be below high")
    if rng.log and rng.low <= 0:
        errors.append("a log range needs low > 0")
    if rng.log and rng.step is not None:
        errors.append("give log or step, not both")
    if spec["type"] == "integer" and rng.step is not None and not float(rng.step).is_integer():
        errors.append("step must be an integer")
    return errors


def suggest(trial: optuna.trial.Trial, space: dict[str, ParamRange]) -> dict[str, Any]:
    """One trial's values, drawn by Optuna from ``space`` (ints for int fields)."""
    specs = field_specs()
    params: dict[str, Any] = {}
    for name, rng in space.items():
        if rng.choices is not None:
            params[name] = trial.suggest_categorical(name, rng.choices)
        elif specs[name]["type"] == "integer":
            assert rng.low is not None and rng.high is not None
            params[name] = trial.suggest_int(
                name, int(rng.low), int(rng.high), step=int(rng.step or 1), log=rng.log
            )
        else:
            assert rng.low is not None and rng.high is not None
            params[name] = trial.suggest_float(name, rng.low, rng.high, step=rng.step, log=rng.log)
    return params


def _drop_model_only(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``base`` without the options the trial's model does not take (unless the space sets them)."""
    model = params.get("model", base.get("model", "labram"))
    return {
        k: v
        for k, v in base.items()
        if not (k in MODEL_ONLY_FIELDS and model not in MODEL_ONLY_FIELDS[k] and k not in params)
    }


def trial_config(request: SearchRequest, params: dict[str, Any]) -> TrainingConfig:
    """The base config with a trial's values; a LaBraM-only base option is dropped for other models."""
    result = validate_config({**_drop_model_only(request.config, params), **params})
    if not result.valid:
        raise ConfigError(result.errors)
    assert result.config is not None
    return result.config
