"""The names a training config chooses from, and the labels its fields carry.

The models a run can train, the augmentations it can apply, which fields apply to which model,
and each field's title (forms, docs and the JSON Schema read them through :mod:`.config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AUGMENTATIONS",
    "BACKBONE_MODELS",
    "CLASSICAL_MODELS",
    "COLLAPSED_SECTIONS",
    "FIELD_SECTIONS",
    "INERT_VALUES",
    "MODEL_FOOTPRINT",
    "MODEL_NAMES",
    "MODEL_ONLY_FIELDS",
    "NATIVE_SIGNAL",
    "NEURAL_MODELS",
    "SOURCE_ONLY_FIELDS",
    "AugmentationName",
    "Footprint",
    "ModelName",
    "NativeSignal",
    "native_signal",
    "title",
]

ModelName = Literal[
    "labram",
    "shallow_fbcsp",
    "eegnet",
    "eegconformer",
    "cbramod",
    "eegpt",
    "biot",
    "bandpower_lda",
    "csp_lda",
    "tangent_space_lr",
]
NEURAL_MODELS: tuple[str, ...] = (
    "labram",
    "shallow_fbcsp",
    "eegnet",
    "eegconformer",
    "cbramod",
    "eegpt",
    "biot",
)
"""The torch networks (:mod:`~eegtrain_jupyter.models.registry` builds each); trained by gradient descent."""
CLASSICAL_MODELS: tuple[str, ...] = ("bandpower_lda", "csp_lda", "tangent_space_lr")
"""The scikit-learn baselines (:mod:`~eegtrain_jupyter.models.classical` builds each); fitted once."""
MODEL_NAMES: tuple[str, ...] = NEURAL_MODELS + CLASSICAL_MODELS
"""The classifiers a run can train."""
BACKBONE_MODELS: tuple[str, ...] = ("labram", "cbramod", "eegpt", "biot")
"""The pretrained foundation models: a backbone (its weights loadable from ``pretrained_weights``,
frozen with ``freeze_backbone``) and a linear head."""


@dataclass(frozen=True)
class NativeSignal:
    """What a model reads: its sampling rate, its patch, and the channel names it can place.

    Attributes
    ----------
    sfreq : float
        Sampling rate in Hz the data is resampled to (the rate the model was pretrained at).
    patch : int
        Samples per patch (a window is a whole number of them).
    vocabulary : str
        Whose channel names the model places: ``labram`` (braindecode's ``LABRAM_CHANNEL_ORDER``,
        every model's naming) or ``eegpt`` (``EEGPT_CHANNELS``, a 62-name subset of it).
    """

    sfreq: float = 200.0
    patch: int = 200
    vocabulary: Literal["labram", "eegpt"] = "labram"


NATIVE_SIGNAL: dict[str, NativeSignal] = {
    "cbramod": NativeSignal(200.0, 200),
    "eegpt": NativeSignal(256.0, 64, "eegpt"),
    "biot": NativeSignal(200.0, 200),
}
"""Models whose signal differs from the default (200 Hz, 200-sample patches, LaBraM's names)."""


def native_signal(model: str) -> NativeSignal:
    """The :class:`NativeSignal` of ``model`` (the default for models not in :data:`NATIVE_SIGNAL`)."""
    return NATIVE_SIGNAL.get(model, NativeSignal())


@dataclass(frozen=True)
class Footprint:
    """What a model costs in memory, for the pre-flight check (``runtime.resources``).

    Measured on the synthetic windows (8 channels, 4 s at the model's native rate), CPU, fp32.

    Attributes
    ----------
    parameters : float
        Parameters of the network, backbone and head (0 for a scikit-learn baseline).
    activation_mb : float
        Peak memory a fine-tuning step adds per window, in MB: the tensors autograd saves for the
        backward pass per window (batch 4 less batch 2, halved), scaled by LaBraM's measured ratio
        of peak RSS growth to them (10 MB RSS for 7.35 MB saved).
    """

    parameters: float
    activation_mb: float


MODEL_FOOTPRINT: dict[str, Footprint] = {
    "labram": Footprint(5.82e6, 10.0),
    "shallow_fbcsp": Footprint(1.8e4, 0.72),
    "eegnet": Footprint(2.32e3, 0.87),
    "eegconformer": Footprint(5.45e5, 3.0),
    "cbramod": Footprint(4.94e6, 9.5),
    "eegpt": Footprint(2.54e7, 135.0),
    "biot": Footprint(3.19e6, 6.5),
    **dict.fromkeys(CLASSICAL_MODELS, Footprint(0.0, 0.0)),
}
"""Every model's :class:`Footprint`, by config name."""


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
    "freeze_backbone": BACKBONE_MODELS,
    "pretrained_weights": BACKBONE_MODELS,
    **dict.fromkeys(
        (
            # the gradient-descent recipe and where it runs: a classical baseline is fitted once, on CPU
            "n_epochs",
            "learning_rate",
            "batch_size",
            "weight_decay",
            "early_stopping_patience",
            "lr_schedule",
            "warmup_epochs",
            "label_smoothing",
            "layer_decay",
            "augmentation",
            "augmentation_p",
            "device",
            "precision",
            "devices",
            "nnodes",
            "node_rank",
            "rdzv_endpoint",
        ),
        NEURAL_MODELS,
    ),
}
"""Fields that apply only to some models. With another model the field takes an inert value
(:data:`INERT_VALUES`, else its default) and any other value is refused, naming the field."""
INERT_VALUES: dict[str, tuple[object, ...]] = {
    "freeze_backbone": (False,),
    "n_epochs": (1,),
    "device": ("cpu", "auto"),
}
"""The values a field takes with a model it does not apply to, where not just its default; the first
fills the field when unset. A model without a backbone trains end to end; a classical baseline is
fitted once (one epoch in its history), on the CPU."""

SOURCE_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"n_samples_per_class": ("synthetic",)}
"""Fields that apply only to some data sources (``data.source``): the synthetic generator's size means
nothing to recordings. With another source the field keeps its default and is not read."""

FIELD_SECTIONS: dict[str, tuple[str, ...]] = {
    "Data": ("n_samples_per_class",),
    "Model": ("model", "freeze_backbone", "pretrained_weights"),
    "Training": (
        "n_epochs",
        "learning_rate",
        "batch_size",
        "weight_decay",
        "early_stopping_patience",
        "class_weight",
        "seed",
        "device",
        "precision",
        "save_dir",
    ),
    "Evaluation": ("val_split", "test_split", "split_by"),
    "Advanced (recipe, augmentation)": (
        "lr_schedule",
        "warmup_epochs",
        "label_smoothing",
        "layer_decay",
        "augmentation",
        "augmentation_p",
    ),
    "Distributed": ("devices", "nnodes", "node_rank", "rdzv_endpoint"),
}
"""The sections a form groups the fields in, in order (a field listed nowhere goes to Training)."""
COLLAPSED_SECTIONS: tuple[str, ...] = ("Advanced (recipe, augmentation)", "Distributed")
"""Sections a form shows folded: most runs keep their defaults."""


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
