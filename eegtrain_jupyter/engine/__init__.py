"""Training as a plain function (:mod:`.training`): the loop, precision, recipe, augmentation,
metrics, the feature cache, the events listeners receive and the files a run writes.

:mod:`.events` and :mod:`.artifacts` are light (no torch) and read by the service; the rest runs
in a worker process."""
