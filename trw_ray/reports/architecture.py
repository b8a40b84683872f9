"""The architecture report of an architecture search (``trw-ray report PATH`` builds it with the search report):
``<experiment>/report/architecture/index.html`` with the best-so-far and median of the candidates against
evaluations, the ranking with its intervals (after :func:`trw_ray.nas.rank_architectures`), the top cells drawn, the accuracy /
size Pareto front and, for DARTS, each supernet's architecture weights over the epochs. The experiment is only
read; the page is static (relative links, no script)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from trw_ray import layout
from trw_ray.nas.genotypes import parse_genotype
from trw_ray.nas.ranking import RANKING_FILE
from trw_ray.reports.pages import table, write_page

FOLDER = "architecture"
TOP_CELLS = 3
RANKING_COLUMNS = ["rank", "search_rank", "genotype", "mean", "std", "ci_low", "ci_high", "p_best", "seeds"]

__all__ = ["architecture_report", "is_architecture_search"]

def is_architecture_search(results) -> bool:
    """True when the experiment's trials returned genotypes (``darts_search``, ``evolution_search``, ``rank``)."""
    trials = results.trials()
    return "result/genotype" in trials and trials["result/genotype"].notna().any()


def _figure(folder: Path, path: Path, caption: str) -> dict[str, str]:
    return {"src": path.relative_to(folder).as_posix(), "caption": caption}


def architecture_report(path_or_results, output_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Builds the page; returns ``{'index': path, 'architectures': DataFrame, 'ranking': dict or None}``.

    Raises:
        ValueError: the experiment is not an architecture search.
    """
    import pandas as pd

    from trw_ray.reports import architecture_plots as figures
    from trw_ray.results import load

    results = load(path_or_results)
    if not is_architecture_search(results):
        raise ValueError(f"{results.path}: no trial returned a genotype; not an architecture search")
    folder = Path(output_dir) if output_dir is not None else results.path / layout.SEARCH_REPORT_FOLDER / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    trials = results.trials()
    architectures = results.architectures()
    architectures.drop(columns=["trial_ids"]).to_csv(folder / "architectures.csv", index=False)
    metric = results.metric
    progress_figure = pareto = None
    done = trials[trials["completed"] & trials["result/genotype"].notna()]
    accuracy = pd.to_numeric(done.get("result/accuracy"), errors="coerce") if "result/accuracy" in done else None
    if len(done):
        if accuracy is not None and accuracy.notna().all():
            progress, higher, label = list(accuracy), True, "accuracy"
        else:
            progress, higher, label = list(pd.to_numeric(done[f"last/{metric}"], errors="coerce")), \
                results.mode == "max", metric
        figure = figures.plot_search_progress(progress, folder / "progress.png", higher_is_better=higher, ylabel=label,
                                              title="candidates in the order they started")
        progress_figure = figure.relative_to(folder).as_posix()
    ranking_path = results.path / layout.SEARCH_REPORT_FOLDER / FOLDER / RANKING_FILE
    ranking = json.loads(ranking_path.read_text(encoding="utf-8")) if ranking_path.is_file() else None
    if ranking is not None:
        ranking_rows = [{column: row.get(column) for column in RANKING_COLUMNS} for row in ranking["table"]]
        ranking_shown = {"metric": ranking["metric"], "tau": ranking.get("kendall_tau"), "p": ranking.get("kendall_p"),
                         "table": table(ranking_rows)}
    columns = ["rank", "genotype", "mean", "std", "count"] + \
        [c for c in ("accuracy_mean", "accuracy_std", "parameters") if c in architectures]
    cells = []
    for row in architectures.head(TOP_CELLS).to_dict("records"):
        genotype = parse_genotype(row["genotype"])
        for cell_type in genotype.space.cell_types:
            outputs = genotype.space.nodes if genotype.space.num_inputs > 1 else None
            path = figures.plot_cell([(s, n, op) for op, s, n in genotype.cell(cell_type)], genotype.space.num_inputs,
                                     folder / f"cell_{row['rank']}_{cell_type}.png", output_nodes=outputs,
                                     title=f"#{row['rank']} {cell_type} cell", subtitle=str(genotype))
            cells.append(_figure(folder, path, f"#{row['rank']} {cell_type} cell"))
    if "result/parameters" in done and accuracy is not None and accuracy.notna().any():
        sizes = pd.to_numeric(done["result/parameters"], errors="coerce")
        keep = sizes.notna() & accuracy.notna()
        if keep.sum() >= 2:
            figure = figures.plot_pareto(list(sizes[keep]), list(accuracy[keep]), folder / "pareto.png")
            front = figures.pareto_front(list(sizes[keep]), list(accuracy[keep]))
            rows = done[keep].iloc[front]
            pareto = {"figure": figure.relative_to(folder).as_posix(),
                      "table": table([{"genotype": g, "parameters": p, "accuracy": a} for g, p, a in
                                      zip(rows["result/genotype"], rows["result/parameters"], rows["result/accuracy"],
                                          strict=True)])}
    trajectories = []
    for _, trial in done.iterrows():
        run_dir = trial.get("run_dir")
        if not isinstance(run_dir, str):
            continue
        for image in sorted((Path(run_dir) / layout.ARCHITECTURE_FOLDER).glob("weights_*.png")):
            target = folder / "trajectories" / f"{trial['trial_id']}_{image.name}"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(image, target)
            trajectories.append(_figure(folder, target, f"trial {trial['trial_id']}: {image.stem}"))
    index = write_page(folder / layout.RUN_INDEX, "architecture.html", name=results.path.name,
                       trial_count=len(trials), architecture_count=len(architectures), metric=metric, mode=results.mode,
                       algorithm=str(results.settings.get("algorithm")), progress=progress_figure,
                       ranking=ranking_shown if ranking is not None else None,
                       architectures=table(architectures[columns], 50), cells=cells, pareto=pareto,
                       trajectories=trajectories)
    return {"index": index, "architectures": architectures, "ranking": ranking}
