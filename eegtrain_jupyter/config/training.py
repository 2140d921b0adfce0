"""Training configuration: the one source of truth for fields, defaults, ranges and presets.

Every surface (REST handlers, notebook panel, CLI) reads the schema from here;
none of them restates a default or a bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import ConfigError, FieldError
from .data import DataSource, SyntheticData
from .evaluation import EvaluationConfig
from .names import (
    AUGMENTATIONS,
    CLASSICAL_MODELS,
    INERT_VALUES,
    MODEL_NAMES,
    MODEL_ONLY_FIELDS,
    NEURAL_MODELS,
    AugmentationName,
    ModelName,
    title,
)

__all__ = [
    "AUGMENTATIONS",
    "CLASSICAL_MODELS",
    "HUB_ID",
    "HUB_PREFIX",
    "MODEL_NAMES",
    "MODEL_ONLY_FIELDS",
    "MODEL_PRESETS",
    "NEURAL_MODELS",
    "PRESETS",
    "ConfigError",
    "FieldError",
    "ModelName",
    "TrainingConfig",
    "ValidationResult",
    "default_config",
    "field_specs",
    "json_schema",
    "parse_config",
    "validate_config",
]


HUB_PREFIX = "hf://"
"""How ``pretrained_weights`` names a Hugging Face hub repository instead of a local path."""
HUB_ID = re.compile(
    r"hf://(?P<repo_id>[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})"
    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9_.\-/]{0,255}))?"
)
"""``hf://OWNER/NAME[@REVISION]``: a model repository on the hub, at a branch, tag or commit."""


