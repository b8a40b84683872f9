"""Best-so-far curves: the best value a search had found against the training it had consumed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trw_ray import checks
from trw_ray.checks import is_finite_number
from trw_ray.search_context import FINAL_KEY

if TYPE_CHECKING:
    from trw_ray.results.experiment import ExperimentResults

#: the x axes of a curve
ANYTIME_AXES = ("epochs", "time", "trials")


def best_so_far(results: ExperimentResults, metric: str | None = None, by: str = "epochs", completed_only: bool = False,
                mode: str | None = None) -> pd.DataFrame:
    """:meth:`ExperimentResults.anytime() <trw_ray.results.ExperimentResults.anytime>` (its arguments and table)."""
    if by not in ANYTIME_AXES:
        raise ValueError(f"by: expected one of {list(ANYTIME_AXES)}; got {by!r}")
    if not isinstance(completed_only, bool):
        raise TypeError(f"completed_only: expected True or False; got {completed_only!r}")
    metric = metric or results.metric
    mode = mode or (results.mode if metric == results.metric else "min")
    checks.mode(mode)
    events: list[tuple[float, str, float]] = []
    if by == "trials":
        ended = sorted((record for record in results.records() if record.get("ended") is not None),
                       key=lambda record: record["ended"])
        for count, record in enumerate(ended, start=1):
            value = (record.get("last_result") or {}).get(metric)
            keep = is_finite_number(value) and (record.get("completed") or not completed_only)
            events.append((float(count), record["trial_id"], float(value) if keep else np.nan))
    else:
        rows = results.history_rows()
        if rows and not any(metric in row for row in rows):
            raise KeyError(f"metric: {metric!r} was never reported; reported: "
                           f"{sorted({key for row in rows for key in row} - {'trial_id'})}")
        start = results.settings.get("created")
        trained: dict[str, int] = {}
        consumed = 0
        for row in rows:
            trial_id = row.get("trial_id")
            iteration = row.get("training_iteration")
            iteration = int(iteration) if is_finite_number(iteration) else trained.get(trial_id, 0) + 1
            consumed += max(0, iteration - trained.get(trial_id, 0))
            trained[trial_id] = max(trained.get(trial_id, 0), iteration)
            if by == "epochs":
                x = float(consumed)
            else:
                clock = row.get("recorded_at", row.get("timestamp"))
                if not is_finite_number(clock):
                    continue
                start = clock if start is None else start
                x = float(clock) - float(start)
            value = row.get(metric)
            keep = is_finite_number(value) and (row.get(FINAL_KEY) or not completed_only)
            events.append((x, trial_id, float(value) if keep else np.nan))
    table = pd.DataFrame(events, columns=[by, "trial_id", "value"])
    values = table["value"]
    best = values.cummin() if mode == "min" else values.cummax()
    table["best"] = best.ffill() if len(best) else best
    return table
