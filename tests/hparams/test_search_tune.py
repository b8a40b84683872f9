"""Searches on the session's local Ray: every algorithm on the tiny MNIST space, faults, resume, the query API."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import search_helpers
import torch
from conftest import chromium_path

import trw_ray as trw
from trw_ray.results import load

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
TINY = SPACES / "mnist_cnn_tiny.yaml"


@pytest.mark.parametrize("algorithm, scheduler", [
    ("random", None), ("grid", None), ("hyperband", None), ("asha", None), ("pbt", None), ("evolution", None),
    ("tpe", None), ("evolution", "hyperband"), ("evolution", "asha"), ("tpe", "hyperband"), ("tpe", "asha")])
def test_each_searcher_and_scheduler_searches_the_tiny_mnist_space(ray_local, tmp_path, algorithm, scheduler):
    if algorithm == "tpe":
        pytest.importorskip("optuna")
    options = {"grid": {"grid_points": 2}, "evolution": {"population_size": 2, "sample_size": 2},
               "pbt": {"perturbation_interval": 1, "quantile_fraction": 0.5}}.get(algorithm)
    results = trw.hparams.search(space=TINY, algorithm=algorithm, scheduler=scheduler, num_samples=4, seed=0,
                                 storage_path=tmp_path, name=algorithm, algorithm_options=options, verbose=0)
    assert results.settings["search"] == (f"{algorithm}+{scheduler}" if scheduler else algorithm)
    trials = results.trials()
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}, trials
    assert trials["completed"].any()
    history = results.history()
    assert set(history["trial_id"]) == set(trials["trial_id"])
    assert history["training_iteration"].max() == 3 and "mnist/valid/softmax/accuracy" in history
    best = results.best()
    assert best["value"] == pytest.approx(trials["last/loss"].min())
    assert Path(best["checkpoint"]).is_dir() and Path(best["run_dir"]).parent.parent == Path(best["trial_dir"])
    model, metadata = results.load_model(best["trial_id"])  # simple layers rebuild from the saved description
    assert metadata["epoch"] >= 1 and sum(p.numel() for p in model.parameters()) > 0
    if algorithm == "grid":
        rates = sorted(set(trials["config/learning_rate"]))
        assert rates == pytest.approx([1e-3]) or len(rates) <= 2
    if algorithm == "pbt":
        logs = [Path(run, "trainer.txt").read_text() for run in Path(results.path).glob("*/runs/*_r*")]
        assert any("resumed from the trial's checkpoint" in log for log in logs)


def test_seeded_searches_propose_the_same_configurations(ray_local, tmp_path):
    configs = []
    for name, tune_loggers in (("first", False), ("second", True)):
        results = trw.hparams.search(search_helpers.quadratic, num_samples=5, seed=7, storage_path=tmp_path, name=name,
                                     verbose=0, tune_loggers=tune_loggers)
        configs.append(sorted(json.dumps(r["config"], sort_keys=True) for r in results.records()))
        tune_files = [Path(trial_dir, "progress.csv").is_file() for trial_dir in results.trials()["trial_dir"]]
        assert tune_files == [tune_loggers] * 5  # Tune's own loggers only when asked for
    assert configs[0] == configs[1]


def test_define_by_run_search_and_the_seed_alias(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.quadratic, num_samples=6, seed=0, storage_path=tmp_path, name="dbr",
                                 verbose=0)
    trials = results.trials()
    assert set(trials.columns) >= {"config/x", "config/kind", "last/loss", "best/loss", "error", "epochs"}
    best = results.best()
    expected = (best["config"]["x"] - 1) ** 2 + (0.5 if best["config"]["kind"] == "b" else 0)
    assert best["value"] == pytest.approx(expected)
    infos = json.loads(Path(best["trial_dir"], "trw_ray_infos.json").read_text())
    assert infos["infos"] == {"kind": best["config"]["kind"]}
    record = {p: p.read_bytes() for p in (results.path / "trw_ray").rglob("*") if p.is_file()}
    report = trw.hparams.analyse(results.path, tmp_path / "report", seed=0)
    assert {p: p.read_bytes() for p in (results.path / "trw_ray").rglob("*") if p.is_file()} == record  # read only
    assert set(report["importance"]["parameter"]) == {"x", "kind"} and report["index"].is_file()
    for name in ("importance.png", "metric_vs_hparams.png", "learning_curves.png", "trials.csv", "history.csv"):
        assert (tmp_path / "report" / name).is_file(), name
    assert report["importance"].equals(trw.hparams.analyse(results, tmp_path / "again", seed=0)["importance"])
    alias = trw.hparams.HyperParametersOptimizerRandomSearchLocal(search_helpers.quadratic, repeat=3, seed=1,
                                                                   log_string=lambda text: None)
    assert len(alias.optimize(tmp_path / "alias").trials()) == 3


def test_failing_and_diverging_trials_are_recorded_and_the_search_goes_on(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.fails_for_positive_x, num_samples=6, seed=3, storage_path=tmp_path,
                                 name="failing", verbose=0)
    trials = results.trials()
    failed = trials[trials["status"] == "ERROR"]
    assert len(failed) and len(failed) < len(trials)
    assert (failed["config/x"] > 0).all() and failed["error"].str.contains("planted failure").all()
    traceback = results.trial(failed["trial_id"].iloc[0])["traceback"]
    assert "in fails_for_positive_x" in traceback and 'raise RuntimeError(f"planted failure' in traceback
    assert (trials.loc[trials["status"] == "TERMINATED", "config/x"] <= 0).all()

    diverged = trw.hparams.search(search_helpers.blobs_poisoned, num_samples=1, seed=0, storage_path=tmp_path,
                                  name="nan", verbose=0).trials()
    assert list(diverged["status"]) == ["ERROR"] and "TrainingDivergedError" in diverged["error"].iloc[0]


def test_max_failures_retries_from_the_last_checkpoint(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.blobs_fail_once, num_samples=1, seed=0, storage_path=tmp_path,
                                 name="retry", max_failures=1, verbose=0)
    trial = results.trials().iloc[0]
    assert trial["status"] == "TERMINATED" and trial["failures"] == 1
    assert Path(trial["trial_dir"], "failed_once").exists()
    logs = [Path(run, "trainer.txt").read_text() for run in results.trial(trial["trial_id"])["run_dirs"]]
    assert len(logs) == 2 and "resumed from the trial's checkpoint at epoch" in logs[1]
    assert list(results.history()["epoch"]) == [1, 2, 3]
    retries = results.trial(trial["trial_id"])["retries"]  # on the record: when, why, and the epoch it resumed from
    assert len(retries) == 1 and "planted" in retries[0]["error"].lower() and retries[0]["resumed_from_epoch"] >= 1
    page = Path(trw.hparams.analyse(results, errors_report=False)["index"]).read_text()
    assert "Retried trials" in page and "planted failure at epoch 2" in page


def test_a_gpu_request_on_a_cpu_only_cluster_fails_at_once(ray_local, tmp_path):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"resources_per_trial: a trial asks for 1 GPU"):
        trw.hparams.search(search_helpers.quadratic, space={"x": trw.hparams.ContinuousUniform(0.5, 0.0, 1.0)},
                           resources_per_trial={"cpu": 1, "gpu": 1}, storage_path=tmp_path, verbose=0)
    assert time.perf_counter() - started < 10
    with pytest.raises(ValueError, match="unknown key"):
        trw.hparams.search(search_helpers.quadratic, resources_per_trial={"cpus": 1}, storage_path=tmp_path)
    with pytest.raises(ValueError, match="algorithm: expected one of"):
        trw.hparams.search(search_helpers.quadratic, algorithm="bayes", storage_path=tmp_path)
    with pytest.raises(ValueError, match="max_epochs"):
        trw.hparams.search(search_helpers.quadratic, algorithm="asha", storage_path=tmp_path)
    with pytest.raises(TypeError, match="algorithm_options: expected a dict"):
        trw.hparams.search(search_helpers.quadratic, algorithm="asha", max_epochs=3, algorithm_options=[3],
                           storage_path=tmp_path)
    with pytest.raises(TypeError, match="tune_loggers: expected True or False; got 'yes'"):
        trw.hparams.search(search_helpers.quadratic, tune_loggers="yes", storage_path=tmp_path)


def test_reused_actors_carry_no_state_from_the_previous_trial(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.state_probe, num_samples=4, max_concurrent=1, seed=0,
                                 storage_path=tmp_path, name="probe", verbose=0)
    probes = [json.loads(Path(t["trial_dir"], "trw_ray_infos.json").read_text())["infos"]
              for _, t in results.trials().iterrows()]
    assert len({probe["pid"] for probe in probes}) < len(probes)  # actors were reused
    assert len({probe["first_random"] for probe in probes}) == 1  # same config, same seed: same random numbers
    assert all(probe["threads"] == 1 and probe["fresh_context"] for probe in probes)


def test_killed_driver_resumes_without_rerunning_or_losing_finished_trials(ray_local, tmp_path):
    log = tmp_path / "killed" / "starts.log"
    env = dict(os.environ, PYTHONPATH=os.environ["PYTHONPATH"])
    code = f"import search_helpers; search_helpers.run_driver({str(tmp_path)!r}, 'killed')"
    driver = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = tmp_path / "killed"
    finished_before = set()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(finished_before) < 2:
            time.sleep(0.5)
            if (experiment / "trw_ray" / "search.json").is_file():
                trials = load(experiment).trials()  # the query API works on a running experiment
                if len(trials):
                    finished_before = set(trials.loc[trials["status"] == "TERMINATED", "trial_id"])
        assert len(finished_before) >= 2, "the driver did not finish two trials in time"
        time.sleep(1.2)  # Tune saves its state every second
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver's own Ray processes
        except ProcessLookupError:
            pass
    starts_before = log.read_text().splitlines()
    results = trw.hparams.search(search_helpers.slow_quadratic, storage_path=tmp_path, name="killed", resume=True,
                                 verbose=0)
    trials = results.trials()
    assert len(trials) == 6 and set(trials["status"]) == {"TERMINATED"}, trials
    assert finished_before <= set(trials["trial_id"])
    starts = log.read_text().splitlines()
    finished_configs = {repr(results.trial(t)["config"]["x"]) for t in finished_before}
    assert all(starts.count(x) == 1 for x in finished_configs), (starts_before, starts)
    assert len(results.settings["resumed"]) == 1
    with pytest.raises(ValueError, match="exists; pass resume=True"):
        trw.hparams.search(search_helpers.slow_quadratic, storage_path=tmp_path, name="killed", resume=False)


def test_fractional_gpus_pack_two_trials_on_one_gpu(tmp_path):
    code = f"import search_helpers; search_helpers.run_fake_gpu_search({str(tmp_path)!r})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180,
                               check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    first, second = json.loads(completed.stdout.strip().splitlines()[-1])
    assert first["visible"] == second["visible"] == "0"  # both trials on GPU 0
    assert first["together"] and second["together"]  # both ran at the same time


def test_hyperband_fills_its_brackets_and_stops_the_worst_trials_early(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.blobs_trainer, algorithm="hyperband", max_epochs=9, num_samples=8,
                                 seed=0, storage_path=tmp_path, name="brackets", verbose=0)
    trials = results.trials()
    assert set(trials["status"]) == {"TERMINATED"}
    # Tune fills brackets s=0 (3 trials x 9 epochs) then s=1 (5 trials from 3 epochs, the best third goes on to 9)
    assert (trials["epochs"] == 9).sum() >= 3 and (trials["epochs"] == 3).sum() >= 3
    assert trials["epochs"].sum() < 8 * 9
    # the best completed trial: the lowest returned value among the trials trained to the end
    completed = trials[trials["completed"]]
    assert len(completed) and (completed["epochs"] == 9).all() and not trials["completed"].all()
    best = results.best(completed_only=True)
    assert best["trial_id"] == completed.loc[completed["last/loss"].idxmin(), "trial_id"]
    assert best["value"] == pytest.approx(completed["last/loss"].min())
    with pytest.raises(TypeError, match="completed_only"):
        results.best(completed_only="yes")


class _FixedLearningRate(trw.hparams.RandomSearch):
    """Random search whose every proposal has ``lr = value`` (so the test can see its searcher ran)."""

    def __init__(self, space, mode="min", seed=None, value=0.05):
        super().__init__(space, mode, seed)
        self.value = value

    def suggest(self, trial_id):
        config = super().suggest(trial_id)
        return None if config is None else {**config, "lr": self.value}


def _build_fixed_learning_rate(request):
    from trw_ray.hparams.searchers.logic_searcher import LogicSearcher

    logic = _FixedLearningRate(request.space.parameters, request.mode, request.seed, **request.options)
    return LogicSearcher(logic, request.metric, request.mode, request.max_concurrent), None


def test_a_registered_algorithm_searches_and_samples_returns_every_trial_split_and_epoch(ray_local, tmp_path):
    from trw_ray.hparams.searchers import number_option

    trw.hparams.register_algorithm("fixed_lr_test", _build_fixed_learning_rate,
                                   options={"value": number_option(0.0, 1.0)}, replace=True)
    results = trw.hparams.search(search_helpers.blobs_trainer, algorithm="fixed_lr_test", num_samples=2, seed=0,
                                 algorithm_options={"value": 0.0625}, storage_path=tmp_path, name="registered",
                                 verbose=0)
    trials = results.trials()
    assert len(trials) == 2 and set(trials["status"]) == {"TERMINATED"}
    assert list(trials["config/lr"]) == [0.0625, 0.0625]
    assert results.settings["algorithm"] == "fixed_lr_test"

    every = results.samples(epoch="all")
    counts = every.groupby(["trial_id", "split", "epoch"]).size().to_dict()
    assert counts == {(trial, split, epoch): {"train": 120, "valid": 60}[split]
                      for trial in trials["trial_id"] for split in ("train", "valid") for epoch in (1, 2, 3)}
    assert set(every["output"]) == {"softmax"} and set(every["dataset"]) == {"blobs"}
    last = results.samples(split="valid")
    assert set(last["epoch"]) == {3} and len(last) == 2 * 60
    one = results.samples(split="valid", trial_id=trials["trial_id"][0], epoch=2)
    assert len(one) == 60 and one["probabilities"].map(len).eq(3).all()
    # right exactly where the truth's probability is the highest (the test compared the other way round: it held
    # only while every sample was right)
    assert ((one["prediction"] == one["truth"]) == (one["probability_truth"] >= one["probability_prediction"])).all()
    with pytest.raises(KeyError, match="split: no trial recorded per-sample tables of split 'test'"):
        results.samples(split="test")
    with pytest.raises(ValueError, match="epoch: expected 'last', 'all' or an integer >= 1; got 0"):
        results.samples(epoch=0)


def test_the_error_report_of_a_real_search_ranks_the_flipped_labels_near_the_top(ray_local, tmp_path):
    from trw_ray.hparams.space import load_space

    space = load_space(TINY)
    results = trw.hparams.search(search_helpers.mnist_with_flipped_labels, space=space.parameters, num_samples=4,
                                 seed=0, storage_path=tmp_path, name="flipped", verbose=0)
    kwargs = {"max_train_samples": 2000, "max_eval_samples": 1000, "batch_size": 100}
    noisy = trw.datasets.create_mnist_dataset(label_noise={"valid": 0.01}, **kwargs)["mnist"]["valid"]
    clean = trw.datasets.create_mnist_dataset(**kwargs)["mnist"]["valid"]
    flipped = set(noisy.split["sample_uid"][noisy.split["targets"] != clean.split["targets"]].tolist())
    assert len(flipped) == 10
    report = trw.hparams.error_report(results, datasets={"mnist": {"valid": noisy}})
    issues = report["label_issues"]
    valid = issues[issues["split"] == "valid"]
    ranks = sorted(valid.set_index("sample_uid").loc[sorted(flipped), "rank"])
    assert ranks[0] == 1 and sum(rank <= 20 for rank in ranks) >= 8, ranks  # of 1,000 (measured: 1-9 and 22)
    assert (Path(report["output_dir"]) / "label_issues-mnist-valid-softmax.png").is_file()
    assert set(report["training_dynamics"]["split"]) == {"train"}
    chromium = chromium_path()
    if chromium is not None:  # the page renders and its images load
        screenshot = tmp_path / "errors.png"
        completed = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
             "--allow-file-access-from-files", f"--screenshot={screenshot}", "--window-size=1400,1600",
             Path(report["index"]).as_uri()], capture_output=True, text=True, timeout=120, check=False)
        assert screenshot.is_file() and "ERR_FILE_NOT_FOUND" not in completed.stderr, completed.stderr[-2000:]


def test_a_total_budget_stops_starting_trials_once_spent(ray_local, tmp_path):
    # one trial at a time, 3 epochs each, budget 7: trials 1-2 consume 6, trial 3 starts (6 < 7) and the budget
    # is spent at its first epoch; it trains to its end (9 epochs in all) and no fourth trial starts
    results = trw.hparams.search(space=TINY, algorithm="random", num_samples=6, seed=0, storage_path=tmp_path,
                                 name="budget", max_concurrent=1, max_total_epochs=7, verbose=0)
    trials = results.trials()
    assert len(trials) == 3 and trials["completed"].all() and set(trials["status"]) == {"TERMINATED"}, trials
    budget = json.loads((results.path / "trw_ray" / "budget.json").read_text())
    assert budget["spent"] and budget["consumed_epochs"] == 9 and budget["max_total_epochs"] == 7
    started = [record["started"] for record in results.records()]
    assert max(started) < budget["spent_at"]
    assert results.anytime(by="epochs")["epochs"].max() == 9
    # the search report at 1400 px: the trainable named through its partial, the best-so-far curve, a table that fits
    report = trw.hparams.analyse(results, errors_report=False)
    page = Path(report["index"]).read_text()
    assert "trw_ray.examples.mnist_search:evaluate_hparams(num_epochs=3" in page and "anytime.png" in page
    assert "max_total_epochs" in page and (report["output_dir"] / "anytime.png").is_file()
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs chromium-headless-shell from Debian)")
    measured = Path(report["index"]).with_name("measured.html")
    measured.write_text(page.replace("</body>", "<script>document.body.setAttribute('data-widths', "
                                     "[document.documentElement.scrollWidth, window.innerWidth].join(','));"
                                     "</script></body>"))
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--window-size=1400,1600", "--dump-dom", measured.as_uri()], capture_output=True, text=True, timeout=120,
        check=False)
    widths = completed.stdout.split('data-widths="')[1].split('"')[0].split(",")
    assert int(widths[0]) <= int(widths[1]) == 1400, (widths, completed.stderr[-2000:])


def test_a_data_parallel_trial_fed_by_ray_data_reports_checkpoints_and_resumes(ray_local, tmp_path):
    # two Ray Train workers of one CPU each train the trial, fed by one Ray Data pipeline split across them; rank 0
    # fails once at the end of epoch 2, the trial is retried from its epoch-1 Tune checkpoint, which the new
    # workers start from
    results = trw.hparams.search(search_helpers.blobs_on_ray_data_fail_once, num_samples=1, seed=0, storage_path=tmp_path,
                                 name="ddp", max_failures=1, verbose=0,
                                 resources_per_trial={"workers": 2, "cpu_per_worker": 1})
    trial = results.trials().iloc[0]
    assert trial["status"] == "TERMINATED" and trial["failures"] == 1, trial
    assert list(results.history()["epoch"]) == [1, 2, 3]
    record = results.trial(trial["trial_id"])
    assert record["retries"][0]["resumed_from_epoch"] == 1
    logs = [Path(run, "trainer.txt").read_text() for run in record["run_dirs"]]
    assert "rank 0 of 2 data-parallel workers" in logs[-1]
    assert "resumed from the trial's checkpoint at epoch 1" in logs[-1]
    assert results.samples(split="valid")["sample_uid"].nunique() == 60  # rank 0 wrote the per-sample tables


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_half_gpu_trials_share_one_gpu_on_cuda(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.blobs_on_cuda, num_samples=2, seed=0, storage_path=tmp_path,
                                 name="packed", verbose=0, resources_per_trial={"cpu": 1, "gpu": 0.5})
    trials = results.trials()
    assert set(trials["status"]) == {"TERMINATED"}
    logs = [Path(run, "trainer.txt").read_text() for trial_id in trials["trial_id"]
            for run in results.trial(trial_id)["run_dirs"]]
    assert all("device: cuda" in log for log in logs)
    spans = [(float(t["started"]), float(t["ended"])) for t in results.records()]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # both trials on the GPU at once


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_a_two_gpu_data_parallel_trial(ray_local, tmp_path):
    results = trw.hparams.search(search_helpers.blobs_on_cuda, num_samples=1, seed=0, storage_path=tmp_path,
                                 name="ddp_gpu", verbose=0,
                                 resources_per_trial={"workers": 2, "cpu_per_worker": 1, "gpu_per_worker": 1})
    trial = results.trials().iloc[0]
    assert trial["status"] == "TERMINATED" and list(results.history()["epoch"]) == [1, 2, 3]
    log = Path(results.trial(trial["trial_id"])["run_dirs"][-1], "trainer.txt").read_text()
    assert "device: cuda:0 (rank 0 of 2 data-parallel workers)" in log
