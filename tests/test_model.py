"""LabramClassifier: the real braindecode LaBraM with channel names, freezing, local weights."""

from __future__ import annotations

import pytest
import torch

from eegtrain_jupyter.data.synthetic import CH_NAMES, generate
from eegtrain_jupyter.models.labram import HEAD_NAME, PretrainedWeightsError, build_classifier


@pytest.fixture(scope="module")
def x():
    return torch.from_numpy(generate(4, seed=0).X)


def build(**kwargs):
    return build_classifier(CH_NAMES, 800, 200.0, **{"seed": 0, **kwargs})


def test_forward_shape_and_features_path_agree(x):
    model, info = build()
    assert info.origin == "random" and "randomly initialised" in info.message
    model.eval()
    with torch.inference_mode():
        logits = model(x)
        assert logits.shape == (8, 2)
        assert torch.allclose(model.head(model.features(x)), logits, atol=1e-5)


def test_seeded_build_is_reproducible_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a, _ = build(seed=5)
    b, _ = build(seed=5)
    c, _ = build(seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_freeze_backbone_leaves_only_the_head_trainable():
    model, _ = build(freeze_backbone=True)
    trainable = {n for n, p in model.labram.named_parameters() if p.requires_grad}
    assert trainable == {f"{HEAD_NAME}.weight", f"{HEAD_NAME}.bias"}


def test_local_pretrained_weights_load_with_keys_reported(tmp_path):
    donor, _ = build(seed=9)
    state = {f"module.{k}": v for k, v in donor.labram.state_dict().items() if not k.startswith("blocks.11.")}
    state["extra.unused"] = torch.zeros(3)
    path = tmp_path / "labram.pth"
    torch.save({"model": state}, path)
    model, info = build(seed=0, pretrained_weights=str(path))
    assert info.origin == "pretrained" and str(path) in info.message
    assert info.unexpected_keys == ["extra.unused"]
    assert info.missing_keys and all(k.startswith("blocks.11.") for k in info.missing_keys)
    own, given = model.labram.state_dict(), donor.labram.state_dict()
    fresh = build(seed=0)[0].labram.state_dict()
    for key in own:
        source = fresh if key in info.missing_keys or key.startswith(HEAD_NAME + ".") else given
        assert torch.equal(own[key], source[key]), key


@pytest.mark.parametrize("content", ["not a state dict", {"a.b": torch.zeros(1)}])
def test_unusable_weights_are_refused(tmp_path, content):
    path = tmp_path / "bad.pth"
    torch.save(content, path)
    with pytest.raises(PretrainedWeightsError):
        build(pretrained_weights=str(path))
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build(pretrained_weights=str(tmp_path / "missing.pth"))