class TrainingConfig(BaseModel):
    """Parameters of one training run: data, model, recipe, random seed, weights and device."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, field_title_generator=title)

    model: ModelName = Field(
        "labram",
        description="Classifier: the foundation models LaBraM, CBraMod, EEGPT or BIOT (pretrained "
        "backbone + linear head), the braindecode models ShallowFBCSPNet, EEGNet or EEGConformer, or a "
        "classical baseline (band powers + LDA, CSP + LDA, Riemannian tangent space + logistic regression)",
    )
    n_epochs: int = Field(15, ge=1, le=100, description="Number of training epochs")
    n_samples_per_class: int = Field(
        1500, ge=100, le=5000, description="Synthetic EEG windows generated per class"
    )
    val_split: float = Field(0.2, ge=0.1, le=0.5, description="Validation data fraction")
    freeze_backbone: bool = Field(
        True,
        description="Freeze the foundation model's backbone and train only the classification head",
    )
    learning_rate: float = Field(0.001, ge=0.0001, le=0.01, description="AdamW learning rate")
    batch_size: int = Field(32, ge=16, le=128, description="Training batch size")
    weight_decay: float = Field(0.0001, ge=0.0, le=0.001, description="AdamW weight decay (L2)")
    save_dir: str = Field(
        "./trained_models", min_length=1, description="Directory for checkpoints and history"
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for data, split and weights")
    pretrained_weights: str | None = Field(
        None,
        description="Backbone weights of the foundation model: a local state_dict file, a Hugging Face snapshot folder "
        "(config.json with model.safetensors or pytorch_model.bin), or a hub id "
        "hf://OWNER/NAME[@REVISION]; unset means a randomly initialised backbone",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Compute device; auto picks CUDA when available"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Numeric precision; auto uses bf16 autocast on CUDA and, with a frozen backbone, "
        "on CPUs with native bf16 (AVX512-BF16 or AMX); fp32 otherwise",
    )
    # -- several processes (torchrun; see docs/distributed.md) --
    devices: str = Field(
        "auto",
        pattern=r"^(auto|[1-9][0-9]*|cpu:[1-9][0-9]*)$",
        description="Processes per node: auto (one, on `device`), N (N GPUs, NCCL) or cpu:N (N CPU processes, gloo)",
    )
    nnodes: int = Field(1, ge=1, le=64, description="Number of machines (more than one: torchrun rendezvous)")
    node_rank: int = Field(0, ge=0, le=63, description="This machine's rank; the server's machine is 0")
    rdzv_endpoint: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$",
        description="host:port of node 0's rendezvous store (required when nnodes > 1)",
    )
    # -- data and evaluation --
    data: DataSource = Field(
        default_factory=SyntheticData,
        description="Where the windows come from (source: synthetic, files or epochs)",
    )
    split_by: Literal["auto", "subject", "window"] = Field(
        "auto",
        description="Split train/val/test by subject (no subject in two splits) or by window; "
        "auto: by subject when subjects are known",
    )
    test_split: float = Field(
        0.2,
        ge=0.0,
        le=0.5,
        description="Held-out test fraction, scored once at the end with the "
        "best checkpoint (0: no test split)",
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig,
        description="Evaluation protocol: holdout (one split) or a cross-validation fold "
        "(cross_subject, within_subject, cross_session); a fold's held-out part is the test split",
    )
    early_stopping_patience: int = Field(
        0,
        ge=0,
        le=100,
        description="Stop after this many epochs without a better validation score (0: run every epoch)",
    )
    class_weight: Literal["none", "balanced"] = Field(
        "none", description="balanced: weight the loss by inverse class frequency (training split)"
    )
    # -- the fine-tuning recipe --
    lr_schedule: Literal["constant", "warmup_cosine"] = Field(
        "constant", description="Learning rate over the run: constant, or linear warmup then cosine decay"
    )
    warmup_epochs: int = Field(1, ge=0, le=20, description="Warmup length for warmup_cosine (epochs)")
    label_smoothing: float = Field(0.0, ge=0.0, le=0.5, description="Cross-entropy label smoothing")
    layer_decay: float = Field(
        1.0,
        ge=0.5,
        le=1.0,
        description="Layer-wise learning-rate decay for a fine-tuned backbone (1: same rate everywhere)",
    )
    augmentation: list[AugmentationName] = Field(
        [],  # pydantic copies a mutable default for each config
        json_schema_extra={"uniqueItems": True},
        description="braindecode augmentations applied, in this order, to training batches only "
        "(never validation or test); needs freeze_backbone false (none: off)",
    )
    augmentation_p: float = Field(
        0.5, ge=0.0, le=1.0, description="Probability that each augmentation changes a training window"
    )

    @field_validator("pretrained_weights")
    @classmethod
    def _hub_id_form(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(HUB_PREFIX) and not HUB_ID.fullmatch(value):
            raise ValueError(
                "a hub id reads hf://OWNER/NAME or hf://OWNER/NAME@REVISION "
                "(e.g. hf://braindecode/labram-pretrained)"
            )
        return value

    @field_validator("node_rank")
    @classmethod
    def _node_rank_below_nnodes(cls, value: int, info: ValidationInfo) -> int:
        if value >= info.data.get("nnodes", 1):
            raise ValueError("must be below nnodes")
        return value

    @field_validator("rdzv_endpoint")
    @classmethod
    def _endpoint_for_several_nodes(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("nnodes", 1) > 1:
            raise ValueError("required when nnodes > 1 (host:port of node 0)")
        return value

    @field_validator("evaluation")
    @classmethod
    def _evaluation_fits_the_data(cls, value: EvaluationConfig, info: ValidationInfo) -> EvaluationConfig:
        """What a synthetic source can say before any window exists (files and epochs: the scan)."""
        source = info.data.get("data")
        if not isinstance(source, SyntheticData) or not value.folded:
            return value
        if value.protocol == "cross_session":
            raise _named("evaluation.protocol", "cross_session needs sessions; synthetic data has none")
        if source.n_subjects < 2:
            raise _named(
                "evaluation.protocol", f"{value.protocol} needs at least 2 subjects (data.n_subjects)"
            )
        n_folds = min(value.n_folds, source.n_subjects) if value.protocol == "cross_subject" else None
        if n_folds is not None and value.fold >= n_folds:
            raise _named(
                "evaluation.fold",
                f"fold {value.fold} is not below the {n_folds} folds of {source.n_subjects} subjects",
            )
        return value

    @field_validator("augmentation")
    @classmethod
    def _augmentation_trains_the_backbone(cls, value: list[str], info: ValidationInfo) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        if value and info.data.get("freeze_backbone", True):
            # a frozen backbone's features are computed once (and cached), before any batch exists
            raise ValueError("requires freeze_backbone: false (frozen features are computed once)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _model_only_fields(cls, data: Any) -> Any:
        """Options of other models (:data:`MODEL_ONLY_FIELDS`): a field left unset takes its inert
        value (:data:`INERT_VALUES`: ``freeze_backbone`` false; a classical baseline's ``n_epochs``
        1 and ``device`` cpu; else the default); any other value is a per-field error
        (``model_option``)."""
        if not isinstance(data, dict):
            return data
        model = data.get("model", "labram")
        if model not in MODEL_NAMES:
            return data  # the field's own validation names it
        data = dict(data)
        for name, models in MODEL_ONLY_FIELDS.items():
            if model in models:
                continue
            inert = INERT_VALUES.get(name) or (cls.model_fields[name].get_default(call_default_factory=True),)
            if name not in data:
                data[name] = inert[0]
            elif data[name] not in inert:
                which = (
                    f"the neural models ({', '.join(models)})"
                    if models == NEURAL_MODELS
                    else f"model {' or '.join(models)}"
                )
                raise PydanticCustomError(
                    "model_option",
                    "{message}",
                    {"field": name, "message": f"applies only to {which}, not {model}"},
                )
        return data


def _named(field: str, message: str) -> PydanticCustomError:
    """A validation error about ``field`` (a dotted name), raised by a validator of its section."""
    return PydanticCustomError("named_field", "{message}", {"field": field, "message": message})


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"n_epochs": 2, "n_samples_per_class": 100, "batch_size": 32},
    "default": {},
    "fine-tune": {"freeze_backbone": False, "learning_rate": 0.0003, "n_epochs": 10},
}
"""Named partial configs; each merges onto the defaults (then :data:`MODEL_PRESETS`, for the model)."""

MODEL_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cbramod": {
        "fine-tune": {"learning_rate": 0.0001, "lr_schedule": "warmup_cosine", "label_smoothing": 0.1},
    },
    "eegpt": {
        "fine-tune": {"learning_rate": 0.0001, "lr_schedule": "warmup_cosine", "layer_decay": 0.75},
    },
    "biot": {
        "fine-tune": {"learning_rate": 0.0003, "lr_schedule": "warmup_cosine"},
    },
}
"""A preset's values for one model, merged over :data:`PRESETS` when the request names that model.

