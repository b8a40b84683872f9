"""What a search tells the code it runs: the active :class:`SearchContext` (trial or discovery).

The search driver (``trw_ray.hparams``) activates a context around the user's function; the Trainer
(``trw_ray.train``, which never imports ``hparams``) asks :mod:`trw_ray.train.tune_bridge` what the active
context attaches to a run (report to Ray Tune, resume from a checkpoint, stop after building its model). This module imports neither torch nor Ray, so a
trial whose function uses neither starts without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINAL_KEY = "trw_final"  # set in a trial's last report: the value its function returned
DEFAULTS_KEY = "trw_defaults"  # in a trial's last report: the parameters it declared that the space does not name
REPLAYED_KEY = "trw_replayed"  # set in the final report a finished trial sends again when Tune resumes it


class DiscoveryComplete(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the Trainer in discovery mode once model and optimizers exist: the space is known."""


@dataclass
class SearchContext:
    """What the Trainer needs to know when it runs inside a search.

    Attributes:
        mode: ``'trial'`` or ``'discovery'``.
        metric: the search's metric name; reported every epoch (see :func:`trw_ray.train.tune_bridge.flatten_metrics`).
        run_root: trial mode: where the Trainer's run folders go (the trial's directory).
        max_epochs: trial mode: when set, the number of epochs the Trainer trains.
        checkpoint_state: trial mode: the state to resume from (consumed by the first ``fit``).
        pending: the last epoch's report, sent by the search together with the function's result.
        run_dirs: the Trainer run folders created in this trial.
        loop_epoch: trial mode: epochs an own training loop reported (:func:`trw_ray.hparams.report`).
        workers: trial mode: the data-parallel workers the trial's resources ask for (``resources_per_trial``
            ``workers``/``cpu_per_worker``/``gpu_per_worker``), None for one process.
    """

    mode: str
    metric: str = "loss"
    run_root: Path | None = None
    max_epochs: int | None = None
    checkpoint_state: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    run_dirs: list[str] = field(default_factory=list)
    reports: int = 0
    workers: Any = None
    loop_epoch: int = 0


_current: SearchContext | None = None


def current() -> SearchContext | None:
    """The active search context, or None outside a search."""
    return _current


@contextlib.contextmanager
def activate(context: SearchContext) -> Iterator[SearchContext]:
    """Makes ``context`` the active one for the duration of the block (never leaks into a reused actor)."""
    global _current
    if context.mode not in ("trial", "discovery"):
        raise ValueError(f"mode: expected 'trial' or 'discovery'; got {context.mode!r}")
    previous, _current = _current, context
    try:
        yield context
    finally:
        _current = previous
