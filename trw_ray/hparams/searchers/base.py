"""The base of the search algorithms: Ray-free, seeded classes that choose which configuration to try next.

Each :class:`SearchLogic` proposes configurations (``suggest``) and learns from finished ones (``observe``); its
state is JSON so a resumed search continues where it stopped. :class:`~trw_ray.hparams.searchers.LogicSearcher`
adapts them to Ray Tune's ``Searcher`` interface; tests use them without Ray. Each algorithm has a module of its own
in this package.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from trw_ray import checks
from trw_ray.hparams.space.params import Param

#: random draws :func:`constrained_sample` tries before it gives up on a constraint
MAX_CONSTRAINED_DRAWS = 1000


def check_space(space: Mapping[str, Param]) -> dict[str, Param]:
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space: expected a non-empty dict {{name: spec}}; got {space!r}")
    for name, spec in space.items():
        if not isinstance(spec, Param):
            raise TypeError(f"space: {name!r} must be a parameter spec (ContinuousUniform, ...); got {type(spec).__name__}")
    return dict(space)


def check_callable(value: Any, argument: str) -> Any:
    """``value`` when it is None or callable (a ``constraint`` or a ``key`` of a search); TypeError otherwise."""
    if value is not None and not callable(value):
        raise TypeError(f"{argument}: expected None or a function config -> {'bool' if argument == 'constraint' else 'key'}; "
                        f"got {value!r}")
    return value


class SearchLogic(abc.ABC):
    """Base of search algorithms.

    Args:
        space: ``{name: spec}``.
        mode: ``'min'`` or ``'max'`` of the values given to :meth:`observe`.
        seed: seeds the algorithm's own generator; same seed, same configurations.
    """

    def __init__(self, space: Mapping[str, Param], mode: str = "min", seed: int | None = None):
        self.space = check_space(space)
        self.mode = checks.mode(mode)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.suggested = 0

    @abc.abstractmethod
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The configuration of a new trial, or None when the algorithm has nothing more to propose."""

    def observe(self, trial_id: str, value: float | None) -> None:  # noqa: B027 - learning is optional
        """A trial finished with ``value`` of the metric (None: it failed or reported nothing); random and grid
        search ignore it."""

    def sample(self) -> dict[str, Any]:
        """A configuration drawn at random (every spec's ``sample``)."""
        return {name: spec.sample(self.rng) for name, spec in self.space.items()}

    def score(self, value: float) -> float:
        """``value`` turned so that larger is better."""
        return -value if self.mode == "min" else value

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state (generator included)."""
        return {"rng": self.rng.bit_generator.state, "suggested": self.suggested}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = dict(state["rng"])
        self.suggested = int(state["suggested"])


def constrained_sample(logic: SearchLogic) -> dict[str, Any]:
    """A random configuration the logic's ``constraint`` accepts (ValueError after 1,000 rejected draws)."""
    constraint = getattr(logic, "constraint", None)
    for _ in range(MAX_CONSTRAINED_DRAWS if constraint is not None else 1):
        config = logic.sample()
        if constraint is None or constraint(config):
            return config
    raise ValueError(f"constraint: rejected {MAX_CONSTRAINED_DRAWS} random configurations in a row; the budget "
                     "leaves (almost) nothing of the space")