Fine-tuning a pretrained transformer wants a smaller rate than training a head alone, and a warmup
so the new head's first, large gradients do not undo the pretraining (CBraMod's and EEGPT's own
fine-tuning use 1e-4 with a cosine schedule). EEGPT, the largest (25 M parameters in eight blocks),
also decays the rate towards its input blocks. These are starting points for this product's short
runs, not the papers' full recipes (those run 50-100 epochs)."""


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
        elif err["type"] in ("model_option", "named_field"):  # raised elsewhere, about one field
            name = str(err["ctx"]["field"])
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
        model = data.get("model", PRESETS[preset].get("model", "labram"))
        # a preset's options of other models do not apply to this one (its fields stay inert)
        merged.update(
            {k: v for k, v in PRESETS[preset].items() if model in MODEL_ONLY_FIELDS.get(k, (model,))}
        )
        if isinstance(model, str):
            merged.update(MODEL_PRESETS.get(model, {}).get(preset, {}))
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
    # a default_factory has no "default" in pydantic's schema: state it, as for every other field
    schema["properties"]["data"]["default"] = TrainingConfig().data.model_dump()
    schema["properties"]["evaluation"]["default"] = TrainingConfig().evaluation.model_dump()
    schema["presets"] = {name: parse_config(preset=name).model_dump() for name in PRESETS}
    schema["model_presets"] = MODEL_PRESETS
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
            "choices": prop.get("enum") or prop.get("items", {}).get("enum"),  # an array's: its items
            "nullable": "anyOf" in prop,
            "description": info.description or "",
        }
    return specs
