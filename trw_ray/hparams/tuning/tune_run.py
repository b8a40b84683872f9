"""What the search driver changes around Ray Tune's ``Tuner.fit``, for the duration of the fit only: environment
defaults the user has not set, Tune's per-trial "no result.json" warning quieted, Tune's trainable lookups
cached, on the embedded local Ray trial actors without a runtime environment of their own, and SIGTERM ending the
fit the way Ctrl+C does.

Tune looks a trial's trainable up in the cluster's key-value store and unpickles it twice per trial (when it
creates the trial and when it schedules its actor): about 2-4 ms a trial on a 2-core machine, and each lookup
returns a new class, so Tune's own cache of actor classes, keyed by the class, never hits. Within one fit the
trainable registered under a name does not change, so :func:`cached_trainable_lookups` keeps the first lookup of
each name (measured with 100 trivial trials in ``benchmarks/search_efficiency.py`` part (c); see
``benchmarks/README.md``).

Tune gives every trial actor a runtime environment of environment variables (``PL_DISABLE_FORK=1``, and a few
it copies from the driver's environment). An actor with a runtime environment cannot take one of the worker
processes Ray starts ahead, and its own worker starts through Ray's runtime-environment setup, which imports Ray a
second time: about 0.8 s before a search's first trials run on 2 cores. The worker processes of the embedded
local Ray that trw_ray starts have these variables from their start (:func:`trw_ray.ray_session.ensure_ray`), so
there :func:`trial_actors_without_runtime_env` creates the actors without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "cached_trainable_lookups",
    "TERMINATION_MESSAGE",
    "environment_defaults",
    "interruption_noticed",
    "termination_ends_the_fit_gracefully",
    "trial_actors_without_runtime_env",
    "with_run_callbacks",
    "without_missing_tune_metrics_warning",
]


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


class _InterruptionNotice(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)" (not how a trw_ray search resumes) and notes it."""

    def __init__(self):
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "has been interrupted" in record.getMessage():
            self.interrupted = True
            return False
        return True


@contextlib.contextmanager
def interruption_noticed() -> Iterator[_InterruptionNotice]:
    """Yields a notice whose ``interrupted`` is True once Tune's fit ended on Ctrl+C (or SIGTERM, see
    :func:`termination_ends_the_fit_gracefully`); Tune's own resume hint is not printed."""
    tune_logger = logging.getLogger("ray.tune.tune")
    notice = _InterruptionNotice()
    tune_logger.addFilter(notice)
    try:
        yield notice
    finally:
        tune_logger.removeFilter(notice)


class _SharedPatch:
    """Replaces ``owner.attribute`` while any block that asked for it is open: blocks may nest or overlap
    (searches in threads); the first builds the replacement from the original, the last restores the original."""

    def __init__(self, attribute: str, make_replacement: Callable[[Callable], Callable]):
        self.attribute, self.make_replacement = attribute, make_replacement
        self.lock, self.depth, self.original = threading.Lock(), 0, None

    def enter(self, owner: object) -> None:
        with self.lock:
            if self.depth == 0:
                self.original = getattr(owner, self.attribute)
                setattr(owner, self.attribute, self.make_replacement(self.original))
            self.depth += 1

    def exit(self, owner: object) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                setattr(owner, self.attribute, self.original)
                self.original = None


def _cache_lookups(lookup: Callable) -> Callable:
    cache: dict[str, type] = {}

    def cached_lookup(trainable_name: str):
        if trainable_name not in cache:
            cache[trainable_name] = lookup(trainable_name)
        return cache[trainable_name]

    cached_lookup.cache = cache
    return cached_lookup


_lookups_patch = _SharedPatch("get_trainable_cls", _cache_lookups)


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
    _lookups_patch.enter(trial_module)
    try:
        yield trial_module.get_trainable_cls.cache
    finally:
        _lookups_patch.exit(trial_module)


