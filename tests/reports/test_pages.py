"""Every page trw_ray writes shows what a trial gave it as text: a configuration, a name or a metric holding
``<script>`` never becomes markup (the pages are rendered from autoescaped Jinja2 templates)."""

import json
from pathlib import Path

import numpy as np
import pytest

from trw_ray import layout
from trw_ray.reports import pages
from trw_ray.results.testing import classification_table, write_experiment

SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
CELLS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|",
         "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"]


def _experiment(path: Path) -> Path:
    """Four trials whose configuration, name and algorithm hold a script; per-sample tables and genotypes, so the
    error and architecture reports have something to show."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 30)
    trials = []
    for index, cell in enumerate(CELLS):
        probabilities = rng.dirichlet(np.ones(3), size=30)
        trials.append({"trial_id": f"t{index}", "value": 0.5 + 0.1 * index,
                       "config": {"activation": SCRIPT, "lr": 0.1 * (index + 1)},
                       "tables": {("mnist", "valid", "softmax", 1): classification_table(np.arange(30), labels,
                                                                                         probabilities, 1)},
                       "infos": {"genotype": cell, "accuracy": 0.9 - 0.1 * index, "parameters": 1000 * (index + 1)}})
    experiment = write_experiment(path, trials)
    search_file = experiment / layout.RECORD_FOLDER / layout.SEARCH_FILE
    settings = json.loads(search_file.read_text())
    search_file.write_text(json.dumps({**settings, "name": SCRIPT, "algorithm": SCRIPT}))
    return experiment


def _run_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / layout.RESULT_FILE).write_text(json.dumps({
        "status": SCRIPT, "epochs_completed": 1, "num_epochs": 1,
        "final": {SCRIPT: {"valid": {"softmax": {"loss": 0.5}}}},
        "history": [{SCRIPT: {"valid": {"softmax": {"loss": 0.5}}}}]}))
    (path / layout.MODEL_SUMMARY_FILE).write_text(SCRIPT)
    return path


def _assert_shown_as_text(page: Path) -> None:
    html = Path(page).read_text(encoding="utf-8")
    assert "<script" not in html, f"{page} holds markup from a trial"
    assert ESCAPED in html, f"{page} does not show the trial's value"


def test_a_script_in_a_trial_shows_as_text_on_every_page(tmp_path):
    from trw_ray import reports

    experiment = _experiment(tmp_path / "experiment")
    search = reports.search_report(experiment, errors_report=True)
    _assert_shown_as_text(search["index"])
    _assert_shown_as_text(search["errors"]["index"])
    _assert_shown_as_text(reports.architecture_report(experiment)["index"])
    other = _experiment(tmp_path / "other")
    reports.comparison_report([experiment, other], tmp_path / "compared")
    _assert_shown_as_text(tmp_path / "compared" / "index.html")
    runs = [_run_folder(tmp_path / "run_a"), _run_folder(tmp_path / "run_b")]
    _assert_shown_as_text(reports.run_report(runs[0]))
    reports.run_comparison_report(runs, tmp_path / "runs_compared")
    _assert_shown_as_text(tmp_path / "runs_compared" / "index.html")


def test_every_page_extends_the_shared_layout():
    for template in sorted(pages.TEMPLATES.glob("*.html")):
        if template.name not in ("layout.html", "macros.html"):
            assert template.read_text().startswith('{% extends "layout.html" %}'), template.name


@pytest.mark.parametrize("value, shown", [(None, ""), (float("nan"), ""), (0.123456789, "0.123457"),
                                          (np.float32(2.5), "2.5"), (3, "3"), ("a<b", "a<b")])
def test_table_cells_are_formatted_then_escaped_by_the_template(value, shown):
    assert pages.number(value) == shown
    page = pages.ENVIRONMENT.from_string('{% from "macros.html" import table %}{{ table(data) }}').render(
        data=pages.table([{"column": value}]))
    assert f"<td>{shown.replace('<', '&lt;')}</td>" in page


def test_links_are_percent_encoded():
    assert pages.href("run folder/index.html") == "run%20folder/index.html"
    assert pages.href("file:///tmp/a b") == "file:///tmp/a b"
