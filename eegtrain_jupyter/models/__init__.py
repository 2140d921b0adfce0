"""The classifiers: LaBraM (:mod:`.labram`) and braindecode's networks, built by name from a config
(:mod:`.registry`). Torch is imported by the modules, not by this package."""
