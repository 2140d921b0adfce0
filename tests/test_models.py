"""The model registry: every model trains a tiny epoch on CPU, reloads from its checkpoint, and
LaBraM-only options are refused per field for the others."""

from __future__ import annotations

import pytest
import torch
from configs import TINY

from eegtrain_jupyter.config.names import BACKBONE_MODELS
from eegtrain_jupyter.config.training import NEURAL_MODELS, parse_config, validate_config
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.engine import artifacts
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.engine.training import train
from eegtrain_jupyter.models import registry as models
from eegtrain_jupyter.models.labram import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return generate(50, seed=3)


class ModelEvents(TrainingListener):
    def __init__(self):
        self.model, self.phases = None, []

    def on_model(self, **facts):
        self.model = facts

    def on_phase(self, phase):
        self.phases.append(phase)


def test_registry_matches_the_config_names():
    assert tuple(models.MODELS) == NEURAL_MODELS
    assert [m for m, spec in models.MODELS.items() if spec.has_backbone] == list(BACKBONE_MODELS)


@pytest.mark.parametrize(
    "name",
    [
        "shallow_fbcsp",
        "eegnet",
        pytest.param("eegconformer", marks=pytest.mark.slow),
        pytest.param("labram", marks=pytest.mark.slow),
    ],
)
def test_each_model_trains_one_epoch_and_reloads(name, data, tmp_path):
    config = parse_config({**TINY, "model": name, "batch_size": 16})
    events = ModelEvents()
    result = train(config, data, tmp_path, listeners=[events])
    assert result.epochs_completed == 1 and not result.stopped
    assert events.model["name"] == name and events.model["n_parameters"] > 0
    # only LaBraM caches backbone features; the others train end to end (all parameters)
    assert ("caching features" in events.phases) == (name == "labram")
    if name != "labram":
        assert events.model["n_trainable"] == events.model["n_parameters"]
    model, ckpt = load_checkpoint(tmp_path / artifacts.SYNTHETIC_CHECKPOINT_NAME)
    assert ckpt["model"] == name
    assert ckpt["model_class"].endswith(models.get(name).label)
    assert sum(p.numel() for p in model.parameters()) == events.model["n_parameters"]
    x = torch.from_numpy(data.X[:4])
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (4, 2) and torch.isfinite(logits).all()
    # the saved weights are the best epoch's: the reloaded model reproduces its validation accuracy
    assert ckpt["metrics"]["val_acc"] == result.best_val_acc


def test_builds_are_seeded_and_leave_the_global_rng(data):
    state = torch.random.get_rng_state()
    facts = (data.ch_names, data.n_times, data.sfreq, 2)
    a, _ = models.build(parse_config({"model": "eegnet", "seed": 1}), *facts)
    b, _ = models.build(parse_config({"model": "eegnet", "seed": 1}), *facts)
    c, _ = models.build(parse_config({"model": "eegnet", "seed": 2}), *facts)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_labram_only_options_are_refused_per_field_for_other_models():
    result = validate_config({"model": "eegnet", "freeze_backbone": True, "pretrained_weights": "w.pth"})
    assert not result.valid
    fields = {e.field: e.message for e in result.errors}
    assert set(fields) == {"freeze_backbone"}  # the first model-only field named; then the next
    assert "labram" in fields["freeze_backbone"] and "eegnet" in fields["freeze_backbone"]
    errors = validate_config({"model": "shallow_fbcsp", "pretrained_weights": "w.pth"}).errors
    assert [(e.field, "only to model labram" in e.message) for e in errors] == [("pretrained_weights", True)]


def test_models_without_a_backbone_default_to_end_to_end_and_labram_is_unchanged():
    assert parse_config({"model": "eegconformer"}).freeze_backbone is False
    assert parse_config({"model": "eegnet", "freeze_backbone": False}).freeze_backbone is False
    assert parse_config().model == "labram" and parse_config().freeze_backbone is True
    assert [e.field for e in validate_config({"model": "resnet"}).errors] == ["model"]
