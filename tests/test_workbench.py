"""What a worker keeps between runs gives each run what a fresh worker would (real LaBraM)."""

from __future__ import annotations

import torch
from configs import TINY

from eegtrain_jupyter.config.training import TrainingConfig
from eegtrain_jupyter.engine.feature_cache import FeatureCache
from eegtrain_jupyter.models import registry as models
from eegtrain_jupyter.models.labram import HEAD_NAME
from eegtrain_jupyter.runtime.workbench import Workbench


def _config(**update) -> TrainingConfig:
    return TrainingConfig.model_validate({**TINY, **update})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_windows_are_kept_per_synthetic_source(tmp_path):
    bench = Workbench()
    first = bench.windows(_config(), None, None)
    assert bench.windows(_config(learning_rate=0.01), None, None) is first  # training fields: same data
    other = bench.windows(_config(seed=7), None, None)
    assert other is not first and not (other.X == first.X).all()


def test_builds_are_fresh_copies_of_what_build_gives(tmp_path):
    bench = Workbench()
    config = _config()
    windows = bench.windows(config, None, None)
    facts = (windows.ch_names, windows.n_times, windows.sfreq, windows.n_classes)
    first, info = bench.build(config, *facts)
    reference, _ = models.build(config, *facts)
    assert _same_weights(first, reference) and info.origin == "random"
    with torch.no_grad():  # a run trains its copy...
        first.head.weight.add_(1.0)
    second, _ = bench.build(config.model_copy(update={"learning_rate": 0.01}), *facts)
    assert second is not first and _same_weights(second, reference)  # ...the next run never sees it
    assert torch.is_grad_enabled()
    # a frozen backbone is shared (training cannot change it), the head never is
    shared = {id(m) for m in first.modules()} & {id(m) for m in second.modules()}
    assert id(first.labram.blocks) in shared and id(first.head) not in shared
    assert all(not p.requires_grad for m in second.modules() if id(m) in shared for p in m.parameters())
    # a model that trains end to end shares nothing
    tuned = config.model_copy(update={"freeze_backbone": False})
    a, _ = bench.build(tuned, *facts)
    with torch.no_grad():
        next(a.labram.blocks.parameters()).add_(1.0)
    b, _ = bench.build(tuned, *facts)
    assert not ({id(p) for p in a.parameters()} & {id(p) for p in b.parameters()})
    assert _same_weights(b, models.build(tuned, *facts)[0])
    # a field build reads gives another model
    other, _ = bench.build(config.model_copy(update={"seed": 3}), *facts)
    assert not _same_weights(other, reference)
    assert set(models.BUILD_FIELDS) <= set(TrainingConfig.model_fields)


def test_feature_keys_are_the_cache_keys_computed_once(tmp_path):
    bench = Workbench()
    config = _config()
    windows = bench.windows(config, None, None)
    facts = (windows.ch_names, windows.n_times, windows.sfreq, windows.n_classes)
    memo, plain = bench.feature_cache(tmp_path), FeatureCache(tmp_path)
    model, _ = bench.build(config, *facts)
    args = {"head": HEAD_NAME, "precision": "fp32", "device": "cpu"}
    key = memo.key(windows.X, model.labram, **args)
    assert key == plain.key(windows.X, model.labram, **args)
    again, _ = bench.build(config, *facts)
    assert memo.key(windows.X, again.labram, **args) == key
    assert len(bench._feature_keys) == 1  # the second key came from the memo
    # windows or a backbone that did not come from the bench are hashed as usual
    stranger, _ = models.build(config.model_copy(update={"seed": 5}), *facts)
    assert memo.key(windows.X, stranger.labram, **args) == plain.key(windows.X, stranger.labram, **args)
    assert memo.key(windows.X.copy(), again.labram, **args) == key  # same values, hashed: same key
    assert len(bench._feature_keys) == 1
