"""Every example of ``examples/`` runs: its ``--smoke`` mode (tiny data), in a fresh process with no Ray running,
as a user's first script would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
#: what each example must print (a line that shows it did its job)
PRINTS = {"train_with_reports.py": "test accuracy: ", "search_and_report.py": "search report: ",
          "query_results.py": "per-sample rows", "error_report.py": "error report: ", "pipelines.py": "async reservoir",
          "darts_search.py": "accuracy_mean", "evolution_and_ranking.py": "p_best", "data_parallel.py": "(2 workers)"}
#: over ~30 s each on 2 cores (Ray Train's workers, supernets, retraining): `make test-slow` runs them
SLOW = {"darts_search.py", "evolution_and_ranking.py", "data_parallel.py"}


def test_every_example_is_checked_here():
    assert sorted(PRINTS) == [path.name for path in EXAMPLES]


@pytest.mark.parametrize("example", [pytest.param(path, marks=pytest.mark.slow) if path.name in SLOW else path
                                     for path in EXAMPLES], ids=lambda path: path.stem)
def test_the_example_runs_in_its_smoke_mode(example, tmp_path):
    env = {**os.environ, "TRW_RAY_LOGGING_ROOT": str(tmp_path / "logs")}
    env.pop("RAY_ADDRESS", None)
    completed = subprocess.run([sys.executable, str(example), "--smoke"], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert PRINTS[example.name] in completed.stdout, completed.stdout[-2000:]
    assert "Warning" not in completed.stderr, completed.stderr[-2000:]
