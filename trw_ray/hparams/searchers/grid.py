"""Grid search: every combination of the parameters' grids."""

from __future__ import annotations

import math
from typing import Any

from trw_ray import checks
from trw_ray.hparams.searchers.base import SearchLogic


class GridSearch(SearchLogic):
    """Every combination of the specs' grids, in order, then nothing more.

    Args:
        grid_points: values per continuous spec (discrete specs use each choice; integer ranges wider than this
            are thinned to ``grid_points`` values).
    """

    def __init__(self, space, mode="min", seed=None, grid_points: int = 3):
        super().__init__(space, mode, seed)
        checks.positive_int(grid_points, "grid_points", 2)
        self.grid_points = grid_points
        axes = [spec.grid(grid_points) for spec in self.space.values()]
        self.size = math.prod(len(axis) for axis in axes)
        self._axes = axes

    def config_at(self, index: int) -> dict[str, Any]:
        values = []
        for axis in reversed(self._axes):
            index, position = divmod(index, len(axis))
            values.append(axis[position])
        return dict(zip(self.space, reversed(values), strict=True))

    def suggest(self, trial_id):
        if self.suggested >= self.size:
            return None
        config = self.config_at(self.suggested)
        self.suggested += 1
        return config
