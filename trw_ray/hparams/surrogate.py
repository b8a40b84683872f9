"""A surrogate of a search's objective: kernel ridge regression over configurations, with a kernel that counts the
parameters two configurations share.

For categorical parameters the kernel ``k(a, b) = 1 + m + m (m - 1) / 2``, where ``m`` is the number of parameters
on which ``a`` and ``b`` agree, is the inner product of a bias, a one-hot code of every choice and a one-hot code
of every pair of choices: the regression is a ridge regression on every choice's effect and every pairwise
interaction, without building those features (NB-201: 406 of them; a DARTS cell: thousands). A numeric parameter
agrees by ``1 - |u_a - u_b|`` on its unit scale. Fit on a few dozen results it ranks unseen candidates, which is
what :class:`~trw_ray.hparams.searchers.RegularizedEvolution` asks of it (``surrogate=True``): which of a parent's
one-choice mutations to try first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trw_ray.hparams.params import Param

__all__ = ["MatchKernelRidge"]


class MatchKernelRidge:
    """Kernel ridge regression of scores over configurations of ``space`` (higher score: better).

    Args:
        space: ``{name: spec}`` of the configurations.
        regularization: the ridge penalty (the same for every choice and pair effect); predictions do not depend on
            the scale of the scores.
    """

    def __init__(self, space: Mapping[str, Param], regularization: float = 1.0):
        if not regularization > 0:
            raise ValueError(f"regularization: expected a number > 0; got {regularization!r}")
        self.space = dict(space)
        self.regularization = float(regularization)
        self._categorical = np.array([spec.choices is not None for spec in self.space.values()])
        self._train: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._mean = 0.0

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``(n, parameters)``: a choice's index for a categorical parameter, the unit value for the others."""
        codes = np.empty((len(configs), len(self.space)))
        for column, (name, spec) in enumerate(self.space.items()):
            if spec.choices is not None:
                index = {_hashable(choice): position for position, choice in enumerate(spec.choices)}
                codes[:, column] = [index.get(_hashable(config[name]), -1) for config in configs]
            else:
                codes[:, column] = [spec.to_unit(config[name]) for config in configs]
        return codes

    def _kernel(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        matches = np.zeros((len(left), len(right)))
        categorical = self._categorical
        if categorical.any():
            matches += (left[:, None, categorical] == right[None, :, categorical]).sum(axis=-1)
        if (~categorical).any():
            matches += (1.0 - np.abs(left[:, None, ~categorical] - right[None, :, ~categorical])).sum(axis=-1)
        return 1.0 + matches + matches * (matches - 1.0) / 2.0

    def fit(self, configs: Sequence[Mapping[str, Any]], scores: Sequence[float]) -> MatchKernelRidge:
        if len(configs) != len(scores) or not len(configs):
            raise ValueError(f"fit: expected as many configurations as scores (at least one); got {len(configs)} "
                             f"and {len(scores)}")
        scores = np.asarray(scores, dtype=float)
        self._train = self.encode(configs)
        self._mean = float(scores.mean())
        gram = self._kernel(self._train, self._train)
        self._alpha = np.linalg.solve(gram + self.regularization * np.eye(len(gram)), scores - self._mean)
        return self

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.predict_codes(self.encode(configs))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """Predictions of configurations already :meth:`encode`-d (a pool scored again and again)."""
        if self._alpha is None:
            raise RuntimeError("predict: fit the surrogate first")
        if not len(codes):
            return np.empty(0)
        return self._mean + self._kernel(codes, self._train) @ self._alpha


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
