"""Where a search's results also go: MLflow, Weights & Biases and TensorBoard's HParams view.

``search(..., tracking='mlflow')`` (or ``'wandb'``, a :class:`Tracker`, or a list of them) logs the search while it
runs; every search also writes TensorBoard HParams sessions (:class:`TensorBoardHParams`). Trackers are fed by the
driver from its record (:class:`TrackingSync`): trial processes never talk to a tracking server, and a server
down or slow never slows or fails the search. ``trw-ray export mlflow|wandb PATH`` (:func:`export_experiment`) logs
an experiment afterwards.

- :mod:`~.base`: what a tracker is given; :mod:`~.sync`: the background feeding;
- :mod:`~.mlflow_tracker`, :mod:`~.wandb_tracker`, :mod:`~.tensorboard_hparams`: the trackers;
- :mod:`~.export`: an experiment logged after the fact.
"""

from __future__ import annotations

from typing import Any

from trw_ray.lazy_import import lazy_exports
from trw_ray.tracking.base import Tracker
from trw_ray.tracking.export import export_experiment
from trw_ray.tracking.sync import TrackingSync
from trw_ray.tracking.tensorboard_hparams import TensorBoardHParams

TRACKERS = ("mlflow", "wandb")


def create_tracker(name: str, **options: Any) -> Tracker:
    """The tracker named ``name`` (``'mlflow'`` or ``'wandb'``) with its options."""
    if name == "mlflow":
        from trw_ray.tracking.mlflow_tracker import MLflowTracker

        return MLflowTracker(**options)
    if name == "wandb":
        from trw_ray.tracking.wandb_tracker import WandbTracker

        return WandbTracker(**options)
    raise ValueError(f"tracking: expected one of {list(TRACKERS)} or a trw_ray.tracking.Tracker; got {name!r}")


def resolve_trackers(tracking: Any) -> list[Tracker]:
    """``search``'s ``tracking``: None, a name, a :class:`Tracker`, or a list of those; checked."""
    if tracking is None:
        return []
    items = list(tracking) if isinstance(tracking, (list, tuple)) else [tracking]
    trackers = []
    for item in items:
        if isinstance(item, str):
            trackers.append(create_tracker(item))
        elif isinstance(item, Tracker):
            trackers.append(item)
        else:
            raise TypeError(f"tracking: expected None, one of {list(TRACKERS)}, a trw_ray.tracking.Tracker or a list "
                            f"of them; got {item!r}")
    return trackers


# the trackers load their package (mlflow, wandb) on first use
__getattr__, __dir__ = lazy_exports(globals(), {"MLflowTracker": "trw_ray.tracking.mlflow_tracker:MLflowTracker",
                                                "WandbTracker": "trw_ray.tracking.wandb_tracker:WandbTracker"})


__all__ = ["TRACKERS", "MLflowTracker", "TensorBoardHParams", "Tracker", "TrackingSync", "WandbTracker",
           "create_tracker", "export_experiment", "resolve_trackers"]