def _actor_classes_in_inherited_environment(tunes_get: Callable) -> Callable:
    from ray.tune.execution import class_cache

    from trw_ray.ray_session import local_worker_environment

    plain: dict[type, object] = {}

    def get(cache: object, trainable_cls: type):
        import ray

        inherited = local_worker_environment() or {}
        wanted = dict(class_cache.DEFAULT_ENV_VARS)
        wanted.update({name: os.environ[name] for name in class_cache.ENV_VARS_TO_PROPAGATE if name in os.environ})
        if not inherited or any(inherited.get(name) != value for name, value in wanted.items()):
            return tunes_get(cache, trainable_cls)  # the workers lack one: Tune's runtime environment sets it
        if trainable_cls not in plain:
            plain[trainable_cls] = ray.remote(trainable_cls)
        return plain[trainable_cls]

    return get


_actor_class_patch = _SharedPatch("get", _actor_classes_in_inherited_environment)


@contextlib.contextmanager
def trial_actors_without_runtime_env() -> Iterator[bool]:
    """On the embedded local Ray trw_ray started, Tune's trial actors are created without the runtime environment
    Tune gives them, where every variable it would set already has that value in the workers' environment (the
    module's docstring says why). Yields whether the block changed anything: False on a Ray trw_ray did not start
    and where Ray Tune has no ``ray.tune.execution.class_cache._ActorClassCache`` (Tune-internal names, Ray 2.60)."""
    from trw_ray.ray_session import local_worker_environment

    try:
        from ray.tune.execution import class_cache
    except ImportError:
        class_cache = None
    cache_type = getattr(class_cache, "_ActorClassCache", None)
    known = (isinstance(getattr(class_cache, "DEFAULT_ENV_VARS", None), Mapping)
             and isinstance(getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None), (set, frozenset, tuple, list))
             and callable(getattr(cache_type, "get", None)))
    if local_worker_environment() is None or not known:
        yield False
        return
    _actor_class_patch.enter(cache_type)
    try:
        yield True
    finally:
        _actor_class_patch.exit(cache_type)


TERMINATION_MESSAGE = ("trw_ray: SIGTERM received; the search ends as on Ctrl+C: Ray Tune saves its state, then the "
                       "process ends (the same search and name resumes it)\n")


@contextlib.contextmanager
def termination_ends_the_fit_gracefully() -> Iterator[None]:
    """Inside the block, SIGTERM (what ``ray job stop``, Kubernetes and batch schedulers send first) ends Tune's fit
    as Ctrl+C does: Tune starts nothing more, saves its experiment state one last time (finished trials as finished,
    every trial's latest checkpoint) and returns; at the block's end the signal takes its course (the handler that
    was there before: by default the process ends). Without it the driver dies at once, and a resume starts from the
    state Tune saved last, about a second older. A second SIGTERM, or one before Tune's fit has begun, acts at once.
    Only in the main thread (signal handlers are set there); elsewhere the block changes nothing."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous is None:  # None: set outside Python
        yield
        return
    before_fit = signal.getsignal(signal.SIGUSR1)  # Tune leaves a finished fit's handler there
    received: list[int] = []

    def on_termination(signum, frame):
        tunes_interrupt = signal.getsignal(signal.SIGUSR1)  # Tune's fit handles SIGUSR1 as it does SIGINT
        if received or tunes_interrupt is before_fit or not callable(tunes_interrupt):
            signal.signal(signal.SIGTERM, previous)
            signal.raise_signal(signal.SIGTERM)
            return
        received.append(signum)
        os.write(2, TERMINATION_MESSAGE.encode())  # not print: the signal may arrive in the middle of a print
        tunes_interrupt(signum, frame)

    signal.signal(signal.SIGTERM, on_termination)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGUSR1, before_fit)
        if received:
            signal.raise_signal(signal.SIGTERM)


def with_run_callbacks(tuner, callbacks: list, stop) -> None:
    """Gives a restored ``tuner`` this run's ``callbacks`` and ``stop`` (``Tuner.restore`` brings back those pickled
    when the experiment was created, with the state they had then: a progress clock started at the creation, no
    record of the trials finished since)."""
    local = getattr(tuner, "_local_tuner", None)  # Ray 2.60: the restored run; None through Ray Client
    if local is None or not hasattr(local, "get_run_config"):
        return  # the pickled callbacks run: a search that still works, with the older progress line
    run_config = local.get_run_config()
    run_config.callbacks = list(callbacks)
    run_config.stop = stop
