"""The training configuration: one pydantic schema for REST, the CLI, the panel and the worker.

:mod:`.training` holds :class:`TrainingConfig` and its validation; :mod:`.data` the ``data``
section (synthetic, files, epochs); :mod:`.names` the model and augmentation names; :mod:`.search`
a hyper-parameter search request; :mod:`.evaluation` the
``evaluation`` section (holdout or a cross-validation fold); :mod:`.benchmark` a benchmark request. Light: pydantic only, so the Jupyter server can import it.
"""

from .evaluation import PROTOCOLS, EvaluationConfig
from .training import (
    AUGMENTATIONS,
    CLASSICAL_MODELS,
    MODEL_NAMES,
    MODEL_ONLY_FIELDS,
    NEURAL_MODELS,
    PRESETS,
    ModelName,
    TrainingConfig,
    ValidationResult,
    default_config,
    field_specs,
    json_schema,
    parse_config,
    validate_config,
)

__all__ = [
    "AUGMENTATIONS",
    "CLASSICAL_MODELS",
    "MODEL_NAMES",
    "MODEL_ONLY_FIELDS",
    "NEURAL_MODELS",
    "PRESETS",
    "PROTOCOLS",
    "EvaluationConfig",
    "ModelName",
    "TrainingConfig",
    "ValidationResult",
    "default_config",
    "field_specs",
    "json_schema",
    "parse_config",
    "validate_config",
]
