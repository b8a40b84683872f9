"""A surrogate of a search's objective: kernel ridge regression over configurations, with a kernel that counts the
parameters two configurations share.

Two configurations agree on each parameter by ``s_p`` in [0, 1]: 1 for the same choice of a categorical parameter
and 0 for another (or the choices' similarity, ``choice_similarity``), ``1 - |u_a - u_b|`` on a numeric
parameter's unit scale. The kernel ``k(a, b) = 1 + sum_p s_p + sum_{p < q} s_p s_q`` is the inner product of a bias,
a code of every choice and a code of every pair of choices: the regression is a ridge regression on every choice's
effect and every pairwise interaction, without building those features (NB-201: 406 of them; a DARTS cell:
thousands). With one-hot choices, ``m`` parameters agreeing, it is ``1 + m + m (m - 1) / 2``. Fit on a few dozen
results it ranks unseen candidates, which is what :class:`~trw_ray.hparams.searchers.RegularizedEvolution` asks of
it (``surrogate=True``): which of a parent's one-choice mutations to try first.

A choice similarity lets what is learnt of one choice carry to a similar one (an architecture's 1x1 and 3x3
convolution); ``represent`` maps a configuration to what it computes before it is compared (an NB-201 cell's edges
that no path uses count as ``none``). Both are what :func:`trw_ray.nas.cell_surrogate_options` gives the cell
spaces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from trw_ray.hparams.space.params import Param

__all__ = ["MatchKernelRidge"]


class MatchKernelRidge:
    """Kernel ridge regression of scores over configurations of ``space`` (higher score: better).

    Args:
        space: ``{name: spec}`` of the configurations.
        regularization: the ridge penalty (the same for every choice and pair effect); predictions do not depend on
            the scale of the scores.
        choice_similarity: ``{name: matrix}`` for categorical parameters: how much two choices agree, in the order
            of the spec's ``choices`` (symmetric, ones on the diagonal, values in [0, 1], positive semi-definite);
            the others agree only with themselves.
        represent: ``config -> config``, applied before configurations are compared (default: as they are).
    """

    def __init__(self, space: Mapping[str, Param], regularization: float = 1.0,
                 choice_similarity: Mapping[str, Any] | None = None,
                 represent: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None):
        if not regularization > 0:
            raise ValueError(f"regularization: expected a number > 0; got {regularization!r}")
        if represent is not None and not callable(represent):
            raise TypeError(f"represent: expected None or a function config -> config; got {represent!r}")
        self.space = dict(space)
        self.regularization = float(regularization)
        self.represent = represent
        self._categorical = np.array([spec.choices is not None for spec in self.space.values()])
        self._similarity = _similarities(self.space, choice_similarity)
        self._train: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._mean = 0.0

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``(n, parameters)``: a choice's index for a categorical parameter (its number of choices for a value
        outside them), the unit value for the others; configurations pass through ``represent`` first."""
        if self.represent is not None:
            configs = [self.represent(config) for config in configs]
        codes = np.empty((len(configs), len(self.space)))
        for column, (name, spec) in enumerate(self.space.items()):
            if spec.choices is not None:
                index = {_hashable(choice): position for position, choice in enumerate(spec.choices)}
                codes[:, column] = [index.get(_hashable(config[name]), len(spec.choices)) for config in configs]
            else:
                codes[:, column] = [spec.to_unit(config[name]) for config in configs]
        return codes

    def kernel(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """``(len(left), len(right))``: the kernel between two sets of :meth:`encode`-d configurations."""
        agreement = np.zeros((len(left), len(right)))  # sum_p s_p
        squares = np.zeros((len(left), len(right)))  # sum_p s_p ** 2
        for column, categorical in enumerate(self._categorical):
            if not categorical:
                agree = 1.0 - np.abs(left[:, None, column] - right[None, :, column])
                squares += agree * agree
            elif column in self._similarity:
                agree = self._similarity[column][left[:, None, column].astype(int), right[None, :, column].astype(int)]
                squares += agree * agree
            else:
                agree = (left[:, None, column] == right[None, :, column]).astype(float)
                squares += agree
            agreement += agree
        return 1.0 + agreement + (agreement * agreement - squares) / 2.0

    def fit(self, configs: Sequence[Mapping[str, Any]], scores: Sequence[float]) -> MatchKernelRidge:
        return self.fit_codes(self.encode(configs), scores)

    def fit_codes(self, codes: np.ndarray, scores: Sequence[float]) -> MatchKernelRidge:
        """:meth:`fit` on configurations already :meth:`encode`-d (a history that grows one result at a time)."""
        scores = np.asarray(scores, dtype=float)
        if len(codes) != len(scores) or not len(codes):
            raise ValueError(f"fit: expected as many configurations as scores (at least one); got {len(codes)} "
                             f"and {len(scores)}")
        self._train = np.asarray(codes, dtype=float)
        self._mean = float(scores.mean())
        gram = self.kernel(self._train, self._train)
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
        return self._mean + self.kernel(codes, self._train) @ self._alpha

    def predict_kernel(self, kernel: np.ndarray) -> np.ndarray:
        """Predictions from ``kernel(codes, training codes)`` computed ahead: a pool scored after every new result
        keeps its kernel columns and adds one per result instead of recomputing them all."""
        if self._alpha is None:
            raise RuntimeError("predict: fit the surrogate first")
        kernel = np.asarray(kernel, dtype=float)
        if kernel.ndim != 2 or kernel.shape[1] != len(self._train):
            raise ValueError(f"kernel: expected a (candidates, {len(self._train)}) matrix against the training "
                             f"configurations; got shape {kernel.shape}")
        return self._mean + kernel @ self._alpha


def _similarities(space: Mapping[str, Param], choice_similarity: Mapping[str, Any] | None) -> dict[int, np.ndarray]:
    """``{column: matrix}``, each with one more row and column (zero but its diagonal) for a value outside the
    choices."""
    if choice_similarity is None:
        return {}
    if not isinstance(choice_similarity, Mapping):
        raise TypeError(f"choice_similarity: expected None or {{name: matrix}}; got {choice_similarity!r}")
    columns = {name: column for column, name in enumerate(space)}
    matrices = {}
    for name, matrix in choice_similarity.items():
        spec = space.get(name)
        if spec is None or spec.choices is None:
            raise ValueError(f"choice_similarity: {name!r} is not a categorical parameter of the space "
                             f"({sorted(n for n, s in space.items() if s.choices is not None)})")
        size = len(spec.choices)
        values = np.asarray(matrix, dtype=float)
        if values.shape != (size, size) or not np.allclose(values, values.T) or \
                not np.allclose(np.diag(values), 1.0) or values.min() < 0 or values.max() > 1:
            raise ValueError(f"choice_similarity[{name!r}]: expected a symmetric {size}x{size} matrix with ones on the "
                             f"diagonal and values in [0, 1]; got {values.tolist()}")
        if np.linalg.eigvalsh(values).min() < -1e-9:
            raise ValueError(f"choice_similarity[{name!r}]: expected a positive semi-definite matrix (a kernel); got "
                             f"eigenvalues {np.round(np.linalg.eigvalsh(values), 3).tolist()}")
        extended = np.zeros((size + 1, size + 1))
        extended[:size, :size] = values
        extended[size, size] = 1.0
        matrices[columns[name]] = extended
    return matrices


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
