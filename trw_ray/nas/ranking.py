"""How sure is the ranking? The top architectures of a search retrained from scratch with several seeds as Tune
trials, ranked with bootstrap confidence intervals, the probability that each is truly the best, and Kendall's tau
between the search-time order and the retrained order.

Example::

    ranking = trw_ray.nas.rank_architectures(results, top_k=5, seeds=3, inputs_fn='trw_ray.nas.inputs:fashion_mnist_inputs')
    ranking.table      # genotype, search_rank, accuracy_mean, ci_low, ci_high, p_best, seeds, rank
    ranking.kendall_tau

Works on any architecture search (``darts_search``'s derived genotypes, ``evolution_search``'s candidates).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trw_ray import checks, layout
from trw_ray.layout import TEST_SPLIT

RANKING_FILE = "ranking.json"

__all__ = ["ArchitectureRanking", "bootstrap_ranking", "rank", "rank_architectures", "search_agreement"]


def bootstrap_ranking(values: Mapping[str, Sequence[float]], samples: int = 2000, seed: int = 0,
                      higher_is_better: bool = True, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per architecture: the mean over its seeds, a bootstrap interval of the mean and the probability that it is the
    best (each bootstrap sample resamples every architecture's seeds with replacement; ties split the win); best
    first.

    Args:
        values: ``{genotype: [metric of each seed]}``.
    """
    checks.positive_int(samples, "samples")
    if not (checks.is_finite_number(confidence) and 0 < confidence < 1):
        raise ValueError(f"confidence: expected a number in (0, 1); got {confidence!r}")
    if not values:
        raise ValueError("values: expected at least one architecture with measurements")
    names = list(values)
    arrays = [np.asarray(values[name], dtype=np.float64) for name in names]
    for name, array in zip(names, arrays, strict=True):
        if array.size == 0 or not np.isfinite(array).all():
            raise ValueError(f"values: {name!r} needs at least one finite measurement; got {values[name]!r}")
    rng = np.random.default_rng(seed)
    means = np.empty((samples, len(names)))
    for column, array in enumerate(arrays):
        draws = rng.integers(0, array.size, size=(samples, array.size))
        means[:, column] = array[draws].mean(axis=1)
    scores = means if higher_is_better else -means
    best = scores.max(axis=1, keepdims=True)
    winners = scores == best
    wins = (winners / winners.sum(axis=1, keepdims=True)).sum(axis=0) / samples
    low, high = np.quantile(means, [(1 - confidence) / 2, 1 - (1 - confidence) / 2], axis=0)
    rows = [{"genotype": name, "mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size > 1 else None,
             "ci_low": float(low[i]), "ci_high": float(high[i]), "p_best": float(wins[i]), "seeds": int(array.size)}
            for i, (name, array) in enumerate(zip(names, arrays, strict=True))]
    rows.sort(key=lambda row: row["mean"], reverse=higher_is_better)
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


def search_agreement(search_ranks: list[float], retrained: list[float],
                     higher_is_better: bool) -> tuple[float | None, float | None]:
    """Kendall's tau-b (and its p-value) between the search's order and the retrained values: 1 when the search
    ranked the architectures as retraining does. Ties count as ties (two cells retrained to the same value agree
    with neither order); None when there is no order to compare (fewer than 2 values, or all tied)."""
    import math

    from scipy.stats import kendalltau

    if len(search_ranks) < 2:
        return None, None
    # rank 1 is the search's best: compare it with the retrained values oriented so that smaller is better too
    oriented = [-value if higher_is_better else value for value in retrained]
    statistic = kendalltau(search_ranks, oriented, variant="b")
    tau, p_value = float(statistic.statistic), float(statistic.pvalue)
    if not math.isfinite(tau):
        return None, None
    return tau, p_value if math.isfinite(p_value) else None


@dataclass
class ArchitectureRanking:
    """What :func:`rank` returns: ``table`` (a DataFrame, best first), ``kendall_tau`` and its ``kendall_p`` (search
    order vs retrained order; None with fewer than 2 architectures), the retraining experiment ``retrain``."""

    table: Any
    kendall_tau: float | None
    kendall_p: float | None
    retrain: Any
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "kendall_tau": self.kendall_tau, "kendall_p": self.kendall_p,
                "retrain": str(self.retrain.path) if self.retrain is not None else None,
                "table": json.loads(self.table.to_json(orient="records"))}


def rank_architectures(results, top_k: int = 5, seeds: int = 3, inputs_fn: Callable | str | None = None, epochs: int = 10,
         settings: Mapping[str, Any] | None = None, inputs_kwargs: Mapping[str, Any] | None = None,
         metric: str = "accuracy", samples: int = 2000, seed: int = 0, metric_split: str = TEST_SPLIT,
         storage_path: str | os.PathLike | None = None, name: str | None = None, **search_options) -> ArchitectureRanking:
    """Retrains the ``top_k`` best architectures of ``results`` (by :meth:`ExperimentResults.architectures`) with
    ``seeds`` seeds each as Tune trials and ranks them (see :func:`bootstrap_ranking`); the ranking is also written to
    ``<experiment>/report/architecture/ranking.json`` for the architecture report.

    Args:
        inputs_fn, epochs, settings, inputs_kwargs, metric_split: the retraining (see :func:`trw_ray.nas.retrain`).
        metric: ``accuracy`` (higher is better) or ``loss`` of ``metric_split``.
        search_options: :func:`trw_ray.hparams.search`'s (``resources_per_trial``, ``verbose``...); the retraining
            experiment is ``<experiment>_rank`` beside the search's by default.
    """
    import pandas as pd

    from trw_ray.nas.retraining import retrain
    from trw_ray.results import load

    results = load(results)
    checks.positive_int(top_k, "top_k")
    checks.positive_int(seeds, "seeds")
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric: expected 'accuracy' or 'loss'; got {metric!r}")
    if inputs_fn is None:
        raise ValueError("inputs_fn: ranking retrains the architectures; give their datasets ('module:function')")
    table = results.architectures()
    if table.empty:
        raise ValueError(f"results: {results.path} has no completed architecture to rank")
    top = table.head(top_k)
    retrained, _ = retrain(list(top["genotype"]), inputs_fn, seeds=seeds, epochs=epochs, settings=settings,
                           inputs_kwargs=inputs_kwargs, metric_split=metric_split,
                           storage_path=storage_path if storage_path is not None else results.path.parent,
                           name=name or f"{results.path.name}_rank", **search_options)
    trials = retrained.trials()
    done = trials[trials["completed"]]
    column = "result/accuracy" if metric == "accuracy" else f"last/{retrained.metric}"
    values = {genotype: list(pd.to_numeric(group[column], errors="coerce").dropna())
              for genotype, group in done.groupby("result/genotype")}
    values = {genotype: measured for genotype, measured in values.items() if measured}
    rows = bootstrap_ranking(values, samples=samples, seed=seed, higher_is_better=metric == "accuracy")
    search_rank = {genotype: int(position) for genotype, position in zip(top["genotype"], top["rank"], strict=True)}
    ranking = pd.DataFrame(rows)
    ranking.insert(1, "search_rank", ranking["genotype"].map(search_rank))
    tau, p_value = search_agreement(list(ranking["search_rank"]), list(ranking["mean"]), metric == "accuracy")
    outcome = ArchitectureRanking(ranking, tau, p_value, retrained, metric)
    from trw_ray.io import write_json_atomic

    write_json_atomic(Path(results.path) / layout.SEARCH_REPORT_FOLDER / "architecture" / RANKING_FILE,
                      outcome.to_dict())
    return outcome


rank = rank_architectures  # the earlier name
