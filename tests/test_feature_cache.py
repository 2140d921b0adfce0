"""FeatureCache: frozen-backbone runs on the same windows and backbone reuse the features from disk
(memory-mapped), with the same results; another backbone or other windows miss."""

from __future__ import annotations

import numpy as np
import pytest
from configs import TINY

from eegtrain_jupyter.config.training import parse_config
from eegtrain_jupyter.data.synthetic import generate
from eegtrain_jupyter.engine.events import TrainingListener
from eegtrain_jupyter.engine.feature_cache import FeatureCache
from eegtrain_jupyter.engine.training import train


class CachingBatches(TrainingListener):
    def __init__(self):
        self.n = 0

    def on_batch(self, *, phase, **_):
        self.n += phase == "caching features"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(config, data, cache):
    counter = CachingBatches()
    result = train(parse_config(config), data, listeners=[counter], feature_cache=cache)
    return result, counter.n


@pytest.mark.slow  # five LaBraM builds and passes: ~10 s on a busy CPU
def test_second_frozen_run_reuses_the_features(tmp_path):
    data = generate(50, seed=1)
    cache = FeatureCache(tmp_path / "features")
    first, computed = run({**TINY, "n_epochs": 2}, data, cache)
    assert computed > 0 and len(list((tmp_path / "features").glob("*.npy"))) == 1
    # another learning rate and batch size: the head changes, the backbone features do not
    again, computed_again = run({**TINY, "n_epochs": 2}, data, cache)
    assert computed_again == 0
    assert again.history == first.history  # identical features -> identical training
    other_lr, n = run({**TINY, "learning_rate": 0.003, "batch_size": 16}, data, cache)
    assert n == 0 and other_lr.history["train_losses"][0] != first.history["train_losses"][0]
    # another backbone (seed) or other windows miss, and add an entry each
    _, n_seed = run({**TINY, "seed": 7}, data, cache)
    _, n_data = run(TINY, generate(50, seed=2), cache)
    assert n_seed > 0 and n_data > 0
    entries = list((tmp_path / "features").glob("*.npy"))
    assert len(entries) == 3
    arr = np.load(entries[0], mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (len(data), 200) and arr.dtype == np.float32


def test_cache_keeps_at_most_max_entries(tmp_path):
    cache = FeatureCache(tmp_path, max_entries=2)
    for i in range(4):
        cache.put(f"k{i}", np.full((3, 2), i, np.float32))
    assert sorted(p.stem for p in tmp_path.glob("*.npy")) == ["k2", "k3"]
    assert cache.get("k0") is None and cache.get("k3")[0, 0] == 3
