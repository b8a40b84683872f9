"""The architecture report of an architecture search (``trw-ray report PATH`` builds it with the search report):
``<experiment>/report/architecture/index.html`` with the best-so-far and median of the candidates against
evaluations, the ranking with its intervals (after :func:`trw_ray.nas.rank`), the top cells drawn, the accuracy /
size Pareto front and, for DARTS, each supernet's architecture weights over the epochs. The experiment is only
read; the page is static (relative links, no script)."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trw_ray import layout
from trw_ray.io import write_text_atomic
from trw_ray.nas.genotypes import parse_genotype
from trw_ray.nas.ranking import RANKING_FILE

FOLDER = "architecture"
TOP_CELLS = 3

__all__ = ["architecture_report", "is_architecture_search"]

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1360px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; table-layout: fixed; width: 100%; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.5em; overflow-wrap: anywhere; vertical-align: top; }
th { background: #f3f3f3; } td.g { font-family: monospace; font-size: 0.9em; width: 45%; }
figure { display: inline-block; margin: 0.4em; vertical-align: top; }
figure img { max-width: 640px; border: 1px solid #ddd; } figcaption { font-size: 0.8em; color: #555; }
"""


def is_architecture_search(results) -> bool:
    """True when the experiment's trials returned genotypes (``darts_search``, ``evolution_search``, ``rank``)."""
    trials = results.trials()
    return "result/genotype" in trials and trials["result/genotype"].notna().any()


def _cell(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.{digits}g}"
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[str], genotype_column: str = "genotype") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f'<td class="g">{_cell(row.get(c))}</td>' if c == genotype_column else f"<td>{_cell(row.get(c))}</td>"
        for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(folder: Path, path: Path, caption: str) -> str:
    return (f'<figure><img src="{quote(path.relative_to(folder).as_posix())}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def architecture_report(path_or_results, output_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Builds the page; returns ``{'index': path, 'architectures': DataFrame, 'ranking': dict or None}``.

    Raises:
        ValueError: the experiment is not an architecture search.
    """
    import pandas as pd

    from trw_ray.reports import nas as figures
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
    parts = [f"<h1>Architecture search {html.escape(results.path.name)}</h1>",
             f"<p>{len(trials)} trials, {len(architectures)} distinct architectures; metric "
             f"<b>{html.escape(metric)}</b> ({results.mode}); algorithm {html.escape(str(results.settings.get('algorithm')))}"
             "</p>"]
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
        parts.append("<h2>Search progress</h2>" + _figure(folder, figure, "best so far and median against evaluations"))
    ranking_path = results.path / layout.SEARCH_REPORT_FOLDER / FOLDER / RANKING_FILE
    ranking = json.loads(ranking_path.read_text(encoding="utf-8")) if ranking_path.is_file() else None
    if ranking is not None:
        tau = ranking.get("kendall_tau")
        parts.append("<h2>Ranking, retrained from scratch</h2>"
                     f"<p>{html.escape(ranking['metric'])} over seeds with 95% bootstrap intervals and the probability "
                     f"that each is the best; Kendall's tau between the search order and the retrained order: "
                     f"{'n/a' if tau is None else f'{tau:.3f}'} (p = {_cell(ranking.get('kendall_p'))}).</p>"
                     + _table(ranking["table"], ["rank", "search_rank", "genotype", "mean", "std", "ci_low",
                                                 "ci_high", "p_best", "seeds"]))
    columns = ["rank", "genotype", "mean", "std", "count"] + \
        [c for c in ("accuracy_mean", "accuracy_std", "parameters") if c in architectures]
    parts.append(f"<h2>Architectures (best {metric} first)</h2>"
                 + _table(architectures.head(50).to_dict("records"), columns)
                 + '<p><a href="architectures.csv">architectures.csv</a> (all)</p>')
    cells = []
    for row in architectures.head(TOP_CELLS).to_dict("records"):
        genotype = parse_genotype(row["genotype"])
        for cell_type in genotype.space.cell_types:
            outputs = genotype.space.nodes if genotype.space.num_inputs > 1 else None
            path = figures.plot_cell([(s, n, op) for op, s, n in genotype.cell(cell_type)], genotype.space.num_inputs,
                                     folder / f"cell_{row['rank']}_{cell_type}.png", output_nodes=outputs,
                                     title=f"#{row['rank']} {cell_type} cell", subtitle=str(genotype))
            cells.append(_figure(folder, path, f"#{row['rank']} {cell_type} cell"))
    parts.append("<h2>Top cells</h2>" + "".join(cells))
    if "result/parameters" in done and accuracy is not None and accuracy.notna().any():
        sizes = pd.to_numeric(done["result/parameters"], errors="coerce")
        keep = sizes.notna() & accuracy.notna()
        if keep.sum() >= 2:
            figure = figures.plot_pareto(list(sizes[keep]), list(accuracy[keep]), folder / "pareto.png")
            front = figures.pareto_front(list(sizes[keep]), list(accuracy[keep]))
            rows = done[keep].iloc[front]
            parts.append("<h2>Accuracy / size Pareto front</h2>" + _figure(folder, figure, "every candidate")
                         + _table([{"genotype": g, "parameters": p, "accuracy": a} for g, p, a in
                                   zip(rows["result/genotype"], rows["result/parameters"], rows["result/accuracy"],
                                       strict=True)], ["genotype", "parameters", "accuracy"]))
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
    if trajectories:
        parts.append("<h2>Architecture weights over the epochs (DARTS supernets)</h2>" + "".join(trajectories))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>architecture search {html.escape(results.path.name)}</title><style>{STYLE}</style></head>"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")
    index = write_text_atomic(folder / layout.RUN_INDEX, page)
    return {"index": index, "architectures": architectures, "ranking": ranking}
