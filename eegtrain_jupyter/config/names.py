"""The names a training config chooses from, and the labels its fields carry.

The models a run can train, the augmentations it can apply, which fields apply to which model,
and each field's title (forms, docs and the JSON Schema read them through :mod:`.config`).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["AUGMENTATIONS", "MODEL_NAMES", "MODEL_ONLY_FIELDS", "AugmentationName", "ModelName", "title"]

ModelName = Literal["labram", "shallow_fbcsp", "eegnet", "eegconformer"]
MODEL_NAMES: tuple[str, ...] = ("labram", "shallow_fbcsp", "eegnet", "eegconformer")
"""The classifiers a run can train (:mod:`~eegtrain_jupyter.models` builds each)."""
AugmentationName = Literal[
    "time_reverse",
    "sign_flip",
    "ft_surrogate",
    "channels_dropout",
    "smooth_time_mask",
    "gaussian_noise",
    "frequency_shift",
]
AUGMENTATIONS: tuple[str, ...] = AugmentationName.__args__  # type: ignore[attr-defined]
"""braindecode.augmentation transforms a run may apply to its training batches
(:mod:`~eegtrain_jupyter.engine.augmentation` builds each)."""
MODEL_ONLY_FIELDS: dict[str, tuple[str, ...]] = {
    "freeze_backbone": ("labram",),
    "pretrained_weights": ("labram",),
}
"""Fields that apply only to some models: a non-default value with another model is refused.
A model without a backbone trains end to end, so ``freeze_backbone`` left at its default turns off."""


_TITLES = {
    "model": "Model",
    "devices": "Processes",
    "nnodes": "Machines",
    "node_rank": "Machine rank",
    "rdzv_endpoint": "Rendezvous",
    "split_by": "Split by",
    "test_split": "Test fraction",
    "early_stopping_patience": "Early stopping",
    "class_weight": "Class weight",
    "lr_schedule": "LR schedule",
    "warmup_epochs": "Warmup epochs",
    "label_smoothing": "Label smoothing",
    "layer_decay": "Layer LR decay",
    "augmentation": "Augmentation",
    "augmentation_p": "Augmentation p",
    "n_epochs": "Epochs",
    "n_samples_per_class": "Windows per class",
    "val_split": "Validation fraction",
    "freeze_backbone": "Freeze backbone",
    "learning_rate": "Learning rate",
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "save_dir": "Save folder",
    "seed": "Seed",
    "pretrained_weights": "Pretrained weights",
    "device": "Device",
    "precision": "Precision",
}
"""Labels for forms and docs; a field not listed gets its name in sentence case."""


def title(name: str, _info: object) -> str:
    """The label of field ``name`` (pydantic's ``field_title_generator``)."""
    return _TITLES.get(name) or name.replace("_", " ").capitalize()
