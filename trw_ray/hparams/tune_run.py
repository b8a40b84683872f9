"""What the search driver changes around Ray Tune's ``Tuner.fit``, for the duration of the fit only: environment
defaults the user has not set, Tune's per-trial "no result.json" warning quieted, and Tune's trainable lookups
cached.

Tune looks a trial's trainable up in the cluster's key-value store and unpickles it twice per trial (when it
creates the trial and when it schedules its actor): about 2-4 ms a trial on a 2-core machine, and each lookup
returns a new class, so Tune's own cache of actor classes, keyed by the class, never hits. Within one fit the
trainable registered under a name does not change, so :func:`cached_trainable_lookups` keeps the first lookup of
each name (measured with 100 trivial trials in ``benchmarks/search_efficiency.py`` part (c); see
``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping

__all__ = ["cached_trainable_lookups", "environment_defaults", "without_missing_tune_metrics_warning"]


@contextlib.contextmanager
def environment_defaults(values: Mapping[str, str | None]) -> Iterator[None]:
    """Sets the environment variables the user has not set (None: leave alone) for the duration of the block."""
    added = [name for name, value in values.items() if value is not None and name not in os.environ]
    for name in added:
        os.environ[name] = str(values[name])
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


class _MissingTuneMetricsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


@contextlib.contextmanager
def without_missing_tune_metrics_warning() -> Iterator[None]:
    """Without Tune's loggers, Tune's result grid warns once per trial that it found no ``result.json``;
    trw_ray's results come from its own record, so the warning only buries the output."""
    tune_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    quiet = _MissingTuneMetricsFilter()
    tune_logger.addFilter(quiet)
    try:
        yield
    finally:
        tune_logger.removeFilter(quiet)


_lookups_lock = threading.Lock()
_lookups_state: dict = {"depth": 0, "cache": {}, "lookup": None}


@contextlib.contextmanager
def cached_trainable_lookups() -> Iterator[dict[str, type]]:
    """Tune's trials look each trainable name up once in the block (yields the cache: name -> class). Blocks may
    nest or overlap (searches in threads): the lookup is patched while any is open, and restored by the last.

    The lookup patched is a Tune-internal name (``ray.tune.experiment.trial.get_trainable_cls``, Ray 2.60); where a
    Ray release has no such name, the block changes nothing and yields an empty cache: the fit runs uncached."""
    try:
        from ray.tune.experiment import trial as trial_module
    except ImportError:
        trial_module = None
    if not callable(getattr(trial_module, "get_trainable_cls", None)):
        yield {}
        return

    with _lookups_lock:
        if _lookups_state["depth"] == 0:
            lookup, cache = trial_module.get_trainable_cls, {}

            def cached_lookup(trainable_name: str):
                if trainable_name not in cache:
                    cache[trainable_name] = lookup(trainable_name)
                return cache[trainable_name]

            _lookups_state.update(lookup=lookup, cache=cache)
            trial_module.get_trainable_cls = cached_lookup
        _lookups_state["depth"] += 1
        cache = _lookups_state["cache"]
    try:
        yield cache
    finally:
        with _lookups_lock:
            _lookups_state["depth"] -= 1
            if _lookups_state["depth"] == 0:
                trial_module.get_trainable_cls = _lookups_state["lookup"]
                _lookups_state.update(lookup=None, cache={})
