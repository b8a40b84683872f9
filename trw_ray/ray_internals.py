"""Every use of a Ray-internal name, in one place, each with what happens where a Ray release lacks it.

trw_ray pins the Ray it is tested with (``ray>=2.60,<2.61``); these are the names outside Ray's public API it still
reads, because the public API has no equivalent that works without the dashboard:

- ``ray._private.state.actors()``: the actor table (class, state) straight from the GCS. Without it,
  :func:`actor_table` returns None and the callers say less (a warning names no actors; a pipeline that cannot
  place its workers keeps waiting instead of naming the actors that hold the CPUs).
- ``ActorHandle._actor_id``: an actor's id, to look it up in that table. Without it, :func:`actor_id` is None.
- ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``: read when ``ray`` was imported; set too when the embedded Ray
  is kept on loopback. Without it, the environment variable alone keeps the processes Ray starts on loopback.

Tune's internal names (trainable lookups, trial actor classes) are guarded where they are patched,
in :mod:`trw_ray.hparams.tuning.tune_run`.
"""

from __future__ import annotations

from typing import Any


def actor_table(actor_id: str | None = None) -> dict[str, Any] | None:
    """``{actor id: {'ActorClassName', 'State', ...}}`` of every actor Ray knows of (or the one entry of
    ``actor_id``), from the GCS without the dashboard; None where this Ray has no such table."""
    try:
        from ray._private import state as ray_state
    except ImportError:
        return None
    actors = getattr(ray_state, "actors", None)
    if not callable(actors):
        return None
    return actors(actor_id) if actor_id is not None else actors()


def actor_id(actor: Any) -> str | None:
    """The hex id of an actor handle, or None where the handle does not expose it."""
    identifier = getattr(actor, "_actor_id", None)
    return identifier.hex() if hasattr(identifier, "hex") else None


def keep_cluster_mode_off() -> bool:
    """Sets Ray's import-time copy of ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (single-machine mode); returns whether
    this Ray has it (when not, the environment variable, already set, is what the processes Ray starts read)."""
    try:
        from ray._private import ray_constants
    except ImportError:
        return False
    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        return False
    ray_constants.ENABLE_RAY_CLUSTER = False
    return True
