"""DARTS supernets as Tune trials on the session's local Ray, then the retraining stage that ranks their genotypes."""

import json
from pathlib import Path

import pytest

import trw_ray as trw
from trw_ray import layout

TINY = {"max_train_samples": 200, "max_eval_samples": 100, "batch_size": 50}


def test_two_supernet_trials_then_their_genotypes_retrained_and_ranked(ray_local, tmp_path):
    results = trw.nas.darts_search(
        "trw_ray.nas.inputs:mnist_inputs", space="nb201", num_samples=2, epochs=2, seed=5,
        settings={"width": 4, "arch_learning_rate": 3e-2}, inputs_kwargs=TINY, retrain_top_k=2, retrain_seeds=2,
        retrain_epochs=1, retrain_settings={"width": 4}, storage_path=tmp_path, name="tiny_darts", verbose=0)
    trials = results.search.trials().sort_values("config/seed")
    assert trials["completed"].all() and trials["config/seed"].tolist() == [5, 6]
    assert trials["result/genotype"].map(trw.nas.parse_genotype).notna().all()
    assert set(trials["result/collapsed"]) <= {True, False} and (trials["result/epochs"] <= 2).all()
    for run_dir in trials["run_dir"]:  # the per-epoch record of each supernet is in its trial's run folder
        record = json.loads((Path(run_dir) / layout.ARCHITECTURE_FOLDER / layout.ARCHITECTURE_HISTORY_FILE).read_text())
        assert [entry["epoch"] for entry in record["epochs"]][0] == 1 and record["epochs"][-1]["genotype"]
    history = results.search.history()
    assert "mnist/train/step/arch_entropy" in history and history["epoch"].max() <= 2

    retrained = results.retrain.trials()
    genotypes = set(trials["result/genotype"])
    assert set(retrained["config/genotype"]) == genotypes and len(retrained) == 2 * len(genotypes)
    ranking = results.ranking
    assert set(ranking["genotype"]) == genotypes and (ranking["seeds"] == 2).all()
    assert ranking["accuracy_mean"].is_monotonic_decreasing
    assert set(ranking["search_rank"]) == set(range(1, len(genotypes) + 1))
    assert results.retrain.path.name == "tiny_darts_retrain" and results.retrain.path.parent == results.search.path.parent
    architectures = results.search.architectures()  # the derived genotypes, one row per distinct cell
    assert set(architectures["genotype"]) == genotypes and architectures["count"].sum() == 2
    # a DARTS search is read as every other search: the result is the supernet experiment itself
    assert isinstance(results, trw.results.ExperimentResults) and results.search is results
    assert results.trials()["trial_id"].tolist() == results.search.trials()["trial_id"].tolist()
    assert results.best()["trial_id"] in set(trials["trial_id"]) and set(results.architectures()["genotype"]) == genotypes


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"space: expected one of \['nb201', 'darts'\]"):
        trw.nas.darts_search("trw_ray.nas.inputs:mnist_inputs", space="enas")
    with pytest.raises(ValueError, match="unknown settings \\['widht'\\]"):
        trw.nas.darts_search("trw_ray.nas.inputs:mnist_inputs", settings={"widht": 4})
    with pytest.raises(ValueError, match="'order' expects one of"):
        trw.nas.darts_search("trw_ray.nas.inputs:mnist_inputs", settings={"order": "third"})
    with pytest.raises(ValueError, match="retrain_top_k"):
        trw.nas.darts_search("trw_ray.nas.inputs:mnist_inputs", retrain_top_k=-1)


def test_the_cli_runs_a_declared_search(ray_local, tmp_path, capsys):
    from trw_ray.cli import main

    spaces = Path(__file__).resolve().parents[2] / "search_spaces"
    code = main(["nas", str(spaces / "nas_nb201_mnist_tiny.yaml"), "--storage-path", str(tmp_path),
                 "--name", "cli_nas", "--verbose", "0"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert "retrained, best first:" in output and "experiment: " in output
    trials = trw.results.load(tmp_path / "cli_nas").trials()
    assert len(trials) == 2 and set(trials["config/arch_learning_rate"]) <= {0.003, 0.03}
    assert (tmp_path / "cli_nas_retrain").is_dir()


def test_nas_files_are_checked(tmp_path):
    from trw_ray.nas.spec import load_nas_spec

    spaces = Path(__file__).resolve().parents[2] / "search_spaces"
    for name in ("nas_nb201_fashion_mnist.yaml", "nas_nb201_mnist_tiny.yaml"):
        arguments = load_nas_spec(spaces / name)
        assert arguments["space"] == "nb201" and ":" in arguments["inputs_fn"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: x:y\nepoch: 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        load_nas_spec(bad)
    bad.write_text("inputs: x:y\nsettings: {width: {type: DiscreteInteger, default: 4}}\n")
    with pytest.raises(ValueError, match="settings.width: missing key"):
        load_nas_spec(bad)


@pytest.mark.slow  # a fresh process starts Ray: about 45 s on 2 cores
def test_trw_ray_search_finds_the_darts_algorithm_in_a_fresh_process(tmp_path):
    """``trw-ray search --algorithm darts``: the algorithm is registered with the built-ins, so a process that never
    imported trw_ray.nas finds it (a space file whose trainable is the DARTS trial, the tiny NAS file's settings)."""
    import subprocess
    import sys

    space = tmp_path / "darts_space.yaml"
    space.write_text(
        "trainable: trw_ray.nas.darts:evaluate_darts\n"
        "trainable_kwargs: {inputs_fn: 'trw_ray.nas.inputs:mnist_inputs', space: nb201, epochs: 1, settings: {width: 4},\n"
        "                   inputs_kwargs: {max_train_samples: 200, max_eval_samples: 100, batch_size: 50}}\n"
        "metric: loss\nmode: min\nresources_per_trial: {cpu: 1, gpu: 0}\n"
        "parameters:\n  seed: {type: DiscreteInteger, default: 0, min: 0, max: 1000}\n")
    code = ("import sys; from trw_ray.cli import main\n"
            "assert 'trw_ray.nas' not in sys.modules\n"
            "sys.exit(main(sys.argv[1:]))\n")
    completed = subprocess.run(
        [sys.executable, "-c", code, "search", str(space), "--algorithm", "darts", "--num-samples", "2", "--seed", "7",
         "--storage-path", str(tmp_path), "--name", "darts_cli", "--verbose", "0"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    results = trw.results.load(tmp_path / "darts_cli")
    trials = results.trials()
    assert results.settings["algorithm"] == "darts" and trials["completed"].all()
    assert sorted(trials["config/seed"]) == [7, 8]  # the darts searcher: trial i has seed (search seed + i)
    assert trials["result/genotype"].map(trw.nas.parse_genotype).notna().all()
