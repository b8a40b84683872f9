"""The error report on hand-made experiments: files, images, the page in headless Chromium, the CLI (no Ray)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import chromium_path

import trw_ray as trw
from trw_ray.results import load
from trw_ray.results.testing import classification_table, write_experiment


def _experiment(tmp_path, num_samples=60, num_trials=4, flipped=(7, 23)):
    """Trials that agree on the true classes; the given labels of ``flipped`` samples are wrong."""
    rng = np.random.default_rng(0)
    uids = np.arange(num_samples)
    truth = uids % 3
    given = truth.copy()
    given[list(flipped)] = (truth[list(flipped)] + 1) % 3
    trials = []
    for t in range(num_trials):
        tables = {}
        for epoch in (1, 2):
            p = rng.dirichlet(np.ones(3), size=num_samples) * 0.3
            p[uids, truth] += 0.7 if epoch == 2 else 0.4
            for split in ("train", "valid"):
                tables[("toy", split, "softmax", epoch)] = classification_table(uids, given, p, epoch)
        trials.append({"trial_id": f"t{t}", "value": 1.0 - 0.1 * t, "config": {"lr": 0.1 * (t + 1)}, "tables": tables})
    images = rng.random((num_samples, 1, 8, 8)).astype(np.float32)
    datasets = {"toy": {split: trw.train.SequenceArray({"images": images, "y": given}, batch_size=10, shuffle=False)
                        for split in ("train", "valid")}}
    return load(write_experiment(tmp_path / "toy_experiment", trials)), datasets


def test_the_report_ranks_the_flipped_labels_first_and_writes_its_files(tmp_path):
    results, datasets = _experiment(tmp_path)
    report = trw.hparams.error_report(results, datasets=datasets)
    issues = report["label_issues"]
    assert set(issues.head(2)["sample_uid"]) == {7, 23} and bool(issues.head(2)["is_label_issue"].all())
    folder = Path(report["output_dir"])
    assert folder == results.path / "report" / "errors"
    for name in ("label_issues-toy-valid-softmax.csv", "label_issues-toy-valid-softmax.parquet",
                 "label_issues-toy-valid-softmax.png", "confusions.csv", "best_trial_errors.csv",
                 "training_dynamics-toy-train-softmax.parquet", "training_dynamics-toy-train-softmax.png", "index.html"):
        assert (folder / name).is_file(), name
    assert pd.read_parquet(folder / "label_issues-toy-valid-softmax.parquet")["sample_uid"].tolist()[:2] == \
        issues["sample_uid"].tolist()[:2]
    assert set(report["training_dynamics"].head(2)["sample_uid"]) == {7, 23}
    assert report["best_trial_errors"]["sample_uid"].isin([7, 23]).all()  # t3, the best, errs on the flipped only
    page = (folder / "index.html").read_text()
    assert "label_issues-toy-valid-softmax.png" in page and "Confusions most trials make" in page
    # one default ranking for the report, the results API and the page
    from trw_ray.results import sample_errors

    assert issues["log_margin"].tolist() == sorted(issues["log_margin"].tolist()) and \
        sample_errors.DEFAULT_RANKING == "log_margin"
    pd.testing.assert_frame_equal(issues, results.sample_errors())
    table = page[page.index("<th>disagree (best)</th>"):]
    table = table[:table.index("</table>")]
    shown = [int(uid) for _, uid in re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", table)]  # rank, uid
    assert shown and shown == issues["sample_uid"].tolist()[:len(shown)]  # the page's candidates, ranked
    top = issues.iloc[0]  # each candidate with its label, the ensemble's and how many trials disagree
    assert "<th>disagree (best)</th>" in page and "<th>ensemble_label</th>" in page
    assert f"<td>{top['wrong_best_trials']}/{top['best_trials']}</td>" in page
    assert f"<td>{top['wrong_trials']}/{top['trials']}</td>" in page


def test_the_page_renders_in_headless_chromium_and_its_images_load(tmp_path):
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs chromium-headless-shell from Debian)")
    results, datasets = _experiment(tmp_path)
    index = trw.hparams.error_report(results, datasets=datasets)["index"]
    screenshot = tmp_path / "errors.png"
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--allow-file-access-from-files", f"--screenshot={screenshot}", "--window-size=1400,2000", Path(index).as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, completed.stderr[-2000:]
    console = [line for line in completed.stderr.splitlines() if "CONSOLE" in line or "ERR_FILE_NOT_FOUND" in line]
    assert not console, console


def test_the_search_report_links_it_and_the_cli_builds_it_alone(tmp_path):
    results, _ = _experiment(tmp_path)
    report = trw.hparams.analyse(results)
    assert report["errors"] is not None and "errors/index.html" in Path(report["index"]).read_text()
    shutil.rmtree(results.path / "report")
    completed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "report", "errors", str(results.path),
                                "--split", "valid"], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "error report:" in completed.stdout and (results.path / "report" / "errors" / "index.html").is_file()
    failed = subprocess.run([sys.executable, "-m", "trw_ray.cli", "report", "errors", str(results.path),
                             "--split", "test"], capture_output=True, text=True, timeout=120, check=False)
    assert failed.returncode == 2 and "split: no per-sample table of split 'test'" in failed.stderr


def test_an_experiment_without_tables_gets_a_page_that_says_so(tmp_path):
    empty = write_experiment(tmp_path / "empty", [{"trial_id": "x", "value": 1.0}])
    report = trw.hparams.error_report(empty)
    assert report["label_issues"] is None and report["training_dynamics"] is None
    assert any("left per-sample tables" in note for note in report["notes"])
    assert "left per-sample tables" in Path(report["index"]).read_text()
    with pytest.raises(TypeError, match="datasets: expected None or"):
        trw.hparams.error_report(empty, datasets=[1])
    with pytest.raises(ValueError, match="max_images: expected an integer >= 0; got -1"):
        trw.hparams.error_report(empty, max_images=-1)


def test_a_report_of_one_split_replaces_an_earlier_reports_files_and_counts_the_best_it_has(tmp_path):
    results, _ = _experiment(tmp_path, num_trials=3)
    folder = results.path / "report" / "errors"
    folder.mkdir(parents=True)
    stale = folder / "label_issues-toy-test-softmax.csv"  # an earlier report of every split
    stale.write_text("sample_uid\n1\n")
    (folder / "notes.txt").write_text("the user's own file")
    report = trw.hparams.error_report(results, split="valid", best_k=5)
    assert not stale.exists() and (folder / "notes.txt").is_file()
    assert (folder / "label_issues-toy-valid-softmax.csv").is_file()
    page = Path(report["index"]).read_text()
    assert "among the 3 best" in page and "among the 5 best" not in page
