"""Two trials of a search compared sample by sample on one evaluated split: which samples one gets right and the
other wrong, and McNemar's exact test on them. Read from the trials' per-sample tables (no Ray)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from trw_ray.results.sample_tables import COLUMNS, select

if TYPE_CHECKING:
    from trw_ray.results.experiment import ExperimentResults


def compare(results: ExperimentResults, trial_a: str, trial_b: str, split: str | None = None,
            dataset: str | None = None, output: str | None = None) -> dict[str, Any]:
    """Two trials compared sample by sample on one evaluated split (the last epoch of each).

    Returns ``both_right``, ``only_a_right``, ``only_b_right``, ``both_wrong``, ``samples`` (how many both
    evaluated), McNemar's exact test on the discordant samples (``p_value``; ``statistic``: the chi-squared with
    continuity correction), and ``differences``: the samples one gets right and the other wrong (``sample_uid``,
    ``label``, ``prediction_a``, ``prediction_b``, ``loss_a``, ``loss_b``, ``right``: which one).

    Raises:
        KeyError: a trial without tables of that split, or several splits/outputs when none is named.
    """
    import pandas as pd
    from scipy.stats import binomtest

    groups = select(results, split, dataset, output, exclude_train=True)
    if len(groups) != 1:
        raise KeyError(f"split: name one split (and dataset/output when several): recorded {sorted(groups)}")
    files = {f.trial_id: f for f in next(iter(groups.values()))}
    for name, trial in (("trial_a", trial_a), ("trial_b", trial_b)):
        if trial not in files:
            raise KeyError(f"{name}: trial {trial!r} has no per-sample table of {next(iter(groups))}; "
                           f"trials with one: {sorted(files)}")
    a = pd.read_parquet(files[trial_a].path, columns=COLUMNS).set_index("sample_uid")
    b = pd.read_parquet(files[trial_b].path, columns=COLUMNS).set_index("sample_uid")
    joined = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
    right_a = (joined["prediction_a"] == joined["truth_a"]).to_numpy()
    right_b = (joined["prediction_b"] == joined["truth_b"]).to_numpy()
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    discordant = only_a + only_b
    p_value = float(binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant if discordant else 0.0
    differs = right_a != right_b
    differences = pd.DataFrame({
        "sample_uid": joined.index[differs], "label": joined["truth_a"].to_numpy()[differs],
        "prediction_a": joined["prediction_a"].to_numpy()[differs],
        "prediction_b": joined["prediction_b"].to_numpy()[differs],
        "loss_a": joined["loss_a"].to_numpy()[differs], "loss_b": joined["loss_b"].to_numpy()[differs],
        "right": np.where(right_a[differs], "a", "b")})
    return {"trial_a": trial_a, "trial_b": trial_b, "samples": int(len(joined)),
            "both_right": int(np.sum(right_a & right_b)), "only_a_right": only_a, "only_b_right": only_b,
            "both_wrong": int(np.sum(~right_a & ~right_b)), "statistic": float(statistic), "p_value": p_value,
            "differences": differences}
