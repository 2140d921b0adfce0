"""Training configuration: the one source of truth for fields, defaults, ranges and presets.

Every surface (REST handlers, notebook panel, CLI) reads the schema from here;
none of them restates a default or a bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .data_config import DataSource, SyntheticData
from .errors import ConfigError, FieldError

__all__ = [
    "TrainingConfig",
    "ConfigError",
    "FieldError",
    "ValidationResult",
    "PRESETS",
    "default_config",
    "validate_config",
    "parse_config",
    "json_schema",
    "field_specs",
]


class TrainingConfig(BaseModel):
    """Parameters of one training run (the seed's fields plus seed, weights and device)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    n_epochs: int = Field(15, ge=1, le=100, description="Number of training epochs")
    n_samples_per_class: int = Field(
        1500, ge=100, le=5000, description="Synthetic EEG windows generated per class"
    )
    val_split: float = Field(0.2, ge=0.1, le=0.5, description="Validation data fraction")
    freeze_backbone: bool = Field(
        True, description="Freeze the LaBraM backbone and train only the classification head"
    )
    learning_rate: float = Field(0.001, ge=0.0001, le=0.01, description="AdamW learning rate")
    batch_size: int = Field(32, ge=16, le=128, description="Training batch size")
    weight_decay: float = Field(0.0001, ge=0.0, le=0.001, description="AdamW weight decay (L2)")
    save_dir: str = Field(
        "./trained_models", min_length=1, description="Directory for checkpoints and history"
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for data, split and weights")
    pretrained_weights: str | None = Field(
        None, description="Local LaBraM state_dict file; unset means a randomly initialised backbone"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Compute device; auto picks CUDA when available"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Numeric precision; auto uses bf16 autocast on CUDA, fp32 on CPU"
    )
    # -- data and evaluation (issue 11) --
    data: DataSource = Field(
        default_factory=SyntheticData, description="Where the windows come from (source: synthetic, "
                                                   "files or epochs)")
    split_by: Literal["auto", "subject", "window"] = Field(
        "auto", description="Split train/val/test by subject (no subject in two splits) or by window; "
                            "auto: by subject when subjects are known")
    test_split: float = Field(
        0.2, ge=0.0, le=0.5, description="Held-out test fraction, scored once at the end with the "
                                         "best checkpoint (0: no test split)")
    early_stopping_patience: int = Field(
        0, ge=0, le=100, description="Stop after this many epochs without a better validation "
                                     "score (0: run every epoch)")
    class_weight: Literal["none", "balanced"] = Field(
        "none", description="balanced: weight the loss by inverse class frequency (training split)")


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"n_epochs": 2, "n_samples_per_class": 100, "batch_size": 32},
    "default": {},
    "fine-tune": {"freeze_backbone": False, "learning_rate": 0.0003, "n_epochs": 10},
}
"""Named partial configs; each merges onto the defaults."""


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of :func:`validate_config`: the merged config when valid, else per-field errors."""

    valid: bool
    errors: list[FieldError] = field(default_factory=list)
    config: TrainingConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [e.to_dict() for e in self.errors],
            "config": self.config.model_dump() if self.config else None,
        }


def default_config() -> TrainingConfig:
    """The defaults, as a config."""
    return TrainingConfig()


_SOURCES = ("synthetic", "files", "epochs")


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) > 1 and loc[0] == "data" and loc[1] in _SOURCES:  # the union's tag: not a field
            del loc[1]
        name = ".".join(str(p) for p in loc) or "config"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(FieldError(name, message))
    return errors


_INT_FIELDS = tuple(name for name, f in TrainingConfig.model_fields.items() if f.annotation is int)


def validate_config(
    data: dict[str, Any] | TrainingConfig | None = None, *, preset: str | None = None
) -> ValidationResult:
    """Merge a partial dict onto the defaults (or a preset) and validate every field.

    Parameters
    ----------
    data : dict | TrainingConfig | None
        Partial config; missing fields take their default.
    preset : str | None
        Name of a preset in :data:`PRESETS` applied before ``data``.
    """
    if isinstance(data, TrainingConfig):
        return ValidationResult(True, [], data)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return ValidationResult(False, [FieldError("config", "must be a JSON object")])
    merged: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            return ValidationResult(
                False, [FieldError("preset", f"unknown preset; choose one of {sorted(PRESETS)}")]
            )
        merged.update(PRESETS[preset])
    merged.update(data)
    # JSON has one number type: 32.0 is the integer 32 (JSON Schema agrees), so an integral
    # float for an int field is that int; 32.5 stays a float and is refused below
    for name in _INT_FIELDS:
        value = merged.get(name)
        if isinstance(value, float) and value.is_integer():
            merged[name] = int(value)
    try:
        # strict: JSON types must match (no "15" for an int, no 1 for a bool)
        config = TrainingConfig.model_validate(merged, strict=True)
    except ValidationError as exc:
        return ValidationResult(False, _field_errors(exc))
    return ValidationResult(True, [], config)


def parse_config(
    data: dict[str, Any] | TrainingConfig | None = None, *, preset: str | None = None
) -> TrainingConfig:
    """Like :func:`validate_config` but returns the config or raises :class:`ConfigError`."""
    result = validate_config(data, preset=preset)
    if not result.valid:
        raise ConfigError(result.errors)
    assert result.config is not None
    return result.config


def json_schema() -> dict[str, Any]:
    """JSON Schema of :class:`TrainingConfig` (from pydantic) with the presets attached."""
    schema = TrainingConfig.model_json_schema()
    schema["presets"] = {name: parse_config(preset=name).model_dump() for name in PRESETS}
    return schema


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def field_specs() -> dict[str, dict[str, Any]]:
    """Per-field facts for building forms and CLI flags: type, default, bounds, choices, help."""
    specs: dict[str, dict[str, Any]] = {}
    props = TrainingConfig.model_json_schema()["properties"]
    for name, info in TrainingConfig.model_fields.items():
        prop = props[name]
        kind = prop.get("type")
        if kind is None and "anyOf" in prop:  # Optional[str]
            kind = next((p["type"] for p in prop["anyOf"] if p.get("type") != "null"), "object")
        if kind is None:  # a nested section (data): a JSON object
            kind = "object"
        specs[name] = {
            "type": kind,
            "default": _plain(info.get_default(call_default_factory=True)),
            "minimum": prop.get("minimum"),
            "maximum": prop.get("maximum"),
            "choices": prop.get("enum"),
            "nullable": "anyOf" in prop,
            "description": info.description or "",
        }
    return specs
