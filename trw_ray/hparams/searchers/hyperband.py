"""HyperBand's brackets (what the ``hyperband`` scheduler runs), computed without Ray."""

from __future__ import annotations

import math
from typing import Any

from trw_ray import checks


def hyperband_brackets(max_t: int, reduction_factor: float = 3) -> list[dict[str, Any]]:
    """The brackets of HyperBand (Li et al. 2018, Algorithm 1) for a budget of ``max_t`` epochs.

    Returns one dict per bracket ``s = s_max .. 0``: ``n`` configurations started with ``r`` epochs each, and
    the successive-halving rounds ``[(n_i, r_i), ...]``. ``max_t=81, reduction_factor=3`` gives the paper's table
    (n = 81, 34, 15, 8, 5; r = 1, 3, 9, 27, 81).
    """
    checks.positive_int(max_t, "max_t")
    if not reduction_factor > 1:
        raise ValueError(f"reduction_factor: expected a number > 1; got {reduction_factor!r}")
    eta = reduction_factor
    s_max = int(math.floor(math.log(max_t) / math.log(eta) + 1e-9))
    budget = (s_max + 1) * max_t
    brackets = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil(budget / max_t / (s + 1) * eta ** s))
        r = max_t * eta ** (-s)
        rounds = [(int(math.floor(n * eta ** (-i))), r * eta ** i) for i in range(s + 1)]
        brackets.append({"s": s, "n": n, "r": r, "rounds": rounds})
    return brackets

