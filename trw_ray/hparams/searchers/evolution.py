"""Regularized (aging) evolution, optionally guided by a surrogate of the objective."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from trw_ray import checks
from trw_ray.hparams.searchers.base import MAX_CONSTRAINED_DRAWS, SearchLogic, check_callable
from trw_ray.hparams.searchers.surrogate import MatchKernelRidge
from trw_ray.hparams.space.params import Param

CLIMBS = ("always", "stalled")  # RegularizedEvolution's ``climb``
MAX_ENUMERATED_POINTS = 50_000  # a finite space up to this size is scored whole by the surrogate
SURROGATE_CANDIDATES = 4096  # random draws it scores otherwise


def config_key(config: Mapping[str, Any]) -> str:
    """What makes two configurations the same by default: equal values."""
    return repr(sorted((name, repr(value)) for name, value in config.items()))


class RegularizedEvolution(SearchLogic):
    """Regularized (aging) evolution, Real et al. 2019, asynchronous.

    The first ``population_size`` trials are random. Afterwards each new trial mutates one parameter of the best of
    ``sample_size`` members drawn from the population (tournament selection); a finished trial joins the population
    and the oldest member leaves it. Trials run in parallel: a tournament uses whatever members have finished.

    Args:
        population_size: members kept (P).
        sample_size: tournament size (S). The default, half the population, selects harder than the paper's
            examples: on NAS-Bench-201 (150 evaluations, 2 at a time, 500 simulated seeds) it found the best cell
            in 64% of the seeds (mean regret 0.071 points) against 37% (0.083) with S=5.
        avoid_duplicates: never propose a configuration twice: a child already proposed is mutated again (32
            tries), then every one-choice neighbour of the parent is tried, then random points; when nothing new is
            left (a finite space exhausted) the search ends.
        key: ``config -> str``, what counts as the same configuration (default: equal values), e.g.
            :func:`trw_ray.nas.cell_key` so isomorphic cells count as one.
        constraint: ``config -> bool``; only accepted configurations are proposed.
        surrogate: after the first ``population_size`` random trials, mutate the best result so far and choose the
            child with a surrogate of the objective (:class:`~trw_ray.hparams.searchers.surrogate.MatchKernelRidge`, fit on
            every result): the parent's one-choice mutation the surrogate predicts best among those not proposed
            yet; when every mutation of the best has been tried, the best predicted configuration not proposed yet
            of the whole space (finite spaces up to ``MAX_ENUMERATED_POINTS``) or of ``SURROGATE_CANDIDATES``
            random draws. The parent is the best result, not a tournament winner of the aging population: measured
            on the NB-201 tables (150 evaluations, 20 seeds), a tournament over all results found ImageNet16-120's
            best cell in 60% of the seeds, the best result as parent in 70% (random mutations: 32%).
        surrogate_options: keyword arguments of the surrogate
            (:class:`~trw_ray.hparams.searchers.surrogate.MatchKernelRidge`: ``regularization``, ``choice_similarity``,
            ``represent``); :func:`trw_ray.nas.cell_surrogate_options` gives a cell space's.
        climb: with the surrogate, ``'always'``: mutate the best result whenever it has an untried mutation;
            ``'stalled'``: mutate the best until its mutations are used up (a local optimum), then propose the best
            predicted new configuration of the space (of random draws when the space is not enumerated), and mutate
            the best again only once ``stall`` results have come without a new best. On the NB-201 tables, which
            :func:`trw_ray.nas.evolution_search` searches with ``'stalled'``, a new best's mutations, mostly far
            below it, are no longer all tried before the surrogate's best guesses: the best cell is found by the
            100th evaluation far more often (``benchmarks/README.md``, "Evolution over cells").
        stall: results without a new best after which ``climb='stalled'`` mutates the best again.
    """

    def __init__(self, space, mode="min", seed=None, population_size: int = 20, sample_size: int = 10,
                 avoid_duplicates: bool = True, key=None, constraint=None, surrogate: bool = False,
                 surrogate_options: Mapping[str, Any] | None = None, climb: str = "always", stall: int = 20):
        super().__init__(space, mode, seed)
        checks.positive_int(population_size, "population_size")
        checks.positive_int(sample_size, "sample_size")
        if sample_size > population_size:
            raise ValueError(f"sample_size: must be <= population_size ({population_size}); got {sample_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.avoid_duplicates = avoid_duplicates
        self.key = check_callable(key, "key") or config_key
        self.constraint = check_callable(constraint, "constraint")
        if not isinstance(surrogate, bool):
            raise ValueError(f"surrogate: expected True or False; got {surrogate!r}")
        self.surrogate = surrogate
        if surrogate_options is not None and not surrogate:
            raise ValueError("surrogate_options: given, but surrogate is False; pass surrogate=True to use them")
        self._model = surrogate_model(surrogate_options, self.space) if surrogate else None
        if climb not in CLIMBS:
            raise ValueError(f"climb: expected one of {list(CLIMBS)}; got {climb!r}")
        if climb != "always" and not surrogate:
            raise ValueError(f"climb: {climb!r} chooses where the surrogate looks; pass surrogate=True to use it")
        checks.positive_int(stall, "stall")
        self.climb, self.stall = climb, stall
        self.climbed = False  # climb='stalled': the best's mutations were used up once
        self._history_codes = np.empty((0, len(self.space)))  # the surrogate's codes of the history, in order
        self.history: list[tuple[dict[str, Any], float]] = []  # every result, for the surrogate
        self._pool = None  # a finite space's every point, keyed and encoded once
        self._pool_kernel = None  # the kernel of that pool against the history's codes, a column per result
        self.population: list[tuple[dict[str, Any], float]] = []  # oldest first
        self.pending: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()

    def _is_new(self, config: Mapping[str, Any]) -> bool:
        return (not self.avoid_duplicates or self.key(config) not in self.seen) and \
            (self.constraint is None or self.constraint(config))

    def _neighbours(self, parent: Mapping[str, Any]):
        """Every configuration one choice away from ``parent`` (categorical specs), in a random order."""
        neighbours = []
        for name, spec in self.space.items():
            for value in spec.choices or []:
                if value != parent.get(name):
                    neighbours.append({**parent, name: value})
        for index in self.rng.permutation(len(neighbours)):
            yield neighbours[int(index)]

    def _new_point(self, make, parent: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        config = make()
        if self._is_new(config):
            return config
        for _ in range(31):
            config = make()
            if self._is_new(config):
                return config
        if parent is not None:
            for config in self._neighbours(parent):
                if self._is_new(config):
                    return config
        for _ in range(MAX_CONSTRAINED_DRAWS):
            config = self.sample()
            if self._is_new(config):
                return config
        if not self.avoid_duplicates:
            raise ValueError(f"constraint: rejected {MAX_CONSTRAINED_DRAWS} random configurations in a row")
        return None  # nothing new found: the space is exhausted (or nearly)

    def _mutate(self, parent: Mapping[str, Any]) -> dict[str, Any]:
        child = dict(parent)
        name = list(self.space)[int(self.rng.integers(len(self.space)))]
        child[name] = self.space[name].mutate(child[name], self.rng)
        return child

    def _surrogate_child(self, parent: Mapping[str, Any]) -> dict[str, Any] | None:
        """The new configuration the surrogate predicts best: among the parent's one-choice mutations, else among
        the space (or random draws); None when there is nothing new (the random path decides then)."""
        if len(self.history) < 2:
            return None
        model = self._model
        known = len(self._history_codes)
        if known < len(self.history):  # only the new results are encoded
            self._history_codes = np.concatenate([self._history_codes,
                                                  model.encode([config for config, _ in self.history[known:]])])
        model.fit_codes(self._history_codes, [score for _, score in self.history])
        if self.climb == "always" or not self.climbed or self._stalled():
            candidates = [config for config in self._neighbours(parent) if self._is_new(config)]
            if candidates:
                return candidates[int(np.argmax(model.predict(candidates)))]
            self.climbed = True
        pool, keys, codes = self._candidate_pool(model)
        predictions = model.predict_codes(codes) if self._pool is None else model.predict_kernel(self._kernel_of_pool(codes))
        for index in np.argsort(-predictions, kind="stable"):  # the constraint runs only until one is accepted
            config = pool[int(index)]
            if (not self.avoid_duplicates or keys[int(index)] not in self.seen) and \
                    (self.constraint is None or self.constraint(config)):
                return dict(config)
        return None

    def _stalled(self) -> bool:
        """``stall`` results or more came after the best one."""
        return len(self.history) - 1 - int(np.argmax([score for _, score in self.history])) >= self.stall

    def _candidate_pool(self, model):
        """(configurations, their keys, their codes): the whole space when it is finite and small (computed once),
        else fresh random draws."""
        if self._pool is not None:
            return self._pool
        choices = [spec.choices for spec in self.space.values()]
        finite = all(choice is not None for choice in choices) and \
            math.prod(len(choice) for choice in choices) <= MAX_ENUMERATED_POINTS
        if finite:
            names = list(self.space)
            pool = [dict(zip(names, values, strict=True)) for values in itertools.product(*choices)]
        else:
            pool = [self.sample() for _ in range(SURROGATE_CANDIDATES)]
        entry = (pool, [self.key(config) for config in pool], model.encode(pool))
        if finite:
            self._pool = entry
        return entry

    def _kernel_of_pool(self, codes: np.ndarray) -> np.ndarray:
        """The finite pool's (``codes``) kernel against every result so far, computing only the new results' columns."""
        if self._pool_kernel is None:
            self._pool_kernel = np.empty((len(codes), 0))
        known = self._pool_kernel.shape[1]
        if known < len(self._history_codes):
            self._pool_kernel = np.concatenate([self._pool_kernel,
                                                self._model.kernel(codes, self._history_codes[known:])], axis=1)
        return self._pool_kernel

    def _tournament(self) -> dict[str, Any]:
        size = min(self.sample_size, len(self.population))
        chosen = self.rng.choice(len(self.population), size=size, replace=False)
        best = max(chosen, key=lambda index: self.population[index][1])
        return self.population[int(best)][0]

    def suggest(self, trial_id):
        if self.suggested < self.population_size or not self.population:
            config = self._new_point(self.sample)
        else:
            parent = max(self.history, key=lambda item: item[1])[0] if self.surrogate and self.history \
                else self._tournament()
            config = self._surrogate_child(parent) if self.surrogate else None
            if config is None:
                config = self._new_point(lambda: self._mutate(parent), parent)
        if config is None:
            return None
        self.suggested += 1
        self.pending[trial_id] = config
        self.seen.add(self.key(config))
        return config

    def observe(self, trial_id, value):
        config = self.pending.pop(trial_id, None)
        if config is None or value is None or not math.isfinite(value):
            return
        self.population.append((config, self.score(float(value))))
        self.history.append(self.population[-1])
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def state_dict(self):
        state = super().state_dict()
        state.update(population=[[config, score] for config, score in self.population], pending=self.pending,
                     seen=sorted(self.seen), history=[[config, score] for config, score in self.history],
                     climbed=self.climbed)
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.population = [(dict(config), float(score)) for config, score in state["population"]]
        self.pending = {key: dict(value) for key, value in state["pending"].items()}
        self.seen = set(state["seen"])
        self.history = [(dict(config), float(score)) for config, score in state.get("history", [])]
        self.climbed = bool(state.get("climbed", False))
        self._history_codes = np.empty((0, len(self.space)))
        self._pool_kernel = None


SURROGATE_OPTIONS = ("regularization", "choice_similarity", "represent")


def surrogate_model(options: Mapping[str, Any] | None, space: Mapping[str, Param]):
    """The :class:`~trw_ray.hparams.searchers.surrogate.MatchKernelRidge` of ``space`` with ``options`` (checked)."""
    options = {} if options is None else options
    if not isinstance(options, Mapping) or set(options) - set(SURROGATE_OPTIONS):
        raise ValueError(f"surrogate_options: expected a dict with keys among {list(SURROGATE_OPTIONS)}; got {options!r}")
    return MatchKernelRidge(space, **options)
