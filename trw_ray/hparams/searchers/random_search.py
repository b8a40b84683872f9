"""Random search and the seed sweep: configurations drawn independently."""

from __future__ import annotations

from trw_ray.hparams.searchers.base import SearchLogic, check_callable, constrained_sample


class RandomSearch(SearchLogic):
    """Independent random configurations (the seed's ``HyperParametersOptimizerRandomSearchLocal``).

    Args:
        constraint: ``config -> bool``; only configurations it accepts are proposed (e.g. a cell under a parameter
            budget, :func:`trw_ray.nas.parameter_constraint`).
    """

    def __init__(self, space, mode="min", seed=None, constraint=None):
        super().__init__(space, mode, seed)
        self.constraint = check_callable(constraint, "constraint")

    def suggest(self, trial_id):
        self.suggested += 1
        return constrained_sample(self)


class SeedSweep(SearchLogic):
    """Trial ``i`` gets ``seed = offset + i`` (``offset``: the search's seed, 0 when None); every other parameter is
    drawn at random. What the ``darts`` algorithm uses: each supernet search its own, reproducible seed."""

    def suggest(self, trial_id):
        config = self.sample()
        if "seed" in self.space:
            config["seed"] = (self.seed or 0) + self.suggested
        self.suggested += 1
        return config
