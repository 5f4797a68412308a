"""Hyperparameter sweeps on Ray Tune. Importing this package does not import Ray: ``space``, ``record``
and ``command`` work without it; ``tuner`` and ``trial`` (loaded when a sweep runs) need it."""

METRICS = {"fid": "min", "classifier_score": "max"}  # from the snapshot evaluations (eval_samples each)
