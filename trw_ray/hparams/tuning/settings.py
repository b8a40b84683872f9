"""The settings of a search, each resolved by one rule, in one place.

A setting is the argument given to :func:`~trw_ray.hparams.search` (or on the command line), else the experiment's
previous record (a resumed search keeps what it was started with), else the space file's, else the default. "Given"
means not None: ``metric=''`` is an argument (and refused as such), not a request for the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """A setting ``search`` resolves: its name, whether a space file can declare it, and its default."""

    name: str
    in_space_file: bool = True
    default: Any = None


SETTINGS = (
    Setting("algorithm", default="random"),
    Setting("scheduler"),
    Setting("scheduler_options"),
    Setting("metric", default="loss"),
    Setting("mode", default="min"),
    Setting("max_epochs"),
    Setting("num_samples", default=40),
    Setting("resources_per_trial"),
    Setting("max_total_epochs", in_space_file=False),
    Setting("seed", in_space_file=False),
)


def resolve_settings(arguments: Mapping[str, Any], previous: Mapping[str, Any], space: Any) -> dict[str, Any]:
    """``{name: value}`` of every setting of :data:`SETTINGS`: ``arguments[name]``, else ``previous[name]`` (the
    experiment's record, empty for a new search), else ``space``'s attribute (a space file's
    :class:`~trw_ray.hparams.space.SearchSpace`), else the default; the first that is not None."""
    resolved = {}
    for setting in SETTINGS:
        candidates = [arguments.get(setting.name), previous.get(setting.name)]
        if setting.in_space_file:
            candidates.append(getattr(space, setting.name, None))
        resolved[setting.name] = next((value for value in candidates if value is not None), setting.default)
    return resolved
