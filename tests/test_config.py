"""The config schema: ranges, defaults, merging, errors, presets, JSON Schema."""

from __future__ import annotations

import pytest

from eegtrain_jupyter.config.training import (
    PRESETS,
    ConfigError,
    TrainingConfig,
    field_specs,
    json_schema,
    parse_config,
    validate_config,
)

SEED_DEFAULTS = {
    "n_epochs": 15,
    "n_samples_per_class": 1500,
    "val_split": 0.2,
    "freeze_backbone": True,
    "learning_rate": 0.001,
    "batch_size": 32,
    "weight_decay": 0.0001,
    "save_dir": "./trained_models",
}

# (field, lowest valid, highest valid, just below, just above): the seed's ranges.
RANGES = [
    ("n_epochs", 1, 100, 0, 101),
    ("n_samples_per_class", 100, 5000, 99, 5001),
    ("val_split", 0.1, 0.5, 0.0999, 0.5001),
    ("learning_rate", 0.0001, 0.01, 0.000099, 0.0101),
    ("batch_size", 16, 128, 15, 129),
    ("weight_decay", 0.0, 0.001, -1e-9, 0.0011),
]


def test_defaults_are_the_seeds():
    assert {k: v for k, v in parse_config().model_dump().items() if k in SEED_DEFAULTS} == SEED_DEFAULTS
    extra = parse_config()
    assert (extra.seed, extra.pretrained_weights, extra.device, extra.precision) == (42, None, "auto", "auto")


@pytest.mark.parametrize(("name", "lo", "hi", "below", "above"), RANGES)
def test_range_boundaries(name, lo, hi, below, above):
    assert getattr(parse_config({name: lo}), name) == lo
    assert getattr(parse_config({name: hi}), name) == hi
    for bad in (below, above):
        result = validate_config({name: bad})
        assert not result.valid
        assert [e.field for e in result.errors] == [name]
        assert "greater" in result.errors[0].message or "less" in result.errors[0].message


def test_partial_dict_merges_onto_defaults():
    config = parse_config({"n_epochs": 3, "freeze_backbone": False})
    assert config.n_epochs == 3 and config.freeze_backbone is False
    assert config.batch_size == SEED_DEFAULTS["batch_size"]


def test_unknown_field_rejected_by_name():
    result = validate_config({"n_epoch": 3, "lr": 0.1})
    assert not result.valid
    assert {e.field for e in result.errors} == {"n_epoch", "lr"}
    assert all(e.message == "unknown field" for e in result.errors)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_epochs", "15"),
        ("n_epochs", 2.5),
        ("freeze_backbone", "yes"),
        ("freeze_backbone", 1),
        ("batch_size", None),
        ("device", "tpu"),
        ("save_dir", ""),
        ("save_dir", 3),
    ],
)
def test_wrong_types_are_field_errors(name, value):
    result = validate_config({name: value})
    assert not result.valid and result.errors[0].field == name


def test_every_error_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({"n_epochs": 0, "batch_size": 1000, "val_split": 0.9})
    assert {e.field for e in info.value.errors} == {"n_epochs", "batch_size", "val_split"}
    assert "n_epochs" in str(info.value)


def test_non_object_is_an_error():
    result = validate_config([1, 2])  # type: ignore[arg-type]
    assert not result.valid and result.errors[0].field == "config"


def test_int_accepted_for_float_fields():
    assert parse_config({"weight_decay": 0}).weight_decay == 0.0
    assert parse_config({"val_split": 0.25}).val_split == 0.25


def test_presets_merge_and_differ():
    assert set(PRESETS) >= {"quick", "default", "fine-tune"}
    assert parse_config(preset="default") == TrainingConfig()
    fine = parse_config(preset="fine-tune")
    assert fine.freeze_backbone is False and fine.learning_rate < TrainingConfig().learning_rate
    quick = parse_config({"n_epochs": 1}, preset="quick")
    assert quick.n_epochs == 1 and quick.n_samples_per_class == PRESETS["quick"]["n_samples_per_class"]
    assert validate_config(preset="nope").errors[0].field == "preset"


def test_json_schema_comes_from_the_model():
    schema = json_schema()
    props = schema["properties"]
    for name, lo, hi, _, _ in RANGES:
        assert (props[name]["minimum"], props[name]["maximum"]) == (lo, hi)
        assert props[name]["default"] == SEED_DEFAULTS[name]
    assert schema["additionalProperties"] is False
    assert schema["presets"]["fine-tune"]["freeze_backbone"] is False


def test_field_specs_cover_every_field():
    specs = field_specs()
    assert list(specs) == list(TrainingConfig.model_fields)
    assert specs["batch_size"] == {
        **specs["batch_size"],
        "type": "integer",
        "minimum": 16,
        "maximum": 128,
        "default": 32,
    }
    assert specs["freeze_backbone"]["type"] == "boolean"
    assert specs["device"]["choices"] == ["auto", "cpu", "cuda"]
    assert specs["pretrained_weights"]["nullable"] and specs["pretrained_weights"]["type"] == "string"
